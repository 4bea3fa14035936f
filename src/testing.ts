/**
 * Test hooks: fault injection into a pool's I/O workers. Not exported by the package root (`ringsocket`);
 * the tests import `dist/src/testing.js`. Not for production code.
 */
import { poolEngine, type PeerPool } from './peer-pool.js';
import { peerAccess } from './peer-access.js';

/** Make worker `index` of `pool` crash with an uncaught exception. Resolves with its exit code. */
export function crashWorker(pool: PeerPool, index: number): Promise<number> {
  return poolEngine(pool).crashWorker(index);
}

/** Block worker `index`'s thread for `ms` (resolves when the stall begins). */
export function stallWorker(pool: PeerPool, index: number, ms: number): Promise<void> {
  return poolEngine(pool).stallWorker(index, ms);
}

/**
 * Where Node has `reusePort`: `on = false` makes new servers of `pool` listen in one worker, as on Node 20
 * (to test that mode on any Node). Returns whether new servers get a socket in every worker now.
 */
export function setReusePort(pool: PeerPool, on: boolean): boolean {
  const engine = poolEngine(pool);
  engine.servers.reusePort = on;
  return engine.servers.reusePort;
}

/** Whether new servers of `pool` get a listening socket in every worker (reusePort). */
export function usesReusePort(pool: PeerPool): boolean {
  return poolEngine(pool).servers.reusePort;
}

/** The index of the worker that holds `peer`'s connection (a WebSocketPeer), or -1. */
export function workerOfPeer(peer: unknown): number {
  const found = peerAccess.endpoint(peer);
  return found === null || found.ep.link === null ? -1 : found.ep.link.index;
}
