/**
 * The worker side of the transport: reads commands from the outbound ring, delivers events and
 * messages to the inbound ring, and enforces each connection's inbound budget with TCP backpressure.
 *
 * Delivery rules (nothing is ever dropped):
 * - A connection's messages reach the ring in order. While a connection has anything pending, every new
 *   message of it queues behind (in `Connection.pending`).
 * - A message is pushed only when the main thread holds less than `inboundBufferSize` bytes and
 *   `maxQueuedPackets` messages of this connection (held = delivered - consumed, the consumed counters
 *   being written by the main thread's `getPacket`). Once the budget is full the socket is paused and
 *   SLOT_IN_WAITING is set; the main thread rings the doorbell when it frees credit for a waiting slot.
 * - When the shared ring itself is full the socket is paused too, CTL_INBOUND_BLOCKED is set and the main
 *   thread rings the doorbell after draining.
 * - After the socket closed, pending messages are flushed without the credit check (nothing more can
 *   arrive, so memory stays bounded), and EV_CLOSED goes last: it is the slot's final record.
 */
import { resourceLimits, threadId } from 'node:worker_threads';
import {
  CTL_DOORBELL,
  CTL_INBOUND_BLOCKED,
  WAKE_SEQ,
  WAKE_WAITING,
  SLOT_FIELDS,
  SLOT_IN_CONSUMED_BYTES,
  SLOT_IN_CONSUMED_MSGS,
  SLOT_IN_WAITING,
  SLOT_OUT_SENT_BYTES,
  SLOT_OUT_SENT_MSGS,
} from '../src/protocol/layout.js';
import { RingConsumer, RingProducer } from '../src/protocol/ring.js';
import {
  CMD_ACCEPT,
  CMD_CLOSE,
  CMD_CONNECT,
  CMD_HEARTBEAT,
  CMD_LISTEN,
  CMD_NO_DELAY,
  CMD_SEND_BINARY,
  CMD_SEND_TEXT,
  CMD_STREAM_CLOSE,
  CMD_STREAM_NO_DELAY,
  CMD_TLS_ACCEPT,
  CMD_UNLISTEN,
  EV_CLOSED,
  FLAG_FIRST,
  FLAG_LAST,
  FLAG_WHOLE,
  EV_MSG_BINARY,
  EV_MSG_TEXT,
  KIND_MASK,
} from '../src/protocol/records.js';
import { decodeJson, encodeJson, type ConnectConfig, type WorkerInit, type WorkerStats } from '../src/protocol/control.js';
import { Connection, NO_PENDING, type PendingItem } from './connection.js';
import { ServerSide } from './listener.js';
import { threadNice } from './nice.js';

const textDecoder = new TextDecoder();

