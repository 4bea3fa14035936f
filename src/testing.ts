/**
 * Test hooks: fault injection into a pool's I/O workers. Not exported by the package root (`ringsocket`);
 * the tests import `dist/src/testing.js`. Not for production code.
 */
import { poolEngine, type PeerPool } from './peer-pool.js';

/** Make worker `index` of `pool` crash with an uncaught exception. Resolves with its exit code. */
export function crashWorker(pool: PeerPool, index: number): Promise<number> {
  return poolEngine(pool).crashWorker(index);
}

/** Block worker `index`'s thread for `ms` (resolves when the stall begins). */
export function stallWorker(pool: PeerPool, index: number, ms: number): Promise<void> {
  return poolEngine(pool).stallWorker(index, ms);
}
