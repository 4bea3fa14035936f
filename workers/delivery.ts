/**
 * Inbound delivery in a worker: each connection's messages and events into the inbound ring, within its
 * budget, in order, with TCP backpressure — and the slot table's outbound counters.
 *
 * Rules (nothing is ever dropped):
 * - A connection's messages reach the ring in order. While a connection has anything pending, every new
 *   message of it queues behind (in `pending`).
 * - A message is pushed only when the main thread holds less than `inboundBufferSize` bytes and
 *   `maxQueuedPackets` messages of this connection (held = delivered - consumed, the consumed counters
 *   being written by the main thread's `getPacket`). Once the budget is full the socket is paused and
 *   SLOT_IN_WAITING is set; the main thread rings the doorbell when it frees credit for a waiting slot.
 * - When the shared ring itself is full the socket is paused too, CTL_INBOUND_BLOCKED is set and the main
 *   thread rings the doorbell after draining.
 * - After the socket closed, pending messages are flushed without the credit check (nothing more can
 *   arrive, so memory stays bounded), and EV_CLOSED goes last: it is the slot's final record.
 */
import { CTL_INBOUND_BLOCKED } from '../src/protocol/layout.js';
import { budgetFull, hasCredit, noteSent, setWaiting } from '../src/protocol/credit.js';
import type { RingProducer } from '../src/protocol/ring.js';
import { EV_CLOSED, EV_MSG_BINARY, EV_MSG_TEXT, FLAG_FIRST, FLAG_LAST, FLAG_WHOLE } from '../src/protocol/records.js';
import { encodeJson } from '../src/protocol/control.js';
import { wakeIfWaiting } from '../src/protocol/wake.js';
import type { InboundTarget, PendingItem } from './hosts.js';

/** The shared empty pending list: replaced by a connection's own on first use, never written to. */
export const NO_PENDING: PendingItem[] = [];

/** The figures delivery keeps (part of the worker's `stats()`). */
export interface DeliveryStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  inboundRingFull: number;
}

export class InboundDelivery {
  readonly #ring: RingProducer;
  readonly slots: Int32Array;
  readonly ctl: Int32Array;
  readonly #wakeCell: Int32Array;
  /** Have the worker's one doorbell loop run again soon (see protocol/doorbell.ts). */
  readonly #ringSelf: () => void;
  readonly #onRetire: (conn: InboundTarget) => void;
  /** Records were published (the runtime may spin for the main thread's answer: workerSpinMicros). */
  readonly #onPublished: () => void;

  /** After a publish: wake the main thread if it waits, and tell the runtime. */
  #published(): void {
    wakeIfWaiting(this.#wakeCell);
    this.#onPublished();
  }
  readonly stats: DeliveryStats;
  /** Connections with pending inbound items or a paused socket, in the order they stalled. */
  readonly stalled = new Set<InboundTarget>();
  /** Stream events (EV_INCOMING, EV_STREAM_*) that found the ring full, in order. */
  readonly #events: { slot: number; kind: number; aux: number; data: Uint8Array | null }[] = [];

  constructor(
    ring: RingProducer,
    slots: Int32Array,
    ctl: Int32Array,
    wakeCell: Int32Array,
    ringSelf: () => void,
    onRetire: (conn: InboundTarget) => void,
    stats: DeliveryStats,
    onPublished: () => void = () => undefined,
  ) {
    this.#onPublished = onPublished;
    this.#ring = ring;
    this.slots = slots;
    this.ctl = ctl;
    this.#wakeCell = wakeCell;
    this.#ringSelf = ringSelf;
    this.#onRetire = onRetire;
    this.stats = stats;
  }

  /** Stream events wait for ring space. */
  get eventsWaiting(): boolean {
    return this.#events.length !== 0;
  }

  /** Push a stream event (not tied to a connection slot), in order behind any that wait. */
  pushEvent(slot: number, kind: number, aux: number, data: Uint8Array | null): void {
    if (this.#events.length === 0 && this.#ring.push(slot, kind, aux, data)) {
      this.#ring.publish();
      this.#published();
      return;
    }
    this.#events.push({ slot, kind, aux, data });
    this.flushEvents();
  }

