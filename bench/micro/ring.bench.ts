/**
 * Micro benchmarks of the data path (tinybench, one instance of each structure reused):
 * - ring push + pop of 64 B, 1 KiB, 64 KiB records against a plain `Uint8Array.prototype.set` copy of
 *   the same bytes (the floor: push copies the payload into the ring once);
 *   push + pop = reserve + copy in + publish + begin/next + release, no copy out; the same copy into a
 *   SharedArrayBuffer is shown too;
 * - the main thread's copy out, `RingConsumer.copyPayload` over a burst of records (runs copied into a
 *   slab, a view per packet: what `getPacket()` hands to the user), against a `slice` per record out of
 *   the SharedArrayBuffer, at 64 B and 1 KiB;
 * - the main thread's whole path for 64 B packets (push; next, slab copy, queue; getPacket's take) against
 *   the floor of creating one fresh `Uint8Array` view per packet;
 * - why piscina is not the data path: a piscina `run()` round trip of a 64 B payload to a trivial worker
 *   task against one ring push + pop.
 *
 * Fast cases loop `inner` times per tinybench call (one timestamp pair costs more than one 64 B push);
 * the table reports time per operation.
 *
 * Usage: node dist/bench/micro/ring.bench.js [--time MS]
 */
import { fileURLToPath } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { Piscina } from 'piscina';
import { allocRing, RingConsumer, RingProducer, SLAB_BYTES } from '../../src/protocol/ring.js';
import { SLOT_FIELDS } from '../../src/protocol/layout.js';
import { EV_MSG_BINARY, FLAG_WHOLE } from '../../src/protocol/records.js';
import { ARRIVED_OPEN, PeerEndpoint } from '../../src/peer-endpoint.js';
import type { WorkerLink } from '../../src/pool/link.js';
import { argInt, isMain } from '../common.js';

export interface MicroCase {
  name: string;
  /** Mean ns per operation, median ns per operation, relative margin of error (%), tinybench samples. */
  nsPerOp: number;
  p50NsPerOp: number;
  rme: number;
  samples: number;
}

/** Each finished tinybench task as a case, per operation (`inner`: operations per task call, by name). */
export function microCases(tasks: readonly Task[], inner: ReadonlyMap<string, number>): MicroCase[] {
  return tasks.map((t) => {
    const r = t.result;
    const n = inner.get(t.name) ?? 1;
    if (r.state !== 'completed') throw new Error(`micro case "${t.name}" ${r.state}${r.state === 'errored' ? `: ${r.error.message}` : ''}`);
    return { name: t.name, nsPerOp: (r.latency.mean * 1e6) / n, p50NsPerOp: (r.latency.p50 * 1e6) / n, rme: r.latency.rme, samples: r.latency.samplesCount };
  });
}

/**
 * Print a micro benchmark's cases as one table (ns per operation, mean and median, margin, samples, and
 * `extra` columns) and its ratios. The three micro benchmarks (ring, frame reader, deflate) share it.
 */
export function printMicro(log: (s: string) => void, title: string, cases: MicroCase[], ratios: MicroRatio[], extra: (c: MicroCase) => Record<string, number> = () => ({})): void {
  log(title);
  console.table(
    cases.map((c) => ({
      case: c.name,
      'ns/op (mean)': Number(c.nsPerOp.toFixed(1)),
      'ns/op (p50)': Number(c.p50NsPerOp.toFixed(1)),
      ...extra(c),
      'rme %': Number(c.rme.toFixed(2)),
      samples: c.samples,
    })),
  );
  for (const r of ratios) log(`  ${r.what}${r.what.includes('median') ? '' : ' (medians)'}: ${r.ratio.toFixed(2)}x`);
}

export interface MicroRatio {
  /** Ratio of the two cases' median ns per operation. */
  what: string;
  ratio: number;
}

export interface MicroResult {
  cases: MicroCase[];
  ratios: MicroRatio[];
}

const SIZES: [string, number][] = [
  ['64 B', 64],
  ['1 KiB', 1024],
  ['64 KiB', 65536],
];

/** Operations per tinybench call, by payload size: enough to dwarf the timer, few enough to sample. */
function innerFor(size: number): number {
  return size <= 64 ? 512 : size <= 1024 ? 128 : 4;
}

