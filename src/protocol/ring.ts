/**
 * Single-producer single-consumer byte ring of framed records in a SharedArrayBuffer.
 *
 * Wait-free on both sides: the producer only writes RING_WRITE, the consumer only writes RING_READ.
 * Payload bytes are written with plain stores and published by the `Atomics.store` of the write
 * position (sequentially consistent, so the consumer that `Atomics.load`s it sees every byte before it);
 * space is returned by the consumer's `Atomics.store` of the read position once it is done with the bytes.
 *
 * Records never wrap: a record that does not fit before the end of the data area is preceded by a
 * REC_PAD record that fills the tail, and is written at offset 0. Records are 16-byte aligned, so the
 * tail is always at least one header long. Both sides batch: the producer may reserve several records
 * and publish once (`publish`), the consumer reads the whole burst and releases once (`release`).
 *
 * The memory is allocated on one side (`allocRing`) and wrapped by the same classes on both.
 */
import {
  RING_HEADER_BYTES,
  RING_READ,
  RING_WRITE,
  REC_AUX,
  REC_HEADER_BYTES,
  REC_KIND,
  REC_LEN,
  REC_SLOT,
  MIN_RING_CAPACITY,
  alignRecord,
  ringByteLength,
} from './layout.js';
import { REC_PAD } from './records.js';

