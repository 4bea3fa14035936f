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

  /** Make every reserved record visible to the consumer. */
  publish(): void {
    Atomics.store(this.ctl, RING_WRITE, this.#write | 0);
  }

  /** Free bytes as last seen (refreshes the consumer's position). */
  free(): number {
    this.#readCache = Atomics.load(this.ctl, RING_READ) >>> 0;
    return this.capacity - ((this.#write - this.#readCache) >>> 0);
  }
}

/**
 * Reads records in order. Usage per burst:
 * ```
 * c.begin();
 * while (c.next()) { c.slot, c.kind, c.aux, c.len, c.payloadOffset … }
 * c.release();
 * ```
 * Payload bytes stay valid until `release()`.
 */
/** Bytes of one copy-out slab (see `RingConsumer.copyPayload`): what a retained packet may keep alive. */
export const SLAB_BYTES = 64 * 1024;
/** Largest payload copied into a slab; larger ones get an `ArrayBuffer` of their own. */
export const SLAB_MAX_PACKET = 16 * 1024;

export class RingConsumer extends RingView {
  #read: number;
  #writeCache: number;
  len = 0;
  slot = 0;
  kind = 0;
  aux = 0;
  payloadOffset = 0;

  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.#read = Atomics.load(this.ctl, RING_READ) >>> 0;
    this.#writeCache = this.#read;
  }

  /** Load the producer's position once for this burst. Returns true if anything is waiting. */
  begin(): boolean {
    this.#writeCache = Atomics.load(this.ctl, RING_WRITE) >>> 0;
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
      if (this.#read === this.#writeCache) return false;
      const off = this.#read & this.mask;
      const h = off >> 2;
      const len = words[h + REC_LEN]!;
      const kind = words[h + REC_KIND]!;
      this.#read = (this.#read + REC_HEADER_BYTES + alignRecord(len)) >>> 0;
      if (kind === REC_PAD) continue;
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
   * - up to 64 bytes: a `slice` (V8 keeps such arrays on its heap: one allocation, cheapest);
   * - up to SLAB_MAX_PACKET: a view into the current 64 KiB slab, an `ArrayBuffer` filled front to back
   *   and never rewritten. A `slice` of this size allocates its own off-heap `ArrayBuffer`, which costs
   *   ~3 µs here (bench/micro: "copyPayload 1 KiB") against ~0.2 µs for the view. Packets in one slab
   *   share its `ArrayBuffer`, as Node's pooled `Buffer`s do (byteOffset ≠ 0);
   * - larger: a `slice` of its own (the allocation is small next to the copy).
   */
  copyPayload(): Uint8Array {
    const off = this.payloadOffset;
    const len = this.len;
    if (len <= 64 || len > SLAB_MAX_PACKET) return this.data.slice(off, off + len);
    let at = this.#slabUsed;
    if (at + len > SLAB_BYTES) {
      this.#slab = new ArrayBuffer(SLAB_BYTES);
      this.#slabView = new Uint8Array(this.#slab);
      at = 0;
    }
    this.#slabView.set(this.data.subarray(off, off + len), at);
    // 8-byte aligned, so a caller may lay a Float64Array or DataView over a packet.
    this.#slabUsed = (at + len + 7) & ~7;
    return new Uint8Array(this.#slab, at, len);
  }

  #slab = new ArrayBuffer(0);
  #slabView = new Uint8Array(0);
  #slabUsed = SLAB_BYTES;

  /** A view of the current payload in shared memory: valid only until `release()`. */
  viewPayload(): Uint8Array {
    return this.data.subarray(this.payloadOffset, this.payloadOffset + this.len);
  }
}
