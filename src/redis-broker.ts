/**
 * The Redis broker (`createRedisBroker(url, options)`): topics across processes and hosts through Redis
 * pub/sub, with `ioredis` (its reconnect and re-subscribe are what socket.io's Redis adapter relies on too).
 *
 * - One Redis channel per topic (`prefix + topic`): a node receives only the topics its own peers
 *   subscribe to. It subscribes when the first local subscriber joins and unsubscribes when the last leaves.
 * - Sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`, Redis ≥ 7.0) when the server has it (`COMMAND INFO
 *   SPUBLISH` at connect), plain `PUBLISH` / `SUBSCRIBE` otherwise. On a Redis Cluster a sharded channel
 *   lives on the shard of its slot, so the load spreads instead of every message reaching every shard.
 * - Two connections: one to publish (commands fail at once while it is down: `enableOfflineQueue` off,
 *   `maxRetriesPerRequest` 0, nothing re-sent after a reconnect), one in subscriber mode (ioredis
 *   re-subscribes every channel by itself after a reconnect).
 * - Each message is an envelope: 1 byte (version 1; bit 7 = text), this node's 8-byte id, the payload.
 *   A node drops what it published itself when Redis echoes it back: its peers had it from the local
 *   publication already.
 *
 * Guarantee: **at most once**. A publication made while the publishing connection is not ready is not
 * sent (`publishFailed`); one in flight when the connection drops is counted failed too (it may or may not
 * have reached Redis); a node whose subscriber connection is down misses what is published meanwhile,
 * and nothing tells it (Redis pub/sub keeps nothing). Local subscribers are never affected.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { BrokerDelivery, TopicBroker } from './broker.js';

export interface RedisBrokerOptions {
  /** Prefix of every channel name (default `ringsocket:`): nodes that share it share topics. */
  prefix?: string;
  /** Sharded pub/sub: `'auto'` (default) uses it when the server has SPUBLISH. */
  sharded?: boolean | 'auto';
  /** How long the first connection may take before `createRedisBroker` rejects (ms, default 5000). */
  connectTimeoutMs?: number;
  /** The longest wait between reconnect attempts (ms, default 1000; attempt n waits min(50·n, this)). */
  maxReconnectDelayMs?: number;
  /** Extra ioredis options for both connections (host/port/password… usually come from the URL). */
  redisOptions?: RedisOptions;
}

export interface RedisBrokerStats {
  /** This node's id in the envelope (16 hex digits). */
  nodeId: string;
  /** SPUBLISH/SSUBSCRIBE (true) or PUBLISH/SUBSCRIBE. */
  sharded: boolean;
  /** Both connections ready. */
  connected: boolean;
  /** Publications Redis acknowledged. */
  published: number;
  /** Publications that failed: not sent (Redis unreachable) or lost with the connection before Redis answered. */
  publishFailed: number;
  /** Publications handed to Redis and not answered yet. */
  publishPending: number;
  /** Messages received from Redis that other nodes published. */
  received: number;
  /** Messages received that this node published itself (dropped). */
  ownDropped: number;
  /** Received messages handed to the pool (a topic with local subscribers). */
  delivered: number;
  /** Received messages that were not an envelope of this version (dropped). */
  malformed: number;
  /** Topics this node is subscribed to in Redis now. */
  channels: number;
  /** Times the subscriber connection came back after a loss (each time ioredis re-subscribed). */
  reconnects: number;
  /** Connection errors seen (ioredis 'error' events) and the last one. */
  errors: number;
  lastError: string | null;
}

const VERSION = 1;
const TEXT = 0x80;
const HEADER = 9;

let startOf: (broker: RedisBroker, sharded: boolean | 'auto') => Promise<void>;

/** A `TopicBroker` on Redis; made by `createRedisBroker`. */
export class RedisBroker implements TopicBroker {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #prefixBytes: number;
  readonly #id: Buffer;
  readonly #idLo: number;
  readonly #idHi: number;
  #sharded = false;
  #deliver: BrokerDelivery | null = null;
  readonly #topics = new Set<string>();
  #closed = false;
  #subReadyOnce = false;
  readonly #s = { published: 0, publishFailed: 0, publishPending: 0, received: 0, ownDropped: 0, delivered: 0, malformed: 0, reconnects: 0, errors: 0 };
  #lastError: string | null = null;

  static {
    startOf = (broker, sharded) => broker.#start(sharded);
  }

