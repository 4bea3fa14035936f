/**
 * The worker side of the transport: the doorbell loop, the commands from the outbound ring, the
 * connections by slot, and the worker's figures. Inbound delivery (budget, order, backpressure) is
 * `InboundDelivery` (delivery.ts); listening sockets and streams are `ServerSide` (listener.ts). They and
 * each `Connection` see this runtime only through the host interfaces of hosts.ts.
 */
import { resourceLimits, threadId } from 'node:worker_threads';
import { RingConsumer, RingProducer } from '../src/protocol/ring.js';
import {
  CMD_ACCEPT,
  CMD_CLOSE,
  CMD_CONNECT,
  CMD_HANDSHAKE_ANSWER,
  CMD_HEARTBEAT,
  CMD_LISTEN,
  CMD_NO_DELAY,
  CMD_SEND_BINARY,
  CMD_SEND_TEXT,
  CMD_STREAM_CLOSE,
  CMD_STREAM_NO_DELAY,
  CMD_TLS_ACCEPT,
  CMD_UNLISTEN,
  CMD_SUBSCRIBE,
  CMD_UNSUBSCRIBE,
  CMD_PUBLISH_TEXT,
  CMD_PUBLISH_BINARY,
  FLAG_LAST,
  KIND_MASK,
} from '../src/protocol/records.js';
import { CTL_PUBLISHED } from '../src/protocol/layout.js';
import { decodeJson, type ConnectConfig, type WorkerInit, type WorkerStats } from '../src/protocol/control.js';
import { DoorbellLoop, ringDoorbell } from '../src/protocol/doorbell.js';
import { Connection } from './connection.js';
import { InboundDelivery } from './delivery.js';
import type { InboundTarget, ListenerHost, PendingItem } from './hosts.js';
import { ServerSide } from './listener.js';
import { threadNice } from './nice.js';
import { Fanout } from './fanout.js';
import { idleSweep, zlibCounters } from './deflate.js';

const textDecoder = new TextDecoder();

