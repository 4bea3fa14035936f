/**
 * `ws` in one worker thread, every message forwarded to the main thread with postMessage and every
 * reply posted back (see ws-worker-thread.ts). The main thread runs the application: it consumes
 * what the worker forwards, echoes, or runs the tick loop.
 */
import { Worker } from 'node:worker_threads';
import type { ServerConfig, ServerCounters } from '../protocol.js';
import type { Backend } from './backend.js';
import type { ToMain, ToWorker, WorkerCounters } from './ws-worker-thread.js';

const WORKER_URL = new URL('./ws-worker-thread.js', import.meta.url);

export function createWsWorkerPostMessage(cfg: ServerConfig, counters: ServerCounters): Backend {
  const open = new Set<number>();
  const echo = cfg.mode === 'echo';
  let worker: Worker | null = null;
  const received = new Int32Array(new SharedArrayBuffer(4));
  const post = (m: ToWorker) => worker!.postMessage(m);
  return {
    listen() {
      return new Promise((resolve, reject) => {
        const shared: WorkerCounters = { received: received.buffer as SharedArrayBuffer };
        const w = new Worker(WORKER_URL, { workerData: shared });
        worker = w;
        w.on('error', reject);
        w.on('message', (m: ToMain) => {
          switch (m.t) {
            case 'msg':
              counters.consumed++;
              counters.consumedBytes += m.data.byteLength;
              if (echo) {
                post({ t: 'send', id: m.id, data: m.data });
                counters.echoed++;
              }
              break;
            case 'open':
              open.add(m.id);
              counters.opened++;
              break;
            case 'close':
              open.delete(m.id);
              counters.closed++;
              break;
            case 'listening':
              resolve(m.port);
              break;
          }
        });
      });
    },
    openCount: () => open.size,
    ingest() {},
    broadcast(data) {
      for (const id of open) {
        post({ t: 'send', id, data });
        counters.snapshotsSent++;
      }
    },
    sample() {
      counters.received = Atomics.load(received, 0);
    },
    async extra() {
      counters.received = Atomics.load(received, 0);
      return { workerReceived: counters.received, backlog: counters.received - counters.consumed };
    },
  };
}
