/**
 * The server side of the soak benchmark (bench/soak/soak.ts), a child process started with --expose-gc:
 * examples/echo-server's Godot loop (TCPServer + WebSocketPeer, echoing, 1 ms tick) on its own PeerPool.
 *
 * IPC: → { t: 'listening', port, pid, threads }
 *      ← { t: 'sample', id, gc } → { t: 'sample', id, sample } (fds, RSS, heap, live peers; with gc: full GCs
 *        in the I/O workers (inspector, as bench/e2e/connections does) and on the main thread first)
 *      → { t: 'kill', ... } for every worker killed by --kill-every (killAt, exitAt, upAt epoch ms)
 *      ← { t: 'exit' }
 * argv[2]: JSON { threads, killEveryMs } (killEveryMs 0 = never).
 */
import { PeerPool } from '../../src/index.js';
import { crashWorker } from '../../src/testing.js';
import { startEchoServer } from '../../examples/echo-server.js';
import { fdCount, isMain, vmRssBytes } from '../common.js';
import { WorkerGc } from '../e2e/connections-server.js';

export interface SoakServerOptions {
  threads: number;
  killEveryMs: number;
}

export interface SoakSample {
  /** Epoch ms when taken. */
  at: number;
  gc: boolean;
  fds: number;
  rss: number;
  heapUsed: number;
  /** Main thread: V8 heap committed, and memory of ArrayBuffers / external (process.memoryUsage()). */
  heapTotal: number;
  arrayBuffers: number;
  external: number;
  /** After a GC: the I/O workers' V8 heaps committed (inspector), NaN otherwise. */
  workerHeapTotal: number[];
  /** Peers in the echo loop (CONNECTING, OPEN, CLOSING). */
  peers: number;
  /** Connections the workers hold (pool.stats()), and their heaps. */
  workerConnections: number[];
  workerHeapUsed: number[];
  threadIds: number[];
}

export interface KillEvent {
  index: number;
  /** Epoch ms: the crash was asked for, the worker exited, a replacement answered stats() (0 = never within 10 s). */
  killAt: number;
  exitAt: number;
  upAt: number;
  oldThreadId: number;
  newThreadId: number;
}

export type SoakServerNotice =
  | { t: 'listening'; port: number; pid: number; threads: number }
  | { t: 'sample'; id: number; sample: SoakSample }
  | { t: 'kill'; kill: KillEvent }
  | { t: 'fatal'; message: string };
export type SoakServerCommand = { t: 'sample'; id: number; gc: boolean } | { t: 'exit' };

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as SoakServerOptions;
  const send = (m: SoakServerNotice): void => void process.send!(m);
  const pool = new PeerPool({ threads: o.threads });
  const echo = startEchoServer({ port: 0, host: '127.0.0.1', pool, tickMs: 1 });
  const workerGc = new WorkerGc();
  await workerGc.start();
  const until = Date.now() + 5000;
  while (workerGc.count < pool.threads && Date.now() < until) await new Promise((r) => setTimeout(r, 10));

  const sample = async (gc: boolean): Promise<SoakSample> => {
    const g = (globalThis as { gc?: () => void }).gc;
    const didGc = gc && typeof g === 'function';
    if (didGc) {
      await workerGc.collect();
      g!();
      // Let the sweeper finish and V8 give back what it freed before RSS is read.
      await new Promise((r) => setTimeout(r, 300));
    }
    const stats = await pool.stats();
    const mu = process.memoryUsage();
    const workerHeapTotal = didGc ? await workerGc.heapTotals() : [];
    return {
      at: Date.now(),
      gc: didGc,
      fds: fdCount(),
      rss: vmRssBytes(),
      heapUsed: mu.heapUsed,
      heapTotal: mu.heapTotal,
      arrayBuffers: mu.arrayBuffers,
      external: mu.external,
      workerHeapTotal,
      peers: echo.peers,
      workerConnections: stats.map((w) => w.connections),
      workerHeapUsed: stats.map((w) => w.heapUsed),
      threadIds: stats.map((w) => w.threadId),
    };
  };

  let killTimer: NodeJS.Timeout | null = null;
  if (o.killEveryMs > 0) {
    let next = 0;
    let busy = false;
    killTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      const index = next;
      next = (next + 1) % pool.threads;
      void (async () => {
        const before = await pool.stats();
        const oldThreadId = before[index]?.threadId ?? -1;
        const killAt = Date.now();
        await crashWorker(pool, index);
        const exitAt = Date.now();
        // Up again: every worker answers stats() and one of them is a new thread.
        let upAt = 0;
        let newThreadId = -1;
        while (Date.now() - exitAt < 10_000) {
          const s = await pool.stats().catch(() => []);
          const fresh = s.find((w) => !before.some((b) => b.threadId === w.threadId));
          if (s.length === pool.threads && fresh !== undefined) {
            upAt = Date.now();
            newThreadId = fresh.threadId;
            break;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        send({ t: 'kill', kill: { index, killAt, exitAt, upAt, oldThreadId, newThreadId } });
      })()
        .catch((err: unknown) => send({ t: 'fatal', message: `kill failed: ${(err as Error).message}` }))
        .finally(() => (busy = false));
    }, o.killEveryMs);
  }

  process.on('message', (m: SoakServerCommand) => {
    if (m.t === 'sample') {
      // A stats() call that crosses a worker's death (--kill-every) fails: ask again (the pool has dropped it).
      const attempt = (left: number): Promise<SoakSample> => sample(m.gc).catch((err: unknown) => (left > 0 ? new Promise((r) => setTimeout(r, 50)).then(() => attempt(left - 1)) : Promise.reject(err)));
      attempt(3).then(
        (s) => send({ t: 'sample', id: m.id, sample: s }),
        (err: unknown) => send({ t: 'fatal', message: `sample failed: ${(err as Error).message}` }),
      );
    } else if (m.t === 'exit') {
      if (killTimer !== null) clearInterval(killTimer);
      void echo.stop().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'listening', port: echo.port, pid: process.pid, threads: pool.threads });
}

if (isMain(import.meta.url) && process.send !== undefined) await main();
