/**
 * PeerPool: the I/O worker threads, their rings and doorbells, and what happens when a worker dies.
 *
 * ```
 *  main thread                                   worker i (x N)
 *  ───────────                                   ──────────────
 *  WebSocketPeer ─ PeerEndpoint ─┐               sockets, ws framing, TLS
 *                                │  outbound ring (commands, messages)  ──►  drainCommands()
 *  PeerPool.pump() ◄── inbound ring (events, messages) ◄──  deliver()
 *            slot table: consumed (main writes) / sent, waiting (worker writes)
 *            control block: doorbell (main → worker), inbound-blocked flag
 *            comlink port: stats(), shutdown(), crash()     parentPort: 'ready', 'idle'
 * ```
 * One pool serves any number of peers; each peer lives in one worker (least loaded at connect time) and
 * is named by its slot there. Memory is per worker, not per peer: two rings (4 MiB each by default) and a
 * slot table (32 bytes per slot, paged in as slots are used).
 */
import { Worker, type MessagePort, MessageChannel, type ResourceLimits, type WorkerOptions } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { wrap, releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import {
  CTL_DOORBELL,
  CTL_INBOUND_BLOCKED,
  CTL_INT32S,
  CTL_SYNC_FD,
  CTL_SYNC_ID,
  CTL_SYNC_PORT,
  CTL_SYNC_SEQ,
  CTL_SYNC_STATUS,
  SYNC_ERR_IN_USE,
  SYNC_OK,
  DEFAULT_INBOUND_RING_CAPACITY,
  WAKE_INT32S,
  WAKE_SEQ,
  WAKE_WAITING,
  DEFAULT_MAX_PEERS_PER_WORKER,
  DEFAULT_OUTBOUND_RING_CAPACITY,
  SLOT_FIELDS,
} from './protocol/layout.js';
import { allocRing, RingConsumer, RingProducer } from './protocol/ring.js';
import {
  CMD_LISTEN,
  CMD_LISTEN_FD,
  CMD_UNLISTEN,
  EV_CLOSED,
  EV_INCOMING,
  EV_MSG_BINARY,
  EV_MSG_TEXT,
  EV_OPEN,
  EV_STREAM_CLOSED,
  EV_STREAM_STATUS,
  FLAG_FIRST,
  FLAG_LAST,
  KIND_MASK,
} from './protocol/records.js';
import {
  decodeJson,
  encodeJson,
  type CloseInfo,
  type IncomingInfo,
  type ListenConfig,
  type OpenInfo,
  type WorkerControl,
  type WorkerInit,
  type WorkerNotice,
  type WorkerStats,
} from './protocol/control.js';
import type { PeerEndpoint } from './peer-endpoint.js';
import { ErrorCode } from './enums.js';
import type { StreamEvents } from './stream-ref.js';
import { StreamPeerTCP, type ServerSink } from './tcp-server.js';

export type { WorkerStats } from './protocol/control.js';

/** Options of `new PeerPool()`. Every one is optional. */
export interface PeerPoolOptions {
  /** I/O worker threads. Default `max(1, availableParallelism() - 1)`. */
  threads?: number;
  /** Bytes of the worker → main ring, per worker (power of two, ≥ 4096). Default 4 MiB. */
  inboundRingSize?: number;
  /** Bytes of the main → worker ring, per worker (power of two, ≥ 4096). Default 4 MiB. */
  outboundRingSize?: number;
  /** Most connections one worker holds. Default 65536. */
  maxPeersPerWorker?: number;
  /** Milliseconds a connection may take to complete its opening handshake. Default 10000. */
  handshakeTimeout?: number;
  /** Milliseconds to wait for the peer's close frame after ours before dropping. Default 5000. */
  closeTimeout?: number;
  /**
   * Scheduling niceness of the I/O threads, 0–19 (Linux, per thread; ignored elsewhere). Default 0.
   * A fixed-tick loop gives them a higher one (e.g. 10): when the cores are oversubscribed the kernel
   * then runs the main thread first, and the workers, left behind, pause their sockets (TCP
   * backpressure) instead of taking the tick's CPU. See `bench/suite` S3.
   */
  workerNice?: number;
  /**
   * V8 heap limits of each I/O worker (Node's `Worker` `resourceLimits`: `maxYoungGenerationSizeMb`,
   * `maxOldGenerationSizeMb`, `codeRangeSizeMb`, `stackSizeMb`). Default: Node's defaults.
   *
   * Many idle connections: `{ maxYoungGenerationSizeMb: 12 }`. A burst of accepts grows a worker's young
   * generation to V8's maximum, and a worker that then idles never collects again, so it keeps that
   * memory. Capped: 5.1–5.4 KB of RSS per idle connection at 10,000 instead of 6.6–7.1 (`bench/suite`
   * S5), for ~10–15 % more worker CPU per message under a flood (more scavenges; S4). A worker that
   * passes `maxOldGenerationSizeMb` dies like any other: its peers close with -1 and it is replaced.
   */
  workerResourceLimits?: ResourceLimits;
}

interface Resolved {
  threads: number;
  inboundRingSize: number;
  outboundRingSize: number;
  maxPeersPerWorker: number;
  handshakeTimeout: number;
  closeTimeout: number;
  workerNice: number;
  workerResourceLimits: ResourceLimits | undefined;
}

const RESOURCE_LIMITS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

function resourceLimits(v: unknown): ResourceLimits | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object') throw new TypeError('options.workerResourceLimits must be an object');
  const out: ResourceLimits = {};
  for (const [k, n] of Object.entries(v)) {
    if (!(RESOURCE_LIMITS as readonly string[]).includes(k)) {
      throw new TypeError(`options.workerResourceLimits.${k} is not a limit (one of ${RESOURCE_LIMITS.join(', ')})`);
    }
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      throw new TypeError(`options.workerResourceLimits.${k} must be a positive number, got ${String(n)}`);
    }
    out[k as (typeof RESOURCE_LIMITS)[number]] = n;
  }
  return out;
}

