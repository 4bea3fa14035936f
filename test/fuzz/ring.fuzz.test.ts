/**
 * Property-based fuzzing of the inbound data path without sockets, against a plain array model: a
 * producer that writes messages into a RingProducer as the I/O worker does (fragments of at most
 * maxRecordPayload with FLAG_FIRST / FLAG_LAST, resumed where the ring was full, fragments of several
 * connections interleaved), and the main thread's side as PoolEngine.pump() drives it (RingConsumer bursts,
 * copy-out into slabs with copyToSlab, PeerEndpoint queues, getPacket's take()). fast-check picks the ring
 * size (small: 4 KiB, so it wraps and fragments), the start position (also just below 2^32, where the
 * free-running positions wrap), the message sizes (0 up to 3 quarters of the ring, biased to the
 * alignment and fragment edges) and the interleaving of write / publish / drain / release / take.
 * Checked: every message arrives once, in order per connection, with its text flag and exact bytes, and
 * a packet already taken never changes afterwards (its slab is not rewritten).
 *
 * The last property runs the producer in a real worker thread (test/fixtures/ring-fuzz-worker.mjs) with a
 * seeded stream that fast-check chooses.
 *
 * Run counts: test/helpers/fuzz.ts (FUZZ_RUNS, FUZZ_SEED).
 */
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { allocRing, RingConsumer, RingProducer, SLAB_MAX_PACKET } from '../../dist/src/protocol/ring.js';
import { RING_HEADER_BYTES, RING_READ, RING_WRITE } from '../../dist/src/protocol/layout.js';
import { EV_MSG_BINARY, EV_MSG_TEXT, FLAG_FIRST, FLAG_LAST, KIND_MASK } from '../../dist/src/protocol/records.js';
import { ARRIVED_OPEN, PeerEndpoint } from '../../dist/src/peer-endpoint.js';
import { byteAt, mulberry32 } from '../helpers/prng.js';
import { fuzzParams, fuzzTimeout } from '../helpers/fuzz.js';

const SLOTS = 3;

/** Endpoints bound to slots 0..SLOTS-1 of a stand-in worker link (its slot table is real shared memory). */
function endpoints(): PeerEndpoint[] {
  const slots = new Int32Array(new SharedArrayBuffer(SLOTS * 32 * 4));
  const link = { index: 0, slots, dead: false, command: () => undefined, message: () => undefined, publishTo: () => undefined, wake: () => undefined, streams: new Map(), tlsContexts: new Set<number>() };
  return Array.from({ length: SLOTS }, (_, i) => {
    const ep = new PeerEndpoint();
    ep.bind(link, i);
    ep.arrived = ARRIVED_OPEN;
    return ep;
  });
}

interface Msg {
  seq: number;
  slot: number;
  len: number;
  text: boolean;
}

/** A message waiting in the producer, written from `offset` on (as the worker's PendingItem). */
interface Pending extends Msg {
  data: Uint8Array;
  offset: number;
}

const message = (m: Msg): Uint8Array => {
  const b = new Uint8Array(m.len);
  for (let i = 0; i < m.len; i++) b[i] = byteAt(m.seq, i);
  return b;
};

/** First index where `p` differs from message `m`, -1 when equal, -2 when the length differs. */
function diff(p: Uint8Array, m: Msg): number {
  if (p.byteLength !== m.len) return -2;
  for (let i = 0; i < m.len; i++) if (p[i] !== byteAt(m.seq, i)) return i;
  return -1;
}

/**
 * Write what the ring takes of one slot's queue, in order, fragment by fragment (the worker's #flush).
 * Returns false when the ring refused the next fragment.
 */
function writeSlot(p: RingProducer, q: Pending[]): boolean {
  while (q.length !== 0) {
    const item = q[0]!;
    const total = item.len;
    const kind = item.text ? EV_MSG_TEXT : EV_MSG_BINARY;
    do {
      const n = Math.min(p.maxRecordPayload, total - item.offset);
      const flags = (item.offset === 0 ? FLAG_FIRST : 0) | (item.offset + n === total ? FLAG_LAST : 0);
      const at = p.reserve(n, item.slot, kind | flags, item.offset === 0 ? total : 0);
      if (at < 0) return false;
      if (n !== 0) p.data.set(item.data.subarray(item.offset, item.offset + n), at);
      item.offset += n;
    } while (item.offset < total);
    q.shift();
  }
  return true;
}