  flushEvents(): void {
    const q = this.#events;
    let i = 0;
    while (i < q.length && this.#ring.push(q[i]!.slot, q[i]!.kind, q[i]!.aux, q[i]!.data)) i++;
    if (i !== 0) {
      q.splice(0, i);
      this.#ring.publish();
      this.#published();
    }
    if (q.length !== 0) {
      this.stats.inboundRingFull++;
      Atomics.store(this.ctl, CTL_INBOUND_BLOCKED, 1);
      // Space freed between the main thread's release and our flag store: see #flush.
      const e = q[0]!;
      if (this.#ring.fits(e.data === null ? 0 : e.data.byteLength)) this.#ringSelf();
    }
  }

  /** The ring's data area (where `reserveMessage` offsets point). */
  get target(): Uint8Array {
    return this.#ring.data;
  }

  /**
   * The fast path: a whole message of `conn` straight into the ring when nothing of it waits before,
   * its credit and the ring's room allow, in one record. Returns the payload offset (the caller writes
   * the bytes, then calls `messageReserved`), or -1.
   */
  reserveMessage(conn: InboundTarget, isBinary: boolean, total: number): number {
    const ring = this.#ring;
    if (conn.pending.length !== 0 || conn.socketClosed || total > ring.maxRecordPayload || this.stalled.has(conn) || !this.#hasCredit(conn, total)) return -1;
    return ring.reserve(total, conn.slot, (isBinary ? EV_MSG_BINARY : EV_MSG_TEXT) | FLAG_WHOLE, total);
  }

  /** The reserved message is written: count it; published once per turn (a microtask after the chunk). */
  messageReserved(conn: InboundTarget, total: number): void {
    conn.deliveredBytes = (conn.deliveredBytes + total) >>> 0;
    conn.deliveredMsgs = (conn.deliveredMsgs + 1) >>> 0;
    this.stats.messagesIn++;
    this.stats.bytesIn += total;
    if (!this.#publishQueued) {
      this.#publishQueued = true;
      queueMicrotask(this.#publishNow);
    }
    if (this.#budgetFull(conn)) this.#stall(conn);
  }

  /** The reserved message turned out bad: take it back (it was not published). */
  unreserveMessage(): void {
    this.#ring.unreserve();
  }

  /**
   * A whole message gathered in a Buffer: into the ring at once if it may (as `reserveMessage`), else
   * through the pending list.
   */
  deliverMessage(conn: InboundTarget, data: Buffer, isBinary: boolean): void {
    const total = data.byteLength;
    const at = this.reserveMessage(conn, isBinary, total);
    if (at >= 0) {
      if (total !== 0) this.#ring.data.set(data, at);
      this.messageReserved(conn, total);
      return;
    }
    this.deliver(conn, { kind: isBinary ? EV_MSG_BINARY : EV_MSG_TEXT, isMessage: true, data, aux: 0, offset: 0, counted: false });
  }

  #publishQueued = false;
  readonly #publishNow = (): void => {
    this.#publishQueued = false;
    this.#ring.publish();
    this.#published();
  };

  /** Queue an inbound item for `conn` and push what the budget and the ring allow. */
  deliver(conn: InboundTarget, item: PendingItem): void {
    if (conn.pending === NO_PENDING) conn.pending = [];
    conn.pending.push(item);
    if (conn.pending.length === 1 && !this.stalled.has(conn)) {
      if (this.#flush(conn) === FLUSH_DONE) return;
    }
    this.#stall(conn);
  }

  #stall(conn: InboundTarget): void {
    if (this.stalled.has(conn)) return;
    this.stalled.add(conn);
    conn.pauseReading();
    setWaiting(this.slots, conn.slot, true);
    // Re-check after publishing the flag: credit given just before the flag was visible would
    // otherwise never ring the doorbell (the main thread stores consumed, then loads the flag).
    queueMicrotask(() => this.#serviceOne(conn));
  }

  #serviceOne(conn: InboundTarget): void {
    if (!this.stalled.has(conn)) return;
    const r = this.#flush(conn);
    if (r === FLUSH_DONE) this.#unstall(conn);
  }

  #unstall(conn: InboundTarget): void {
    this.stalled.delete(conn);
    setWaiting(this.slots, conn.slot, false);
    conn.resumeReading();
  }

  /** Called on every doorbell while something is stalled. */
  serviceStalled(): void {
    Atomics.store(this.ctl, CTL_INBOUND_BLOCKED, 0);
    for (const conn of this.stalled) {
      const r = this.#flush(conn);
      if (r === FLUSH_DONE) this.#unstall(conn);
      else if (r === FLUSH_NO_RING) break; // keep the order: the first stalled gets the space first
    }
  }

  /** Budget check: may the main thread be handed `len` more bytes of this connection now? */
  #hasCredit(conn: InboundTarget, len: number): boolean {
    return hasCredit(this.slots, conn.slot, conn.deliveredMsgs, conn.deliveredBytes, conn.maxQueuedPackets, conn.inboundBufferSize, len);
  }

  #budgetFull(conn: InboundTarget): boolean {
    return budgetFull(this.slots, conn.slot, conn.deliveredMsgs, conn.deliveredBytes, conn.maxQueuedPackets, conn.inboundBufferSize);
  }

  /** Push pending items of `conn` in order while possible. */
  #flush(conn: InboundTarget): number {
    const ring = this.#ring;
    const pending = conn.pending;
    let pushed = false;
    let result = FLUSH_DONE;
    while (conn.pending.length !== 0) {
      const item = pending[0]!;
      const data = item.data;
      const total = data.byteLength;
      if (item.kind === EV_CLOSED) {
        if (!ring.push(conn.slot, EV_CLOSED | FLAG_WHOLE, item.aux, data)) {
          result = FLUSH_NO_RING;
          break;
        }
        pending.shift();
        pushed = true;
        this.#retire(conn);
        break;
      }
      if (item.offset === 0 && item.counted === false) {
        // Messages are subject to the credit check (events are not); after the socket closed, no more
        // data can come, so flush without it and let EV_CLOSED through.
        if (item.isMessage && !conn.socketClosed && !this.#hasCredit(conn, total)) {
          result = FLUSH_NO_CREDIT;
          break;
        }
      }
      // Write whole, or fragment by fragment if larger than one record may be.
      const max = ring.maxRecordPayload;
      let off = item.offset;
      let blocked = false;
      do {
        const n = Math.min(max, total - off);
        let flags = 0;
        if (off === 0) flags |= FLAG_FIRST;
        if (off + n === total) flags |= FLAG_LAST;
        // Events too are FIRST…LAST fragments when larger than a record (EV_REQUEST: up to ~16 KiB of JSON).
        const at = ring.reserve(n, conn.slot, item.kind | flags, off === 0 ? (item.isMessage ? total : item.aux) : 0);
        if (at < 0) {
          blocked = true;
          break;
        }
        if (n !== 0) ring.data.set(n === total ? data : data.subarray(off, off + n), at);
        if (off === 0 && item.isMessage) {
          conn.deliveredBytes = (conn.deliveredBytes + total) >>> 0;
          conn.deliveredMsgs = (conn.deliveredMsgs + 1) >>> 0;
          item.counted = true;
          this.stats.messagesIn++;
          this.stats.bytesIn += total;
        }
        off += n;
        pushed = true;
      } while (off < total);
      item.offset = off;
      if (blocked) {
        result = FLUSH_NO_RING;
        break;
      }
      pending.shift();
    }
    if (pushed) {
      ring.publish();
      this.#published();
    }
    if (result === FLUSH_NO_RING) {
      this.stats.inboundRingFull++;
      Atomics.store(this.ctl, CTL_INBOUND_BLOCKED, 1);
      // The main thread releases, then loads the flag; we stored the flag, now load its position.
      // If the record that did not fit fits now, the space came in between (and the main thread may
      // not have seen the flag): ring our own doorbell, so the one loop runs again soon. (It used to
      // be setImmediate(#onBell), which started one more loop each time, for good; and its test,
      // "half the ring is free", also held when a wrapped record still did not fit.) If it does not
      // fit, records are still unread, and the main thread's next drain sees the flag.
      const item = pending[0]!;
      if (ring.fits(item.kind === EV_CLOSED ? item.data.byteLength : Math.min(ring.maxRecordPayload, item.data.byteLength - item.offset))) this.#ringSelf();
      return result;
    }
    if (result === FLUSH_DONE && conn.slot >= 0 && !conn.retired && !conn.socketClosed && this.#budgetFull(conn)) {
      return FLUSH_NO_CREDIT;
    }
    return result;
  }

