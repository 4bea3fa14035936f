/**
 * @internal The main-thread engine of one connection: what has arrived from the worker (events and
 * messages), the credit it returns, and the outbound accounting. `WebSocketPeer` is a facade over it and
 * decides what the user sees when (on `poll()`); the pool drives it from `pump()`.
 *
 * Lifetime: one endpoint per connection attempt. It is bound to a worker slot until the worker's
 * EV_CLOSED record is drained; a peer that reconnects gets a new endpoint and drops the old one.
 *
 * It speaks for its connection: `command` (a record for the worker), `trySend` (the outbound budget
 * check, its accounting and the message), `drop`. The worker is a `WorkerLink`, nothing more.
 */
import { creditReturned, sentBytes, sentMsgs } from './protocol/credit.js';
import type { RingConsumer } from './protocol/ring.js';
import { CMD_CLOSE, CMD_HANDSHAKE_ANSWER, FLAG_FIRST, FLAG_LAST, FLAG_WHOLE } from './protocol/records.js';
import { decodeJson, type CloseInfo, type OpenInfo, type RequestInfo } from './protocol/control.js';
import type { WorkerLink } from './pool/link.js';
import { ErrorCode } from './enums.js';

const NO_BUFFERS: (ArrayBuffer | Uint8Array | undefined)[] = [];
const NO_META = new Int32Array(0);
/** Int32s per queue index in `#meta`: a packet's offset, length and text flag, and a segment's count. */
const META = 4;
const M_OFF = 0;
const M_LEN = 1;
const M_TEXT = 2;
const M_SEG_LEFT = 3;

/** A message larger than one ring record, being put together from its fragments. */
interface Assembly {
  buf: Uint8Array;
  text: boolean;
  filled: number;
}

export const ARRIVED_CONNECTING = 0;
export const ARRIVED_OPEN = 1;
export const ARRIVED_CLOSED = 3;

export class PeerEndpoint {
  /** The worker that holds the connection (null until the pool attached it). */
  link: WorkerLink | null = null;
  slot = -1;
  /** Latest state reported by the worker (the facade shows it on poll). */
  arrived = ARRIVED_CONNECTING;
  /** From EV_OPEN until the facade takes it on `poll()` (it clears it then). */
  openInfo: OpenInfo | null = null;
  /**
   * Server side with approval on: the upgrade request (EV_REQUEST), from the drain until the facade takes
   * it on `poll()` (it clears it then). The worker waits for `answerHandshake`.
   */
  requestInfo: RequestInfo | null = null;
  closeCode = -1;
  closeInfo: CloseInfo | null = null;
  /** The user dropped it locally (negative close, close while connecting): ignore further data. */
  detached = false;

  // Inbound queue: power-of-two circular buffers indexed by free-running counters (no shifting, no
  // splicing): packets [head, tail) have arrived, [head, visibleTail) are readable (as of the last poll).
  // A packet waits as numbers (offset, length, text flag in `#meta`); its `Uint8Array` is made by
  // `take()`, so the queue holds no typed array and a GC during a drain has nothing of it to copy.
  // The buffers are in segments [segHead, segTail): consecutive packets in one slab share a segment (its
  // slab, and how many of its packets are left); a packet with a buffer of its own (over 16 KiB, or put
  // together from fragments) is a segment alone, its `Uint8Array`, offset -1. Segments never outnumber
  // packets, so both use one capacity. Allocated on the first packet: an idle peer (most of 50,000)
  // holds no queue at all.
  #meta: Int32Array = NO_META;
  #bufs: (ArrayBuffer | Uint8Array | undefined)[] = NO_BUFFERS;
  #mask = -1;
  #segHead = 0;
  #segTail = 0;
  #emptyPolls = 0;
  head = 0;
  tail = 0;
  /** End of what the user may read: packets that had arrived at the last `poll()`. */
  visibleTail = 0;
  /** Only while a fragmented message comes in (one field, not three, in every idle endpoint). */
  #assembling: Assembly | null = null;

  consumedBytes = 0;
  consumedMsgs = 0;
  #publishedMsgs = 0;
  acceptedBytes = 0;
  acceptedMsgs = 0;

  bind(link: WorkerLink, slot: number): void {
    this.link = link;
    this.slot = slot;
  }

  /** Still bound to a live worker slot (the worker has not sent EV_CLOSED yet). */
  get live(): boolean {
    return this.arrived !== ARRIVED_CLOSED && this.link !== null;
  }

  // ---- to the worker ----

