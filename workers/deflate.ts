/**
 * permessage-deflate (RFC 7692 §7.2) for one connection, on `node:zlib`, run synchronously on the
 * worker's thread.
 *
 * Why synchronous. ws runs zlib asynchronously (libuv's thread pool, 10 calls at a time process-wide,
 * callbacks re-ordered by its sender's queue). Here every call is on the worker's own thread, which is
 * already off the main thread, so going async would only add a hop, an order to restore and a buffer of
 * pending work per connection. Sync gives, for free:
 * - **order**: `compress` returns the message's payload; `inflate`/`inflateEnd` hand out the inflated
 *   bytes before they return. A connection that compresses in send order and inflates in read order
 *   keeps its messages in order with nothing queued;
 * - **a bound against zip bombs**: inflate output is taken `OUT_CHUNK` bytes at a time into one worker-
 *   wide scratch buffer, counted, and the stream stopped as soon as the message passes `maxPayload`
 *   (1009): a 1 GB bomb costs one chunk of memory and the CPU of `maxPayload` bytes, not 1 GB;
 * - **shared streams**: with no context takeover a stream holds nothing between messages, and since no
 *   two messages are ever in one at the same time, one stream per worker (per window size) serves every
 *   such connection (`ZlibPool`). Memory is then per worker, not per connection.
 * The price: a large message blocks the worker's other connections while it is (de)compressed (~10 ms
 * per MiB at level 6, less for level 1); bounded by `maxPayload`.
 *
 * Node's own sync zlib calls (`deflateRawSync`, `_processChunk` without a callback) open and close a
 * stream per call, so they cannot keep a context; this uses the stream's native handle (`writeSync`,
 * workers/internals.ts) in a loop of its own.
 *
 * Close codes: an inflated message over `maxPayload` → 1009 (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`, ws's
 * code); a stream zlib rejects → 1007 (`WS_ERR_INVALID_COMPRESSED_DATA`), as ws (inflateOnError sets
 * 1007): the frames were well formed, the message's data is not what its type says (RFC 6455 §7.4.1);
 * RFC 7692 names no code (§8 only says to fail the connection); python-websockets says 1002.
 */
import zlib from 'node:zlib';
import { type DeflateDirections, type DeflateParams, directions } from './deflate-negotiation.js';
import { type ZlibHandle, zlibHandle } from './internals.js';

const { Z_SYNC_FLUSH, Z_DEFAULT_COMPRESSION, Z_DEFAULT_MEMLEVEL } = zlib.constants;

/** The bytes a Z_SYNC_FLUSH ends with, removed on send and added back on receive (RFC 7692 §7.2.1–2). */
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
/** Inflate output is taken this many bytes at a time (the overshoot past maxPayload is below this). */
const OUT_CHUNK = 16 * 1024;
/** The worker's scratch for compressed output of messages whose bound fits. */
const SCRATCH = 64 * 1024;
/** `hibernateAfterMs` when the options do not say (PerMessageDeflateOptions). */
export const DEFAULT_HIBERNATE_MS = 10_000;
/** Frame header room `compress` can leave in front of the payload: 14 covers any header and mask. */
export const MAX_HEADROOM = 14;

export const ERR_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
export const ERR_BAD_DATA = 'WS_ERR_INVALID_COMPRESSED_DATA';
/** `inflate`/`inflateEnd` answers: 0, or the close code to fail the connection with. */
export const INFLATE_OK = 0;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_BAD_DATA = 1007;

export interface DeflateOptions {
  /** zlib level, -1 (zlib's default, 6) … 9. Default -1, as ws. */
  level?: number;
  /** zlib memLevel 1…9 (the compressor's hash table: 2^(memLevel+9) bytes). Default 8, as ws. */
  memLevel?: number;
  /** Messages shorter than this are sent uncompressed (RSV1 clear). Default 1024, as ws. */
  threshold?: number;
  /** Largest inflated message; 0 = no limit. Over it: 1009, found before it is all inflated. */
  maxPayload: number;
  /**
   * Keep the last window of bytes of each direction with context takeover (up to 2^windowBits bytes each,
   * a copy per message), so that `hibernate()` can close this connection's zlib streams while it is idle
   * and make them again, context intact, from those bytes. Default false.
   */
  hibernate?: boolean;
  /**
   * With `hibernate`: the worker's idle sweep calls `hibernate()` once this connection has compressed and
   * inflated nothing for this many milliseconds. 0 (the default): only an explicit `hibernate()` call.
   */
  idleMs?: number;
}