/** Make the SharedArrayBuffer for a ring of `capacity` bytes (a power of two, at least 4 KiB). */
export function allocRing(capacity: number): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < MIN_RING_CAPACITY || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two between ${MIN_RING_CAPACITY} and 2^30, got ${capacity}`);
  }
  return new SharedArrayBuffer(ringByteLength(capacity));
}

abstract class RingView {
  protected readonly ctl: Int32Array;
  /** The data area as bytes (offset 0 = first data byte). */
  readonly data: Uint8Array;
  /** The data area as int32, for record headers (records are 16-byte aligned). */
  protected readonly words: Int32Array;
  readonly capacity: number;
  protected readonly mask: number;
  /** Largest payload of one record: bigger messages are fragmented by the caller. */
  readonly maxRecordPayload: number;

  constructor(sab: SharedArrayBuffer) {
    const capacity = sab.byteLength - RING_HEADER_BYTES;
    this.ctl = new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
    this.data = new Uint8Array(sab, RING_HEADER_BYTES, capacity);
    this.words = new Int32Array(sab, RING_HEADER_BYTES, capacity >> 2);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxRecordPayload = capacity >> 2;
  }

  /** Bytes currently used, as seen from this side (can be stale in the safe direction). */
  used(): number {
    return (Atomics.load(this.ctl, RING_WRITE) - Atomics.load(this.ctl, RING_READ)) >>> 0;
  }
}

export class RingProducer extends RingView {
  #write: number;
  #readCache: number;
  /** The write position before the last `reserve` (for `unreserve`). */
  #before = 0;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.#write = Atomics.load(this.ctl, RING_WRITE) >>> 0;
    this.#readCache = Atomics.load(this.ctl, RING_READ) >>> 0;
  }

  /**
   * Reserve a record with `len` payload bytes and write its header. Returns the payload's offset in
   * `data`, or -1 when the ring has no room now (nothing is written then). The record is invisible to
   * the consumer until `publish()`.
   */
  reserve(len: number, slot: number, kind: number, aux: number): number {
    // A record larger than this could never fit; callers fragment first. Fail loudly, never spin.
    if (len > this.maxRecordPayload) throw new RangeError(`ring record of ${len} bytes exceeds maxRecordPayload ${this.maxRecordPayload}`);
    const need = REC_HEADER_BYTES + alignRecord(len);
    let w = this.#write;
    let off = w & this.mask;
    const tail = this.capacity - off;
    const total = need <= tail ? need : tail + need;
    if (this.capacity - ((w - this.#readCache) >>> 0) < total) {
      this.#readCache = Atomics.load(this.ctl, RING_READ) >>> 0;
      if (this.capacity - ((w - this.#readCache) >>> 0) < total) return -1;
    }
    this.#before = w;
    const words = this.words;
    if (need > tail) {
      const h = off >> 2;
      words[h + REC_LEN] = tail - REC_HEADER_BYTES;
      words[h + REC_SLOT] = 0;
      words[h + REC_KIND] = REC_PAD;
      words[h + REC_AUX] = 0;
      w = (w + tail) >>> 0;
      off = 0;
    }
    const h = off >> 2;
    words[h + REC_LEN] = len;
    words[h + REC_SLOT] = slot;
    words[h + REC_KIND] = kind;
    words[h + REC_AUX] = aux;
    this.#write = (w + need) >>> 0;
    return off + REC_HEADER_BYTES;
  }

  /** Reserve and copy `bytes` in one step; false when there is no room. */
  push(slot: number, kind: number, aux: number, bytes: Uint8Array | null): boolean {
    const len = bytes === null ? 0 : bytes.byteLength;
    const at = this.reserve(len, slot, kind, aux);
    if (at < 0) return false;
    if (len !== 0) this.data.set(bytes!, at);
    return true;
  }

  /**
   * Take back the last `reserve` (and the pad it may have written), which must not be published yet: a
   * record whose payload turned out bad while it was being written (the worker's frame reader unmasks
   * a text message straight into its reservation and may find invalid UTF-8 halfway). Once only.
   */
  unreserve(): void {
    this.#write = this.#before;
  }

  /** Make every reserved record visible to the consumer. */
  publish(): void {
    Atomics.store(this.ctl, RING_WRITE, this.#write | 0);
  }

  /** Free bytes as last seen (refreshes the consumer's position). */
  free(): number {
    this.#readCache = Atomics.load(this.ctl, RING_READ) >>> 0;
    return this.capacity - ((this.#write - this.#readCache) >>> 0);
  }

  /** Whether `reserve(len)` would succeed now (loads the consumer's position, as `free()` does). */
  fits(len: number): boolean {
    const need = REC_HEADER_BYTES + alignRecord(len);
    const tail = this.capacity - (this.#write & this.mask);
    return this.free() >= (need <= tail ? need : tail + need);
  }
}

/** Bytes of one copy-out slab (see `RingConsumer.copyPayload`): what a retained packet may keep alive. */
export const SLAB_BYTES = 64 * 1024;
/** Largest payload copied into a slab; larger ones get an `ArrayBuffer` of their own. */
export const SLAB_MAX_PACKET = 16 * 1024;

/**
 * Reads records in order. Usage per burst:
 * ```
 * c.begin();
 * while (c.next()) { c.slot, c.kind, c.aux, c.len, c.payloadOffset … }
 * c.release();
 * ```
 * Payload bytes in the ring stay valid until `release()`; `copyPayload()` gives a copy that outlives it.
 */
export class RingConsumer extends RingView {
  #read: number;
  #writeCache: number;
  len = 0;
  slot = 0;
  kind = 0;
  aux = 0;
  payloadOffset = 0;
  /** Free-running position of the current record's header. */
  #recordPos = 0;
  // Copy-out slab: ring bytes [#copiedFrom, #copiedTo) (free-running positions) sit in #slab from
  // #copiedAt on. A packet taken from there is a view; the slab is filled front to back, never rewritten.
  #slab = new ArrayBuffer(0);
  #slabView = new Uint8Array(0);
  #slabUsed = SLAB_BYTES;
  #copiedFrom = 0;
  #copiedTo = 0;
  #copiedAt = 0;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.#read = Atomics.load(this.ctl, RING_READ) >>> 0;
    this.#writeCache = this.#read;
  }

  /** Load the producer's position once for this burst. Returns true if anything is waiting. */
  begin(): boolean {
    this.#writeCache = Atomics.load(this.ctl, RING_WRITE) >>> 0;
    // What was copied belongs to an earlier burst: positions are free-running and come round again.
    this.#copiedTo = this.#copiedFrom;
    return this.#writeCache !== this.#read;
  }

  /** Whether the producer has published records this side has not read (one atomic load). */
  hasUnread(): boolean {
    return (Atomics.load(this.ctl, RING_WRITE) >>> 0) !== this.#read;
  }

  /** Advance to the next record of the burst; false when the burst is exhausted. Skips padding. */
  next(): boolean {
    const words = this.words;
    for (;;) {
      const pos = this.#read;
      if (pos === this.#writeCache) return false;
      const off = pos & this.mask;
      const h = off >> 2;
      const len = words[h + REC_LEN]!;
      const kind = words[h + REC_KIND]!;
      this.#read = (pos + REC_HEADER_BYTES + alignRecord(len)) >>> 0;
      if (kind === REC_PAD) continue;
      this.#recordPos = pos;
      this.len = len;
      this.kind = kind;
      this.slot = words[h + REC_SLOT]!;
      this.aux = words[h + REC_AUX]!;
      this.payloadOffset = off + REC_HEADER_BYTES;
      return true;
    }
  }

  /** Return the space of every record read so far to the producer. */
  release(): void {
    Atomics.store(this.ctl, RING_READ, this.#read | 0);
  }

  /**
   * A copy of the current record's payload in ordinary (not shared) memory that no one else writes:
   * - up to SLAB_MAX_PACKET: a view into a 64 KiB slab. The first such record of a run copies the whole
   *   run of small records that follows it (headers included, up to the end of the burst, of the ring's
   *   data area or of the slab) with one `set`; the records after it only cost the view;
   * - larger: a `slice` of its own (the allocation is small next to the copy).
   */
  copyPayload(): Uint8Array {
    const at = this.copyToSlab();
    return at < 0 ? this.data.slice(this.payloadOffset, this.payloadOffset + this.len) : new Uint8Array(this.#slab, at, this.len);
  }

  /**
   * The allocation-free half of `copyPayload()`: make sure the current record's payload is in the slab
   * and return its byte offset in `slab` (read `slab` after this call: it may be a new one), or -1 when
   * the payload is larger than SLAB_MAX_PACKET (then `copyPayload()` slices it). The main thread keeps
   * packets as (slab, offset, length) until `getPacket()`, so no typed array is alive in its queues.
   */
  copyToSlab(): number {
    if (this.len > SLAB_MAX_PACKET) return -1;
    let into = (this.#recordPos - this.#copiedFrom) >>> 0;
    if (into >= ((this.#copiedTo - this.#copiedFrom) >>> 0)) {
      this.#copyRun();
      into = 0;
    }
    return this.#copiedAt + into + REC_HEADER_BYTES;
  }

  /** The slab `copyToSlab()` copied into. */
  get slab(): ArrayBuffer {
    return this.#slab;
  }

  /** The same slab as one `Uint8Array` over all of it (made once per slab; what queues keep). */
  get slabView(): Uint8Array {
    return this.#slabView;
  }

  /**
   * Copy the run of small records that starts at the current one into the slab (a new slab if the
   * current record does not fit in what is left). The run stops before a record larger than
   * SLAB_MAX_PACKET, at the end of the burst, at the end of the data area (a record never wraps, but the
   * next one may start at 0) and where the slab is full.
   */
  #copyRun(): void {
    const words = this.words;
    const from = this.#recordPos;
    const fromOff = from & this.mask;
    let room = SLAB_BYTES - this.#slabUsed;
    if (REC_HEADER_BYTES + alignRecord(this.len) > room) {
      this.#slab = new ArrayBuffer(SLAB_BYTES);
      this.#slabView = new Uint8Array(this.#slab);
      this.#slabUsed = 0;
      room = SLAB_BYTES;
    }
    // Bytes to the end of the burst or of the data area, whichever is nearer.
    const limit = Math.min(room, (this.#writeCache - from) >>> 0, this.capacity - fromOff);
    let n = 0;
    while (n < limit) {
      const len = words[((fromOff + n) >> 2) + REC_LEN]!;
      if (len > SLAB_MAX_PACKET) break;
      const size = REC_HEADER_BYTES + alignRecord(len);
      if (n + size > limit) break;
      n += size;
    }
    const at = this.#slabUsed;
    this.#slabView.set(this.data.subarray(fromOff, fromOff + n), at);
    // Records are 16-byte aligned, so payloads in the slab are too (a caller may lay a Float64Array or
    // DataView over a packet).
    this.#slabUsed = at + n;
    this.#copiedFrom = from;
    this.#copiedTo = (from + n) >>> 0;
    this.#copiedAt = at;
  }

  /** A view of the current payload in shared memory: valid only until `release()`. */
  viewPayload(): Uint8Array {
    return this.data.subarray(this.payloadOffset, this.payloadOffset + this.len);
  }
}
