/**
 * The load generator's minimal WebSocket client wire: the upgrade request, pre-built masked client
 * frames, and a frame counter for what servers send back (unmasked, RFC 6455 §5.2).
 *
 * Frames are built once and reused: a client frame is header + 4-byte mask key + payload XOR key.
 * Rebuilding or masking per message would cost the load process CPU that the servers need more.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';

const OP_BINARY = 0x2;
const RSV1 = 0x40;

/** The upgrade request; `extensions` ('' none) goes in a Sec-WebSocket-Extensions header. */
export function upgradeRequest(host: string, port: number, extensions = ''): Buffer {
  const key = randomBytes(16).toString('base64');
  return Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      (extensions !== '' ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') +
      '\r\n',
    'latin1',
  );
}

/**
 * `size` bytes of JSON-like game state (S7): records of ids, positions and names, varied by a fixed-seed
 * generator, so that deflate finds what it finds in real messages (2,048 B → 664 at level 6: 3.1×) rather than a run of
 * one byte (~100×).
 */
export function jsonContent(size: number): Buffer {
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  let text = '[';
  while (text.length < size) {
    text += `{"id":${rnd(100_000)},"x":${(rnd(200_000) / 100).toFixed(2)},"y":${(rnd(200_000) / 100).toFixed(2)},"hp":${rnd(101)},"name":"${names[rnd(8)]}-${rnd(1000)}","state":${rnd(4)}},`;
  }
  return Buffer.from(text.slice(0, size), 'latin1');
}

/** A message's payload as a permessage-deflate peer without context sends it: raw DEFLATE, sync-flushed, the 4-byte tail removed. */
export function deflatePayload(payload: Uint8Array): Buffer {
  const z = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A compressed payload (tail removed) of a message sent without context, inflated. */
export function inflatePayload(p: Uint8Array): Buffer {
  return zlib.inflateRawSync(Buffer.concat([p, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** Header length of a masked client frame with `size` payload bytes (mask key included). */
export function clientHeaderLength(size: number): number {
  return (size < 126 ? 2 : size < 65536 ? 4 : 10) + 4;
}

/**
 * The header of a final binary frame with `size` payload bytes, the mask key not included: a client's
 * (`masked`, the key follows) or a server's (bench/e2e/load-sender.ts sends pre-framed server frames).
 */
export function binaryFrameHeader(size: number, masked: boolean): Buffer {
  const m = masked ? 0x80 : 0;
  if (size < 126) return Buffer.from([0x80 | OP_BINARY, m | size]);
  const h = Buffer.alloc(size < 65536 ? 4 : 10);
  h[0] = 0x80 | OP_BINARY;
  if (size < 65536) {
    h[1] = m | 126;
    h.writeUInt16BE(size, 2);
  } else {
    h[1] = m | 127;
    h.writeBigUInt64BE(BigInt(size), 2);
  }
  return h;
}

/**
 * One masked binary frame. `payload` is plain; the result carries it masked with `mask`; RSV1 set when
 * `compressed` (the payload is then a permessage-deflate one).
 * Payload bytes at [off, off+n) can later be rewritten in place with `writeMasked`.
 */
export function buildClientFrame(payload: Uint8Array, mask: Uint8Array, compressed = false): Buffer {
  const size = payload.byteLength;
  const hl = clientHeaderLength(size);
  const f = Buffer.allocUnsafe(hl + size);
  binaryFrameHeader(size, true).copy(f, 0);
  if (compressed) f[0] = f[0]! | RSV1;
  f.set(mask.subarray(0, 4), hl - 4);
  for (let i = 0; i < size; i++) f[hl + i] = payload[i]! ^ mask[i & 3]!;
  return f;
}

/** `count` copies of `frame` back to back: one write sends a batch. */
export function repeatFrame(frame: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

/**
 * Write plain `bytes` into a masked frame's payload at payload offset `off` (masking them with the
 * frame's key). Used for timestamps in latency messages.
 */
export function writeMasked(frame: Buffer, headerLen: number, off: number, bytes: Uint8Array): void {
  const keyAt = headerLen - 4;
  for (let i = 0; i < bytes.byteLength; i++) {
    const p = off + i;
    frame[headerLen + p] = bytes[i]! ^ frame[keyAt + (p & 3)]!;
  }
}

/** Called for each complete server frame: opcode, the chunk holding it, payload offset and length, RSV1. */
export type FrameSink = (opcode: number, buf: Buffer, off: number, len: number, compressed: boolean) => void;

/**
 * Splits a server's byte stream into frames. Unmasked frames only (servers never mask). Copies only
 * when a frame spans two chunks.
 */
export class FrameReader {
  #rest: Buffer | null = null;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest !== null) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = null;
    }
    const end = buf.length;
    let off = 0;
    while (end - off >= 2) {
      const b0 = buf[off]!;
      let len = buf[off + 1]! & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (end - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hl = 4;
      } else if (len === 127) {
        if (end - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        hl = 10;
      }
      if (end - off < hl + len) break;
      this.#sink(b0 & 0x0f, buf, off + hl, len, (b0 & RSV1) !== 0);
      off += hl + len;
    }
    if (off < end) this.#rest = buf.subarray(off);
  }
}
