/**
 * I/O worker entry. Owns sockets; talks to the main thread through the rings in `workerData`
 * (data path) and through comlink on a dedicated MessagePort (control plane: stats, shutdown).
 *
 * Liveness: `Atomics.waitAsync` does not keep a worker's event loop alive, the comlink port does (it
 * has a 'message' listener). Whether the *process* stays alive is decided on the main thread, which
 * refs this worker while it holds connections and unrefs it when we post `idle`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { WorkerControl, WorkerInit, WorkerNotice } from '../src/protocol/control.js';
import { WorkerRuntime } from './runtime.js';
import { applyNice } from './nice.js';

const init = workerData as WorkerInit;
applyNice(init.nice);
const post = (n: WorkerNotice): void => parentPort!.postMessage(n);

const runtime = new WorkerRuntime(init, (opens) => post({ t: 'idle', opens }));

const control: WorkerControl = {
  stats: () => runtime.snapshot(),
  shutdown: (ms: number) => runtime.shutdown(ms),
  stall: (ms: number) => {
    // After the reply: the caller sees the call answered, then the worker stops for `ms`.
    setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms));
  },
  crash: () => {
    setImmediate(() => {
      throw new Error('ringsocket: crash requested by the test hook');
    });
  },
};

expose(control, nodeEndpoint(init.port));
runtime.start();
post({ t: 'ready' });
