/**
 * Server process for bench/e2e/connections: one echo server on 127.0.0.1, port 0, whose memory the
 * benchmark reads at each phase. One process per measured run, so each starts from a clean heap.
 *
 * ```
 *  impl 'ringsocket': PeerPool({ threads }) + TCPServer; the Godot server loop on the main thread:
 *                     each tick  while (isConnectionAvailable()) acceptStream(takeConnection())
 *                                for every peer: poll(); OPEN → echo every packet; CLOSED → forget it
 *                     next tick: setImmediate if the tick did anything, else setTimeout(idleTickMs)
 *  impl 'ws-main':    a `ws` WebSocketServer on the main thread, 'message' → send the same bytes back
 * ```
 * Both use their defaults otherwise (ringsocket: inboundBufferSize / outboundBufferSize 65535, 4096
 * queued packets; ws: perMessageDeflate off, as ringsocket has no compression).
 *
 * IPC (fork): → { t: 'listening', port, pid, nofile }; ← { t: 'counts' } → { t: 'counts', counts };
 * ← { t: 'mem', label, gc } → { t: 'mem', snap }; ← { t: 'exit' } → exit at once (no closing
 * handshakes: 10,000 of them are not what is measured).
 */
import { readFileSync } from 'node:fs';
import inspector from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode } from '../../src/index.js';
import { fdCount, isMain, openFilesLimit } from '../common.js';

export type ConnImpl = 'ringsocket' | 'ws-main';

export interface ServerOptions {
  impl: ConnImpl;
  /** ringsocket: PeerPool threads. */
  threads: number;
  /** ringsocket: ms between ticks when a tick found nothing to do. */
  idleTickMs: number;
  /** Collect garbage (main thread and, for ringsocket, every I/O worker) before each memory reading. */
  gc: boolean;
}

export interface ServerCounts {
  /** TCP connections taken (ringsocket) / upgrade requests seen (ws). */
  accepted: number;
  /** Connections that reached OPEN. */
  opened: number;
  /** OPEN now. */
  live: number;
  /** Messages echoed (send returned OK). */
  echoed: number;
  /** ringsocket: send() that did not return OK. */
  sendErrors: number;
  /** ringsocket: acceptStream() that did not return OK. */
  acceptErrors: number;
  /** Reached CLOSED (or 'close' for ws). */
  closed: number;
  failedBeforeOpen: number;
  /** getFailureReason() (ringsocket) / close code (ws) of closed connections. */
  closeReasons: Record<string, number>;
  /** ringsocket: main-thread ticks so far and ms spent in the last one. */
  ticks: number;
  lastTickMs: number;
}

export interface MemSnapshot {
  label: string;
  /** Whether gc() ran on the main thread just before (worker heaps are not collected by it). */
  gc: boolean;
  /** process.memoryUsage(): bytes. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** /proc/self/status, converted to bytes: VmRSS = RssAnon + RssFile + RssShmem. */
  vmRss: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  vmHwm: number;
  threads: number;
  /** Open file descriptors (/proc/self/fd). */
  fds: number;
  /** ringsocket: per-worker heapUsed and connections (PeerPool.stats()). */
  workerHeapUsed?: number[];
  workerConnections?: number[];
  /** ringsocket, with gc: per-worker V8 heap size (committed) after the collection, via the inspector. */
  workerHeapTotal?: number[];
}

export type ServerNotice =
  | { t: 'listening'; port: number; pid: number; nofile: number }
  | { t: 'counts'; counts: ServerCounts }
  | { t: 'mem'; snap: MemSnapshot }
  | { t: 'fatal'; message: string };
export type ServerCommand = { t: 'counts' } | { t: 'mem'; label: string; gc: boolean } | { t: 'exit' };

function procStatus(): { vmRss: number; rssAnon: number; rssFile: number; rssShmem: number; vmHwm: number; threads: number } {
  const text = readFileSync('/proc/self/status', 'latin1');
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    return m === null ? NaN : Number(m[1]) * 1024;
  };
  const th = /^Threads:\s+(\d+)/m.exec(text);
  return {
    vmRss: kb('VmRSS'),
    rssAnon: kb('RssAnon'),
    rssFile: kb('RssFile'),
    rssShmem: kb('RssShmem'),
    vmHwm: kb('VmHWM'),
    threads: th === null ? NaN : Number(th[1]),
  };
}

