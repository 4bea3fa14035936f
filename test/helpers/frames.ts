/**
 * Helpers for the frame reader and writer tests: frames built by hand, ws's own `Receiver` driven
 * synchronously as the reference, and a recording sink for our `FrameReader` that can place payloads
 * in target memory, take them as slices, or say WAIT / stop, so that every path of the reader is driven.
 */
import * as wsModule from 'ws';
import { COPY, FrameReader, WAIT, type FrameSink } from '../../dist/workers/frame-reader.js';

/** ws's Receiver and Sender (named exports of ws's ESM wrapper; @types/ws does not declare them). */
interface WsReceiver {
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'ping' | 'pong', fn: (data: Buffer) => void): void;
  on(event: 'conclude', fn: (code: number, reason: Buffer) => void): void;
  _write(chunk: Buffer, encoding: unknown, cb: (err?: Error & { code?: string }) => void): void;
}
interface WsSenderStatic {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean; generateMask?: (m: Buffer) => void }): Buffer[];
}
const wsExports = wsModule as unknown as { Receiver: new (opts: object) => WsReceiver; Sender: WsSenderStatic };
export const WsSender = wsExports.Sender;
/** The close code ws puts on its errors, under its private `kStatusCode` symbol (lib/constants.js). */
function statusOf(err: object): number {
  const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  return sym === undefined ? 0 : ((err as Record<symbol, number>)[sym] ?? 0);
}

/** What a reader (ours or ws's) reported, in order. */
export type FrameEvent =
  | { type: 'message'; text: boolean; data: string } // data as hex, so that toEqual diffs stay readable
  | { type: 'ping' | 'pong'; data: string }
  | { type: 'close'; code: number; reason: string }
  | { type: 'fail'; status: number; code: string };

export interface ReaderOpts {
  server: boolean;
  maxPayload: number;
}

/**
 * Frame bytes: `mask` null = unmasked; a number = that key (int32, byte 0 low, as workers/mask.ts), or
 * `true` = a key from `rand`. `rsv`: RSV1..3 as bits 2..0. `len`: a header-declared length other than the
 * payload's (for frames whose payload is never sent).
 */
export function buildFrame(
  opcode: number,
  payload: Uint8Array,
  opts: { fin?: boolean; rsv?: number; mask?: number | null; len?: number } = {},
): Buffer {
  const fin = opts.fin ?? true;
  const mask = opts.mask === undefined ? null : opts.mask;
  const n = opts.len ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f)];
  const m = mask === null ? 0 : 0x80;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >>> 8, n & 0xff);
  else {
    const high = Math.floor(n / 2 ** 32);
    const low = n >>> 0;
    head.push(m | 127, high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff, low >>> 24, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff);
  }
  if (mask === null) return Buffer.concat([Buffer.from(head), payload]);
  const key = [mask & 0xff, (mask >>> 8) & 0xff, (mask >>> 16) & 0xff, mask >>> 24];
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), Buffer.from(key), body]);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** ws's Receiver on `chunks` (each a separate socket read), synchronously; stops at its first error. */
export function wsReceive(chunks: Buffer[], opts: ReaderOpts): FrameEvent[] {
  const events: FrameEvent[] = [];
  const r = new wsExports.Receiver({ isServer: opts.server, maxPayload: opts.maxPayload, allowSynchronousEvents: true });
  r.on('message', (data, isBinary) => events.push({ type: 'message', text: !isBinary, data: hex(data) }));
  r.on('ping', (data) => events.push({ type: 'ping', data: hex(data) }));
  r.on('pong', (data) => events.push({ type: 'pong', data: hex(data) }));
  r.on('conclude', (code, reason) => events.push({ type: 'close', code, reason: hex(reason) }));
  let failed = false;
  for (const c of chunks) {
    // ws's Receiver unmasks in place: give it its own copy, so that ours reads the same bytes.
    r._write(Buffer.from(c), 'buffer', (err) => {
      if (err === undefined || err === null) return;
      failed = true;
      events.push({ type: 'fail', status: statusOf(err), code: err.code ?? '' });
    });
    if (failed) break;
  }
  return events;
}

/** How the recording sink answers. */
export interface SinkPolicy {
  /** Where payloads go: into target memory (offsets), as slices (COPY), or chosen per frame by `rand`. */
  place: 'target' | 'copy' | 'mixed';
  /** Answer WAIT to a start/continue (then yes on the retry), or stop after a slice, when `rand() < p`. */
  waitP: number;
  stopP: number;
  rand: () => number;
  /** The target's memory: a SharedArrayBuffer (as the ring) or a plain one. */
  shared: boolean;
}

export const PLAIN_POLICY: SinkPolicy = { place: 'target', waitP: 0, stopP: 0, rand: Math.random, shared: true };

/**
 * A FrameSink that records what it is given. Payloads placed in target memory are read back when the
 * reader says the frame is complete (next continue, or end); the target is filled with garbage first
 * and each region is fresh, so a byte the reader failed to write shows.
 */
