/**
 * @internal The main thread's queue of received packets: one per `WebSocketPeer` (its `PeerEndpoint` is
 * one), or one for every peer of a `WebSocketMultiplayerPeer` (each packet then names its source).
 *
 * Power-of-two circular buffers indexed by free-running counters (no shifting, no splicing): packets
 * [head, tail) have arrived, [head, visibleTail) are readable (as of the last poll). A packet waits as
 * numbers (offset, length, text flag in `#meta`); its `Uint8Array` is made by `take()` — or never, with
 * `takeInto()` — so the queue holds no typed array per packet and a GC during a drain has nothing of it
 * to copy. The buffers are in segments [segHead, segTail): consecutive packets in one slab share a
 * segment (a view of the whole slab, and how many of its packets are left); a packet with a buffer of
 * its own (over 16 KiB, or put together from fragments) is a segment alone, offset -1. Segments never
 * outnumber packets, so both use one capacity. Allocated on the first packet: an idle peer (most of
 * 50,000) holds no queue at all.
 */
const NO_BUFFERS: (Uint8Array | undefined)[] = [];
const NO_META = new Int32Array(0);
/** Int32s per queue index in `#meta`: a packet's offset, length and text flag, and a segment's count. */
const META = 4;
const M_OFF = 0;
const M_LEN = 1;
const M_TEXT = 2;
const M_SEG_LEFT = 3;
/**
 * `takeInto` copies 32-bit words when source and target are 4-byte aligned (slabs are 16-byte aligned,
 * so that is any target offset that is a multiple of 4), from this many bytes up; smaller packets byte
 * by byte. Measured on 64 B packets (PacketQueue alone: push, reveal, take): word copy ~30 ns
 * over `take()`'s view, the byte loop ~80 ns.
 */
const WORD_COPY_FROM = 8;
/** Unaligned targets: a byte loop up to this size, one `set` of a temporary view above (copy-bound). */
const BYTE_LOOP_MAX = 64;

export class PacketQueue<S = never> {
  #meta: Int32Array = NO_META;
  #bufs: (Uint8Array | undefined)[] = NO_BUFFERS;
  /** Each packet's source (a shared queue only; null for a peer's own). */
  #srcs: (S | undefined)[] | null;
  #mask = -1;
  #segHead = 0;
  #segTail = 0;
  #emptyPolls = 0;
  head = 0;
  tail = 0;
  /** End of what the user may read: packets that had arrived at the last `poll()`. */
  visibleTail = 0;
  /** Length of the packet last taken. */
  lastLength = 0;
  /** Source of the packet last taken (shared queues). */
  lastSource: S | undefined = undefined;
  /** The last `takeInto` target and an Int32Array over it (word copies without a view per call). */
  #target: Uint8Array | null = null;
  #target32: Int32Array | null = null;
  /** The same for the buffer copied from (a slab serves many packets in a row). */
  #source: ArrayBufferLike | null = null;
  #source32: Int32Array | null = null;

  constructor(withSources = false) {
    this.#srcs = withSources ? [] : null;
  }