function positiveInt(v: unknown, name: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function powerOfTwo(v: unknown, name: string): number {
  const n = positiveInt(v, name, 4096);
  if ((n & (n - 1)) !== 0 || n > 1 << 30) throw new TypeError(`options.${name} must be a power of two between 4096 and 2^30, got ${n}`);
  return n;
}

function niceness(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 19) throw new TypeError(`options.workerNice must be an integer between 0 and 19, got ${String(v)}`);
  return v;
}

function resolveOptions(o: PeerPoolOptions): Resolved {
  if (o === null || typeof o !== 'object') throw new TypeError('options must be an object');
  return {
    threads: o.threads === undefined ? Math.max(1, availableParallelism() - 1) : positiveInt(o.threads, 'threads'),
    inboundRingSize: o.inboundRingSize === undefined ? DEFAULT_INBOUND_RING_CAPACITY : powerOfTwo(o.inboundRingSize, 'inboundRingSize'),
    outboundRingSize: o.outboundRingSize === undefined ? DEFAULT_OUTBOUND_RING_CAPACITY : powerOfTwo(o.outboundRingSize, 'outboundRingSize'),
    maxPeersPerWorker: o.maxPeersPerWorker === undefined ? DEFAULT_MAX_PEERS_PER_WORKER : positiveInt(o.maxPeersPerWorker, 'maxPeersPerWorker'),
    handshakeTimeout: o.handshakeTimeout === undefined ? 10_000 : positiveInt(o.handshakeTimeout, 'handshakeTimeout'),
    closeTimeout: o.closeTimeout === undefined ? 5_000 : positiveInt(o.closeTimeout, 'closeTimeout'),
    workerNice: o.workerNice === undefined ? 0 : niceness(o.workerNice),
    workerResourceLimits: resourceLimits(o.workerResourceLimits),
  };
}