function newCounts(): ServerCounts {
  return {
    accepted: 0,
    opened: 0,
    live: 0,
    echoed: 0,
    sendErrors: 0,
    acceptErrors: 0,
    closed: 0,
    failedBeforeOpen: 0,
    closeReasons: {},
    ticks: 0,
    lastTickMs: 0,
  };
}

interface Running {
  port: number;
  counts: ServerCounts;
  pool: PeerPool | null;
}

// ---- ringsocket: the Godot server loop ------------------------------------------------------------

function startRingsocket(o: ServerOptions): Running {
  const counts = newCounts();
  const pool = new PeerPool({ threads: o.threads });
  const server = new TCPServer({ pool });
  const code = server.listen(0, '127.0.0.1');
  if (code !== ErrorCode.OK) throw new Error(`TCPServer.listen returned ${code}`);
  const peers: WebSocketPeer[] = [];
  const wasOpen: boolean[] = [];

  const tick = (): void => {
    const t0 = performance.now();
    let work = 0;
    while (server.isConnectionAvailable()) {
      const stream = server.takeConnection()!;
      counts.accepted++;
      const peer = new WebSocketPeer({ pool });
      const r = peer.acceptStream(stream);
      if (r !== ErrorCode.OK) {
        counts.acceptErrors++;
        stream.disconnectFromHost();
        continue;
      }
      peers.push(peer);
      wasOpen.push(false);
      work++;
    }
    for (let i = 0; i < peers.length; ) {
      const peer = peers[i]!;
      peer.poll();
      const st = peer.getReadyState();
      if (st === State.OPEN) {
        if (!wasOpen[i]) {
          wasOpen[i] = true;
          counts.opened++;
          counts.live++;
          work++;
        }
        let n = peer.getAvailablePacketCount();
        while (n-- > 0) {
          const b = peer.getPacket();
          const r = peer.send(b, peer.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY);
          if (r === ErrorCode.OK) counts.echoed++;
          else counts.sendErrors++;
          work++;
        }
      } else if (st === State.CLOSED) {
        if (wasOpen[i]) counts.live--;
        else counts.failedBeforeOpen++;
        counts.closed++;
        const why = peer.getFailureReason() || `code ${peer.getCloseCode()}`;
        counts.closeReasons[why] = (counts.closeReasons[why] ?? 0) + 1;
        // Swap-remove: order does not matter to an echo server.
        const last = peers.length - 1;
        peers[i] = peers[last]!;
        wasOpen[i] = wasOpen[last]!;
        peers.pop();
        wasOpen.pop();
        work++;
        continue;
      }
      i++;
    }
    counts.ticks++;
    counts.lastTickMs = performance.now() - t0;
    if (work !== 0 || o.idleTickMs === 0) setImmediate(tick);
    else setTimeout(tick, o.idleTickMs);
  };
  setImmediate(tick);
  return { port: server.getLocalPort(), counts, pool };
}

// ---- ws on the main thread --------------------------------------------------------------------------

const BINARY = { binary: true };
const TEXT = { binary: false };
let wsCounts: ServerCounts = newCounts();

function onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  this.send(data, isBinary ? BINARY : TEXT);
  wsCounts.echoed++;
}

function onWsClose(this: WebSocket, code: number): void {
  wsCounts.live--;
  wsCounts.closed++;
  const why = `code ${code}`;
  wsCounts.closeReasons[why] = (wsCounts.closeReasons[why] ?? 0) + 1;
}

function onWsError(): void {
  // 'close' follows.
}

async function startWs(): Promise<Running> {
  const counts = newCounts();
  wsCounts = counts;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (ws: WebSocket) => {
    counts.accepted++;
    counts.opened++;
    counts.live++;
    ws.on('message', onWsMessage);
    ws.on('close', onWsClose);
    ws.on('error', onWsError);
  });
  return { port: (wss.address() as AddressInfo).port, counts, pool: null };
}

// ---- process ----------------------------------------------------------------------------------------

/**
 * Full GCs in the I/O workers, from outside: the pool's Worker objects are private, and the benchmark
 * must not change the library, so the main thread's inspector attaches to the workers (NodeWorker
 * domain) and asks each for HeapProfiler.collectGarbage. Without it the workers' heaps would be read
 * with their garbage while the main thread's is collected, which would count against ringsocket.
 */
export class WorkerGc {
  readonly #session = new inspector.Session();
  readonly #workers: string[] = [];
  readonly #pending = new Map<number, (m: { result?: Record<string, number>; error?: unknown }) => void>();
  #id = 0;

