/**
 * PeerPool `workerNice`: the I/O threads run at that niceness (Linux: per thread), the main thread keeps
 * its own, a replacement worker gets it too, and the default leaves every thread as it was.
 */
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { crashWorker, PeerPool } from '../helpers/lib.js';

const linux = process.platform === 'linux';

async function statsWhenReady(pool: PeerPool, threads: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const st = await pool.stats();
      if (st.length === threads) return st;
    } catch {
      // a worker still booting or being replaced
    }
    if (Date.now() > deadline) throw new Error('workers did not come up');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Crash worker `index` and wait until the pool has replaced it; the stats of the new set of workers. */
async function replaceWorker(pool: PeerPool, index: number, threads: number, before: Awaited<ReturnType<typeof statsWhenReady>>) {
  const oldThread = before.find((w) => w.index === index)!.threadId;
  await crashWorker(pool, index);
  const deadline = Date.now() + 10_000;
  let replaced = before;
  while (replaced.find((w) => w.index === index)?.threadId === oldThread || replaced.length !== threads) {
    if (Date.now() > deadline) throw new Error(`worker ${index} was not replaced`);
    await new Promise((r) => setTimeout(r, 20));
    replaced = await statsWhenReady(pool, threads);
  }
  return replaced;
}

describe.runIf(linux)('PeerPool workerNice', () => {
  it('sets the niceness of every I/O thread and of a replacement, not of the main thread', async () => {
    const mainBefore = getPriority();
    const pool = new PeerPool({ threads: 2, workerNice: 7 });
    try {
      // Raising one's niceness needs no privilege; lowering it does: a main thread already above 7 stays.
      const want = Math.max(7, mainBefore);
      const st = await statsWhenReady(pool, 2);
      expect(st.map((w) => w.nice)).toEqual([want, want]);
      expect(getPriority()).toBe(mainBefore);
      // A worker that dies is replaced, with the same niceness.
      const replaced = await replaceWorker(pool, 0, 2, st);
      expect(replaced.map((w) => w.nice)).toEqual([want, want]);
    } finally {
      await pool.close();
    }
  });

  it('leaves the threads as they were by default', async () => {
    const pool = new PeerPool({ threads: 1 });
    try {
      const [w] = await statsWhenReady(pool, 1);
      expect(w!.nice).toBe(getPriority());
    } finally {
      await pool.close();
    }
  });
});

describe('PeerPool workerResourceLimits', () => {
  it('every I/O worker, and a replacement, runs with the limits given; the default is Node\'s', async () => {
    const pool = new PeerPool({ threads: 2, workerResourceLimits: { maxYoungGenerationSizeMb: 12, maxOldGenerationSizeMb: 256 } });
    const plain = new PeerPool({ threads: 1 });
    try {
      const st = await statsWhenReady(pool, 2);
      for (const w of st) {
        expect(w.resourceLimits.maxYoungGenerationSizeMb).toBe(12);
        expect(w.resourceLimits.maxOldGenerationSizeMb).toBe(256);
      }
      const [d] = await statsWhenReady(plain, 1);
      // Node's own default (V8 sizes the young generation itself: larger than the 12 asked for above).
      expect(d!.resourceLimits.maxYoungGenerationSizeMb).not.toBe(12);
      expect(d!.resourceLimits.maxOldGenerationSizeMb).not.toBe(256);
      const replaced = await replaceWorker(pool, 1, 2, st);
      expect(replaced.find((w) => w.index === 1)!.resourceLimits.maxYoungGenerationSizeMb).toBe(12);
    } finally {
      await Promise.all([pool.close(), plain.close()]);
    }
  });
});