  /** A command record for this connection (CMD_*), if the worker still holds it. */
  command(kind: number, aux: number, bytes: Uint8Array | null): void {
    if (this.live) this.link!.command(this.slot, kind, aux, bytes);
  }

  /**
   * Queue one message (CMD_SEND_*) within the outbound budget: `maxBytes` bytes and `maxMsgs` messages
   * accepted and not yet written to the socket. FAILED when the worker no longer holds the connection
   * (it closed; the peer sees it on its next poll), ERR_OUT_OF_MEMORY when the budget would be passed
   * (nothing queued).
   */
  trySend(kind: number, bytes: Uint8Array, maxBytes: number, maxMsgs: number): ErrorCode {
    if (!this.live) return ErrorCode.FAILED;
    const len = bytes.byteLength;
    if (this.outboundMsgs() >= maxMsgs || this.outboundBytes() + len > maxBytes) return ErrorCode.ERR_OUT_OF_MEMORY;
    this.acceptedBytes = (this.acceptedBytes + len) >>> 0;
    this.acceptedMsgs = (this.acceptedMsgs + 1) >>> 0;
    this.link!.message(this.slot, kind, bytes);
    return ErrorCode.OK;
  }

  /**
   * Answer the request of EV_REQUEST (CMD_HANDSHAKE_ANSWER): `status` 0 accepts (the worker writes the 101;
   * EV_OPEN follows), 400-599 refuses with `reason` (UTF-8, checked by the caller) as the body; a refused
   * endpoint is detached at once, like `drop()`. The worker ignores an answer that comes after the
   * deadline (its EV_CLOSED, HANDSHAKE_TIMEOUT, is then on its way).
   */
  answerHandshake(status: number, reason: Uint8Array | null): void {
    this.command(CMD_HANDSHAKE_ANSWER, status, reason);
    if (status !== 0) {
      this.detached = true;
      this.reveal();
    }
  }

  /** The user dropped the connection: the worker closes it at once; nothing more is shown. */
  drop(): void {
    this.command(CMD_CLOSE, -1, null);
    this.detached = true;
    this.reveal();
  }

  // ---- from the pool's pump ----

  onOpen(info: OpenInfo): void {
    if (this.arrived === ARRIVED_CONNECTING) {
      this.arrived = ARRIVED_OPEN;
      this.openInfo = info;
    }
  }

  /** An EV_REQUEST record: whole, or a fragment (aux of FIRST = total length) of a large request. */
  onRequestRecord(c: RingConsumer): void {
    const flags = c.kind;
    if ((flags & FLAG_WHOLE) === FLAG_WHOLE) {
      this.onRequest(decodeJson<RequestInfo>(c.viewPayload()));
      return;
    }
    // No message can arrive before the request is answered: the message assembly is free.
    if ((flags & FLAG_FIRST) !== 0) this.#assembling = { buf: new Uint8Array(c.aux), text: false, filled: 0 };
    const a = this.#assembling;
    if (a === null) return;
    a.buf.set(c.viewPayload(), a.filled);
    a.filled += c.len;
    if ((flags & FLAG_LAST) !== 0) {
      this.#assembling = null;
      this.onRequest(decodeJson<RequestInfo>(a.buf));
    }
  }

  /** The upgrade request arrived (approval on): kept until taken (`requestInfo`). */
  onRequest(info: RequestInfo): void {
    if (this.arrived === ARRIVED_CONNECTING && !this.detached) this.requestInfo = info;
  }

  onMessageRecord(c: RingConsumer, isText: boolean): void {
    if (this.detached) return;
    const flags = c.kind;
    if ((flags & FLAG_FIRST) !== 0) {
      if ((flags & FLAG_LAST) !== 0) {
        const at = c.copyToSlab();
        if (at >= 0) this.#pushSlab(c.slab, at, c.len, isText);
        else this.#pushOwn(c.copyPayload(), isText);
        return;
      }
      // First fragment of a message larger than one record: c.aux is its total length.
      this.#assembling = { buf: new Uint8Array(c.aux), text: isText, filled: 0 };
    }
    const a = this.#assembling;
    if (a === null) return;
    a.buf.set(c.viewPayload(), a.filled);
    a.filled += c.len;
    if ((flags & FLAG_LAST) !== 0) {
      this.#pushOwn(a.buf, a.text);
      this.#assembling = null;
    }
  }

  /** A packet at `off` in `slab` (see RingConsumer.copyToSlab). */
  #pushSlab(slab: ArrayBuffer, off: number, len: number, isText: boolean): void {
    this.#pushPacket(off, len, isText);
    const last = (this.#segTail - 1) & this.#mask;
    if (this.#segTail !== this.#segHead && this.#bufs[last] === slab) this.#meta[last * META + M_SEG_LEFT]! += 1;
    else this.#pushSegment(slab);
  }

  /** A packet with a buffer of its own. */
  #pushOwn(p: Uint8Array, isText: boolean): void {
    this.#pushPacket(-1, p.byteLength, isText);
    this.#pushSegment(p);
  }

