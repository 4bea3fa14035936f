/**
 * `new PeerPool(options)`: the options, their defaults and their validation (a TypeError naming the
 * option for a bad value, at construction).
 */
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { DEFAULT_INBOUND_RING_CAPACITY, DEFAULT_MAX_PEERS_PER_WORKER, DEFAULT_OUTBOUND_RING_CAPACITY } from '../protocol/layout.js';

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
  /**
   * Most TCP connections one worker holds that have not finished their upgrade (accepted streams not yet
   * handed to a peer, in TLS, or reading their HTTP request). Past it, a new TCP connection is closed at
   * once and counted (`stats()[i].handshakesRefused`). Default 1024. (Open peers are bounded by
   * `maxPeersPerWorker`; these by this, and each lasts at most `handshakeTimeout`.)
   */
  maxPendingHandshakes?: number;
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
  /**
   * Microseconds `waitForActivity()` spins (checking every ring) before it sleeps, 0–10000. Default 0. A
   * spin catches a record that comes within it without a sleep and a wake-up (one `Atomics.notify`, then a
   * task on the event loop), at the price of that much main-thread CPU each time nothing came. See README
   * "Pools" for what it bought in the suite.
   */
  waitSpinMicros?: number;
  /**
   * Microseconds an I/O worker spins for the main thread's answer (its doorbell) once per event-loop turn
   * in which it published inbound records, 0–10000. Default 0. A ring caught this way is drained at once,
   * without the worker's wake-up; the price is that much worker CPU per turn, and sockets not read
   * meanwhile. See README "Pools".
   */
  workerSpinMicros?: number;
}

/** The options with every default filled in. */
export interface ResolvedPoolOptions {
  threads: number;
  inboundRingSize: number;
  outboundRingSize: number;
  maxPeersPerWorker: number;
  handshakeTimeout: number;
  maxPendingHandshakes: number;
  closeTimeout: number;
  workerNice: number;
  workerResourceLimits: ResourceLimits | undefined;
  waitSpinMicros: number;
  workerSpinMicros: number;
}

/** Default `maxPendingHandshakes` per worker. */
const DEFAULT_MAX_PENDING_HANDSHAKES = 1024;

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

function spinMicros(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 10_000) throw new TypeError(`options.${name} must be an integer between 0 and 10000, got ${String(v)}`);
  return v;
}

/** Fill in the defaults; throw a TypeError naming the first bad option. */
export function resolvePoolOptions(o: PeerPoolOptions): ResolvedPoolOptions {
  if (o === null || typeof o !== 'object') throw new TypeError('options must be an object');
  return {
    threads: o.threads === undefined ? Math.max(1, availableParallelism() - 1) : positiveInt(o.threads, 'threads'),
    inboundRingSize: o.inboundRingSize === undefined ? DEFAULT_INBOUND_RING_CAPACITY : powerOfTwo(o.inboundRingSize, 'inboundRingSize'),
    outboundRingSize: o.outboundRingSize === undefined ? DEFAULT_OUTBOUND_RING_CAPACITY : powerOfTwo(o.outboundRingSize, 'outboundRingSize'),
    maxPeersPerWorker: o.maxPeersPerWorker === undefined ? DEFAULT_MAX_PEERS_PER_WORKER : positiveInt(o.maxPeersPerWorker, 'maxPeersPerWorker'),
    handshakeTimeout: o.handshakeTimeout === undefined ? 10_000 : positiveInt(o.handshakeTimeout, 'handshakeTimeout'),
    maxPendingHandshakes: o.maxPendingHandshakes === undefined ? DEFAULT_MAX_PENDING_HANDSHAKES : positiveInt(o.maxPendingHandshakes, 'maxPendingHandshakes'),
    closeTimeout: o.closeTimeout === undefined ? 5_000 : positiveInt(o.closeTimeout, 'closeTimeout'),
    workerNice: o.workerNice === undefined ? 0 : niceness(o.workerNice),
    workerResourceLimits: resourceLimits(o.workerResourceLimits),
    waitSpinMicros: o.waitSpinMicros === undefined ? 0 : spinMicros(o.waitSpinMicros, 'waitSpinMicros'),
    workerSpinMicros: o.workerSpinMicros === undefined ? 0 : spinMicros(o.workerSpinMicros, 'workerSpinMicros'),
  };
}