  async start(): Promise<void> {
    const s = this.#session;
    s.connect();
    s.on('NodeWorker.attachedToWorker', (m: { params: { sessionId: string } }) => this.#workers.push(m.params.sessionId));
    s.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
      const i = this.#workers.indexOf(m.params.sessionId);
      if (i >= 0) this.#workers.splice(i, 1);
    });
    s.on('NodeWorker.receivedMessageFromWorker', (m: { params: { message: string } }) => {
      const msg = JSON.parse(m.params.message) as { id?: number; result?: Record<string, number>; error?: unknown };
      if (msg.id === undefined) return;
      const f = this.#pending.get(msg.id);
      if (f !== undefined) {
        this.#pending.delete(msg.id);
        f(msg);
      }
    });
    await new Promise<void>((resolve, reject) => s.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, (err) => (err ? reject(err) : resolve())));
  }

  get count(): number {
    return this.#workers.length;
  }

  #call(sessionId: string, method: string): Promise<Record<string, number>> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (m) => (m.error !== undefined ? reject(new Error(`${method}: ${JSON.stringify(m.error)}`)) : resolve(m.result ?? {})));
      this.#session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params: {} }) });
    });
  }

  async collect(): Promise<void> {
    for (const w of this.#workers) await this.#call(w, 'HeapProfiler.collectGarbage');
  }

  /** totalSize (committed V8 heap) of each worker. */
  async heapTotals(): Promise<number[]> {
    const out: number[] = [];
    for (const w of this.#workers) out.push((await this.#call(w, 'Runtime.getHeapUsage')).totalSize ?? NaN);
    return out;
  }
}

let workerGc: WorkerGc | null = null;

async function snapshot(label: string, gc: boolean, pool: PeerPool | null): Promise<MemSnapshot> {
  const g = (globalThis as { gc?: () => void }).gc;
  const didGc = gc && typeof g === 'function';
  if (didGc) {
    if (workerGc !== null) await workerGc.collect();
    g!();
    // Let the sweeper finish and V8 give back what it freed before RSS is read.
    await new Promise((r) => setTimeout(r, 300));
  }
  const workers = pool === null ? null : await pool.stats();
  const mu = process.memoryUsage();
  const st = procStatus();
  const snap: MemSnapshot = {
    label,
    gc: didGc,
    rss: mu.rss,
    heapTotal: mu.heapTotal,
    heapUsed: mu.heapUsed,
    external: mu.external,
    arrayBuffers: mu.arrayBuffers,
    ...st,
    fds: fdCount(),
  };
  if (workers !== null) {
    snap.workerHeapUsed = workers.map((w) => w.heapUsed);
    snap.workerConnections = workers.map((w) => w.connections);
  }
  if (didGc && workerGc !== null) snap.workerHeapTotal = await workerGc.heapTotals();
  return snap;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as ServerOptions;
  const send = (m: ServerNotice) => process.send!(m);
  let running: Running;
  try {
    running = o.impl === 'ringsocket' ? startRingsocket(o) : o.impl === 'ws-main' ? await startWs() : (() => { throw new Error(`unknown impl ${String(o.impl)}`); })();
  } catch (err) {
    send({ t: 'fatal', message: (err as Error).message });
    process.exit(1);
  }
  if (running.pool !== null && o.gc) {
    workerGc = new WorkerGc();
    await workerGc.start();
    // The workers attach asynchronously; they exist already (started by the PeerPool constructor).
    const until = performance.now() + 5000;
    while (workerGc.count < running.pool.threads && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    if (workerGc.count < running.pool.threads) {
      send({ t: 'fatal', message: `inspector attached to ${workerGc.count} of ${running.pool.threads} workers` });
      process.exit(1);
    }
  }
  process.on('message', (m: ServerCommand) => {
    if (m.t === 'counts') send({ t: 'counts', counts: running.counts });
    else if (m.t === 'mem') {
      snapshot(m.label, m.gc, running.pool).then(
        (snap) => send({ t: 'mem', snap }),
        (err: unknown) => send({ t: 'fatal', message: `snapshot failed: ${(err as Error).message}` }),
      );
    } else if (m.t === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'listening', port: running.port, pid: process.pid, nofile: openFilesLimit() });
}

if (isMain(import.meta.url) && process.send !== undefined) await main();