  #pushPacket(off: number, len: number, isText: boolean): void {
    if (this.tail - this.head > this.#mask) this.#grow();
    const m = this.#meta;
    const at = (this.tail & this.#mask) * META;
    m[at + M_OFF] = off;
    m[at + M_LEN] = len;
    m[at + M_TEXT] = isText ? 1 : 0;
    this.tail++;
  }

  #pushSegment(buf: ArrayBuffer | Uint8Array): void {
    const i = this.#segTail & this.#mask;
    this.#bufs[i] = buf;
    this.#meta[i * META + M_SEG_LEFT] = 1;
    this.#segTail++;
  }

  #grow(): void {
    const oldMeta = this.#meta;
    const oldBufs = this.#bufs;
    const oldMask = this.#mask;
    const size = oldMask < 0 ? 4 : (oldMask + 1) * 2;
    const mask = size - 1;
    const meta = new Int32Array(size * META);
    const bufs = new Array<ArrayBuffer | Uint8Array | undefined>(size).fill(undefined);
    for (let k = this.head; k < this.tail; k++) {
      const from = (k & oldMask) * META;
      const to = (k & mask) * META;
      meta[to + M_OFF] = oldMeta[from + M_OFF]!;
      meta[to + M_LEN] = oldMeta[from + M_LEN]!;
      meta[to + M_TEXT] = oldMeta[from + M_TEXT]!;
    }
    for (let k = this.#segHead; k < this.#segTail; k++) {
      bufs[k & mask] = oldBufs[k & oldMask];
      meta[(k & mask) * META + M_SEG_LEFT] = oldMeta[(k & oldMask) * META + M_SEG_LEFT]!;
    }
    this.#meta = meta;
    this.#bufs = bufs;
    this.#mask = mask;
  }

  onClosed(code: number, info: CloseInfo): void {
    if (this.arrived === ARRIVED_CLOSED) return;
    this.arrived = ARRIVED_CLOSED;
    this.closeCode = code;
    this.closeInfo = info;
    this.#assembling = null;
  }

  // ---- from the facade ----

  /**
   * Take the packet at `head` (caller checked `available() > 0`). Credit goes back to the worker once
   * per burst: when the visible queue is drained, and on every `poll()` (see `publishCredit`).
   */
  take(): Uint8Array {
    const mask = this.#mask;
    const m = this.#meta;
    const at = (this.head & mask) * META;
    const off = m[at + M_OFF]!;
    const len = m[at + M_LEN]!;
    const seg = this.#segHead & mask;
    const buf = this.#bufs[seg]!;
    const p = off < 0 ? (buf as Uint8Array) : new Uint8Array(buf as ArrayBuffer, off, len);
    if (--m[seg * META + M_SEG_LEFT]! === 0) {
      this.#bufs[seg] = undefined;
      this.#segHead++;
    }
    this.head++;
    this.consumedBytes = (this.consumedBytes + len) >>> 0;
    this.consumedMsgs = (this.consumedMsgs + 1) >>> 0;
    if (this.head === this.visibleTail) this.publishCredit();
    return p;
  }

  /** Whether the next packet `take()` would return arrived as text. */
  nextIsText(): boolean {
    return this.#meta[(this.head & this.#mask) * META + M_TEXT] === 1;
  }

  /** Tell the worker how much this peer consumed; wake it if it waits for that credit. */
  publishCredit(): void {
    const h = this.link;
    if (h === null || this.arrived === ARRIVED_CLOSED) return;
    if (this.#publishedMsgs === this.consumedMsgs) return;
    this.#publishedMsgs = this.consumedMsgs;
    if (creditReturned(h.slots, this.slot, this.consumedBytes, this.consumedMsgs)) h.wake();
  }

  /** Outbound payload bytes accepted and not yet written to the socket. */
  outboundBytes(): number {
    if (this.link === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedBytes - sentBytes(this.link.slots, this.slot)) >>> 0;
  }

  outboundMsgs(): number {
    if (this.link === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedMsgs - sentMsgs(this.link.slots, this.slot)) >>> 0;
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
        this.#mask = -1;
        this.#emptyPolls = 0;
      }
    }
  }

  /** Packets readable now. */
  available(): number {
    return this.visibleTail - this.head;
  }
}