  /** @internal use createRedisBroker. */
  constructor(url: string, o: RedisBrokerOptions) {
    this.#prefix = o.prefix ?? 'ringsocket:';
    this.#prefixBytes = Buffer.byteLength(this.#prefix);
    this.#id = randomBytes(8);
    this.#idLo = this.#id.readUInt32LE(0);
    this.#idHi = this.#id.readUInt32LE(4);
    const maxDelay = o.maxReconnectDelayMs ?? 1000;
    const base: RedisOptions = {
      ...o.redisOptions,
      lazyConnect: true,
      connectTimeout: o.connectTimeoutMs ?? 5000,
      retryStrategy: (n: number) => Math.min(50 * n, maxDelay),
    };
    // Publishing: fail at once while down, never re-send after a reconnect (at most once, counted).
    this.#pub = new Redis(url, { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, connectionName: `ringsocket-pub-${this.nodeId}` });
    // Subscribing: (un)subscribes made while down wait for the reconnect; ioredis re-subscribes by itself.
    this.#sub = new Redis(url, { ...base, maxRetriesPerRequest: null, autoResubscribe: true, connectionName: `ringsocket-sub-${this.nodeId}` });
    const onError = (err: Error): void => {
      this.#s.errors++;
      this.#lastError = err.message;
    };
    this.#pub.on('error', onError);
    this.#sub.on('error', onError);
    this.#sub.on('ready', () => {
      if (this.#subReadyOnce) this.#s.reconnects++;
      this.#subReadyOnce = true;
    });
    const onMessage = (channel: Buffer, message: Buffer): void => this.#onMessage(channel, message);
    this.#sub.on('smessageBuffer', onMessage);
    this.#sub.on('messageBuffer', onMessage);
  }

  /** Connect both, choose the pub/sub flavour. */
  async #start(sharded: boolean | 'auto'): Promise<void> {
    await Promise.all([this.#pub.connect(), this.#sub.connect()]);
    if (sharded === 'auto') {
      const info = (await this.#pub.call('COMMAND', 'INFO', 'SPUBLISH')) as unknown[];
      this.#sharded = Array.isArray(info) && info[0] !== null && info[0] !== undefined;
    } else {
      this.#sharded = sharded;
    }
  }

  /** This node's id (16 hex digits), as the envelope carries it. */
  get nodeId(): string {
    return this.#id.toString('hex');
  }

  /** Whether SPUBLISH/SSUBSCRIBE are used. */
  get sharded(): boolean {
    return this.#sharded;
  }

  attach(deliver: BrokerDelivery): void {
    if (this.#deliver !== null) throw new Error('this broker is attached to a pool already');
    this.#deliver = deliver;
  }

  detach(): void {
    this.#deliver = null;
  }

  publish(topic: string, bytes: Uint8Array, isText: boolean): void {
    if (this.#closed || this.#pub.status !== 'ready') {
      this.#s.publishFailed++;
      return;
    }
    const msg = Buffer.allocUnsafe(HEADER + bytes.byteLength);
    msg[0] = VERSION | (isText ? TEXT : 0);
    this.#id.copy(msg, 1);
    msg.set(bytes, HEADER);
    const channel = this.#prefix + topic;
    this.#s.publishPending++;
    (this.#sharded ? this.#pub.spublish(channel, msg) : this.#pub.publish(channel, msg)).then(
      () => {
        this.#s.publishPending--;
        this.#s.published++;
      },
      () => {
        this.#s.publishPending--;
        this.#s.publishFailed++;
      },
    );
  }

  subscribe(topic: string): void {
    if (this.#closed || this.#topics.has(topic)) return;
    this.#topics.add(topic);
    const channel = this.#prefix + topic;
    (this.#sharded ? this.#sub.ssubscribe(channel) : this.#sub.subscribe(channel)).catch(() => {});
  }

  unsubscribe(topic: string): void {
    if (this.#closed || !this.#topics.delete(topic)) return;
    const channel = this.#prefix + topic;
    (this.#sharded ? this.#sub.sunsubscribe(channel) : this.#sub.unsubscribe(channel)).catch(() => {});
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    if (message.length < HEADER || (message[0]! & 0x7f) !== VERSION) {
      this.#s.malformed++;
      return;
    }
    if (message.readUInt32LE(1) === this.#idLo && message.readUInt32LE(5) === this.#idHi) {
      this.#s.ownDropped++;
      return;
    }
    this.#s.received++;
    const deliver = this.#deliver;
    if (deliver === null) return;
    const topic = channel.toString('utf8', this.#prefixBytes);
    if (!this.#topics.has(topic)) return;
    this.#s.delivered++;
    deliver(topic, message.subarray(HEADER), (message[0]! & TEXT) !== 0);
  }

  /** Counters (see RedisBrokerStats). */
  stats(): RedisBrokerStats {
    return {
      nodeId: this.nodeId,
      sharded: this.#sharded,
      connected: this.#pub.status === 'ready' && this.#sub.status === 'ready',
      ...this.#s,
      channels: this.#topics.size,
      lastError: this.#lastError,
    };
  }

  /**
   * Close both connections (pending publications are answered first: QUIT). Redis drops this node's
   * subscriptions with its connection. The process can then exit. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deliver = null;
    const end = async (r: Redis): Promise<void> => {
      if (r.status !== 'ready') return r.disconnect();
      await r.quit().catch(() => r.disconnect());
    };
    await Promise.all([end(this.#pub), end(this.#sub)]);
  }
}

/**
 * Connect to Redis at `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) and return a
 * broker for `pool.useBroker(broker)`. Rejects when the first connection fails within `connectTimeoutMs`;
 * after that, losses are retried for ever (see the guarantee above).
 */
export async function createRedisBroker(url: string, options: RedisBrokerOptions = {}): Promise<RedisBroker> {
  if (typeof url !== 'string' || url === '') throw new TypeError('url must be a redis:// or rediss:// URL');
  const broker = new RedisBroker(url, options);
  try {
    await startOf(broker, options.sharded ?? 'auto');
  } catch (err) {
    await broker.close().catch(() => {});
    throw new Error(`cannot connect to Redis at ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return broker;
}
