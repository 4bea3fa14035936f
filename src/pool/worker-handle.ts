/**
 * One I/O worker as the main thread sees it: the thread, its rings, control block and slot table, the
 * comlink control port, and its outbox — the records queued for it (commands and messages, fragmented
 * when large, kept in order behind a full ring) and its doorbell.
 */
import { Worker, type MessagePort, MessageChannel, type ResourceLimits, type WorkerOptions, type TransferListItem } from 'node:worker_threads';
import { wrap } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { CTL_INT32S, CTL_PUBLISHED, SLOT_FIELDS } from '../protocol/layout.js';
import { ringDoorbell } from '../protocol/doorbell.js';
import { allocRing, RingConsumer, RingProducer } from '../protocol/ring.js';
import { FLAG_FIRST, FLAG_LAST } from '../protocol/records.js';
import type { WorkerControl, WorkerInit } from '../protocol/control.js';
import type { ResolvedPoolOptions } from './options.js';
import type { StreamEvents, WorkerLink } from './link.js';
import type { PeerEndpoint } from '../peer-endpoint.js';

const WORKER_URL = new URL('../../workers/io-worker.js', import.meta.url);

/**
 * Start an I/O worker. Workers inherit `process.execArgv`, but one of those flags kills them at boot:
 * `--input-type` (a program run with `node --input-type=module -e …`: "--input-type can only be used
 * with string input"). Then the flags are passed explicitly without it; Node refuses some flags in an
 * explicit list (per-process ones such as --expose-gc), in which case the worker gets none.
 */
function spawnWorker(init: WorkerInit, port: MessagePort, index: number, limits: ResourceLimits | undefined): Worker {
  const transferList = [port as unknown as TransferListItem];
  const options: WorkerOptions = { workerData: init, transferList, name: `ringsocket-io-${index}` };
  if (limits !== undefined) options.resourceLimits = limits;
  const filtered = withoutInputType(process.execArgv);
  if (filtered === null) return new Worker(WORKER_URL, options);
  try {
    return new Worker(WORKER_URL, { ...options, execArgv: filtered });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    return new Worker(WORKER_URL, { ...options, execArgv: [] });
  }
}

/** `argv` without `--input-type[=]…`, or null when it has none. */
function withoutInputType(argv: readonly string[]): string[] | null {
  if (!argv.some((a) => a === '--input-type' || a.startsWith('--input-type='))) return null;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--input-type') {
      i++;
      continue;
    }
    if (a.startsWith('--input-type=')) continue;
    out.push(a);
  }
  return out;
}

/**
 * A copy of `bytes`. Not `bytes.slice()`: on a Buffer (a Uint8Array too, and what users often pass)
 * `slice` is a view of the same memory, and a caller that reuses its buffer after `send()` returned
 * would change the queued message (measured: 288 of 2,000 publications of one reused Buffer arrived
 * with a later message's bytes once the ring was full).
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** An outbound record waiting for ring space (kept in order behind earlier ones). */
interface Overflow {
  slot: number;
  kind: number;
  aux: number;
  bytes: Uint8Array | null;
}

/** @internal A worker's control object as the main thread calls it (each call answers with a promise). */
export type ControlRemote = { [K in keyof WorkerControl]: (...args: Parameters<WorkerControl[K]>) => Promise<Awaited<ReturnType<WorkerControl[K]>>> };

/** @internal One I/O worker as the main thread sees it. */
export class WorkerHandle implements WorkerLink {
  readonly index: number;
  readonly worker: Worker;
  readonly inbound: RingConsumer;
  readonly ctl: Int32Array;
  readonly slots: Int32Array;
  readonly maxSlots: number;
  /** The connection engines by slot (what `PoolEngine` drains into). */
  readonly endpoints: (PeerEndpoint | undefined)[] = [];
  readonly freeSlots: number[] = [];
  /** comlink's `Remote<WorkerControl>`, spelled out so that the shipped .d.ts does not import comlink's types. */
  readonly remote: ControlRemote;
  readonly exited: Promise<number>;
  readonly streams = new Map<number, StreamEvents>();
  readonly tlsContexts = new Set<number>();
  count = 0;
  opensIssued = 0;
  /** `opens` of the worker's last 'idle' notice: equal to opensIssued means it holds no connection. */
  lastIdleOpens = 0;
  /** Servers this worker listens for. */
  listening = 0;
  ready = false;
  dead = false;
  lastError = '';
  readonly #outbound: RingProducer;
  readonly #overflow: Overflow[] = [];
  readonly #port: MessagePort;
  /** Records written since the last publish. */
  #dirty = false;
  #refd = false;
  #pendingCalls = 0;
  /** The engine's "a doorbell is due" hook: it rings every dirty worker once per burst. */
  readonly #onDirty: () => void;

  constructor(index: number, o: ResolvedPoolOptions, wake: SharedArrayBuffer, onDirty: () => void) {
    this.index = index;
    this.#onDirty = onDirty;
    const inbound = allocRing(o.inboundRingSize);
    const outbound = allocRing(o.outboundRingSize);
    const control = new SharedArrayBuffer(CTL_INT32S * 4);
    const slots = new SharedArrayBuffer(o.maxPeersPerWorker * SLOT_FIELDS * 4);
    this.inbound = new RingConsumer(inbound);
    this.#outbound = new RingProducer(outbound);
    this.ctl = new Int32Array(control);
    this.slots = new Int32Array(slots);
    this.maxSlots = o.maxPeersPerWorker;
    const { port1, port2 } = new MessageChannel();
    const init: WorkerInit = {
      index,
      inbound,
      outbound,
      control,
      slots,
      port: port2,
      handshakeTimeoutMs: o.handshakeTimeout,
      maxPendingHandshakes: o.maxPendingHandshakes,
      closeTimeoutMs: o.closeTimeout,
      nice: o.workerNice,
      spinMicros: o.workerSpinMicros,
      wake,
    };
    this.worker = spawnWorker(init, port2, index, o.workerResourceLimits);
    // Idle workers must not hold the process: ref only while connections exist (see `updateRef`).
    this.worker.unref();
    this.#port = port1;
    this.remote = wrap<WorkerControl>(nodeEndpoint(port1)) as unknown as ControlRemote;
    port1.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
  }

