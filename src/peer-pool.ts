/**
 * PeerPool: the public face of the I/O worker threads. What users call is here; the engine behind it
 * (`pool/engine.ts`: workers, rings, doorbells, slots, worker death, servers) is private, reached by
 * ringsocket's own classes through `poolEngine()`, which the package root does not export.
 *
 * ```
 *  main thread                                   worker i (x N)
 *  ───────────                                   ──────────────
 *  WebSocketPeer ─ PeerEndpoint ─┐               sockets, ws framing, TLS
 *                                │  outbound ring (commands, messages)  ──►  drainCommands()
 *  PoolEngine.pump() ◄── inbound ring (events, messages) ◄──  deliver()
 *            slot table: consumed (main writes) / sent, waiting (worker writes)
 *            control block: doorbell (main → worker), inbound-blocked flag
 *            comlink port: stats(), shutdown(), crash()     parentPort: 'ready', 'idle'
 * ```
 * One pool serves any number of peers; each peer lives in one worker (least loaded at connect time) and
 * is named by its slot there. Memory is per worker, not per peer: two rings (4 MiB each by default) and a
 * slot table (32 bytes per slot, paged in as slots are used).
 */
import type { WorkerStats } from './protocol/control.js';
import { PoolEngine } from './pool/engine.js';
import { resolvePoolOptions, type PeerPoolOptions } from './pool/options.js';
import { peerAccess, type TopicPeer } from './peer-access.js';
import type { PeerEndpoint } from './peer-endpoint.js';
import { ErrorCode, State, WriteMode } from './enums.js';
import { toBytes } from './validation.js';
import { isUtf8 } from 'node:buffer';
import type { TopicBroker } from './broker.js';

export type { WorkerStats } from './protocol/control.js';
export type { PeerPoolOptions } from './pool/options.js';
export type { TopicPeer } from './peer-access.js';

let engineOf: (pool: PeerPool) => PoolEngine;

/**
 * A pool of I/O worker threads that hold WebSocket connections for `WebSocketPeer`s.
 *
 * `new WebSocketPeer()` uses a default pool created on first use; pass `{ pool }` to choose one.
 * Workers are started at construction and do not keep the process alive while they hold no connection.
 */
export class PeerPool {
  readonly #engine: PoolEngine;
  #broker: TopicBroker | null = null;

  static {
    engineOf = (pool) => pool.#engine;
  }

  constructor(options: PeerPoolOptions = {}) {
    this.#engine = new PoolEngine(resolvePoolOptions(options));
  }

  /** Number of I/O worker threads. */
  get threads(): number {
    return this.#engine.threads;
  }

  /** Connections currently attached (any state), as the main thread sees them. */
  get peerCount(): number {
    return this.#engine.peerCount;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#engine.closed;
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
    return this.#engine.waitForActivity(timeoutMs);
  }

  // ---- topics ------------------------------------------------------------------------------------