type Op =
  | { t: 'send'; slot: number; size: number; text: boolean }
  | { t: 'write'; first: number }
  | { t: 'publish' }
  | { t: 'drain'; max: number }
  | { t: 'release' }
  | { t: 'take'; slot: number; n: number };

/**
 * Sizes as fractions of the ring, resolved per run: 0, tiny, the 16-byte alignment edges, maxRecordPayload
 * and its neighbours (one record or two fragments), SLAB_MAX_PACKET's neighbours (slab view or own buffer),
 * and anything up to 3 quarters of the ring (up to 3 fragments).
 */
const sizeArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 40 }),
  fc.integer({ min: 1, max: 8 }).chain((k) => fc.integer({ min: -1, max: 1 }).map((d) => -(k * 16 + d))), // negative: 16k + d bytes
  fc.integer({ min: -2, max: 2 }).map((d) => 1_000_000 + d), // maxRecordPayload + d
  fc.integer({ min: -1, max: 1 }).map((d) => 2_000_000 + d), // SLAB_MAX_PACKET + d
  fc.integer({ min: 0, max: 2 }).map((k) => 3_000_000 + k), // k * maxRecordPayload exactly (k = 2, 3) or 2x + 1
  fc.double({ min: 0, max: 0.75, noNaN: true }).map((f) => -1 - f), // fraction of the capacity (-1 … -1.75)
);

function resolveSize(code: number, capacity: number): number {
  const max = capacity >> 2;
  let n: number;
  if (code >= 3_000_000) n = code === 3_000_002 ? 2 * max + 1 : (code - 3_000_000 + 2) * max;
  else if (code >= 2_000_000) n = SLAB_MAX_PACKET + (code - 2_000_000);
  else if (code >= 1_000_000) n = max + (code - 1_000_000);
  else if (code <= -1 && code >= -1.75) n = Math.floor(-(code + 1) * capacity);
  else if (code < 0) n = -code;
  else n = code;
  return Math.max(0, Math.min(n, 3 * max + 7));
}

/** Small and medium messages: many of them, so one run fills several 64 KiB slabs. */
const smallSizeArb = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 65, max: 1100 }), fc.integer({ min: 1, max: 16 }).map((k) => -(k * 16)));

/** Op weights: [send, write, publish, drain, release, take]. */
type Profile = readonly [number, number, number, number, number, number];
const PROFILES: Record<string, { w: Profile; size: fc.Arbitrary<number> }> = {
  balanced: { w: [5, 3, 2, 3, 2, 3], size: sizeArb },
  // The consumer lags: the ring is often full, records wait published and unread while the producer pads.
  slowConsumer: { w: [8, 5, 3, 1, 1, 1], size: sizeArb },
  // The main thread lags in getPacket: packets pile up in the endpoint queues (growth, slab segments).
  slowTaker: { w: [6, 4, 3, 4, 3, 1], size: smallSizeArb },
  smallMessages: { w: [8, 3, 2, 2, 2, 3], size: smallSizeArb },
};

function opsArb(profile: keyof typeof PROFILES, minLength: number, maxLength: number): fc.Arbitrary<Op[]> {
  const { w, size } = PROFILES[profile]!;
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: w[0], arbitrary: fc.record({ t: fc.constant('send' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), size, text: fc.boolean() }) },
    { weight: w[1], arbitrary: fc.record({ t: fc.constant('write' as const), first: fc.integer({ min: 0, max: SLOTS - 1 }) }) },
    { weight: w[2], arbitrary: fc.constant({ t: 'publish' as const }) },
    { weight: w[3], arbitrary: fc.record({ t: fc.constant('drain' as const), max: fc.integer({ min: 1, max: 40 }) }) },
    { weight: w[4], arbitrary: fc.constant({ t: 'release' as const }) },
    { weight: w[5], arbitrary: fc.record({ t: fc.constant('take' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), n: fc.integer({ min: 1, max: 30 }) }) },
  );
  return fc.array(op, { minLength, maxLength, size: 'max' });
}