/** The parts of the options a compressed payload depends on. */
interface DeflateShape {
  windowBits: number;
  level: number;
  memLevel: number;
}

// ---- one zlib stream, used synchronously ----

let zlibError: string | null = null;
function onZlibError(message: string): void {
  zlibError = message;
}

/**
 * This thread's zlib figures (a worker's `stats().deflate`): streams open now (connections' own and the
 * pool's), streams closed by `hibernate()`, connections made to sleep by the idle sweep, and compressions
 * done for publications (workers/connection.ts: one per share key per publication, or one per member).
 */
export const zlibCounters = { streams: 0, hibernatedStreams: 0, swept: 0, fanoutCompressions: 0 };

let scratch: Buffer | null = null;
let outChunk: Buffer | null = null;

/** A zlib stream driven through its native handle. */
class Z {
  readonly #stream: zlib.DeflateRaw | zlib.InflateRaw;
  readonly #handle: ZlibHandle;
  readonly #state: Uint32Array;
  /** The last inflate reached the end of a DEFLATE stream (a block with BFINAL). */
  ended = false;

  /** `dictionary`: the context to start from (the last window's worth of bytes, see `History`). */
  constructor(inflate: boolean, shape: DeflateShape, dictionary?: Buffer) {
    // chunkSize 64 (zlib's minimum): the stream's own output buffer is never used.
    const dict = dictionary !== undefined && dictionary.length > 0 ? { dictionary } : {};
    this.#stream = inflate
      ? zlib.createInflateRaw({ windowBits: shape.windowBits, chunkSize: 64, ...dict })
      : zlib.createDeflateRaw({ windowBits: shape.windowBits, level: shape.level, memLevel: shape.memLevel, chunkSize: 64, ...dict });
    const { handle, state } = zlibHandle(this.#stream);
    handle.onerror = onZlibError;
    this.#handle = handle;
    this.#state = state;
    zlibCounters.streams++;
  }

  reset(): void {
    this.#handle.reset();
    this.ended = false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    zlibCounters.streams--;
    this.#stream.close();
  }

  #closed = false;

  /**
   * Compress `data` (one whole message, Z_SYNC_FLUSH) into a new Buffer with `headroom` free bytes in
   * front, the 4-byte tail removed.
   */
  deflate(data: Uint8Array, headroom: number): Buffer {
    const n = data.byteLength;
    // zlib's deflateBound for these settings is below n + n/4096 + n/16384 + 13; + 6 for the flush's empty block.
    const bound = headroom + n + (n >>> 12) + (n >>> 14) + 64;
    let out = bound <= SCRATCH ? (scratch ??= Buffer.allocUnsafe(SCRATCH)) : Buffer.allocUnsafe(bound);
    let at = headroom;
    let inOff = 0;
    let inLen = n;
    let chunks: Buffer[] | null = null;
    for (;;) {
      const room = out.length - at;
      this.#handle.writeSync(Z_SYNC_FLUSH, data, inOff, inLen, out, at, room);
      if (zlibError !== null) throw this.#fail();
      const availOut = this.#state[0]!;
      const availIn = this.#state[1]!;
      inOff += inLen - availIn;
      inLen = availIn;
      at += room - availOut;
      if (availOut !== 0) break;
      // The bound was not enough (it is, for zlib 1.x): go on in a new buffer.
      (chunks ??= []).push(out.subarray(0, at));
      out = Buffer.allocUnsafe(Math.max(SCRATCH, inLen * 2 + 64));
      at = 0;
    }
    if (chunks !== null) {
      chunks.push(out.subarray(0, at));
      out = Buffer.concat(chunks);
      at = out.length;
    }
    // Nothing since the last flush (an empty message with context takeover): zlib writes no second
    // flush marker. RFC 7692 §7.2.3.6: send one 0x00 byte, which the tail completes to an empty stored block.
    if (at === headroom) {
      const one = Buffer.allocUnsafe(headroom + 1);
      one[headroom] = 0;
      return one;
    }
    if (at - headroom < 4 || out[at - 4] !== 0 || out[at - 3] !== 0 || out[at - 2] !== 0xff || out[at - 1] !== 0xff) throw new Error('deflate: no sync flush tail');
    const len = at - 4;
    const result = Buffer.allocUnsafe(len);
    out.copy(result, headroom, headroom, len);
    return result;
  }

  /**
   * Inflate `input[start, end)`, handing the output to `sink` in slices of the worker's scratch; `total`
   * bytes of this message came out before. Returns the new total, or -1 over `max` (max > 0), or -2 on a
   * zlib error (the stream is then unusable: close it).
   */
  inflate(input: Uint8Array, start: number, end: number, total: number, max: number, sink: InflateSink, tail: boolean, history: History | null): number {
    const out = (outChunk ??= Buffer.allocUnsafe(OUT_CHUNK));
    let inOff = start;
    let inLen = end - start;
    if (this.ended) return inLen === 0 || tail ? total : -2; // data after the final block
    for (;;) {
      this.#handle.writeSync(Z_SYNC_FLUSH, input, inOff, inLen, out, 0, OUT_CHUNK);
      if (zlibError !== null) {
        zlibError = null;
        return -2;
      }
      const availOut = this.#state[0]!;
      const availIn = this.#state[1]!;
      inOff += inLen - availIn;
      inLen = availIn;
      const have = OUT_CHUNK - availOut;
      if (have > 0) {
        total += have;
        if (max > 0 && total > max) return -1; // stop here: the rest is never inflated
        history?.add(out, 0, have);
        sink.inflated(out, 0, have);
      }
      if (availOut === 0) continue; // more output pending
      if (inLen > 0) {
        // Output room left and input not taken: the DEFLATE stream ended (BFINAL).
        this.ended = true;
        if (!tail) return -2;
      }
      return total;
    }
  }

  #fail(): Error {
    const e = new Error(`zlib: ${zlibError}`);
    zlibError = null;
    return e;
  }
}