export class WorkerRuntime {
  readonly index: number;
  readonly inbound: RingProducer;
  readonly outbound: RingConsumer;
  readonly ctl: Int32Array;
  readonly slots: Int32Array;
  readonly handshakeTimeoutMs: number;
  readonly maxPendingHandshakes: number;
  readonly closeTimeoutMs: number;
  readonly conns: (Connection | undefined)[] = [];
  /** Connections with pending inbound items or a paused socket, in the order they stalled. */
  readonly stalled = new Set<Connection>();
  /** Stream events (EV_INCOMING, EV_STREAM_*) that found the ring full, in order. */
  readonly #events: { slot: number; kind: number; aux: number; data: Uint8Array | null }[] = [];
  readonly server: ServerSide;
  /** Connections and streams held. */
  live = 0;
  opens = 0;
  #onIdle: (opens: number) => void;
  #doorbellSeen = 0;
  #shuttingDown = false;
  readonly #wakeCell: Int32Array;
  stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, inboundRingFull: 0, selfRings: 0, droppedAfterClose: 0, handshakesRefused: 0 };

  constructor(init: WorkerInit, onIdle: (opens: number) => void) {
    this.index = init.index;
    this.inbound = new RingProducer(init.inbound);
    this.outbound = new RingConsumer(init.outbound);
    this.ctl = new Int32Array(init.control);
    this.slots = new Int32Array(init.slots);
    this.#wakeCell = new Int32Array(init.wake);
    this.handshakeTimeoutMs = init.handshakeTimeoutMs;
    this.maxPendingHandshakes = init.maxPendingHandshakes;
    this.closeTimeoutMs = init.closeTimeoutMs;
    this.#onIdle = onIdle;
    this.server = new ServerSide(this);
  }

  /** Start the doorbell loop (once: it is the worker's only one, for its whole life). */
  start(): void {
    if (this.#loopArmed !== 0) return;
    this.#wake();
  }

  // ---- doorbell -------------------------------------------------------------------------------
  //
  // One loop per worker: `#wake` runs, then arms exactly one continuation (an `Atomics.waitAsync` on
  // the doorbell, or a `setImmediate` when it was rung meanwhile), and only that continuation calls
  // `#wake` again. Nothing else may call `#onBell`: code that wants the loop to run again soon (a full
  // inbound ring whose space came back between our flag store and our position load) rings the
  // doorbell itself (`#ringSelf`), which the one loop then honours like any other ring.

  readonly #onBell = (): void => {
    this.#loopArmed--;
    this.#wake();
  };

  /** Continuations armed and not yet run: 1 between two runs of the loop (0 only inside `#wake`). */
  #loopArmed = 0;
  /** Doorbell rings seen (main thread's and our own `#ringSelf`), and runs of `#wake`. */
  #doorbells = 0;
  #wakeups = 0;

  #wake(): void {
    // Read the counter *before* draining: a ring that arrives while we drain changes it, so the wait
    // below returns 'not-equal' at once and we drain again. Nothing rung is ever missed.
    const seen = Atomics.load(this.ctl, CTL_DOORBELL);
    this.#doorbells += (seen - this.#doorbellSeen) >>> 0;
    this.#doorbellSeen = seen;
    this.#wakeups++;
    this.drainCommands();
    if (this.#events.length !== 0) this.#flushEvents();
    if (this.stalled.size !== 0) this.serviceStalled();
    this.#loopArmed++;
    const r = Atomics.waitAsync(this.ctl, CTL_DOORBELL, this.#doorbellSeen);
    if (r.async) r.value.then(this.#onBell, this.#onBell);
    else setImmediate(this.#onBell); // 'not-equal': rung meanwhile; let I/O run first
  }

  /**
   * Have the loop run again soon, as a doorbell from the main thread would: bump the counter and
   * notify our own wait. Inside `#wake` the counter change makes its wait return 'not-equal' (one
   * setImmediate); while the loop waits, the notify ends the wait. Either way the one loop runs: no
   * second chain is ever started.
   */
  #ringSelf(): void {
    this.stats.selfRings++;
    Atomics.add(this.ctl, CTL_DOORBELL, 1);
    Atomics.notify(this.ctl, CTL_DOORBELL);
  }

  // ---- commands (main -> worker) ----------------------------------------------------------------

  drainCommands(): void {
    const c = this.outbound;
    if (!c.begin()) return;
    const corked = this.#corked;
    while (c.next()) {
      const kind = c.kind & KIND_MASK;
      const slot = c.slot;
      switch (kind) {
        case CMD_SEND_TEXT:
        case CMD_SEND_BINARY: {
          const conn = this.conns[slot];
          if (conn !== undefined) {
            // Batch: every frame for this socket in this burst leaves in one writev at the uncork below.
            if (!conn.corked && conn.cork()) corked.push(conn);
            conn.sendFragment(c.viewPayload(), kind === CMD_SEND_BINARY, c.kind, c.aux);
          }
          break;
        }
        case CMD_CONNECT: {
          this.opens++;
          const cfg = decodeJson<ConnectConfig>(c.viewPayload());
          this.#open(slot, (rt, s) => Connection.connect(rt, s, cfg));
          break;
        }
        case CMD_CLOSE: {
          const conn = this.conns[slot];
          if (conn !== undefined) conn.close(c.aux, c.len === 0 ? '' : textDecoder.decode(c.viewPayload()));
          break;
        }
        case CMD_NO_DELAY:
          this.conns[slot]?.setNoDelay(c.aux !== 0);
          break;
        case CMD_HEARTBEAT:
          this.conns[slot]?.setHeartbeat(c.aux);
          break;
        case CMD_ACCEPT: {
          this.opens++;
          const payload = c.viewPayload();
          this.#open(slot, () => this.server.accept(slot, payload));
          break;
        }
        case CMD_LISTEN:
          this.server.listen(slot, c.viewPayload());
          break;
        case CMD_UNLISTEN:
          this.server.unlisten(slot);
          break;
        case CMD_STREAM_CLOSE:
          this.server.closeStream(slot, false);
          break;
        case CMD_STREAM_NO_DELAY:
          this.server.setNoDelay(slot, c.aux !== 0);
          break;
        case CMD_TLS_ACCEPT:
          this.server.tlsAccept(slot, c.aux, c.viewPayload());
          break;
        default:
          // An unknown record means the two sides were built from different sources: fail loudly.
          throw new Error(`ringsocket worker: unknown command record kind ${kind}`);
      }
    }
    c.release();
    for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
    corked.length = 0;
  }

  readonly #corked: Connection[] = [];

  #open(slot: number, make: (rt: WorkerRuntime, slot: number) => Connection): void {
    if (this.conns[slot] !== undefined) {
      // The main thread reuses a slot only after it saw EV_CLOSED; anything else is a bug.
      throw new Error(`ringsocket worker: slot ${slot} opened while in use`);
    }
    this.live++;
    const conn = make(this, slot);
    this.conns[slot] = conn;
    if (this.#shuttingDown) conn.close(1001, 'server shutting down');
  }

  // ---- inbound delivery (worker -> main) --------------------------------------------------------

  /** Push a stream event (not tied to a connection slot), in order behind any that wait. */
  pushEvent(slot: number, kind: number, aux: number, data: Uint8Array | null): void {
    if (this.#events.length === 0 && this.inbound.push(slot, kind, aux, data)) {
      this.inbound.publish();
      this.#wakeMain();
      return;
    }
    this.#events.push({ slot, kind, aux, data });
    this.#flushEvents();
  }

  #flushEvents(): void {
    const q = this.#events;
    let i = 0;
    while (i < q.length && this.inbound.push(q[i]!.slot, q[i]!.kind, q[i]!.aux, q[i]!.data)) i++;
    if (i !== 0) {
      q.splice(0, i);
      this.inbound.publish();
      this.#wakeMain();
    }
    if (q.length !== 0) {
      this.stats.inboundRingFull++;
      Atomics.store(this.ctl, CTL_INBOUND_BLOCKED, 1);
      // Space freed between the main thread's release and our flag store: see #flush.
      const e = q[0]!;
      if (this.inbound.fits(e.data === null ? 0 : e.data.byteLength)) this.#ringSelf();
    }
  }

  /** A stream or connection is gone. */
  release(): void {
    this.live--;
    if (this.live === 0) this.#onIdle(this.opens);
  }

  /** After a publish: wake the main thread if it waits in `PeerPool.waitForActivity()` (one load otherwise). */
  #wakeMain(): void {
    const w = this.#wakeCell;
    if (Atomics.load(w, WAKE_WAITING) === 0) return;
    Atomics.store(w, WAKE_WAITING, 0);
    Atomics.add(w, WAKE_SEQ, 1);
    Atomics.notify(w, WAKE_SEQ);
  }

  /**
   * A whole message from ws for `conn`. The common case — nothing queued before it, credit, ring room,
   * one record — is written straight into the ring and published once per turn (a microtask after ws
   * emitted every message of the chunk it parsed); anything else goes through the pending list.
   */
  deliverMessage(conn: Connection, data: Buffer, isBinary: boolean): void {
    const kind = isBinary ? EV_MSG_BINARY : EV_MSG_TEXT;
    const total = data.byteLength;
    const ring = this.inbound;
    if (conn.pending.length === 0 && !conn.socketClosed && total <= ring.maxRecordPayload && !this.stalled.has(conn) && this.#hasCredit(conn, total)) {
      const at = ring.reserve(total, conn.slot, kind | FLAG_WHOLE, total);
      if (at >= 0) {
        if (total !== 0) ring.data.set(data, at);
        conn.deliveredBytes = (conn.deliveredBytes + total) >>> 0;
        conn.deliveredMsgs = (conn.deliveredMsgs + 1) >>> 0;
        this.stats.messagesIn++;
        this.stats.bytesIn += total;
        if (!this.#publishQueued) {
          this.#publishQueued = true;
          queueMicrotask(this.#publishNow);
        }
        if (this.#budgetFull(conn)) this.#stall(conn);
        return;
      }
    }
    this.deliver(conn, { kind, isMessage: true, data, aux: 0, offset: 0, counted: false });
  }

  #publishQueued = false;
  readonly #publishNow = (): void => {
    this.#publishQueued = false;
    this.inbound.publish();
    this.#wakeMain();
  };

  /** Queue an inbound item for `conn` and push what the budget and the ring allow. */
  deliver(conn: Connection, item: PendingItem): void {
    if (conn.pending === NO_PENDING) conn.pending = [];
    conn.pending.push(item);
    if (conn.pending.length === 1 && !this.stalled.has(conn)) {
      if (this.#flush(conn) === FLUSH_DONE) return;
    }
    this.#stall(conn);
  }

  #stall(conn: Connection): void {
    if (this.stalled.has(conn)) return;
    this.stalled.add(conn);
    conn.pauseReading();
    Atomics.store(this.slots, conn.slot * SLOT_FIELDS + SLOT_IN_WAITING, 1);
    // Re-check after publishing the flag: credit given just before the flag was visible would
    // otherwise never ring the doorbell (the main thread stores consumed, then loads the flag).
    queueMicrotask(() => this.#serviceOne(conn));
  }

  #serviceOne(conn: Connection): void {
    if (!this.stalled.has(conn)) return;
    const r = this.#flush(conn);
    if (r === FLUSH_DONE) this.#unstall(conn);
  }

  #unstall(conn: Connection): void {
    this.stalled.delete(conn);
    Atomics.store(this.slots, conn.slot * SLOT_FIELDS + SLOT_IN_WAITING, 0);
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
  #hasCredit(conn: Connection, len: number): boolean {
    const base = conn.slot * SLOT_FIELDS;
    const heldMsgs = (conn.deliveredMsgs - Atomics.load(this.slots, base + SLOT_IN_CONSUMED_MSGS)) >>> 0;
    if (heldMsgs >= conn.maxQueuedPackets) return false;
    const heldBytes = (conn.deliveredBytes - Atomics.load(this.slots, base + SLOT_IN_CONSUMED_BYTES)) >>> 0;
    return heldBytes === 0 || heldBytes + len <= conn.inboundBufferSize;
  }

  #budgetFull(conn: Connection): boolean {
    const base = conn.slot * SLOT_FIELDS;
    const heldMsgs = (conn.deliveredMsgs - Atomics.load(this.slots, base + SLOT_IN_CONSUMED_MSGS)) >>> 0;
    const heldBytes = (conn.deliveredBytes - Atomics.load(this.slots, base + SLOT_IN_CONSUMED_BYTES)) >>> 0;
    return heldMsgs >= conn.maxQueuedPackets || heldBytes >= conn.inboundBufferSize;
  }

  /** Push pending items of `conn` in order while possible. */
  #flush(conn: Connection): number {
    const ring = this.inbound;
    const pending = conn.pending;
    let pushed = false;
    let result = FLUSH_DONE;
    while (conn.pending.length !== 0) {
      const item = pending[0]!;
      const data = item.data;
      const total = data.byteLength;
      if (item.kind === EV_CLOSED) {
        if (!ring.push(conn.slot, EV_CLOSED, item.aux, data)) {
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
        const at = ring.reserve(n, conn.slot, item.kind | (item.isMessage ? flags : FLAG_WHOLE), off === 0 ? (item.isMessage ? total : item.aux) : 0);
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
      this.#wakeMain();
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
  #retire(conn: Connection): void {
    conn.retired = true;
    this.stalled.delete(conn);
    if (this.conns[conn.slot] === conn) this.conns[conn.slot] = undefined;
    this.release();
  }

  /** Outbound accounting: payload bytes written to the socket (called from write callbacks). */
  noteSent(conn: Connection, bytes: number, msgEnd: boolean): void {
    if (conn.retired) return;
    const base = conn.slot * SLOT_FIELDS;
    conn.sentBytes = (conn.sentBytes + bytes) >>> 0;
    Atomics.store(this.slots, base + SLOT_OUT_SENT_BYTES, conn.sentBytes | 0);
    if (msgEnd) {
      conn.sentMsgs = (conn.sentMsgs + 1) >>> 0;
      Atomics.store(this.slots, base + SLOT_OUT_SENT_MSGS, conn.sentMsgs | 0);
      this.stats.messagesOut++;
    }
    this.stats.bytesOut += bytes;
  }

  /** The socket closed: flush what is pending, then EV_CLOSED. */
  closed(conn: Connection, code: number, reason: string, error: string): void {
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

  snapshot(): WorkerStats {
    let paused = 0;
    for (const c of this.stalled) if (!c.retired) paused++;
    return {
      index: this.index,
      threadId,
      connections: this.live,
      paused,
      ...this.stats,
      handshakesPending: this.server.pendingHandshakes,
      wakeLoops: this.#loopArmed,
      doorbells: this.#doorbells,
      wakeups: this.#wakeups,
      heapUsed: process.memoryUsage().heapUsed,
      nice: threadNice(),
      resourceLimits: { ...resourceLimits },
    };
  }

  async shutdown(ms: number): Promise<void> {
    this.#shuttingDown = true;
    this.server.stopAll();
    for (const conn of this.conns) conn?.close(1001, 'server shutting down');
    const deadline = Date.now() + ms;
    while (this.live > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.stalled.size !== 0) this.serviceStalled();
    }
    for (const conn of this.conns) conn?.close(-1, '');
  }
}

const FLUSH_DONE = 0;
const FLUSH_NO_CREDIT = 1;
const FLUSH_NO_RING = 2;