const WORKER_URL = new URL('../workers/io-worker.js', import.meta.url);
/** Most milliseconds `listen()` blocks waiting for the binding worker's answer (it may still be booting). */
const LISTEN_WAIT_MS = 10_000;
/** Consecutive deaths before 'ready' after which the pool stops respawning (a crash loop). */
const MAX_BOOT_FAILURES = 3;

/**
 * Start an I/O worker. Workers inherit `process.execArgv`, but one of those flags kills them at boot:
 * `--input-type` (a program run with `node --input-type=module -e …`: "--input-type can only be used
 * with string input"). Then the flags are passed explicitly without it; Node refuses some flags in an
 * explicit list (per-process ones such as --expose-gc), in which case the worker gets none.
 */
function spawnWorker(init: WorkerInit, port: MessagePort, index: number, limits: ResourceLimits | undefined): Worker {
  const transferList = [port as unknown as import('node:worker_threads').TransferListItem];
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

/**
 * Block until the worker's sync reply for `serverId` (see CTL_SYNC_ID) is in the control block, for at
 * most `ms`. `seq` is CTL_SYNC_SEQ as read before the command was sent. Replies to other calls (a late
 * answer to one that timed out) are skipped.
 */
function awaitReply(ctl: Int32Array, serverId: number, seq: number, ms: number): boolean {
  const deadline = performance.now() + ms;
  let seen = seq;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    if (Atomics.wait(ctl, CTL_SYNC_SEQ, seen, left) === 'timed-out') return false;
    seen = Atomics.load(ctl, CTL_SYNC_SEQ);
    if (Atomics.load(ctl, CTL_SYNC_ID) === serverId) return true;
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

/** An outbound record waiting for ring space (kept in order behind earlier ones). */
interface Overflow {
  slot: number;
  kind: number;
  aux: number;
  bytes: Uint8Array | null;
}

/** @internal One I/O worker as the main thread sees it. */
export class WorkerHandle {
  readonly index: number;
  readonly worker: Worker;
  readonly inbound: RingConsumer;
  readonly outbound: RingProducer;
  readonly ctl: Int32Array;
  readonly slots: Int32Array;
  readonly maxSlots: number;
  readonly endpoints: (PeerEndpoint | undefined)[] = [];
  readonly freeSlots: number[] = [];
  readonly overflow: Overflow[] = [];
  readonly port: MessagePort;
  readonly remote: Remote<WorkerControl>;
  readonly exited: Promise<number>;
  /** Streams (accepted TCP/TLS connections not yet handed to a peer) by stream id. */
  readonly streams = new Map<number, StreamEvents>();
  /** TLS contexts whose PEMs this worker already has. */
  readonly tlsContexts = new Set<number>();
  count = 0;
  opensIssued = 0;
  /** `opens` of the worker's last 'idle' notice: equal to opensIssued means it holds no connection. */
  lastIdleOpens = 0;
  /** Servers this worker listens for. */
  listening = 0;
  refd = false;
  ready = false;
  dead = false;
  dirty = false;
  pendingCalls = 0;
  lastError = '';

  constructor(index: number, o: Resolved, wake: SharedArrayBuffer) {
    this.index = index;
    const inbound = allocRing(o.inboundRingSize);
    const outbound = allocRing(o.outboundRingSize);
    const control = new SharedArrayBuffer(CTL_INT32S * 4);
    const slots = new SharedArrayBuffer(o.maxPeersPerWorker * SLOT_FIELDS * 4);
    this.inbound = new RingConsumer(inbound);
    this.outbound = new RingProducer(outbound);
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
      closeTimeoutMs: o.closeTimeout,
      nice: o.workerNice,
      wake,
    };
    this.worker = spawnWorker(init, port2, index, o.workerResourceLimits);
    // Idle workers must not hold the process: ref only while connections exist (see `ref`).
    this.worker.unref();
    this.port = port1;
    this.remote = wrap<WorkerControl>(nodeEndpoint(port1));
    port1.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
  }

  /**
   * Hold the process while the worker holds connections or listens, like an open socket or server
   * would; let it go when idle, so that a program that closes its peers and servers exits on its own.
   */
  updateRef(): void {
    const want = !this.dead && (this.listening > 0 || this.lastIdleOpens !== this.opensIssued);
    if (want === this.refd) return;
    this.refd = want;
    if (want) this.worker.ref();
    else this.worker.unref();
  }

  /** A control call raced against the worker's exit (comlink alone would leave it pending forever). */
  async call<T>(fn: (r: Remote<WorkerControl>) => Promise<T>): Promise<T> {
    if (this.dead) throw new Error(`ringsocket: worker ${this.index} is not running`);
    if (this.pendingCalls++ === 0) this.port.ref();
    try {
      return await Promise.race([
        fn(this.remote),
        this.exited.then((code) => {
          throw new Error(`ringsocket: worker ${this.index} exited (code ${code}) during a control call`);
        }),
      ]);
    } finally {
      if (--this.pendingCalls === 0) this.port.unref();
    }
  }
}

/**
 * A pool of I/O worker threads that hold WebSocket connections for `WebSocketPeer`s.
 *
 * `new WebSocketPeer()` uses a default pool created on first use; pass `{ pool }` to choose one.
 * Workers are started at construction and do not keep the process alive while they hold no connection.
 */
export class PeerPool {
  readonly #o: Resolved;
  readonly #handles: WorkerHandle[] = [];
  #bootFailures = 0;
  #closed = false;
  #broken = '';
  #bellQueued = false;
  /** The wake cell shared with every worker (WAKE_SEQ, WAKE_WAITING). */
  readonly #wake = new Int32Array(new SharedArrayBuffer(WAKE_INT32S * 4));
  #waiting: Promise<boolean> | null = null;

  constructor(options: PeerPoolOptions = {}) {
    this.#o = resolveOptions(options);
    for (let i = 0; i < this.#o.threads; i++) this.#spawn(i);
  }

  /** Number of I/O worker threads. */
  get threads(): number {
    return this.#o.threads;
  }

  /** Connections currently attached (any state), as the main thread sees them. */
  get peerCount(): number {
    let n = 0;
    for (const h of this.#handles) n += h.count;
    return n;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #spawn(index: number): void {
    const h = new WorkerHandle(index, this.#o, this.#wake.buffer as SharedArrayBuffer);
    this.#handles[index] = h;
    h.worker.on('message', (n: WorkerNotice) => {
      if (n.t === 'ready') {
        h.ready = true;
        this.#bootFailures = 0;
      } else if (n.t === 'idle' && !this.#closed) {
        // (After close() began, the pool itself holds the process until the workers are gone.)
        // Idle only counts if no connect was issued after the ones the worker had processed.
        h.lastIdleOpens = n.opens;
        h.updateRef();
      }
    });
    h.worker.on('error', (err) => {
      h.lastError = err instanceof Error ? err.message : String(err);
    });
    h.worker.on('exit', () => this.#onExit(h));
  }

  #onExit(h: WorkerHandle): void {
    if (h.dead) return;
    h.dead = true;
    h.refd = false;
    try {
      h.remote[releaseProxy]();
    } catch {
      // the port may already be closed
    }
    h.port.close();
    if (this.#handles[h.index] !== h) return;
    // Records already published are valid: hand them over before closing what is left.
    this.#drain(h);
    const info: CloseInfo = { reason: '', error: this.#closed ? 'POOL_CLOSED' : 'WORKER_DIED' };
    for (let slot = 0; slot < h.endpoints.length; slot++) {
      const ep = h.endpoints[slot];
      if (ep !== undefined) ep.onClosed(-1, info);
    }
    h.endpoints.length = 0;
    h.count = 0;
    this.#wakeWaiter();
    h.overflow.length = 0;
    for (const st of h.streams.values()) st.onClosed(true);
    h.streams.clear();
    if (this.#closed) return;
    if (!h.ready && ++this.#bootFailures >= MAX_BOOT_FAILURES) {
      this.#broken = `workers die while starting (${h.lastError || 'no error message'})`;
      return;
    }
    this.#spawn(h.index);
  }

  /**
   * @internal Give `ep` a slot in `into` (server side: the worker that holds the stream), or else in the
   * least loaded worker. Returns false if the pool cannot take it.
   */
  attach(ep: PeerEndpoint, into?: WorkerHandle): boolean {
    if (this.#closed || this.#broken !== '') return false;
    let best: WorkerHandle | undefined = into;
    if (best === undefined) {
      for (const h of this.#handles) {
        if (h.dead) continue;
        if (h.count >= h.maxSlots) continue;
        if (best === undefined || h.count < best.count) best = h;
      }
    }
    if (best === undefined || best.dead || best.count >= best.maxSlots) return false;
    const slot = best.freeSlots.length !== 0 ? best.freeSlots.pop()! : best.endpoints.length;
    const base = slot * SLOT_FIELDS;
    // The worker retired this slot (EV_CLOSED) before we reuse it, so nobody else writes here now.
    for (let i = 0; i < SLOT_FIELDS; i++) Atomics.store(best.slots, base + i, 0);
    best.endpoints[slot] = ep;
    best.count++;
    best.opensIssued++;
    best.updateRef();
    ep.bind(this, best, slot);
    return true;
  }

  // ---- servers ----------------------------------------------------------------------------------

  readonly #servers = new Map<number, { sink: ServerSink; binder: WorkerHandle }>();
  #nextServerId = 1;

  /**
   * @internal Bind a listening socket in one worker (waiting for its answer: Godot's listen() is
   * synchronous), then have every other worker accept on it too.
   */
  listenServer(sink: ServerSink, port: number, host: string): { code: ErrorCode; serverId: number; port: number } {
    const fail = (code: ErrorCode) => ({ code, serverId: 0, port: 0 });
    if (this.#closed || this.#broken !== '') return fail(ErrorCode.ERR_CANT_CREATE);
    const live = this.#handles.filter((h) => !h.dead);
    const binder = live[0];
    if (binder === undefined) return fail(ErrorCode.ERR_CANT_CREATE);
    const serverId = this.#nextServerId++;
    const seq = Atomics.load(binder.ctl, CTL_SYNC_SEQ);
    const cfg: ListenConfig = { port, host };
    this.push(binder, serverId, CMD_LISTEN, 0, encodeJson(cfg));
    this.flush();
    // Bounded: a worker that is still starting answers within its boot time (300-500 ms on a busy
    // 2-core machine). Not tied to handshakeTimeout: a pool with a short one (e.g. 500 ms) made right
    // before listen() would time out while its worker boots, and fail with ERR_CANT_CREATE.
    if (!awaitReply(binder.ctl, serverId, seq, Math.max(LISTEN_WAIT_MS, this.#o.handshakeTimeout))) {
      // Given up: should the worker bind it later, it closes it (CMD_UNLISTEN of a listen not bound yet).
      this.push(binder, serverId, CMD_UNLISTEN, 0, null);
      this.flush();
      return fail(ErrorCode.ERR_CANT_CREATE);
    }
    const status = Atomics.load(binder.ctl, CTL_SYNC_STATUS);
    if (status !== SYNC_OK) return fail(status === SYNC_ERR_IN_USE ? ErrorCode.ERR_CANT_CREATE : ErrorCode.ERR_CANT_CREATE);
    const boundPort = Atomics.load(binder.ctl, CTL_SYNC_PORT);
    const fd = Atomics.load(binder.ctl, CTL_SYNC_FD);
    const others = live.filter((h) => h !== binder);
    const seqs = others.map((h) => Atomics.load(h.ctl, CTL_SYNC_SEQ));
    for (const h of live) {
      if (h !== binder) this.push(h, serverId, CMD_LISTEN_FD, fd, null);
      h.listening++;
      h.updateRef();
    }
    this.flush();
    // Wait (bounded) until every other worker's event loop has the shared fd registered (its answer to
    // CMD_LISTEN_FD): a stop() right after listen() must not have the binder close the fd in between,
    // which makes libuv abort the process (workers/listener.ts listenFd).
    const deadline = performance.now() + LISTEN_WAIT_MS;
    for (const [i, h] of others.entries()) awaitReply(h.ctl, serverId, seqs[i]!, Math.max(1, deadline - performance.now()));
    this.#servers.set(serverId, { sink, binder });
    return { code: ErrorCode.OK, serverId, port: boundPort };
  }

  /**
   * @internal Stop accepting for `serverId` in every worker. Waits (bounded) for the binder to close the
   * listening socket, so that no connection is accepted after `TCPServer.stop()` returns.
   */
  unlistenServer(serverId: number): void {
    const s = this.#servers.get(serverId);
    if (s === undefined) return;
    this.#servers.delete(serverId);
    const binder = s.binder;
    const seq = Atomics.load(binder.ctl, CTL_SYNC_SEQ);
    for (const h of this.#handles) {
      if (h.dead) continue;
      this.push(h, serverId, CMD_UNLISTEN, 0, null);
      if (h.listening > 0) h.listening--;
      h.updateRef();
    }
    this.flush();
    if (!binder.dead) awaitReply(binder.ctl, serverId, seq, LISTEN_WAIT_MS);
  }

  /** Why the pool refuses new peers ("" if it does not). */
  get brokenReason(): string {
    return this.#closed ? 'POOL_CLOSED' : this.#broken;
  }

  /** @internal Queue one record for the worker (fragmenting large payloads) and schedule its doorbell. */
  push(h: WorkerHandle, slot: number, kind: number, aux: number, bytes: Uint8Array | null): void {
    const ring = h.outbound;
    const len = bytes === null ? 0 : bytes.byteLength;
    if (h.overflow.length === 0) {
      if (len <= ring.maxRecordPayload) {
        if (ring.push(slot, kind, aux, bytes)) {
          this.#bell(h);
          return;
        }
      }
    }
    this.#pushSlow(h, slot, kind, aux, bytes);
    this.#bell(h);
  }

  /** @internal A message of `kind` (CMD_SEND_*): fragments of at most maxRecordPayload bytes. */
  pushMessage(h: WorkerHandle, slot: number, kind: number, bytes: Uint8Array): void {
    const ring = h.outbound;
    const total = bytes.byteLength;
    if (total <= ring.maxRecordPayload && h.overflow.length === 0) {
      if (ring.push(slot, kind | FLAG_FIRST | FLAG_LAST, total, bytes)) {
        this.#bell(h);
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
      if (h.overflow.length !== 0 || !ring.push(slot, kind | flags, off === 0 ? total : 0, part)) {
        // Keep a copy: the caller owns `bytes` and may reuse it after send() returns.
        h.overflow.push({ slot, kind: kind | flags, aux: off === 0 ? total : 0, bytes: part.slice() });
      }
      off += n;
    } while (off < total);
    this.#bell(h);
  }

  #pushSlow(h: WorkerHandle, slot: number, kind: number, aux: number, bytes: Uint8Array | null): void {
    h.overflow.push({ slot, kind, aux, bytes: bytes === null ? null : bytes.slice() });
  }

  #flushOverflow(h: WorkerHandle): void {
    const q = h.overflow;
    let i = 0;
    while (i < q.length) {
      const r = q[i]!;
      if (!h.outbound.push(r.slot, r.kind, r.aux, r.bytes)) break;
      i++;
    }
    if (i !== 0) {
      q.splice(0, i);
      h.dirty = true;
    }
  }

  #bell(h: WorkerHandle): void {
    h.dirty = true;
    if (!this.#bellQueued) {
      this.#bellQueued = true;
      queueMicrotask(this.#ringAll);
    }
  }

  /** @internal Wake a worker (used when credit is freed for a waiting slot). */
  wake(h: WorkerHandle): void {
    this.#bell(h);
  }

  /** One doorbell per worker per burst: publish what was written, then notify once. */
  readonly #ringAll = (): void => {
    this.#bellQueued = false;
    this.flush();
  };

  /** @internal Publish queued commands and ring the doorbells of workers that have news. */
  flush(): void {
    for (const h of this.#handles) {
      if (h.overflow.length !== 0) this.#flushOverflow(h);
      if (!h.dirty) continue;
      h.dirty = false;
      h.outbound.publish();
      Atomics.add(h.ctl, CTL_DOORBELL, 1);
      Atomics.notify(h.ctl, CTL_DOORBELL);
    }
  }

  /**
   * Wait, without spinning, until a worker has something for the main thread — a message, an open or a
   * close, an incoming connection — that the next `poll()` will collect; or until `timeoutMs` passes.
   * Resolves true for activity, false on timeout or when the pool is closed. For a server that reacts at
   * once instead of on a tick: `for (;;) { await pool.waitForActivity(); /* poll and drain every peer *\/ }`.
   * Activity is what arrived since the last `poll()`; packets already visible and not taken do not count.
   * The wait keeps the process alive like a timer of `timeoutMs`. Calls made while one is pending share
   * it (and its timeout). A worker's records wake it within microseconds (one `Atomics.notify`).
   */
  waitForActivity(timeoutMs = 1000): Promise<boolean> {
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 31 - 1) {
      throw new TypeError(`timeoutMs must be a finite number of milliseconds between 0 and 2^31-1, got ${String(timeoutMs)}`);
    }
    if (this.#closed) return Promise.resolve(false);
    if (this.#waiting !== null) return this.#waiting;
    const w = this.#wake;
    const seq = Atomics.load(w, WAKE_SEQ);
    // Flag first, then look at the rings; a worker publishes, then looks at the flag (layout.ts).
    Atomics.store(w, WAKE_WAITING, 1);
    if (this.#hasActivity()) {
      Atomics.store(w, WAKE_WAITING, 0);
      return Promise.resolve(true);
    }
    const r = Atomics.waitAsync(w, WAKE_SEQ, seq);
    if (!r.async) {
      Atomics.store(w, WAKE_WAITING, 0);
      return Promise.resolve(true);
    }
    let timedOut = false;
    // Our own timer, not waitAsync's: it holds the process (waitAsync does not), and it wakes the wait
    // by notifying the cell, so no waiter is left behind.
    const timer = setTimeout(() => {
      timedOut = true;
      Atomics.notify(w, WAKE_SEQ);
    }, timeoutMs);
    const p = r.value.then(() => {
      clearTimeout(timer);
      this.#waiting = null;
      Atomics.store(w, WAKE_WAITING, 0);
      return !this.#closed && (!timedOut || this.#hasActivity());
    });
    this.#waiting = p;
    return p;
  }

  /** Whether any live worker's inbound ring holds records not drained yet. */
  #hasActivity(): boolean {
    for (const h of this.#handles) if (!h.dead && h.inbound.hasUnread()) return true;
    return false;
  }

  /** End a pending `waitForActivity()` now (a worker died, the pool closes). */
  #wakeWaiter(): void {
    if (this.#waiting !== null) Atomics.notify(this.#wake, WAKE_SEQ);
  }

  /** @internal Drain every worker's inbound ring into the endpoints. Cheap when nothing arrived. */
  pump(): void {
    const hs = this.#handles;
    for (let i = 0; i < hs.length; i++) this.#drain(hs[i]!);
  }

  #drain(h: WorkerHandle): void {
    const c = h.inbound;
    if (!c.begin()) return;
    const endpoints = h.endpoints;
    while (c.next()) {
      const slot = c.slot;
      const kind = c.kind & KIND_MASK;
      if (kind >= EV_INCOMING) {
        this.#streamEvent(h, kind, slot, c.aux, c.viewPayload());
        continue;
      }
      const ep = endpoints[slot];
      if (ep === undefined) continue;
      if (kind === EV_MSG_BINARY || kind === EV_MSG_TEXT) {
        ep.onMessageRecord(c, kind === EV_MSG_TEXT);
      } else if (kind === EV_OPEN) {
        ep.onOpen(decodeJson<OpenInfo>(c.viewPayload()));
      } else if (kind === EV_CLOSED) {
        ep.onClosed(c.aux, decodeJson<CloseInfo>(c.viewPayload()));
        endpoints[slot] = undefined;
        h.freeSlots.push(slot);
        h.count--;
      }
    }
    c.release();
    // The worker stores the flag, then looks at our read position; we store the position, then look
    // at the flag. One of the two sees the other.
    if (Atomics.load(h.ctl, CTL_INBOUND_BLOCKED) !== 0) this.#bell(h);
  }

  #streamEvent(h: WorkerHandle, kind: number, id: number, aux: number, payload: Uint8Array): void {
    if (kind === EV_INCOMING) {
      const info = decodeJson<IncomingInfo>(payload);
      const stream = new StreamPeerTCP(this, h, id, info.host, info.port);
      h.streams.set(id, stream);
      const server = this.#servers.get(aux);
      if (server !== undefined) server.sink.enqueue(stream);
      else stream.disconnectFromHost();
    } else if (kind === EV_STREAM_STATUS) {
      h.streams.get(id)?.onTlsStatus(aux);
    } else if (kind === EV_STREAM_CLOSED) {
      const st = h.streams.get(id);
      h.streams.delete(id);
      st?.onClosed(aux !== 0);
    }
  }

  /** Per-worker figures, fetched over the control plane. */
  async stats(): Promise<WorkerStats[]> {
    return Promise.all(this.#handles.filter((h) => !h.dead).map((h) => h.call((r) => r.stats() as Promise<WorkerStats>)));
  }

  /**
   * Close every connection (1001 going away, up to `timeoutMs` for the closing handshakes), then stop
   * the workers. Peers become CLOSED on their next `poll()`. Idempotent.
   */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeWaiter();
    // Hold the process until close() is done: an 'idle' notice must not unref a worker we still wait for.
    for (const h of this.#handles) if (!h.dead) h.worker.ref();
    this.flush();
    await Promise.all(
      this.#handles.map(async (h) => {
        if (h.dead) return;
        try {
          await h.call((r) => r.shutdown(timeoutMs));
        } catch {
          // already gone: its peers are closed by #onExit
        }
      }),
    );
    this.pump();
    await Promise.all(this.#handles.map((h) => (h.dead ? undefined : h.worker.terminate())));
  }

  /** @internal Test hook: make worker `index` crash with an uncaught exception. */
  crashWorkerForTest(index: number): Promise<number> {
    const h = this.#handles[index];
    if (h === undefined) throw new RangeError(`no worker ${index}`);
    void h.call((r) => r.crash() as unknown as Promise<void>).catch(() => undefined);
    return h.exited;
  }

  /** @internal Test hook: block worker `index`'s thread for `ms` (resolves when the stall begins). */
  async stallWorkerForTest(index: number, ms: number): Promise<void> {
    const h = this.#handles[index];
    if (h === undefined) throw new RangeError(`no worker ${index}`);
    await h.call((r) => r.stall(ms) as unknown as Promise<void>);
  }

  /** @internal The worker index a connection landed in (tests). */
  workerOf(ep: PeerEndpoint): number {
    return ep.handleIndex();
  }
}

let defaultPool: PeerPool | null = null;

/** The pool `new WebSocketPeer()` uses, created on first use with default options. */
export function getDefaultPool(): PeerPool {
  if (defaultPool === null || defaultPool.closed) defaultPool = new PeerPool();
  return defaultPool;
}