/**
 * The last `size` bytes that went through a stream with context takeover (a ring), kept so that the stream
 * can be closed while the connection is idle and made again from them (`dictionary`): a DEFLATE context is
 * exactly the last window of uncompressed bytes, on both ends (RFC 1951 §2, RFC 7692 §7.2.3.1). zlib's
 * references reach at most 2^windowBits − 262 bytes back, within what the peer's window holds.
 */
class History {
  #buf: Buffer | null = null;
  #at = 0;
  #filled = 0;
  constructor(readonly size: number) {}

  add(b: Uint8Array, start: number, end: number): void {
    const size = this.size;
    if (end - start >= size) {
      start = end - size;
    }
    // Grown as it fills (doubling from 1 KiB up to `size`): a connection of small messages keeps a small copy.
    const need = Math.min(size, this.#filled + (end - start));
    let buf = this.#buf;
    if (buf === null || buf.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(size, Math.max(need, buf === null ? 1024 : buf.length * 2)));
      if (buf !== null) buf.copy(grown, 0, 0, this.#filled);
      this.#buf = buf = grown;
    }
    while (start < end) {
      const n = Math.min(end - start, size - this.#at);
      buf.set(b.subarray(start, start + n), this.#at);
      start += n;
      this.#at = (this.#at + n) % size;
      this.#filled = Math.min(size, this.#filled + n);
    }
  }

  /** The bytes kept, oldest first, in a buffer of their own; empties the ring and frees it. */
  take(): Buffer {
    const buf = this.#buf;
    const n = this.#filled;
    let out: Buffer;
    if (buf === null || n === 0) out = Buffer.alloc(0);
    else if (n < this.size) out = Buffer.from(buf.subarray(0, n)); // not yet wrapped: oldest first already
    else out = Buffer.concat([buf.subarray(this.#at), buf.subarray(0, this.#at)], n);
    this.clear();
    return out;
  }

  clear(): void {
    this.#buf = null;
    this.#at = 0;
    this.#filled = 0;
  }
}

// ---- the idle sweep ----

/**
 * Puts idle connections' streams to sleep: every connection that used a stream of its own (context
 * takeover) with an `idleMs` is watched; a timer (unref'd: it never keeps a worker alive) calls
 * `hibernate()` on those idle for their `idleMs`, and stops when none is watched. The timer runs at half the
 * smallest `idleMs` seen, between 10 ms and 1 s, so a connection sleeps within 1.5 × its `idleMs`.
 */
class IdleSweep {
  readonly #awake = new Set<PerMessageDeflate>();
  #timer: NodeJS.Timeout | null = null;
  #period = 0;

  watch(p: PerMessageDeflate, idleMs: number): void {
    this.#awake.add(p);
    const period = Math.min(1000, Math.max(10, idleMs >>> 1));
    if (this.#timer !== null && period >= this.#period) return;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#period = period;
    this.#timer = setInterval(() => this.sweep(), period);
    this.#timer.unref();
  }

  forget(p: PerMessageDeflate): void {
    this.#awake.delete(p);
    if (this.#awake.size === 0) this.#stop();
  }

  sweep(): void {
    const now = performance.now();
    for (const p of this.#awake) {
      if (!p.idleAt(now)) continue;
      if (p.hibernate() > 0) zlibCounters.swept++;
      if (p.streams === 0) this.#awake.delete(p);
    }
    if (this.#awake.size === 0) this.#stop();
  }

  /** Connections watched now (holding a stream of their own, or used within their `idleMs`). */
  get watched(): number {
    return this.#awake.size;
  }

  #stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#period = 0;
  }
}

/** This thread's sweep (module-level: one per worker thread). */
export const idleSweep = new IdleSweep();

// ---- the worker's shared streams ----

/**
 * The worker's zlib streams for directions without context takeover: one compressor per shape (used
 * and reset within one call, so one is enough), and decompressors lent for a message's duration (a
 * compressed message may arrive over many socket chunks; each connection in the middle of one holds a
 * decompressor until its last frame, then gives it back). Idle decompressors kept: `maxIdle` per window.
 */
export class ZlibPool {
  readonly #deflaters = new Map<string, Z>();
  readonly #idle = new Map<number, Z[]>();
  readonly maxIdle: number;
  /** Decompressors lent out now. */
  lent = 0;
  /** Streams made since the pool was (for the memory statement and its tests). */
  created = 0;

  constructor(maxIdle = 4) {
    this.maxIdle = maxIdle;
  }

  /** The shared compressor of this shape. Use it within one call and reset it. */
  deflater(shape: DeflateShape): Z {
    const key = `${shape.windowBits}:${shape.level}:${shape.memLevel}`;
    let z = this.#deflaters.get(key);
    if (z === undefined) {
      z = new Z(false, shape);
      this.created++;
      this.#deflaters.set(key, z);
    }
    return z;
  }

  /** Borrow a decompressor with this window (return it with `give`, or `drop` it after an error). */
  take(windowBits: number): Z {
    this.lent++;
    const z = this.#idle.get(windowBits)?.pop();
    if (z !== undefined) return z;
    this.created++;
    return new Z(true, { windowBits, level: 0, memLevel: 0 });
  }

  give(windowBits: number, z: Z): void {
    this.lent--;
    let list = this.#idle.get(windowBits);
    if (list === undefined) this.#idle.set(windowBits, (list = []));
    if (list.length < this.maxIdle) {
      z.reset();
      list.push(z);
    } else z.close();
  }

  drop(z: Z): void {
    this.lent--;
    z.close();
  }

  /** Streams alive in the pool now (shared compressors + idle and lent decompressors). */
  get live(): number {
    let n = this.#deflaters.size + this.lent;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Close every stream it holds (lent ones are closed by their borrowers). */
  close(): void {
    for (const z of this.#deflaters.values()) z.close();
    for (const list of this.#idle.values()) for (const z of list) z.close();
    this.#deflaters.clear();
    this.#idle.clear();
  }
}

/**
 * A message cut short, second check (the first: the tail gave output, `inflateEnd`), where the direction
 * keeps no context (the stream is reset after each message anyway): a whole message's data ends with an
 * empty stored block (RFC 7692 §7.2.1), so once its tail is in, the decoder waits at a block boundary and an
 * empty final stored block (`01 00 00 ff ff`) ends the stream there with nothing out. A message cut short
 * leaves the decoder inside a block, where those bytes are data or an error. The probe's sixth byte is left
 * unread when the stream ended (that is how `ended` is seen). Node does not expose zlib's `data_type`, which
 * would tell the same where the context is kept across messages; there only the first check runs.
 */
const PROBE = new Uint8Array([0x01, 0x00, 0x00, 0xff, 0xff, 0x00]);
const probeSink = {
  out: 0,
  inflated(_b: Uint8Array, start: number, end: number): void {
    this.out += end - start;
  },
};
function endsAtBlockBoundary(z: Z): boolean {
  probeSink.out = 0;
  return z.inflate(PROBE, 0, PROBE.length, 0, 0, probeSink, true, null) === 0 && z.ended && probeSink.out === 0;
}

/** The worker's pool (module-level: one per worker thread). */
export const workerZlibPool = new ZlibPool();

// ---- one connection ----

/** Where inflated bytes go; `bytes[start, end)` is valid only during the call (the worker's scratch). */
export interface InflateSink {
  inflated(bytes: Uint8Array, start: number, end: number): void;
}

/**
 * One connection's permessage-deflate state, made when the handshake negotiated the extension. Holds no
 * zlib stream until a message needs one; keeps one only for a direction with context takeover (made on
 * its first message, freed by `close`); borrows the worker's otherwise.
 */
export class PerMessageDeflate {
  readonly dir: DeflateDirections;
  readonly threshold: number;
  readonly maxPayload: number;
  readonly #out: DeflateShape;
  readonly #pool: ZlibPool;
  /** Our compressor, with context takeover only. */
  #deflater: Z | null = null;
  /** Our decompressor: owned with context takeover; borrowed for one message otherwise. */
  #inflater: Z | null = null;
  /** Inflated bytes of the message in progress. */
  #total = 0;
  /** An inbound compressed message is in progress (between its first slice and `inflateEnd`). */
  #inMessage = false;
  /** With `hibernate`: the contexts of the takeover directions, as bytes. */
  readonly #outHistory: History | null;
  readonly #inHistory: History | null;
  /** After `hibernate()`: what to make the streams again from. */
  #outDict: Buffer | undefined = undefined;
  #inDict: Buffer | undefined = undefined;
  /** The idle sweep's delay (0: not swept) and when this connection last (de)compressed with its own stream. */
  readonly #idleMs: number;
  #usedAt = 0;
  /** Why the last inflate failed (`ERR_TOO_BIG`, `ERR_BAD_DATA`), '' otherwise. */
  error = '';
  /**
   * Connections with the same non-null key may share one compressed payload of a message (fan-out):
   * their compressors keep no context and have the same shape. null: context takeover, compress per
   * connection.
   */
  readonly shareKey: string | null;

  constructor(params: DeflateParams, isServer: boolean, opts: DeflateOptions, pool: ZlibPool = workerZlibPool) {
    this.dir = directions(params, isServer);
    this.threshold = opts.threshold ?? 1024;
    this.maxPayload = opts.maxPayload;
    this.#out = { windowBits: this.dir.deflateWindowBits, level: opts.level ?? Z_DEFAULT_COMPRESSION, memLevel: opts.memLevel ?? Z_DEFAULT_MEMLEVEL };
    this.#pool = pool;
    this.shareKey = this.dir.deflateNoContextTakeover ? `${this.#out.windowBits}:${this.#out.level}:${this.#out.memLevel}:${this.threshold}` : null;
    const keep = opts.hibernate === true;
    this.#outHistory = keep && !this.dir.deflateNoContextTakeover ? new History(1 << this.dir.deflateWindowBits) : null;
    this.#inHistory = keep && !this.dir.inflateNoContextTakeover ? new History(1 << this.dir.inflateWindowBits) : null;
    this.#idleMs = keep && (this.#outHistory !== null || this.#inHistory !== null) ? Math.max(0, opts.idleMs ?? 0) : 0;
  }

  /** Its own stream was used now: the idle sweep watches it. */
  #used(): void {
    if (this.#idleMs === 0) return;
    this.#usedAt = performance.now();
    idleSweep.watch(this, this.#idleMs);
  }

  /** For the idle sweep: nothing compressed or inflated on its own streams since `now - idleMs`. */
  idleAt(now: number): boolean {
    return now - this.#usedAt >= this.#idleMs;
  }

  /**
   * An outbound data message: its compressed payload (send it with RSV1 set on the first frame), with
   * `headroom` (≤ MAX_HEADROOM) bytes free in front for the frame header, or null when it is shorter than
   * `threshold` (send `data` as it is, RSV1 clear). Call in send order.
   */
  compress(data: Uint8Array, headroom = 0): Buffer | null {
    if (data.byteLength < this.threshold) return null;
    if (this.dir.deflateNoContextTakeover) return compressMessage(data, this.#out, headroom, this.#pool);
    if (this.#deflater === null) {
      this.#deflater = new Z(false, this.#out, this.#outDict);
      if (this.#outDict !== undefined) this.#outHistory!.add(this.#outDict, 0, this.#outDict.length);
      this.#outDict = undefined;
    }
    const out = this.#deflater.deflate(data, headroom);
    this.#outHistory?.add(data, 0, data.byteLength);
    this.#used();
    return out;
  }

  /**
   * Payload bytes of an inbound message that had RSV1 on its first frame (any of its frames, in order,
   * in as many slices as they arrive). The inflated bytes go to `sink` before this returns. Returns
   * INFLATE_OK, or the close code to fail the connection with (`error` says why); after a failure the
   * connection is done with this state.
   */
  inflate(bytes: Uint8Array, start: number, end: number, sink: InflateSink): number {
    return this.#inflate(bytes, start, end, sink, false);
  }

  /** The message's last frame is in: flush it (the tail added back), and ready for the next message. */
  inflateEnd(sink: InflateSink): number {
    // The tail completes the empty stored block a whole message ends with (RFC 7692 §7.2.1): its LEN and
    // NLEN, no data. Output from it means the message was cut short and the tail was read as its data.
    const before = this.#total;
    const code = this.#inflate(TAIL, 0, 4, sink, true);
    if (code !== INFLATE_OK) return code;
    if (this.#total !== before) return this.#cutShort();
    this.#total = 0;
    this.#inMessage = false;
    const z = this.#inflater!;
    if (this.dir.inflateNoContextTakeover) {
      if (!z.ended && !endsAtBlockBoundary(z)) return this.#cutShort();
      this.#inflater = null;
      this.#pool.give(this.dir.inflateWindowBits, z);
    } else if (z.ended) {
      z.reset(); // the peer ended its DEFLATE stream: the next message starts a new one
      this.#inHistory?.clear();
    }
    return INFLATE_OK;
  }

  #inflate(bytes: Uint8Array, start: number, end: number, sink: InflateSink, tail: boolean): number {
    let z = this.#inflater;
    if (z === null) {
      z = this.dir.inflateNoContextTakeover ? this.#pool.take(this.dir.inflateWindowBits) : new Z(true, { windowBits: this.dir.inflateWindowBits, level: 0, memLevel: 0 }, this.#inDict);
      if (this.#inDict !== undefined) this.#inHistory!.add(this.#inDict, 0, this.#inDict.length);
      this.#inDict = undefined;
      this.#inflater = z;
    }
    this.#inMessage = true;
    if (!this.dir.inflateNoContextTakeover) this.#used();
    const total = z.inflate(bytes, start, end, this.#total, this.maxPayload, sink, tail, this.#inHistory);
    if (total >= 0) {
      this.#total = total;
      return INFLATE_OK;
    }
    this.#dropInflater();
    this.error = total === -1 ? ERR_TOO_BIG : ERR_BAD_DATA;
    return total === -1 ? CLOSE_TOO_BIG : CLOSE_BAD_DATA;
  }

  #cutShort(): number {
    this.#total = 0;
    this.#dropInflater();
    this.error = ERR_BAD_DATA;
    return CLOSE_BAD_DATA;
  }

  #dropInflater(): void {
    this.#inMessage = false;
    const z = this.#inflater;
    if (z === null) return;
    this.#inflater = null;
    if (this.dir.inflateNoContextTakeover) this.#pool.drop(z);
    else z.close();
  }

  /**
   * The connection is idle: close its own zlib streams (context takeover ones; the pool's are not held
   * between messages), keeping their contexts as bytes when made with `hibernate: true` (≤ 2^windowBits
   * bytes each); the next message makes them again. Without `hibernate` it frees nothing. Not while an
   * inbound message is half in (its decompressor is kept). Returns the number of streams closed.
   */
  hibernate(): number {
    let closed = 0;
    if (this.#deflater !== null && this.#outHistory !== null) {
      this.#outDict = this.#outHistory.take();
      this.#deflater.close();
      this.#deflater = null;
      closed++;
    }
    if (this.#inflater !== null && this.#inHistory !== null && !this.#inMessage) {
      this.#inDict = this.#inHistory.take();
      this.#inflater.close();
      this.#inflater = null;
      closed++;
    }
    zlibCounters.hibernatedStreams += closed;
    return closed;
  }

  /** Zlib streams this connection holds now (0, 1 or 2). */
  get streams(): number {
    return (this.#deflater === null ? 0 : 1) + (this.#inflater === null ? 0 : 1);
  }

  /** The connection is gone: free its streams (a borrowed one is given back). */
  close(): void {
    if (this.#idleMs !== 0) idleSweep.forget(this);
    this.#deflater?.close();
    this.#deflater = null;
    const z = this.#inflater;
    if (z !== null) {
      this.#inflater = null;
      if (this.dir.inflateNoContextTakeover) this.#pool.give(this.dir.inflateWindowBits, z);
      else z.close();
    }
    this.#total = 0;
    this.#inMessage = false;
    this.#outDict = this.#inDict = undefined;
  }
}

/**
 * One message compressed without context (RFC 7692 §7.1.1: what a compressor with no context takeover
 * sends), on the pool's shared compressor: the payload any connection whose `shareKey` matches this
 * shape can send as is. `headroom` bytes free in front, as `compress`.
 */
export function compressMessage(data: Uint8Array, shape: DeflateShape, headroom = 0, pool: ZlibPool = workerZlibPool): Buffer {
  const z = pool.deflater(shape);
  try {
    return z.deflate(data, headroom);
  } finally {
    z.reset();
  }
}

/** An inflate failure as an Error (for `inflateMessage`). */
export class InflateError extends Error {
  constructor(
    readonly closeCode: number,
    readonly code: string,
  ) {
    super(`${code} (${closeCode})`);
  }
}

class Collect implements InflateSink {
  parts: Buffer[] = [];
  inflated(bytes: Uint8Array, start: number, end: number): void {
    this.parts.push(Buffer.from(bytes.subarray(start, end)));
  }
}

/** A whole compressed message's payload → its inflated bytes (throws `InflateError`). */
export function inflateMessage(state: PerMessageDeflate, payload: Uint8Array): Buffer {
  const sink = new Collect();
  let code = state.inflate(payload, 0, payload.byteLength, sink);
  if (code === INFLATE_OK) code = state.inflateEnd(sink);
  if (code !== INFLATE_OK) throw new InflateError(code, state.error);
  return Buffer.concat(sink.parts);
}