export class WorkerRuntime implements ListenerHost {
  readonly index: number;
  readonly outbound: RingConsumer;
  readonly ctl: Int32Array;
  readonly handshakeTimeoutMs: number;
  readonly maxPendingHandshakes: number;
  readonly closeTimeoutMs: number;
  readonly conns: (Connection | undefined)[] = [];
  readonly server: ServerSide;
  readonly delivery: InboundDelivery;
  readonly #loop: DoorbellLoop;
  /** Connections and streams held. */
  #live = 0;
  opens = 0;
  #onIdle: (opens: number) => void;
  #shuttingDown = false;
  readonly stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, inboundRingFull: 0, selfRings: 0, droppedAfterClose: 0, handshakesRefused: 0, fanoutFrames: 0, fanoutWrites: 0, fanoutSkipped: 0, fanoutClosed: 0 };
  readonly fanout: Fanout;

  constructor(init: WorkerInit, onIdle: (opens: number) => void) {
    this.index = init.index;
    this.outbound = new RingConsumer(init.outbound);
    this.ctl = new Int32Array(init.control);
    this.handshakeTimeoutMs = init.handshakeTimeoutMs;
    this.maxPendingHandshakes = init.maxPendingHandshakes;
    this.closeTimeoutMs = init.closeTimeoutMs;
    this.#spinMicros = init.spinMicros;
    this.#onIdle = onIdle;
    this.delivery = new InboundDelivery(
      new RingProducer(init.inbound),
      new Int32Array(init.slots),
      this.ctl,
      new Int32Array(init.wake),
      this.#ringSelf,
      this.#retired,
      this.stats,
      this.#onPublished,
    );
    this.fanout = new Fanout(this.delivery.slots, this.stats);
    this.#loop = new DoorbellLoop(this.ctl, this.#drain);
    this.server = new ServerSide(this);
  }

  /** Start the doorbell loop (once: it is the worker's only one, for its whole life). */
  start(): void {
    this.#loop.start();
  }

  /** One run of the doorbell loop: commands, then whatever waits for ring space or credit. */
  readonly #drain = (): void => {
    this.drainCommands();
    const d = this.delivery;
    if (d.eventsWaiting) d.flushEvents();
    if (d.stalled.size !== 0) d.serviceStalled();
  };

  readonly #spinMicros: number;
  #spinQueued = false;

  /** Inbound records went out: once per event-loop turn, spin for the main thread's answer (if asked to). */
  readonly #onPublished = (): void => {
    if (this.#spinMicros === 0 || this.#spinQueued) return;
    this.#spinQueued = true;
    setImmediate(this.#spin);
  };

  readonly #spin = (): void => {
    this.#spinQueued = false;
    this.#loop.spin(this.#spinMicros);
  };

  /** Have the one loop run again soon (ring space came back under a full inbound ring). */
  readonly #ringSelf = (): void => {
    this.stats.selfRings++;
    ringDoorbell(this.ctl);
  };

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
            conn.sendFragment(c.viewPayload(), kind === CMD_SEND_BINARY, c.kind);
          }
          break;
        }
        case CMD_PUBLISH_TEXT:
        case CMD_PUBLISH_BINARY:
          this.fanout.record(c.aux, slot, kind === CMD_PUBLISH_BINARY, c.kind, c.viewPayload(), corked);
          if ((c.kind & FLAG_LAST) !== 0) this.#published = (this.#published + 1) | 0;
          break;
        case CMD_SUBSCRIBE: {
          const conn = this.conns[slot];
          if (conn !== undefined && !conn.socketClosed) this.fanout.subscribe(conn, c.aux);
          break;
        }
        case CMD_UNSUBSCRIBE: {
          const conn = this.conns[slot];
          if (conn !== undefined) this.fanout.unsubscribe(conn, c.aux);
          break;
        }
        case CMD_CONNECT: {
          this.opens++;
          const cfg = decodeJson<ConnectConfig>(c.viewPayload());
          this.#open(slot, () => Connection.connect(this, slot, cfg));
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
        case CMD_HANDSHAKE_ANSWER: {
          const conn = this.conns[slot];
          if (conn !== undefined) conn.answerHandshake(c.aux, c.len === 0 ? '' : textDecoder.decode(c.viewPayload()));
          break;
        }
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
    // What the main thread's backlog figure subtracts (layout.ts CTL_PUBLISHED): written, uncorked.
    if (Atomics.load(this.ctl, CTL_PUBLISHED) !== this.#published) Atomics.store(this.ctl, CTL_PUBLISHED, this.#published);
  }

  /** Publications written so far (CTL_PUBLISHED). */
  #published = 0;

  readonly #corked: Connection[] = [];

  #open(slot: number, make: () => Connection): void {
    if (this.conns[slot] !== undefined) {
      // The main thread reuses a slot only after it saw EV_CLOSED; anything else is a bug.
      throw new Error(`ringsocket worker: slot ${slot} opened while in use`);
    }
    this.#live++;
    const conn = make();
    this.conns[slot] = conn;
    if (this.#shuttingDown) conn.close(1001, 'server shutting down');
  }

  /** EV_CLOSED is out: the slot is the main thread's again. */
  readonly #retired = (conn: InboundTarget): void => {
    if (this.conns[conn.slot] === conn) this.conns[conn.slot] = undefined;
    this.release();
  };

  // ---- hosts (hosts.ts): what connections and the listener see ---------------------------------

  deliver(conn: InboundTarget, item: PendingItem): void {
    this.delivery.deliver(conn, item);
  }

  deliverMessage(conn: InboundTarget, data: Buffer, isBinary: boolean): void {
    this.delivery.deliverMessage(conn, data, isBinary);
  }

  get inboundTarget(): Uint8Array {
    return this.delivery.target;
  }

  reserveMessage(conn: InboundTarget, isBinary: boolean, len: number): number {
    return this.delivery.reserveMessage(conn, isBinary, len);
  }

  messageReserved(conn: InboundTarget, len: number): void {
    this.delivery.messageReserved(conn, len);
  }

  unreserveMessage(): void {
    this.delivery.unreserveMessage();
  }

  closed(conn: InboundTarget, code: number, reason: string, error: string): void {
    const c = this.conns[conn.slot];
    if (c === conn && c.topics !== null) this.fanout.leaveAll(c);
    this.delivery.closed(conn, code, reason, error);
  }

  noteSent(conn: InboundTarget, bytes: number, msgEnd: boolean): void {
    this.delivery.noteSent(conn, bytes, msgEnd);
  }

  droppedAfterClose(): void {
    this.stats.droppedAfterClose++;
  }

  handshakeEnded(): void {
    this.server.handshakeEnded();
  }

  pushEvent(id: number, kind: number, aux: number, data: Uint8Array | null): void {
    this.delivery.pushEvent(id, kind, aux, data);
  }

  acquire(): void {
    this.#live++;
  }

  release(): void {
    this.#live--;
    if (this.#live === 0) this.#onIdle(this.opens);
  }

  handOver(): void {
    this.#live--;
  }

  handshakeRefused(): void {
    this.stats.handshakesRefused++;
  }

  // ---- control plane ------------------------------------------------------------------------------

  snapshot(): WorkerStats {
    let paused = 0;
    for (const c of this.delivery.stalled) if (!c.retired) paused++;
    return {
      index: this.index,
      threadId,
      connections: this.#live,
      paused,
      ...this.stats,
      handshakesPending: this.server.pendingHandshakes,
      wakeLoops: this.#loop.armed,
      doorbells: this.#loop.doorbells,
      wakeups: this.#loop.wakeups,
      spinCatches: this.#loop.spinCatches,
      deflate: {
        streams: zlibCounters.streams,
        hibernatedStreams: zlibCounters.hibernatedStreams,
        swept: zlibCounters.swept,
        awake: idleSweep.watched,
        fanoutCompressions: zlibCounters.fanoutCompressions,
      },
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
    while (this.#live > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.delivery.stalled.size !== 0) this.delivery.serviceStalled();
    }
    for (const conn of this.conns) conn?.close(-1, '');
  }
}
