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
import { SLOT_FANOUT_SKIPPED, SLOT_FIELDS } from './protocol/layout.js';
import type { RingConsumer } from './protocol/ring.js';
import { CMD_CLOSE, CMD_HANDSHAKE_ANSWER, FLAG_FIRST, FLAG_LAST, FLAG_WHOLE } from './protocol/records.js';
import type { CloseInfo, OpenInfo, RequestInfo } from './protocol/control.js';
import type { WorkerLink } from './pool/link.js';
import { ErrorCode } from './enums.js';
import { PacketQueue } from './packet-queue.js';
import type { Topic } from './pool/topics.js';

/** An event larger than one ring record, being put together (rare: kept off the endpoints, see eventRecord). */
const eventParts = new WeakMap<object, { aux: number; parts: Uint8Array[] }>();

/** A message larger than one ring record, being put together from its fragments. */
interface Assembly {
  buf: Uint8Array;
  text: boolean;
  filled: number;
}

/**
 * @internal Endpoints read together (a `WebSocketMultiplayerPeer`'s): their packets go to one shared
 * queue in arrival order, and each endpoint with news (opened, closed, a request to approve) is put on
 * the group's list once, so that one poll costs what arrived, not the number of endpoints.
 */
export interface EndpointGroup {
  readonly queue: PacketQueue<PeerEndpoint>;
  /** Something changed on `ep` (called once until the group clears `ep.eventQueued`). */
  noteEvent(ep: PeerEndpoint): void;
}

export const ARRIVED_CONNECTING = 0;
export const ARRIVED_OPEN = 1;
export const ARRIVED_CLOSED = 3;

export class PeerEndpoint extends PacketQueue {
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

  /** The group whose shared queue takes this endpoint's packets (null: its own queue, `this`). */
  group: EndpointGroup | null = null;
  /** Its name in the group (a WebSocketMultiplayerPeer's peer id). */
  groupId = 0;
  /** On the group's list of endpoints with news. */
  eventQueued = false;
  /** Topics it is subscribed to (pool/topics.ts). */
  topics: Topic[] | null = null;
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
      this.#notify();
    }
  }

  #notify(): void {
    if (this.group !== null && !this.eventQueued) {
      this.eventQueued = true;
      this.group.noteEvent(this);
    }
  }

  /** An EV_REQUEST record: whole, or a fragment (aux of FIRST = total length) of a large request. */
  /**
   * An event record (EV_OPEN, EV_REQUEST, EV_CLOSED): its aux and whole payload, or null while it is
   * still coming in fragments (an event larger than one record: a request or a URL of several KiB
   * through a small ring). The aux of the FIRST fragment is the event's.
   */
  eventRecord(c: RingConsumer): { aux: number; payload: Uint8Array } | null {
    const flags = c.kind;
    if ((flags & FLAG_WHOLE) === FLAG_WHOLE) return { aux: c.aux, payload: c.viewPayload() };
    let e = eventParts.get(this);
    if ((flags & FLAG_FIRST) !== 0) eventParts.set(this, (e = { aux: c.aux, parts: [] }));
    if (e === undefined) return null;
    e.parts.push(c.viewPayload().slice());
    if ((flags & FLAG_LAST) === 0) return null;
    eventParts.delete(this);
    const whole = new Uint8Array(e.parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of e.parts) {
      whole.set(p, at);
      at += p.byteLength;
    }
    return { aux: e.aux, payload: whole };
  }

  /** The upgrade request arrived (approval on): kept until taken (`requestInfo`). */
  onRequest(info: RequestInfo): void {
    if (this.arrived === ARRIVED_CONNECTING && !this.detached) {
      this.requestInfo = info;
      this.#notify();
    }
  }

  onMessageRecord(c: RingConsumer, isText: boolean): void {
    if (this.detached) return;
    const flags = c.kind;
    if ((flags & FLAG_FIRST) !== 0) {
      if ((flags & FLAG_LAST) !== 0) {
        const at = c.copyToSlab();
        const g = this.group;
        if (g === null) {
          if (at >= 0) this.pushSlab(c.slabView, at, c.len, isText);
          else this.pushOwn(c.copyPayload(), isText);
        } else if (at >= 0) g.queue.pushSlab(c.slabView, at, c.len, isText, this);
        else g.queue.pushOwn(c.copyPayload(), isText, this);
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
      if (this.group === null) this.pushOwn(a.buf, a.text);
      else this.group.queue.pushOwn(a.buf, a.text, this);
      this.#assembling = null;
    }
  }

  onClosed(code: number, info: CloseInfo): void {
    if (this.arrived === ARRIVED_CLOSED) return;
    // The slot is still ours until this returns (EV_CLOSED is its last record): keep its last count.
    if (this.link !== null) this.#skippedAtClose = this.skipped();
    this.arrived = ARRIVED_CLOSED;
    this.closeCode = code;
    this.closeInfo = info;
    this.#assembling = null;
    this.#notify();
  }

  // ---- from the facade ----

  /**
   * Take the packet at `head` (caller checked `available() > 0`). Credit goes back to the worker once
   * per burst: when the visible queue is drained, and on every `poll()` (see `publishCredit`).
   */
  override take(): Uint8Array {
    const p = super.take();
    this.consumed(p.byteLength);
    if (this.head === this.visibleTail) this.publishCredit();
    return p;
  }

  /** `take()` into the caller's buffer (see PacketQueue.takeInto): its length, or minus it if it does not fit. */
  override takeInto(target: Uint8Array, offset: number): number {
    const n = super.takeInto(target, offset);
    if (n < 0) return n;
    this.consumed(n);
    if (this.head === this.visibleTail) this.publishCredit();
    return n;
  }

  /** A packet of this connection was taken (from its queue or its group's): count it for the credit. */
  consumed(len: number): void {
    this.consumedBytes = (this.consumedBytes + len) >>> 0;
    this.consumedMsgs = (this.consumedMsgs + 1) >>> 0;
  }

  /** Tell the worker how much this peer consumed; wake it if it waits for that credit. */
  publishCredit(): void {
    const h = this.link;
    if (h === null || this.arrived === ARRIVED_CLOSED) return;
    if (this.#publishedMsgs === this.consumedMsgs) return;
    this.#publishedMsgs = this.consumedMsgs;
    if (creditReturned(h.slots, this.slot, this.consumedBytes, this.consumedMsgs)) h.wake();
  }

  /** Publications the worker skipped for this connection (slow, policy 'skip'). */
  skipped(): number {
    if (this.link === null) return 0;
    if (this.arrived === ARRIVED_CLOSED) return this.#skippedAtClose;
    return Atomics.load(this.link.slots, this.slot * SLOT_FIELDS + SLOT_FANOUT_SKIPPED) >>> 0;
  }

  #skippedAtClose = 0;

  /** Outbound payload bytes accepted and not yet written to the socket. */
  outboundBytes(): number {
    if (this.link === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedBytes - sentBytes(this.link.slots, this.slot)) >>> 0;
  }

  outboundMsgs(): number {
    if (this.link === null || this.arrived === ARRIVED_CLOSED) return 0;
    return (this.acceptedMsgs - sentMsgs(this.link.slots, this.slot)) >>> 0;
  }
}
