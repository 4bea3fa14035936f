/**
 * @internal The main-thread engine of one connection: what has arrived from the worker (events and
 * messages), the credit it returns, and the outbound accounting. `WebSocketPeer` is a facade over it and
 * decides what the user sees when (on `poll()`); the pool drives it from `pump()`.
 *
 * Lifetime: one endpoint per connection attempt. It is bound to a worker slot until the worker's
 * EV_CLOSED record is drained; a peer that reconnects gets a new endpoint and drops the old one.
 */
import {
  SLOT_FIELDS,
  SLOT_IN_CONSUMED_BYTES,
  SLOT_IN_CONSUMED_MSGS,
  SLOT_IN_WAITING,
  SLOT_OUT_SENT_BYTES,
  SLOT_OUT_SENT_MSGS,
} from './protocol/layout.js';
import type { RingConsumer } from './protocol/ring.js';
import { FLAG_FIRST, FLAG_LAST } from './protocol/records.js';
import type { CloseInfo, OpenInfo } from './protocol/control.js';
import type { PeerPool, WorkerHandle } from './peer-pool.js';

const NO_PACKETS: (Uint8Array | undefined)[] = [];
const NO_TEXTS: boolean[] = [];

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
  pool: PeerPool | null = null;
  handle: WorkerHandle | null = null;
  slot = -1;
  /** Latest state reported by the worker (the facade shows it on poll). */
  arrived = ARRIVED_CONNECTING;
  /** From EV_OPEN until the facade takes it on `poll()` (it clears it then). */
  openInfo: OpenInfo | null = null;
  closeCode = -1;
  closeInfo: CloseInfo | null = null;
  /** The user dropped it locally (negative close, close while connecting): ignore further data. */
  detached = false;

  // Inbound queue: a power-of-two circular buffer indexed by free-running counters (no shifting, no
  // splicing): packets [head, tail) have arrived, [head, visibleTail) are readable (as of the last poll).
  // Allocated on the first packet: an idle peer (most of 50,000) holds no queue at all.
  #packets: (Uint8Array | undefined)[] = NO_PACKETS;
  #texts: boolean[] = NO_TEXTS;
  #mask = -1;
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

  bind(pool: PeerPool, handle: WorkerHandle, slot: number): void {
    this.pool = pool;
    this.handle = handle;
    this.slot = slot;
  }

  handleIndex(): number {
    return this.handle === null ? -1 : this.handle.index;
  }

  /** Still bound to a live worker slot (the worker has not sent EV_CLOSED yet). */
  get live(): boolean {
    return this.arrived !== ARRIVED_CLOSED && this.handle !== null;
  }

  // ---- from the pool's pump ----

  onOpen(info: OpenInfo): void {
    if (this.arrived === ARRIVED_CONNECTING) {
      this.arrived = ARRIVED_OPEN;
      this.openInfo = info;
    }
  }

  onMessageRecord(c: RingConsumer, isText: boolean): void {
    if (this.detached) return;
    const flags = c.kind;
    if ((flags & FLAG_FIRST) !== 0) {
      if ((flags & FLAG_LAST) !== 0) {
        this.#push(c.copyPayload(), isText);
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
      this.#push(a.buf, a.text);
      this.#assembling = null;
    }
  }

  #push(p: Uint8Array, isText: boolean): void {
    if (this.tail - this.head > this.#mask) this.#grow();
    const i = this.tail & this.#mask;
    this.#packets[i] = p;
    this.#texts[i] = isText;
    this.tail++;
  }

  #grow(): void {
    const old = this.#packets;
    const oldTexts = this.#texts;
    const oldMask = this.#mask;
    const size = oldMask < 0 ? 4 : (oldMask + 1) * 2;
    const packets = new Array<Uint8Array | undefined>(size).fill(undefined);
    const texts = new Array<boolean>(size).fill(false);
    for (let k = this.head; k < this.tail; k++) {
      packets[k & (size - 1)] = old[k & oldMask];
      texts[k & (size - 1)] = oldTexts[k & oldMask]!;
    }
    this.#packets = packets;
    this.#texts = texts;
    this.#mask = size - 1;
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
    const i = this.head & this.#mask;
    const p = this.#packets[i]!;
    this.#packets[i] = undefined;
    this.head++;
    this.consumedBytes = (this.consumedBytes + p.byteLength) >>> 0;
    this.consumedMsgs = (this.consumedMsgs + 1) >>> 0;
    if (this.head === this.visibleTail) this.publishCredit();
    return p;
  }

  /** Whether the next packet `take()` would return arrived as text. */
  nextIsText(): boolean {
    return this.#texts[this.head & this.#mask] === true;
  }

  /** Tell the worker how much this peer consumed; wake it if it waits for that credit. */
  publishCredit(): void {
    const h = this.handle;
    if (h === null || this.arrived === ARRIVED_CLOSED) return;
    const slots = h.slots;
    const base = this.slot * SLOT_FIELDS;
    if (this.#publishedMsgs === this.consumedMsgs) return;
    this.#publishedMsgs = this.consumedMsgs;
    Atomics.store(slots, base + SLOT_IN_CONSUMED_BYTES, this.consumedBytes | 0);
    Atomics.store(slots, base + SLOT_IN_CONSUMED_MSGS, this.consumedMsgs | 0);
    // Stored our counters, now look at the flag; the worker stores the flag, then looks at ours.
    if (Atomics.load(slots, base + SLOT_IN_WAITING) !== 0) this.pool!.wake(h);
  }

  /** Outbound payload bytes accepted and not yet written to the socket. */
  outboundBytes(): number {
    if (this.handle === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedBytes - Atomics.load(this.handle.slots, this.slot * SLOT_FIELDS + SLOT_OUT_SENT_BYTES)) >>> 0;
  }

  outboundMsgs(): number {
    if (this.handle === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedMsgs - Atomics.load(this.handle.slots, this.slot * SLOT_FIELDS + SLOT_OUT_SENT_MSGS)) >>> 0;
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
        this.#packets = NO_PACKETS;
        this.#texts = NO_TEXTS;
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
