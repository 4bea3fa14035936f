/**
 * The ring across real threads: one half in a worker (test/fixtures/ring-worker.mjs, running the built
 * dist/ ring), the other in the test thread. Small rings, so they wrap thousands of times; random batch
 * and burst sizes on both sides; every record checked in order. Bounded in count and in time.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { allocRing, RingConsumer, RingProducer } from '../../dist/src/protocol/ring.js';
import { RING_HEADER_BYTES, RING_READ, RING_WRITE } from '../../dist/src/protocol/layout.js';
import { byteAt, mulberry32 } from '../helpers/prng.js';

const WORKER = new URL('../fixtures/ring-worker.mjs', import.meta.url);
const COUNT = 100_000;
const MAX_MS = 45_000;


function fnv(h: number, x: number): number {
  return Math.imul(h ^ x, 16777619) >>> 0;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

interface Running {
  /** The worker's one report, or a rejection if it errors or exits without reporting. */
  report: Promise<Record<string, unknown>>;
}

let running: Worker | null = null;

afterEach(async () => {
  // A failed test must not leave a spinning worker behind.
  if (running !== null) await running.terminate();
  running = null;
});

function start(sab: SharedArrayBuffer, mode: 'produce' | 'consume', seed: number): Running {
  const worker = new Worker(WORKER, { workerData: { sab, mode, count: COUNT, seed, maxMs: MAX_MS } });
  running = worker;
  const report = new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`ring worker exited (${code}) without a report`)));
  });
  report.catch(() => {}); // observed later; avoid an unhandled rejection meanwhile
  return { report };
}

describe('ring across threads', () => {
  it('producer in a worker, consumer here: 100k records through a 4 KiB ring arrive complete and in order', async () => {
    const seed = 0xc0ffee;
    const sab = allocRing(4096);
    const ctl = new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
    const c = new RingConsumer(sab);
    const max = c.maxRecordPayload;
    const sizes = mulberry32(seed);
    const bursts = mulberry32(seed + 1);
    const { report } = start(sab, 'produce', seed);
    let failed: unknown = null;
    report.catch((e: unknown) => {
      failed = e;
    });

    const deadline = Date.now() + MAX_MS;
    let seq = 0;
    let lastOff = -1;
    let wraps = 0;
    while (seq < COUNT) {
      if (failed !== null) throw failed;
      if (Date.now() > deadline) throw new Error(`timed out: ${seq} of ${COUNT} records read`);
      if (!c.begin()) {
        await yieldToLoop();
        continue;
      }
      const take = 1 + Math.floor(bursts() * 32);
      for (let k = 0; k < take && c.next(); k++) {
        const len = Math.floor(sizes() * (max + 1));
        if (c.len !== len || c.slot !== (seq & 0xffff) || c.kind !== 1 + (seq % 200) || c.aux !== seq) {
          throw new Error(`record ${seq}: got len=${c.len} slot=${c.slot} kind=${c.kind} aux=${c.aux}, expected len=${len}`);
        }
        const data = c.data;
        const at = c.payloadOffset;
        for (let i = 0; i < len; i++) {
          const b = data[at + i]!; // read once: a racing overwrite must show in the message as it was seen
          if (b !== byteAt(seq, i)) throw new Error(`record ${seq} (len ${len}): byte ${i} is ${b}, expected ${byteAt(seq, i)}`);
        }
        if (at < lastOff) wraps++;
        lastOff = at;
        seq++;
      }
      c.release();
      Atomics.notify(ctl, RING_READ);
    }
    const r = await report;
    expect(r).toMatchObject({ produced: COUNT, timedOut: false });
    expect(seq).toBe(COUNT);
    // Nothing beyond the last record, and the ring is empty.
    expect(c.begin()).toBe(false);
    expect(c.used()).toBe(0);
    // ~530 bytes a record on average: thousands of laps, and the producer really did find the ring full.
    expect(wraps).toBeGreaterThan(2000);
    expect(r.fulls as number).toBeGreaterThan(0);
  });

  it('consumer in a worker, producer here: 100k records through an 8 KiB ring, same checksum on both sides', async () => {
    const seed = 0xbeef;
    const sab = allocRing(8192);
    const ctl = new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
    const p = new RingProducer(sab);
    const max = p.maxRecordPayload;
    const sizes = mulberry32(seed);
    const batches = mulberry32(seed + 1);
    const { report } = start(sab, 'consume', seed);
    let failed: unknown = null;
    let stopped = false; // the worker reported: it will read no more (an error, or its time ran out)
    report.then(
      () => {
        stopped = true;
      },
      (e: unknown) => {
        failed = e;
      },
    );

    const deadline = Date.now() + MAX_MS;
    let checksum = 0x811c9dc5;
    let seq = 0;
    let len = -1;
    let fulls = 0;
    while (seq < COUNT) {
      if (failed !== null) throw failed;
      if (stopped) break; // its report says why
      if (Date.now() > deadline) throw new Error(`timed out: ${seq} of ${COUNT} records written`);
      const batch = 1 + Math.floor(batches() * 16);
      let n = 0;
      while (n < batch && seq < COUNT) {
        if (len < 0) len = Math.floor(sizes() * (max + 1));
        const slot = seq & 0xffff;
        const kind = 1 + (seq % 200);
        const at = p.reserve(len, slot, kind, seq);
        if (at < 0) break;
        checksum = fnv(fnv(fnv(fnv(checksum, len), slot), kind), seq);
        const data = p.data;
        for (let i = 0; i < len; i++) {
          const b = byteAt(seq, i);
          data[at + i] = b;
          checksum = fnv(checksum, b);
        }
        seq++;
        n++;
        len = -1;
      }
      if (n > 0) {
        p.publish();
        Atomics.notify(ctl, RING_WRITE);
      }
      if (n < batch && seq < COUNT) {
        fulls++;
        await yieldToLoop();
      }
    }
    const r = await report;
    expect(r.error).toBeNull();
    expect(r).toMatchObject({ consumed: COUNT, timedOut: false });
    expect(r.checksum).toBe(checksum);
    expect(r.wraps as number).toBeGreaterThan(1000);
    expect(seq).toBe(COUNT);
    expect(fulls).toBeGreaterThan(0);
    expect(p.free()).toBe(8192);
    expect(Atomics.load(ctl, RING_READ)).toBe(Atomics.load(ctl, RING_WRITE));
  });
});
