/**
 * The interop tests' payloads: the same generator as payload() in test/interop/peer.py, and (by its source
 * text) in the Chromium page, so every side can check what it got byte for byte.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { WireTap } from '../helpers/wire-tap.js';

/** Deterministic bytes: binary, or valid UTF-8 text of exactly `size` bytes. Self-contained (sent to the page as source). */
export function payload(kind: 'text' | 'binary', size: number, seed = 0): Uint8Array {
  const out = new Uint8Array(size);
  if (kind === 'binary') {
    for (let i = 0; i < size; i++) out[i] = (i * 131 + seed * 7 + (i >>> 8)) & 0xff;
    return out;
  }
  const enc = new TextEncoder();
  const chars = Array.from('héllo wörld € 𝄞 ').map((c) => enc.encode(c));
  let n = 0;
  for (let k = seed; ; k++) {
    const ch = chars[k % chars.length]!;
    if (n + ch.length > size) break;
    out.set(ch, n);
    n += ch.length;
  }
  out.fill(0x78, n); // 'x'
  return out;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export type Kind = 'text' | 'binary';
/** The sizes of the issue: 0 B, 125 B (largest 7-bit length), 64 KiB, 1 MiB; both kinds. */
export const SIZES = [0, 125, 64 * 1024, 1024 * 1024] as const;
export const MESSAGES: Array<[Kind, number]> = SIZES.flatMap((s) => [['text', s] as [Kind, number], ['binary', s] as [Kind, number]]);
/** Big enough for the 1 MiB messages (the peers' default inboundBufferSize is 65535). */
export const BIG = 4 * 1024 * 1024;

/**
 * What a relay saw of MESSAGES echoed once each with permessage-deflate on both ends: every message both
 * ways, and the large ones compressed. Text of 64 KiB and 1 MiB (a repeated phrase) with RSV1 and under a
 * quarter of its size each way; binary of those sizes (a pattern deflate barely shrinks) with RSV1 from the
 * ringsocket end, which compresses every message from 1024 bytes (its `threshold`).
 */
export function expectCompressedOnTheWire(tap: WireTap, ringsocketSends: 'toClient' | 'toServer' = 'toClient'): void {
  expect(tap.toServer.map((m) => m.opcode)).toEqual(MESSAGES.map(([k]) => (k === 'text' ? 1 : 2)));
  expect(tap.toClient.map((m) => m.opcode)).toEqual(MESSAGES.map(([k]) => (k === 'text' ? 1 : 2)));
  for (const [i, [kind, n]] of MESSAGES.entries()) {
    if (n < 64 * 1024) continue;
    if (kind === 'text') {
      for (const m of [tap.toServer[i]!, tap.toClient[i]!]) {
        expect(m.rsv1, `text ${n} B`).toBe(true);
        expect(m.wireBytes, `text ${n} B on the wire`).toBeLessThan(n / 4);
      }
    } else expect(tap[ringsocketSends][i]!.rsv1, `binary ${n} B from ringsocket`).toBe(true);
  }
}