  /** A packet at `off` in `slab` (a view of a whole copy-out slab: see RingConsumer.copyToSlab). */
  pushSlab(slab: Uint8Array, off: number, len: number, isText: boolean, src?: S): void {
    this.#pushPacket(off, len, isText, src);
    const last = (this.#segTail - 1) & this.#mask;
    if (this.#segTail !== this.#segHead && this.#bufs[last] === slab) this.#meta[last * META + M_SEG_LEFT]! += 1;
    else this.#pushSegment(slab);
  }

  /** A packet with a buffer of its own. */
  pushOwn(p: Uint8Array, isText: boolean, src?: S): void {
    this.#pushPacket(-1, p.byteLength, isText, src);
    this.#pushSegment(p);
  }

  #pushPacket(off: number, len: number, isText: boolean, src: S | undefined): void {
    if (this.tail - this.head > this.#mask) this.#grow();
    const i = this.tail & this.#mask;
    const m = this.#meta;
    const at = i * META;
    m[at + M_OFF] = off;
    m[at + M_LEN] = len;
    m[at + M_TEXT] = isText ? 1 : 0;
    if (this.#srcs !== null) this.#srcs[i] = src;
    this.tail++;
  }

  #pushSegment(buf: Uint8Array): void {
    const i = this.#segTail & this.#mask;
    this.#bufs[i] = buf;
    this.#meta[i * META + M_SEG_LEFT] = 1;
    this.#segTail++;
  }

  #grow(): void {
    const oldMeta = this.#meta;
    const oldBufs = this.#bufs;
    const oldSrcs = this.#srcs;
    const oldMask = this.#mask;
    const size = oldMask < 0 ? 4 : (oldMask + 1) * 2;
    const mask = size - 1;
    const meta = new Int32Array(size * META);
    const bufs = new Array<Uint8Array | undefined>(size).fill(undefined);
    const srcs = oldSrcs === null ? null : new Array<S | undefined>(size).fill(undefined);
    for (let k = this.head; k < this.tail; k++) {
      const from = (k & oldMask) * META;
      const to = (k & mask) * META;
      meta[to + M_OFF] = oldMeta[from + M_OFF]!;
      meta[to + M_LEN] = oldMeta[from + M_LEN]!;
      meta[to + M_TEXT] = oldMeta[from + M_TEXT]!;
      if (srcs !== null) srcs[k & mask] = oldSrcs![k & oldMask];
    }
    for (let k = this.#segHead; k < this.#segTail; k++) {
      bufs[k & mask] = oldBufs[k & oldMask];
      meta[(k & mask) * META + M_SEG_LEFT] = oldMeta[(k & oldMask) * META + M_SEG_LEFT]!;
    }
    this.#meta = meta;
    this.#bufs = bufs;
    this.#srcs = srcs;
    this.#mask = mask;
  }

  /** Packets readable now. */
  available(): number {
    return this.visibleTail - this.head;
  }

  /** Length of the next readable packet, -1 when there is none. */
  peekLength(): number {
    return this.visibleTail === this.head ? -1 : this.#meta[(this.head & this.#mask) * META + M_LEN]!;
  }

  /** Whether the next packet (caller checked `available() > 0`) arrived as text. */
  nextIsText(): boolean {
    return this.#meta[(this.head & this.#mask) * META + M_TEXT] === 1;
  }

  /** Source of the next packet (shared queues; caller checked `available() > 0`). */
  nextSource(): S | undefined {
    return this.#srcs === null ? undefined : this.#srcs[this.head & this.#mask];
  }

  /** Take the next packet (caller checked `available() > 0`) as a `Uint8Array` the caller owns. */
  take(): Uint8Array {
    const at = (this.head & this.#mask) * META;
    const off = this.#meta[at + M_OFF]!;
    const len = this.#meta[at + M_LEN]!;
    const buf = this.#bufs[this.#segHead & this.#mask]!;
    const p = off < 0 ? buf : new Uint8Array(buf.buffer, buf.byteOffset + off, len);
    this.#advance(len);
    return p;
  }

  /**
   * Copy the next packet (caller checked `available() > 0`) into `target` at `offset` and take it;
   * returns its length. If it does not fit, returns minus its length and leaves it queued. Allocates
   * nothing when `offset` is a multiple of 4 or the packet is at most 64 B (a word loop for aligned copies;
   * the Int32Array over `target` is made once per target); an unaligned copy of more makes one view.
   */
  takeInto(target: Uint8Array, offset: number): number {
    const at = (this.head & this.#mask) * META;
    const len = this.#meta[at + M_LEN]!;
    if (len > target.byteLength - offset) return -len;
    const off = this.#meta[at + M_OFF]!;
    const buf = this.#bufs[this.#segHead & this.#mask]!;
    this.#copy(buf, off < 0 ? 0 : off, target, offset, len);
    this.#advance(len);
    return len;
  }

  #copy(src: Uint8Array, from: number, dst: Uint8Array, to: number, len: number): void {
    const aligned = ((src.byteOffset + from) & 3) === 0 && ((dst.byteOffset + to) & 3) === 0;
    if (len >= WORD_COPY_FROM && aligned) {
      if (this.#target !== dst) {
        this.#target = dst;
        this.#target32 = new Int32Array(dst.buffer, dst.byteOffset, dst.byteLength >> 2);
      }
      if (this.#source !== src.buffer) {
        this.#source = src.buffer;
        this.#source32 = new Int32Array(src.buffer, 0, src.buffer.byteLength >> 2);
      }
      const s32 = this.#source32!;
      const d32 = this.#target32!;
      const words = len >> 2;
      const s0 = (src.byteOffset + from) >> 2;
      const d0 = to >> 2;
      for (let i = 0; i < words; i++) d32[d0 + i] = s32[s0 + i]!;
      for (let i = words << 2; i < len; i++) dst[to + i] = src[from + i]!;
      return;
    }
    if (len > BYTE_LOOP_MAX && !aligned) {
      // An unaligned target (an odd offset): one short-lived view; the copy itself dominates here.
      dst.set(src.subarray(from, from + len), to);
      return;
    }
    for (let i = 0; i < len; i++) dst[to + i] = src[from + i]!;
  }

  #advance(len: number): void {
    const seg = this.#segHead & this.#mask;
    if (this.#srcs !== null) {
      const i = this.head & this.#mask;
      this.lastSource = this.#srcs[i];
      this.#srcs[i] = undefined;
    }
    if (--this.#meta[seg * META + M_SEG_LEFT]! === 0) {
      this.#bufs[seg] = undefined;
      this.#segHead++;
    }
    this.head++;
    this.lastLength = len;
    // Drained: let go of the slab the word view was over (an idle peer must not pin 64 KiB).
    if (this.head === this.tail) this.#source = this.#source32 = null;
  }

  /** Make every packet that already arrived readable (called by `poll()`). */
  reveal(): void {
    this.visibleTail = this.tail;
    // A burst grew the queue. Keep it while bursts keep coming (regrowing it every poll cost 16 % of
    // the main thread's time in bench/e2e/main-thread-cost); give it back after 64 polls found it empty,
    // so an idle peer (most of 50,000) holds none.
    if (this.#mask > 63) {
      if (this.head !== this.tail) this.#emptyPolls = 0;
      else if (++this.#emptyPolls >= 64) {
        this.#meta = NO_META;
        this.#bufs = NO_BUFFERS;
        if (this.#srcs !== null) this.#srcs = [];
        this.#mask = -1;
        this.#emptyPolls = 0;
      }
    }
  }

  /** Drop every packet (a connection that starts again, a multiplayer peer closed). */
  clear(): void {
    this.#meta = NO_META;
    this.#bufs = NO_BUFFERS;
    if (this.#srcs !== null) this.#srcs = [];
    this.#mask = -1;
    this.#segHead = this.#segTail = 0;
    this.head = this.tail = this.visibleTail = 0;
    this.lastSource = undefined;
  }
}