export class RecordingSink implements FrameSink {
  target: Uint8Array;
  readonly events: FrameEvent[] = [];
  /** Calls and answers, for the tests that look at them. */
  readonly calls: string[] = [];
  waits = 0;
  stops = 0;
  #next = 0;
  #parts: Buffer[] = [];
  #text = false;
  #region: { at: number; len: number } | null = null;
  /** The last start/continue was answered WAIT: the retry must be for the same frame, and gets a yes. */
  #waited = false;
  readonly #policy: SinkPolicy;

  constructor(policy: SinkPolicy = PLAIN_POLICY, size = 1 << 20) {
    this.#policy = policy;
    this.target = new Uint8Array(policy.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    this.target.fill(0xee);
  }

  #answer(len: number): number {
    const p = this.#policy;
    if (!this.#waited && p.waitP > 0 && p.rand() < p.waitP) {
      this.#waited = true;
      this.waits++;
      return WAIT;
    }
    this.#waited = false;
    const copy = p.place === 'copy' || (p.place === 'mixed' && p.rand() < 0.5);
    if (copy || len > this.target.length) return COPY;
    // 16-byte aligned regions, as ring records are; wrap to the start when the end is reached.
    if (this.#next + len > this.target.length) this.#next = 0;
    const at = this.#next;
    this.#next = (this.#next + len + 15) & ~15;
    this.#region = { at, len };
    return at;
  }

  #flushRegion(): void {
    const r = this.#region;
    if (r === null) return;
    this.#parts.push(Buffer.from(this.target.slice(r.at, r.at + r.len)));
    this.target.fill(0xee, r.at, r.at + r.len);
    this.#region = null;
  }

  messageStart(text: boolean, length: number, fin: boolean, available: number): number {
    this.#flushRegion();
    if (!this.#waited) {
      this.#parts = [];
      this.#text = text;
    }
    const a = this.#answer(length);
    this.calls.push(`start ${text ? 'text' : 'binary'} ${length} ${fin ? 'fin' : 'more'} ${available} -> ${a}`);
    return a;
  }

  messageContinue(length: number, fin: boolean, available: number): number {
    this.#flushRegion();
    const a = this.#answer(length);
    this.calls.push(`continue ${length} ${fin ? 'fin' : 'more'} ${available} -> ${a}`);
    return a;
  }

  messageData(bytes: Uint8Array, start: number, end: number): boolean {
    this.#parts.push(Buffer.from(bytes.slice(start, end)));
    this.calls.push(`data ${end - start}`);
    const p = this.#policy;
    if (p.stopP > 0 && p.rand() < p.stopP) {
      this.stops++;
      return false;
    }
    return true;
  }

  messageEnd(): void {
    this.#flushRegion();
    this.calls.push('end');
    this.events.push({ type: 'message', text: this.#text, data: Buffer.concat(this.#parts).toString('hex') });
    this.#parts = [];
  }

  ping(bytes: Uint8Array, start: number, end: number): void {
    this.events.push({ type: 'ping', data: hex(bytes.subarray(start, end)) });
  }

  pong(bytes: Uint8Array, start: number, end: number): void {
    this.events.push({ type: 'pong', data: hex(bytes.subarray(start, end)) });
  }

  close(code: number, bytes: Uint8Array, start: number, end: number): void {
    this.events.push({ type: 'close', code, reason: hex(bytes.subarray(start, end)) });
  }

  fail(closeCode: number, errorCode: string): void {
    this.#region = null;
    this.events.push({ type: 'fail', status: closeCode, code: errorCode });
  }
}

/**
 * Our reader on `chunks` (fresh copies: it unmasks slices in place), resuming after every stop with the
 * rest of the chunk (even an empty rest while `waiting`), as a connection would after its socket resumes. Returns the events and how often
 * it stopped mid-chunk.
 */
export function readerReceive(chunks: Buffer[], opts: ReaderOpts, policy: SinkPolicy = PLAIN_POLICY): { events: FrameEvent[]; sink: RecordingSink; resumes: number; reader: FrameReader } {
  const sink = new RecordingSink(policy);
  const reader = new FrameReader(sink, opts);
  let resumes = 0;
  for (const c of chunks) {
    const chunk = Buffer.from(c);
    let pos = 0;
    for (let guard = 0; ; guard++) {
      if (guard > chunk.length * 2 + 16) throw new Error('the reader made no progress');
      pos = reader.push(chunk, pos);
      if (pos === chunk.length && !reader.waiting) break;
      if (pos > chunk.length || pos < 0) throw new Error(`push returned ${pos} for a chunk of ${chunk.length}`);
      resumes++;
    }
  }
  return { events: sink.events, sink, resumes, reader };
}

/** `bytes` cut at the given offsets (sorted, inside the buffer) into chunks. */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    if (c <= prev || c >= bytes.length) continue;
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}