const profileArb = fc.constantFrom(...(Object.keys(PROFILES) as (keyof typeof PROFILES)[]));

const capacityArb = fc.constantFrom(4096, 4096, 8192, 65536, 131072);
/** Start positions (multiples of 16): 0, anywhere, or just below 2^32 so positions wrap during the run. */
const startArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 2 ** 28 - 1 }).map((k) => k * 16),
  fc.integer({ min: 1, max: 1024 }).map((k) => 2 ** 32 - k * 16),
);

interface RunFacts {
  sent: number;
  fragmented: number;
  wrapped: boolean;
  /** Times the producer found the ring full before the final drain. */
  fulls: number;
  /** Distinct slabs the taken packets were views of. */
  slabs: number;
}

/** One run of the model, with what it went through (for the coverage checks). */
function runModel(capacity: number, start: number, ops: Op[]): RunFacts {
  const sab = allocRing(capacity);
  const ctl = new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
  Atomics.store(ctl, RING_WRITE, start | 0);
  Atomics.store(ctl, RING_READ, start | 0);
  const p = new RingProducer(sab);
  const c = new RingConsumer(sab);
  const eps = endpoints();
  const queues: Pending[][] = Array.from({ length: SLOTS }, () => []);
  // The model: per slot, messages in the order they were sent; and a cursor of what was taken.
  const sent: Msg[][] = Array.from({ length: SLOTS }, () => []);
  const takenUpTo = new Array<number>(SLOTS).fill(0);
  const taken: { pkt: Uint8Array; m: Msg }[] = [];
  let seq = 0;
  let fragmented = 0;
  let fulls = 0;
  let inBurst = false;

  const write = (first: number): boolean => {
    let all = true;
    for (let k = 0; k < SLOTS; k++) if (!writeSlot(p, queues[(first + k) % SLOTS]!)) all = false;
    return all;
  };
  const drain = (max: number): void => {
    // pump(): begin a burst, hand each record to its endpoint. Records read stay unreleased until release().
    if (!inBurst) {
      c.begin();
      inBurst = true;
    }
    for (let k = 0; k < max && c.next(); k++) {
      const kind = c.kind & KIND_MASK;
      expect(kind === EV_MSG_TEXT || kind === EV_MSG_BINARY).toBe(true);
      expect(c.slot >= 0 && c.slot < SLOTS).toBe(true);
      eps[c.slot]!.onMessageRecord(c, kind === EV_MSG_TEXT);
    }
  };
  const release = (): void => {
    c.release();
    inBurst = false;
  };
  const take = (slot: number, n: number): void => {
    const ep = eps[slot]!;
    ep.reveal(); // poll()
    for (let k = 0; k < n && ep.available() > 0; k++) {
      const m = sent[slot]![takenUpTo[slot]!];
      if (m === undefined) throw new Error(`slot ${slot}: a packet arrived that was never sent (${takenUpTo[slot]} taken)`);
      expect(ep.nextIsText(), `slot ${slot} message ${m.seq}: text flag`).toBe(m.text);
      const pkt = ep.take();
      expect(pkt.buffer instanceof SharedArrayBuffer, 'a packet must not be a view of shared memory').toBe(false);
      const d = diff(pkt, m);
      if (d !== -1) throw new Error(`slot ${slot} message ${m.seq} (len ${m.len}): ${d === -2 ? `length ${pkt.byteLength}` : `byte ${d} differs`}`);
      taken.push({ pkt, m });
      takenUpTo[slot]!++;
    }
  };

  for (const op of ops) {
    switch (op.t) {
      case 'send': {
        const len = resolveSize(op.size, capacity);
        const m: Msg = { seq: seq++, slot: op.slot, len, text: op.text };
        if (len > p.maxRecordPayload) fragmented++;
        sent[op.slot]!.push(m);
        queues[op.slot]!.push({ ...m, data: message(m), offset: 0 });
        break;
      }
      case 'write':
        if (!write(op.first)) fulls++;
        break;
      case 'publish':
        p.publish();
        break;
      case 'drain':
        drain(op.max);
        break;
      case 'release':
        release();
        break;
      case 'take':
        take(op.slot, op.n);
        break;
    }
  }
  // Finish: keep the worker and the main thread turning until everything sent was taken.
  for (let round = 0; ; round++) {
    if (round > 10_000) throw new Error('no progress: the ring stays full');
    write(round % SLOTS);
    p.publish();
    drain(1 << 30);
    release();
    for (let s = 0; s < SLOTS; s++) take(s, 1 << 30);
    if (queues.every((q) => q.length === 0) && takenUpTo.every((n, s) => n === sent[s]!.length)) break;
  }
  // Nothing lost, nothing extra: every endpoint is empty, the ring is empty and all of it is free again.
  for (let s = 0; s < SLOTS; s++) {
    expect(takenUpTo[s]).toBe(sent[s]!.length);
    eps[s]!.reveal();
    expect(eps[s]!.available()).toBe(0);
  }
  expect(c.begin()).toBe(false);
  expect(p.free()).toBe(capacity);
  // Packets taken earlier were not touched by later traffic (slabs are never rewritten).
  for (const { pkt, m } of taken) {
    const d = diff(pkt, m);
    if (d !== -1) throw new Error(`message ${m.seq} (len ${m.len}) changed after it was taken: ${d === -2 ? 'length' : `byte ${d}`}`);
  }
  // Bytes that went through the ring (positions are free-running uint32: the subtraction wraps too).
  const wrapped = ((Atomics.load(ctl, RING_WRITE) - start) >>> 0) >= capacity;
  const slabs = new Set(taken.filter((t) => t.m.len <= SLAB_MAX_PACKET).map((t) => t.pkt.buffer)).size;
  return { sent: seq, fragmented, wrapped, fulls, slabs };
}

