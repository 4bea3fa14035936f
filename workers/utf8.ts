/**
 * Incremental UTF-8 validation (RFC 3629, Unicode Table 3-7 "well-formed byte sequences"): the state of
 * a partly seen sequence is one number, so a text message can be checked fragment by fragment and
 * chunk by chunk as its bytes are unmasked, failing at the first invalid byte rather than at the
 * message's end. Overlong forms, surrogates (U+D800–DFFF) and code points above U+10FFFF are invalid,
 * as for ws's `isValidUTF8` (Node's `buffer.isUtf8`).
 *
 * State: 0 = between sequences; otherwise (continuation bytes still needed << 16) | (lowest allowed next
 * byte << 8) | highest allowed next byte. `UTF8_BAD` once an invalid byte was seen.
 */
import { isUtf8 } from 'node:buffer';

export const UTF8_OK = 0;
export const UTF8_BAD = -1;

/**
 * Segments at least this long go to Node's native `isUtf8` (SIMD) for their whole-sequence part; shorter
 * ones are walked here (a subarray for the native call costs more than walking a short ASCII run).
 */
const NATIVE_FROM = 256;

/** Continue validating `b[start, end)` from `state`; returns the new state (UTF8_BAD if invalid). */
export function utf8Step(state: number, b: Uint8Array, start: number, end: number): number {
  if (state === UTF8_OK && end - start >= NATIVE_FROM) return utf8Native(b, start, end);
  return utf8Walk(state, b, start, end);
}

/** The byte-by-byte walk (ASCII runs cost one compare per byte). */
function utf8Walk(state: number, b: Uint8Array, start: number, end: number): number {
  if (state < 0) return UTF8_BAD;
  let need = state >>> 16;
  let lo = (state >>> 8) & 0xff;
  let hi = state & 0xff;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (need !== 0) {
      if (c < lo || c > hi) return UTF8_BAD;
      need--;
      lo = 0x80;
      hi = 0xbf;
    } else if (c >= 0x80) {
      if (c < 0xc2) return UTF8_BAD; // a continuation byte with no lead, or an overlong 2-byte lead
      if (c < 0xe0) {
        need = 1;
        lo = 0x80;
        hi = 0xbf;
      } else if (c < 0xf0) {
        need = 2;
        lo = c === 0xe0 ? 0xa0 : 0x80; // E0 80..9F would be overlong
        hi = c === 0xed ? 0x9f : 0xbf; // ED A0..BF would be a surrogate
      } else if (c < 0xf5) {
        need = 3;
        lo = c === 0xf0 ? 0x90 : 0x80; // F0 80..8F would be overlong
        hi = c === 0xf4 ? 0x8f : 0xbf; // F4 90.. would be above U+10FFFF
      } else {
        return UTF8_BAD;
      }
    }
  }
  return need === 0 ? UTF8_OK : (need << 16) | (lo << 8) | hi;
}

/**
 * A long segment from a clean state: the native check up to the last sequence boundary, the walk for a
 * sequence cut at the segment's end (its lead byte is at most 3 bytes back).
 */
function utf8Native(b: Uint8Array, start: number, end: number): number {
  let cut = end;
  for (let k = end - 1; k >= start && k >= end - 3; k--) {
    const c = b[k]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const size = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (k + size > end) cut = k;
    break;
  }
  if (!isUtf8(b.subarray(start, cut))) return UTF8_BAD;
  return cut === end ? UTF8_OK : utf8Walk(UTF8_OK, b, cut, end);
}
