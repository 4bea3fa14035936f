/**
 * RFC 6455 masking (§5.3): payload byte i is XORed with key byte i mod 4. A key is held as one int32,
 * key byte 0 in the low bits (the little-endian reading of its 4 bytes), so a word of payload whose first
 * byte has payload index i is XORed with the key rotated right by 8 × (i mod 4).
 *
 * `unmaskInto` copies and unmasks in one pass from the socket's chunk into the reader's target (a ring
 * reservation): whole words where the target is 4-byte aligned, reading the source a byte at a time
 * (the two sides are rarely aligned alike: a 64 B payload sits 6 bytes into its frame). `unmaskInPlace`
 * unmasks the chunk itself, when the payload is handed over as slices. The variants the micro benchmark
 * compares (bench/micro/frame-reader.ts) are exported too.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** Below this many bytes the word loop's set-up costs more than it saves (measured, see ARCHITECTURE.md). */
const WORDS_FROM = 16;
/** From this many bytes the native `bufferutil` mask (when installed) beats the word loop (measured). */
const NATIVE_FROM = 256;

/**
 * ws's optional native helper, when the application installed it (ws uses it the same way): its
 * `mask(source, key, output, offset, length)` XORs from source[0] into output[offset], a copy and an
 * unmask in one native pass (1 KiB: ~0.1 µs against ~0.5 µs for the word loop). Absent: the JS loops.
 */
type NativeMask = (source: Uint8Array, key: Uint8Array, output: Uint8Array, offset: number, length: number) => void;
const nativeMask: NativeMask | null = (() => {
  try {
    return (createRequire(import.meta.url)('bufferutil') as { mask: NativeMask }).mask;
  } catch {
    return null;
  }
})();
const nativeKey = Buffer.alloc(4);

/** Whether the native mask is in use (for the benchmark's report). */
export const hasNativeMask = nativeMask !== null;

/** The key as the int32 the functions here take: `k[o]` in the low bits. */
export function maskKeyAt(k: Uint8Array, o: number): number {
  return k[o]! | (k[o + 1]! << 8) | (k[o + 2]! << 16) | (k[o + 3]! << 24);
}

/** The key rotated so that its low byte applies to a byte of payload index ≡ `phase` (mod 4). */
function rotate(mask: number, phase: number): number {
  const r = (phase & 3) << 3;
  return r === 0 ? mask : (mask >>> r) | (mask << (32 - r));
}

// One Int32Array over the last target buffer seen: every connection of a worker writes into the same
// ring, so this is made once, not per message.
let wordsOf: ArrayBufferLike | null = null;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);

function wordView(buf: ArrayBufferLike): Int32Array<ArrayBufferLike> {
  if (buf !== wordsOf) {
    words = new Int32Array(buf, 0, buf.byteLength >>> 2);
    wordsOf = buf;
  }
  return words;
}

/** Byte loop: dst[d + i] = src[s + i] ^ key byte (phase + i). */
export function unmaskBytes(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number, mask: number, phase: number): void {
  const m = rotate(mask, phase);
  const m0 = m & 0xff;
  const m1 = (m >>> 8) & 0xff;
  const m2 = (m >>> 16) & 0xff;
  const m3 = m >>> 24;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[d + i] = src[s + i]! ^ m0;
    dst[d + i + 1] = src[s + i + 1]! ^ m1;
    dst[d + i + 2] = src[s + i + 2]! ^ m2;
    dst[d + i + 3] = src[s + i + 3]! ^ m3;
  }
  for (; i < n; i++) dst[d + i] = src[s + i]! ^ ((m >>> ((i & 3) << 3)) & 0xff);
}

/**
 * Word loop: bytes up to the target's next 4-byte boundary, then one int32 store per 4 bytes (the source
 * read as 4 bytes combined: no alignment needed there, no view made of the chunk), then the tail.
 */
export function unmaskWords(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number, mask: number, phase: number): void {
  const abs = dst.byteOffset + d;
  const head = Math.min(n, (4 - (abs & 3)) & 3);
  if (head !== 0) unmaskBytes(src, s, dst, d, head, mask, phase);
  const count = (n - head) >>> 2;
  if (count !== 0) {
    const v = wordView(dst.buffer);
    const m = rotate(mask, phase + head);
    let p = s + head;
    let j = (abs + head) >>> 2;
    const stop = j + count;
    for (; j < stop; j++, p += 4) v[j] = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) ^ m;
  }
  const done = head + count * 4;
  if (done < n) unmaskBytes(src, s + done, dst, d + done, n - done, mask, phase + done);
}

/** Copy first (native memcpy), then XOR the target in place a word at a time. */
export function unmaskSetXor(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number, mask: number, phase: number): void {
  dst.set(src.subarray(s, s + n), d);
  const abs = dst.byteOffset + d;
  const head = Math.min(n, (4 - (abs & 3)) & 3);
  if (head !== 0) unmaskBytes(dst, d, dst, d, head, mask, phase);
  const count = (n - head) >>> 2;
  if (count !== 0) {
    const v = wordView(dst.buffer);
    const m = rotate(mask, phase + head);
    let j = (abs + head) >>> 2;
    const stop = j + count;
    for (; j < stop; j++) v[j] = v[j]! ^ m;
  }
  const done = head + count * 4;
  if (done < n) unmaskBytes(dst, d + done, dst, d + done, n - done, mask, phase + done);
}

/** Copy `n` bytes of `src` from `s` into `dst` at `d`, unmasked (key byte `phase` first). */
export function unmaskInto(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number, mask: number, phase: number): void {
  if (n < WORDS_FROM || !LITTLE_ENDIAN) unmaskBytes(src, s, dst, d, n, mask, phase);
  else if (n >= NATIVE_FROM && nativeMask !== null) unmaskNative(nativeMask, src, s, dst, d, n, mask, phase);
  else unmaskWords(src, s, dst, d, n, mask, phase);
}

/** The native pass (a view of the source from `s`: one small allocation, worth it from NATIVE_FROM). */
function unmaskNative(fn: NativeMask, src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number, mask: number, phase: number): void {
  const m = rotate(mask, phase);
  nativeKey[0] = m & 0xff;
  nativeKey[1] = (m >>> 8) & 0xff;
  nativeKey[2] = (m >>> 16) & 0xff;
  nativeKey[3] = m >>> 24;
  fn(s === 0 ? src : src.subarray(s), nativeKey, dst, d, n);
}

/** Unmask `b[s, s + n)` where it lies (the chunk's bytes are ours: nobody else reads them). */
export function unmaskInPlace(b: Uint8Array, s: number, n: number, mask: number, phase: number): void {
  if (n >= NATIVE_FROM && nativeMask !== null) unmaskNative(nativeMask, b, s, b, s, n, mask, phase);
  else unmaskBytes(b, s, b, s, n, mask, phase);
}

/** Copy without a mask (frames from a server): a byte loop for short runs, memcpy for long ones. */
export function copyInto(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  if (n < 64) {
    for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
  } else {
    dst.set(src.subarray(s, s + n), d);
  }
}
