/**
 * A load-generating worker thread of `ringsocket load --threads N`: runs its share (cli/load-run.ts)
 * and posts what it measured. The main thread sets the shared flag on SIGINT.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadConfig } from './load-config.js';
import type { Share } from './load-part.js';
import { runPart } from './load-run.js';

const { cfg, share, flag } = workerData as { cfg: LoadConfig; share: Share; flag: SharedArrayBuffer };
const stop = new Int32Array(flag);
const result = await runPart(cfg, share, () => Atomics.load(stop, 0) !== 0, true);
parentPort!.postMessage(result);
