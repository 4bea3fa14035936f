/**
 * Server process of the side-by-side suite: one implementation (ringsocket, ws-main, uws-main,
 * ws-worker-postmessage) in one mode (echo, sink, tick, idle). Forked by run.js with a JSON
 * ServerConfig as argv[2]; answers marks with its own clocks and counters (see protocol.ts).
 *
 * Main-thread CPU is read from /proc/thread-self/schedstat on this process's main thread (where the
 * application code runs in every implementation); process CPU from process.cpuUsage (all threads).
 */
import { isMain, openFilesLimit, processCpuNs, threadCpuNs } from '../common.js';
import { busyWork, ThreadSchedstat } from './common.js';
import type { ServerCommand, ServerConfig, ServerCounters, ServerMark, ServerNotice } from './protocol.js';
import { TickLoop } from './tick.js';
import type { Backend, BackendFactory } from './servers/backend.js';
import { createRingsocket } from './servers/ringsocket.js';
import { createWsMain } from './servers/ws-main.js';
import { createUwsMain } from './servers/uws-main.js';
import { createWsWorkerPostMessage } from './servers/ws-worker-postmessage.js';

const FACTORIES: Record<ServerConfig['impl'], BackendFactory> = {
  ringsocket: createRingsocket,
  'ws-main': createWsMain,
  'uws-main': createUwsMain,
  'ws-worker-postmessage': createWsWorkerPostMessage,
};

/** Snapshot payload byte: lets a reader of a capture tell snapshots from echoes. */
const SNAPSHOT_FILL = 0x53;

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
  const send = (m: ServerNotice) => process.send!(m);
  const counters: ServerCounters = {
    consumed: 0,
    consumedBytes: 0,
    echoed: 0,
    sendFailed: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    opened: 0,
    closed: 0,
    received: 0,
    snapshotsIntended: 0,
    snapshotsSkipped: 0,
    workCpuNs: 0,
  };
  let backend: Backend;
  let port: number;
  try {
    backend = FACTORIES[cfg.impl](cfg, counters);
    port = await backend.listen();
  } catch (err) {
    send({ t: 'error', message: (err as Error).message });
    process.exit(2);
  }

  let tick: TickLoop | null = null;
  // Game mode: snapshots start once the clients asked for are connected (await-clients), so that the
  // connect phase is not a race against a fan-out to the clients already there; the tick (and so the
  // polling that completes handshakes) runs from the start.
  let sending = false;
  if (cfg.mode === 'tick') {
    const snapshot = new Uint8Array(cfg.tick.snapshotBytes).fill(SNAPSHOT_FILL);
    tick = new TickLoop(cfg.tick.hz, () => {
      const t = performance.now();
      backend.ingest();
      const ingest = performance.now() - t;
      busyWork(cfg.tick.busyMs);
      backend.broadcast(snapshot);
      return ingest;
    });
    tick.start();
  } else if (cfg.mode === 'game') {
    const schedstat = new ThreadSchedstat();
    const work = (): void => busyWork(cfg.tick.busyMs);
    // S6: the same loop; the work's own CPU is measured (wall minus run-queue wait, see ThreadSchedstat)
    // so that the main thread's CPU outside the work is known; each snapshot is a fresh buffer (ws keeps a reference
    // to what it has not written yet) stamped with CLOCK_MONOTONIC (process.hrtime.bigint()) just
    // before it is sent.
    tick = new TickLoop(cfg.tick.hz, () => {
      const t = performance.now();
      backend.ingest();
      const ingest = performance.now() - t;
      counters.workCpuNs += schedstat.cpuOfBusyStretch(work);
      if (!sending) return ingest;
      const snapshot = new Uint8Array(cfg.tick.snapshotBytes).fill(SNAPSHOT_FILL);
      counters.snapshotsIntended += backend.openCount();
      new DataView(snapshot.buffer).setBigInt64(0, process.hrtime.bigint(), true);
      backend.broadcast(snapshot);
      return ingest;
    });
    tick.start();
  }

  const gc = (globalThis as { gc?: () => void }).gc;
  const mark = (): ServerMark => {
    backend.sample?.();
    // Held connections (S5, S7): collect garbage first so RSS reflects what the connections hold.
    if (cfg.gcOnMark && gc !== undefined) gc();
    const m: ServerMark = {
      t: 'mark',
      now: performance.now(),
      mainCpuNs: threadCpuNs(),
      procCpuNs: processCpuNs(),
      rss: process.memoryUsage.rss(),
      open: backend.openCount(),
      counters: { ...counters },
    };
    if (tick !== null) m.ticks = tick.take();
    return m;
  };

  const watchdog = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > cfg.rssLimitBytes) {
      send({ t: 'overload', rss });
      setTimeout(() => process.exit(3), 50);
    }
  }, 250);
  watchdog.unref();

  process.on('message', (m: ServerCommand) => {
    if (m.t === 'await-clients') {
      const check = (): void => {
        if (backend.openCount() >= m.n) {
          sending = true;
          send({ t: 'clients', n: backend.openCount() });
        }
        else setTimeout(check, 5);
      };
      check();
    } else if (m.t === 'mark') {
      send(mark());
    } else if (m.t === 'final') {
      void backend.extra().then(
        (extra) => send({ ...mark(), extra }),
        (err: Error) => send({ ...mark(), extra: { error: err.message } }),
      );
    } else if (m.t === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'listening', port, fdLimit: openFilesLimit(), note: '' });
}

if (isMain(import.meta.url) && process.send !== undefined) void main();
