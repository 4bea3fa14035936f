/**
 * The worker's RFC 6455 frame writer: frame headers written in front of payloads, and whole frames for
 * the messages and control frames a connection sends. Byte for byte what ws's `Sender.frame` writes for
 * the same payload and key (test/unit/frame-writer.test.ts). Servers never mask; clients mask every
 * frame with a fresh random key, taken 4 bytes at a time from a pool filled by `randomFillSync` (as ws
 * does: one system call per 2,048 frames).
 */
import { randomFillSync } from 'node:crypto';
import { isValidStatusCode } from './frame-reader.js';
import { maskKeyAt, unmaskBytes, unmaskInPlace, unmaskInto } from './mask.js';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Longest control payload (RFC 6455 §5.5), and longest close reason (after the 2-byte code). */
const CONTROL_MAX = 125;
const REASON_MAX = 123;
const TWO_32 = 2 ** 32;

/** Bytes of a frame header for a payload of `len` bytes. */
export function frameHeaderSize(len: number, masked: boolean): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Write a frame header at `target[offset]`; returns the offset after it (where the payload goes).
 * `mask`: the key as an int32, key byte 0 in the low bits (mask.ts), or null for an unmasked frame.
 * The caller masks the payload itself (see `frameMessage`).
 */
export function writeFrameHeader(target: Uint8Array, offset: number, opcode: number, fin: boolean, len: number, mask: number | null): number {
  let p = offset;
  target[p++] = fin ? opcode | 0x80 : opcode;
  const maskBit = mask === null ? 0 : 0x80;
  if (len < 126) {
    target[p++] = maskBit | len;
  } else if (len < 65536) {
    target[p++] = maskBit | 126;
    target[p++] = len >>> 8;
    target[p++] = len & 0xff;
  } else {
    target[p++] = maskBit | 127;
    const high = Math.floor(len / TWO_32);
    const low = len >>> 0;
    target[p++] = high >>> 24;
    target[p++] = (high >>> 16) & 0xff;
    target[p++] = (high >>> 8) & 0xff;
    target[p++] = high & 0xff;
    target[p++] = low >>> 24;
    target[p++] = (low >>> 16) & 0xff;
    target[p++] = (low >>> 8) & 0xff;
    target[p++] = low & 0xff;
  }
  if (mask !== null) {
    target[p++] = mask & 0xff;
    target[p++] = (mask >>> 8) & 0xff;
    target[p++] = (mask >>> 16) & 0xff;
    target[p++] = mask >>> 24;
  }
  return p;
}

// ---- mask keys ----

const POOL_SIZE = 8 * 1024;
let pool: Buffer | null = null;
let poolAt = POOL_SIZE;

/** A fresh random mask key (int32, see mask.ts) from the pooled random bytes. */
export function randomMaskKey(): number {
  if (poolAt === POOL_SIZE) {
    pool ??= Buffer.alloc(POOL_SIZE);
    randomFillSync(pool, 0, POOL_SIZE);
    poolAt = 0;
  }
  const key = maskKeyAt(pool!, poolAt);
  poolAt += 4;
  return key;
}

// ---- whole frames ----

/**
 * One frame in one new Buffer: header, then `payload` (copied; masked when `masked`, with `mask` or a
 * random key). `payload` is not modified.
 */
export function frameMessage(opcode: number, payload: Uint8Array, fin: boolean, masked: boolean, mask: number = masked ? randomMaskKey() : 0): Buffer {
  const len = payload.byteLength;
  const out = Buffer.allocUnsafe(frameHeaderSize(len, masked) + len);
  const at = writeFrameHeader(out, 0, opcode, fin, len, masked ? mask : null);
  // XOR is its own inverse: masking is unmasking. Short frames by bytes: the word loop's one cached view
  // is the ring's (mask.ts), and each new Buffer pool here would replace it.
  if (masked) (len < 256 ? unmaskBytes : unmaskInto)(payload, 0, out, at, len, mask, 0);
  else out.set(payload, at);
  return out;
}

/**
 * A compressed message's one frame (permessage-deflate), in place: `buf` holds the payload from offset
 * `headroom` (deflate.ts's `compress(data, headroom)`); the header (RSV1 set) is written so that it ends
 * there, the payload masked in place when `masked`. Returns the frame (a view of `buf`).
 */
export function frameCompressed(opcode: number, buf: Buffer, headroom: number, masked: boolean): Buffer {
  const len = buf.length - headroom;
  const start = headroom - frameHeaderSize(len, masked);
  const mask = masked ? randomMaskKey() : null;
  writeFrameHeader(buf, start, opcode | 0x40, true, len, mask);
  if (mask !== null) unmaskInPlace(buf, headroom, len, mask, 0);
  return buf.subarray(start);
}

/** A ping (or pong) frame; its payload is at most 125 bytes. */
export function pingFrame(payload: Uint8Array, masked: boolean, pong = false): Buffer {
  if (payload.byteLength > CONTROL_MAX) throw new RangeError('The data size must not be greater than 125 bytes');
  return frameMessage(pong ? OP_PONG : OP_PING, payload, true, masked);
}

export function pongFrame(payload: Uint8Array, masked: boolean): Buffer {
  return pingFrame(payload, masked, true);
}

/**
 * A close frame: no payload when `code` is undefined, else the code and a UTF-8 reason of at most 123
 * bytes. Codes a peer may not send are refused, as ws's `Sender.close` refuses them.
 */
export function closeFrame(code: number | undefined, reason: string | Uint8Array, masked: boolean): Buffer {
  if (code === undefined) return frameMessage(OP_CLOSE, new Uint8Array(0), true, masked);
  if (!isValidStatusCode(code)) throw new TypeError('First argument must be a valid error code number');
  const text = typeof reason === 'string' ? Buffer.from(reason) : reason;
  if (text.byteLength > REASON_MAX) throw new RangeError('The message must not be greater than 123 bytes');
  const payload = Buffer.allocUnsafe(2 + text.byteLength);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return frameMessage(OP_CLOSE, payload, true, masked);
}