  /**
   * Not in Godot: make `peer` (a `WebSocketPeer` of this pool, CONNECTING or OPEN) a subscriber of
   * `topic`. A publication reaches it once it is OPEN. It leaves every topic by itself when it closes.
   * @returns OK; ERR_ALREADY_EXISTS if it was subscribed; FAILED if it has no live connection;
   *   ERR_INVALID_PARAMETER if `peer` is not a WebSocketPeer of this pool or `topic` is not a non-empty string.
   */
  subscribe(peer: TopicPeer, topic: string): ErrorCode {
    const e = this.#member(peer, topic);
    if (typeof e === 'number') return e;
    const t = this.#engine.topics.named(topic, true)!;
    if (this.#engine.topics.subscribe(e, t)) return ErrorCode.OK;
    return t.members.has(e) ? ErrorCode.ERR_ALREADY_EXISTS : ErrorCode.FAILED;
  }

  /**
   * Not in Godot: `peer` leaves `topic`.
   * @returns OK; ERR_DOES_NOT_EXIST if it was not subscribed; ERR_INVALID_PARAMETER as `subscribe`.
   */
  unsubscribe(peer: TopicPeer, topic: string): ErrorCode {
    const e = this.#member(peer, topic);
    if (typeof e === 'number') return e === ErrorCode.FAILED ? ErrorCode.ERR_DOES_NOT_EXIST : e;
    const t = this.#engine.topics.named(topic, false);
    return t !== undefined && this.#engine.topics.unsubscribe(e, t) ? ErrorCode.OK : ErrorCode.ERR_DOES_NOT_EXIST;
  }

  #member(peer: TopicPeer, topic: string): PeerEndpoint | ErrorCode {
    if (typeof topic !== 'string' || topic === '') return ErrorCode.ERR_INVALID_PARAMETER;
    const found = peerAccess.endpoint(peer);
    if (found === null) return peer !== null && typeof peer === 'object' && typeof peer.getReadyState === 'function' ? ErrorCode.FAILED : ErrorCode.ERR_INVALID_PARAMETER;
    if (found.engine !== this.#engine) return ErrorCode.ERR_INVALID_PARAMETER;
    // CLOSING counts as left: it was taken out of its topics when close() was called.
    const state = peer.getReadyState();
    if (!found.ep.live || found.ep.detached || (state !== State.OPEN && state !== State.CONNECTING)) return ErrorCode.FAILED;
    return found.ep;
  }

  /**
   * Not in Godot: send `data` to every subscriber of `topic` (OPEN ones; CLOSING and closed peers are
   * skipped). It crosses to each worker that holds subscribers as one record, and each worker frames it
   * once and writes the same bytes to each subscriber's socket (client-side peers, which must mask each
   * frame, are framed one by one). A subscriber whose socket already holds `outboundBufferSize` bytes
   * unwritten is handled by its `slowPeerPolicy`. Publications do not count in a peer's
   * `getCurrentOutboundBufferedAmount()`; their order with the peer's own `send`s is the order of the calls.
   * @returns the number of subscribers it was queued for; -1 (nothing sent) for TEXT bytes that are not UTF-8
   *   or an unknown write mode.
   */
  publish(topic: string, data: Uint8Array | ArrayBufferView | ArrayBuffer, writeMode: WriteMode = WriteMode.BINARY): number {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('topic must be a non-empty string');
    const bytes = toBytes(data);
    if (writeMode !== WriteMode.BINARY && writeMode !== WriteMode.TEXT) return -1;
    if (writeMode === WriteMode.TEXT && !isUtf8(bytes)) return -1;
    this.#broker?.publish(topic, bytes, writeMode === WriteMode.TEXT);
    const t = this.#engine.topics.named(topic, false);
    if (t === undefined) return 0;
    return this.#engine.topics.publish(t, writeMode === WriteMode.TEXT, bytes, null);
  }

  /**
   * Not in Godot: topics across processes and hosts. With a broker (`await createRedisBroker(url)`),
   * `publish` still reaches this pool's subscribers at once (framed once per worker) and also goes to the
   * broker, which carries it to the other nodes; what other nodes publish to a topic this pool has
   * subscribers to arrives from the broker and is published here the same way. The pool subscribes the
   * broker to a topic when its first local subscriber joins and unsubscribes it when the last leaves.
   * Named topics only (a `WebSocketMultiplayerPeer`'s "every peer" stays local). `null` detaches.
   * The pool does not close the broker: close it after the pool (`broker.close()`).
   *
   * Takes the broker or the promise `createRedisBroker(url)` returns, so both
   * `pool.useBroker(await createRedisBroker(url))` and `await pool.useBroker(createRedisBroker(url))` work;
   * the returned promise settles once the broker is attached (and rejects if the connection failed).
   */
  useBroker(broker: TopicBroker | PromiseLike<TopicBroker> | null): Promise<void> {
    if (broker !== null && typeof (broker as PromiseLike<TopicBroker>).then === 'function') {
      return Promise.resolve(broker).then((b) => this.#attach(b));
    }
    // A wrong type is the caller's bug: thrown at once, as every misuse (not a rejected promise).
    this.#attach(broker as TopicBroker | null);
    return Promise.resolve();
  }

  #attach(broker: TopicBroker | null): void {
    if (broker !== null && (typeof broker !== 'object' || typeof broker.publish !== 'function' || typeof broker.attach !== 'function')) {
      throw new TypeError('broker must be a TopicBroker (createRedisBroker) or null');
    }
    if (broker === this.#broker) return;
    const topics = this.#engine.topics;
    const old = this.#broker;
    if (old !== null) {
      topics.onNamedActive = null;
      for (const name of topics.names()) old.unsubscribe(name);
      old.detach();
      this.#broker = null;
    }
    if (broker === null) return;
    broker.attach((topic, bytes, isText) => {
      const t = topics.named(topic, false);
      if (t !== undefined && !this.#engine.closed) topics.publish(t, isText, bytes, null);
    });
    this.#broker = broker;
    topics.onNamedActive = (name, active) => (active ? broker.subscribe(name) : broker.unsubscribe(name));
    for (const name of topics.names()) broker.subscribe(name);
  }

  /**
   * Not in Godot: how far the I/O workers are behind on publications — the most `publish` calls (and a
   * `WebSocketMultiplayerPeer`'s sends to several peers, which are publications too) any one worker has
   * been handed and not yet written to its members' sockets. 0 while the workers keep up. A fixed-tick
   * server that publishes a snapshot every tick can skip a tick's snapshot while this is above 0: when a
   * worker is the bottleneck (too many members for its core), queued snapshots only grow older, and
   * skipping keeps what clients get fresh instead of seconds late (README "Many peers"). Reading it costs
   * one atomic load per worker.
   */
  getPublishBacklog(): number {
    return this.#engine.publishBacklog;
  }

  /** Not in Godot: how many peers are subscribed to `topic` now (0 for a topic nobody joined). */
  getSubscriberCount(topic: string): number {
    if (typeof topic !== 'string') throw new TypeError('topic must be a string');
    return this.#engine.topics.named(topic, false)?.members.size ?? 0;
  }

  /** Per-worker figures, fetched over the control plane. */
  stats(): Promise<WorkerStats[]> {
    return this.#engine.stats();
  }

  /**
   * Close every connection (1001 going away, up to `timeoutMs` for the closing handshakes), then stop
   * the workers. Peers become CLOSED on their next `poll()`. Idempotent.
   */
  close(timeoutMs = 1000): Promise<void> {
    return this.#engine.close(timeoutMs);
  }
}

/** @internal The engine behind `pool` (for ringsocket's own classes; not exported by the package root). */
export function poolEngine(pool: PeerPool): PoolEngine {
  return engineOf(pool);
}

let defaultPool: PeerPool | null = null;

/** The pool `new WebSocketPeer()` uses, created on first use with default options. */
export function getDefaultPool(): PeerPool {
  if (defaultPool === null || defaultPool.closed) defaultPool = new PeerPool();
  return defaultPool;
}