describe('ring + endpoint queue against an array model (fast-check)', () => {
  it(
    'random sizes, fragments, interleavings of write/publish/drain/release/take, wrap-arounds: nothing lost, reordered or changed',
    () => {
      const facts: RunFacts[] = [];
      fc.assert(
        fc.property(
          capacityArb,
          startArb,
          profileArb.chain((profile) => opsArb(profile, 1, 150)),
          (capacity, start, ops) => {
            facts.push(runModel(capacity, start, ops));
          },
        ),
        fuzzParams(100),
      );
      // The generators reach what the property is about (counted over the runs that passed).
      const n = facts.length;
      expect(facts.filter((f) => f.fragmented > 0).length).toBeGreaterThan(n / 4);
      expect(facts.filter((f) => f.wrapped).length).toBeGreaterThan(n / 4);
      expect(facts.filter((f) => f.fulls > 0).length).toBeGreaterThan(n / 10);
    },
    fuzzTimeout(100, 40),
  );

  it(
    'long runs on a 4 KiB ring: hundreds of laps with fragments, several slabs per run',
    () => {
      const facts: RunFacts[] = [];
      fc.assert(
        fc.property(startArb, profileArb.chain((profile) => opsArb(profile, 300, 800)), (start, ops) => {
          facts.push(runModel(4096, start, ops));
        }),
        fuzzParams(40),
      );
      expect(facts.filter((f) => f.slabs >= 2).length).toBeGreaterThan(facts.length / 4);
      expect(facts.filter((f) => f.fulls > 0).length).toBeGreaterThan(facts.length / 4);
    },
    fuzzTimeout(40, 60),
  );
});

// ---- producer in a real worker thread ----

const WORKER = new URL('../fixtures/ring-fuzz-worker.mjs', import.meta.url);
let running: Worker | null = null;

afterEach(async () => {
  if (running !== null) await running.terminate();
  running = null;
});

interface StreamSpec {
  capacity: number;
  seed: number;
  count: number;
  /** Largest message, as a multiple of maxRecordPayload (0.1 … 3). */
  maxFactor: number;
  /** Most records per producer batch before it publishes. */
  batch: number;
}

/**
 * The stream the worker fixture produces for `spec` (the same rule is in ring-fuzz-worker.mjs): message
 * `seq` goes to slot floor(r*SLOTS), len floor(r * (maxFactor * maxRecordPayload + 1)), text if r < 0.4,
 * from mulberry32(seed) in that order; its bytes are byteAt(seq, i).
 */