function pattern(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

export async function runRingBench(opts: { timeMs?: number } = {}, log: (s: string) => void = console.log): Promise<MicroResult> {
  const time = opts.timeMs ?? 300;
  const bench = new Bench({ name: 'ring', time, warmupTime: Math.min(100, time), iterations: 16, warmupIterations: 4 });
  const inner = new Map<string, number>();
  const add = (name: string, n: number, fn: () => unknown) => {
    inner.set(name, n);
    bench.add(name, fn);
  };

  // One ring for everything: 1 MiB, so a 64 KiB record fits (records up to capacity / 4).
  const sab = allocRing(1 << 20);
  const producer = new RingProducer(sab);
  const consumer = new RingConsumer(sab);
  let sink = 0;

  for (const [label, size] of SIZES) {
    const src = pattern(size);
    const dst = new Uint8Array(size);
    const n = innerFor(size);
    add(`ring push+pop ${label}`, n, () => {
      for (let i = 0; i < n; i++) {
        if (!producer.push(3, 1, size, src)) throw new Error('ring full: the consumer side lost records');
        producer.publish();
        consumer.begin();
        consumer.next();
        sink += consumer.len;
        consumer.release();
      }
    });
    add(`Uint8Array.set ${label} (floor)`, n, () => {
      for (let i = 0; i < n; i++) {
        dst.set(src);
        sink += dst[i & (size - 1)]!;
      }
    });
    // The same copy into shared memory, as push does: V8 copies into a SharedArrayBuffer with relaxed
    // atomic stores, not memcpy, so part of the ring's cost over the floor is this, not the framing.
    const sharedDst = new Uint8Array(new SharedArrayBuffer(size));
    add(`Uint8Array.set ${label} into SAB`, n, () => {
      for (let i = 0; i < n; i++) {
        sharedDst.set(src);
        sink += sharedDst[i & (size - 1)]!;
      }
    });
  }

  // The main thread's copy out: a burst of n records read with next() + copyPayload() (what poll() does
  // for each message: the first record of a run copies the run into the slab, the others are views),
  // against a `slice` per record out of shared memory (what copyPayload did for 64 B before). The
  // producer side (push + publish) is in both cases: their difference is the copy's.
  for (const [label, size] of SIZES.slice(0, 2)) {
    const ring = allocRing(1 << 20);
    const c = new RingConsumer(ring);
    const p = new RingProducer(ring);
    const src = pattern(size);
    const n = innerFor(size);
    const fill = () => {
      for (let i = 0; i < n; i++) if (!p.push(0, 0x300 | 18, 0, src)) throw new Error('ring full');
      p.publish();
      c.begin();
    };
    add(`drain ${label} (push, next, copyPayload: getPacket's copy)`, n, () => {
      fill();
      while (c.next()) sink += c.copyPayload().byteLength;
      c.release();
    });
    add(`drain ${label} (push, next, slice out of SAB)`, n, () => {
      fill();
      while (c.next()) sink += c.data.slice(c.payloadOffset, c.payloadOffset + c.len).byteLength;
      c.release();
    });
  }

  // The main thread's whole path for 64 B packets, without sockets: the worker's part (push, publish) in
  // this thread, then what poll() and getPacket() do (next, copy into the slab, queue as numbers, make
  // the Uint8Array, return credit). Against it, the floor of any fresh array per packet: a view.
  {
    const ring = allocRing(1 << 20);
    const c = new RingConsumer(ring);
    const p = new RingProducer(ring);
    const ep = new PeerEndpoint();
    const slots = new Int32Array(new SharedArrayBuffer(64 * SLOT_FIELDS * 4));
    const link: WorkerLink = { index: 0, slots, dead: false, command: () => undefined, message: () => undefined, publishTo: () => undefined, wake: () => undefined, streams: new Map(), tlsContexts: new Set() };
    ep.bind(link, 1);
    ep.arrived = ARRIVED_OPEN;
    const src = pattern(64);
    const n = innerFor(64);
    add('main-thread path 64 B (push; poll: next, slab copy, queue; getPacket)', n, () => {
      for (let i = 0; i < n; i++) if (!p.push(1, EV_MSG_BINARY | FLAG_WHOLE, 64, src)) throw new Error('ring full');
      p.publish();
      c.begin();
      while (c.next()) ep.onMessageRecord(c, false);
      c.release();
      ep.reveal();
      while (ep.available() > 0) sink += ep.take().byteLength;
    });
    const ab = new ArrayBuffer(SLAB_BYTES);
    add('new Uint8Array view 64 B (the floor of a fresh array)', n, () => {
      for (let i = 0; i < n; i++) sink += new Uint8Array(ab, (i & 511) * 64, 64).byteLength;
    });
  }

  // piscina: new URL(...) resolves beside the compiled file, dist/bench/micro/piscina-echo-task.js.
  const piscina = new Piscina({
    filename: fileURLToPath(new URL('./piscina-echo-task.js', import.meta.url)),
    minThreads: 1,
    maxThreads: 1,
  });
  const payload64 = pattern(64);
  // Start the worker before timing.
  await piscina.run(payload64);
  const piscinaName = 'piscina run() round trip 64 B';
  inner.set(piscinaName, 1);
  bench.add(piscinaName, async () => {
    const r = (await piscina.run(payload64)) as Uint8Array;
    sink += r.byteLength;
  });

  try {
    await bench.run();
  } finally {
    await piscina.destroy();
  }
  if (sink === 0) log('(sink 0)');

  const cases = microCases(bench.tasks, inner);
  const byName = new Map(cases.map((c) => [c.name, c]));
  // Ratios of medians: on a shared 2-core machine a preempted sample inflates the mean, not the median.
  const ns = (name: string) => byName.get(name)!.p50NsPerOp;
  const ratios: MicroRatio[] = [];
  for (const [label] of SIZES) {
    ratios.push({ what: `ring push+pop ${label} / Uint8Array.set ${label}`, ratio: ns(`ring push+pop ${label}`) / ns(`Uint8Array.set ${label} (floor)`) });
  }
  for (const [label] of SIZES.slice(0, 2)) {
    ratios.push({
      what: `drain ${label}: slice / copyPayload`,
      ratio: ns(`drain ${label} (push, next, slice out of SAB)`) / ns(`drain ${label} (push, next, copyPayload: getPacket's copy)`),
    });
  }
  ratios.push({
    what: 'main-thread path 64 B / new Uint8Array view 64 B (the whole path against the floor of one fresh array)',
    ratio: ns('main-thread path 64 B (push; poll: next, slab copy, queue; getPacket)') / ns('new Uint8Array view 64 B (the floor of a fresh array)'),
  });
  ratios.push({ what: 'piscina run() 64 B / ring push+pop 64 B', ratio: ns(piscinaName) / ns('ring push+pop 64 B') });

  printMicro(log, `micro (tinybench, ~${time} ms per case; ns per operation):`, cases, ratios);
  return { cases, ratios };
}

if (isMain(import.meta.url)) {
  await runRingBench({ timeMs: argInt(process.argv.slice(2), 'time', 300) });
}