  /** EV_CLOSED is out: forget the connection; the slot is the main thread's again. */
  #retire(conn: InboundTarget): void {
    conn.retired = true;
    this.stalled.delete(conn);
    this.#onRetire(conn);
  }

  /** Outbound accounting: payload bytes written to the socket (called from write callbacks). */
  noteSent(conn: InboundTarget, bytes: number, msgEnd: boolean): void {
    if (conn.retired) return;
    conn.sentBytes = (conn.sentBytes + bytes) >>> 0;
    if (msgEnd) {
      conn.sentMsgs = (conn.sentMsgs + 1) >>> 0;
      this.stats.messagesOut++;
    }
    noteSent(this.slots, conn.slot, conn.sentBytes, conn.sentMsgs, msgEnd);
    this.stats.bytesOut += bytes;
  }

  /** The socket closed: flush what is pending, then EV_CLOSED. */
  closed(conn: InboundTarget, code: number, reason: string, error: string): void {
    this.deliver(conn, {
      kind: EV_CLOSED,
      isMessage: false,
      data: encodeJson({ reason, error }),
      aux: code,
      offset: 0,
      counted: false,
    });
    // Credit no longer matters for this connection: flush now.
    if (this.stalled.has(conn)) this.#serviceOne(conn);
  }
}

const FLUSH_DONE = 0;
const FLUSH_NO_CREDIT = 1;
const FLUSH_NO_RING = 2;