function expectedStream(spec: StreamSpec): Msg[] {
  const rnd = mulberry32(spec.seed);
  const maxLen = Math.floor(spec.maxFactor * (spec.capacity >> 2));
  const out: Msg[] = [];
  for (let seq = 0; seq < spec.count; seq++) {
    const slot = Math.floor(rnd() * SLOTS);
    const len = Math.floor(rnd() * (maxLen + 1));
    const text = rnd() < 0.4;
    out.push({ seq, slot, len, text });
  }
  return out;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

describe('ring across threads (fast-check picks the seeded stream)', () => {
  it(
    'producer in a worker (fragments, interleaved slots), consumer + endpoint queues here: every message in order, bytes exact',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            capacity: fc.constantFrom(4096, 8192, 16384),
            seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
            count: fc.integer({ min: 200, max: 3000 }),
            maxFactor: fc.double({ min: 0.1, max: 3, noNaN: true }),
            batch: fc.integer({ min: 1, max: 24 }),
          }),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          async (spec, consumerSeed) => {
            const sab = allocRing(spec.capacity);
            const ctl = new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
            const c = new RingConsumer(sab);
            const eps = endpoints();
            const want = expectedStream(spec);
            const perSlot: Msg[][] = Array.from({ length: SLOTS }, () => []);
            for (const m of want) perSlot[m.slot]!.push(m);
            const got = new Array<number>(SLOTS).fill(0);
            const rnd = mulberry32(consumerSeed);
            const worker = new Worker(WORKER, { workerData: { sab, ...spec, slots: SLOTS, maxMs: 20_000 } });
            running = worker;
            let report: Record<string, unknown> | null = null;
            let failed: unknown = null;
            worker.once('message', (r: Record<string, unknown>) => (report = r));
            worker.once('error', (e) => (failed = e));
            const deadline = Date.now() + 25_000;
            let total = 0;
            let fragments = 0;
            while (total < spec.count) {
              if (failed !== null) throw failed;
              if (report !== null && (report as { error?: string }).error) throw new Error(String((report as { error: string }).error));
              if (Date.now() > deadline) throw new Error(`timed out: ${total} of ${spec.count} messages taken`);
              const seen = Atomics.load(ctl, RING_WRITE);
              const any = c.begin();
              if (any) {
                // A burst of random length (the rest stays for the next begin()).
                const burst = 1 + Math.floor(rnd() * 48);
                for (let k = 0; k < burst && c.next(); k++) {
                  if ((c.kind & FLAG_LAST) === 0 || (c.kind & FLAG_FIRST) === 0) fragments++;
                  eps[c.slot]!.onMessageRecord(c, (c.kind & KIND_MASK) === EV_MSG_TEXT);
                }
                c.release();
                Atomics.notify(ctl, RING_READ);
              }
              for (let s = 0; s < SLOTS; s++) {
                const ep = eps[s]!;
                ep.reveal();
                // Sometimes leave packets queued while more arrive (never when the ring had nothing new).
                let n = any && rnd() < 0.3 ? 0 : ep.available();
                while (n-- > 0) {
                  const m = perSlot[s]![got[s]!];
                  if (m === undefined) throw new Error(`slot ${s}: more packets than sent`);
                  if (ep.nextIsText() !== m.text) throw new Error(`message ${m.seq}: text flag`);
                  const d = diff(ep.take(), m);
                  if (d !== -1) throw new Error(`message ${m.seq} (slot ${s}, len ${m.len}): ${d === -2 ? 'length' : `byte ${d}`} differs`);
                  got[s]!++;
                  total++;
                }
              }
              if (!any) {
                Atomics.wait(ctl, RING_WRITE, seen, 1);
                await yieldToLoop();
              }
            }
            while (report === null && failed === null) await yieldToLoop();
            if (failed !== null) throw failed;
            expect(report).toMatchObject({ produced: spec.count, timedOut: false });
            expect(c.begin()).toBe(false);
            expect(got).toEqual(perSlot.map((q) => q.length));
            if (spec.maxFactor > 1.5 && spec.count > 500) expect(fragments).toBeGreaterThan(0);
            await worker.terminate();
            running = null;
          },
        ),
        fuzzParams(8),
      );
    },
    fuzzTimeout(8, 1500),
  );
});
