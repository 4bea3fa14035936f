/**
 * A real redis-server for the tests (`--save '' --appendonly no`, 127.0.0.1, a free port), stopped by
 * pid; `ringsocket serve --redis` nodes as child processes; a Redis client to look at subscriptions.
 * The process helpers are the cluster example's own (examples/cluster/procs.ts, built), so the tests
 * run what the example runs.
 */
import { Redis } from 'ioredis';
import { startHaproxy, startNode, startRedis, type Proc } from '../../dist/examples/cluster/procs.js';

export { startHaproxy, startNode, startRedis, type Proc };

const started: Proc[] = [];

/** Start a process with one of the helpers above and remember it for `stopAllProcs`. */
export async function track<T extends Proc>(p: Promise<T>): Promise<T> {
  const proc = await p;
  started.push(proc);
  return proc;
}

/** Stop (by pid) every process `track` saw that still runs: for afterEach/afterAll. */
export async function stopAllProcs(): Promise<void> {
  const list = started.splice(0);
  await Promise.all(list.map((p) => p.stop('SIGKILL', 3000).catch(() => {})));
}

/** How many connections subscribe to `channel` (sharded, or plain) as Redis sees it now. */
export async function subscriberCount(redisPort: number, channel: string, sharded = true): Promise<number> {
  const r = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    const reply = (await r.call(sharded ? 'PUBSUB' : 'PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  } finally {
    r.disconnect();
  }
}

/** The names of the clients connected to Redis now (CLIENT LIST). */
export async function clientNames(redisPort: number): Promise<string[]> {
  const r = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    const list = (await r.call('CLIENT', 'LIST')) as string;
    return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]!).filter((n) => n !== '');
  } finally {
    r.disconnect();
  }
}

/** Poll `cond` every 25 ms until true; throws naming `what` after `timeoutMs`. */
export async function eventually(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