  /**
   * Hold the process while the worker holds connections or listens, like an open socket or server
   * would; let it go when idle, so that a program that closes its peers and servers exits on its own.
   */
  updateRef(): void {
    const want = !this.dead && (this.listening > 0 || this.lastIdleOpens !== this.opensIssued);
    if (want === this.#refd) return;
    this.#refd = want;
    if (want) this.worker.ref();
    else this.worker.unref();
  }

  /** The worker exited: forget what was queued for it and let its port go. */
  markDead(): void {
    this.dead = true;
    this.#refd = false;
    this.#overflow.length = 0;
    this.#port.close();
  }

  /** A control call raced against the worker's exit (comlink alone would leave it pending forever). */
  async call<T>(fn: (r: ControlRemote) => Promise<T>): Promise<T> {
    if (this.dead) throw new Error(`ringsocket: worker ${this.index} is not running`);
    if (this.#pendingCalls++ === 0) this.#port.ref();
    try {
      return await Promise.race([
        fn(this.remote),
        this.exited.then((code) => {
          throw new Error(`ringsocket: worker ${this.index} exited (code ${code}) during a control call`);
        }),
      ]);
    } finally {
      if (--this.#pendingCalls === 0) this.#port.unref();
    }
  }

  // ---- the outbox ---------------------------------------------------------------------------------

  /** Queue one record for the worker (fragmenting large payloads) and schedule its doorbell. */
  command(slot: number, kind: number, aux: number, bytes: Uint8Array | null): void {
    const ring = this.#outbound;
    const len = bytes === null ? 0 : bytes.byteLength;
    if (this.#overflow.length !== 0 || len > ring.maxRecordPayload || !ring.push(slot, kind, aux, bytes)) {
      this.#overflow.push({ slot, kind, aux, bytes: bytes === null ? null : copyOf(bytes) });
    }
    this.wake();
  }

  /** A message of `kind` (CMD_SEND_*): fragments of at most maxRecordPayload bytes. */
  message(slot: number, kind: number, bytes: Uint8Array): void {
    this.#records(slot, kind, bytes.byteLength, 0, bytes);
  }

  /** One publication to topic `topic` (CMD_PUBLISH_*), leaving out the connection in `exclude` (-1: none). */
  publishTo(topic: number, exclude: number, kind: number, bytes: Uint8Array): void {
    this.#publications = (this.#publications + 1) | 0;
    this.#records(exclude, kind, topic, topic, bytes);
  }

  /** Publications handed to this worker (ring or overflow) that it has not yet written (layout.ts CTL_PUBLISHED). */
  get publishBacklog(): number {
    return this.dead ? 0 : (this.#publications - Atomics.load(this.ctl, CTL_PUBLISHED)) | 0;
  }

  /** Publications handed to this worker (publishTo calls), Int32 wrapping as the worker's count does. */
  #publications = 0;

  /** `bytes` as one record, or as FIRST…LAST fragments; aux is `firstAux` on the first, `restAux` after. */
  #records(slot: number, kind: number, firstAux: number, restAux: number, bytes: Uint8Array): void {
    const ring = this.#outbound;
    const total = bytes.byteLength;
    if (total <= ring.maxRecordPayload && this.#overflow.length === 0) {
      if (ring.push(slot, kind | FLAG_FIRST | FLAG_LAST, firstAux, bytes)) {
        this.wake();
        return;
      }
    }
    const max = ring.maxRecordPayload;
    let off = 0;
    do {
      const n = Math.min(max, total - off);
      let flags = 0;
      if (off === 0) flags |= FLAG_FIRST;
      if (off + n === total) flags |= FLAG_LAST;
      const part = bytes.subarray(off, off + n);
      const aux = off === 0 ? firstAux : restAux;
      if (this.#overflow.length !== 0 || !ring.push(slot, kind | flags, aux, part)) {
        // Keep a copy: the caller owns `bytes` and may reuse it after send() returns.
        this.#overflow.push({ slot, kind: kind | flags, aux, bytes: copyOf(part) });
      }
      off += n;
    } while (off < total);
    this.wake();
  }

  /** Mark the worker as having news; the engine rings its doorbell at the end of the burst. */
  wake(): void {
    this.#dirty = true;
    this.#onDirty();
  }

  /** Move what waits in the overflow list into the ring, publish what was written, ring the doorbell. */
  publish(): void {
    if (this.#overflow.length !== 0) this.#flushOverflow();
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#outbound.publish();
    ringDoorbell(this.ctl);
  }

  #flushOverflow(): void {
    const q = this.#overflow;
    let i = 0;
    while (i < q.length) {
      const r = q[i]!;
      if (!this.#outbound.push(r.slot, r.kind, r.aux, r.bytes)) break;
      i++;
    }
    if (i !== 0) {
      q.splice(0, i);
      this.#dirty = true;
    }
  }
}
