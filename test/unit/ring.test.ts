/**
 * RingProducer / RingConsumer (built code in dist/): the SPSC byte ring shared by the main thread and the
 * I/O workers. Single-threaded here; the cross-thread runs are in ring-worker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { allocRing, RingConsumer, RingProducer } from '../../dist/src/protocol/ring.js';
import { REC_HEADER_BYTES, RING_HEADER_BYTES, RING_READ, RING_WRITE, alignRecord } from '../../dist/src/protocol/layout.js';
import { EV_MSG_BINARY, FLAG_WHOLE, REC_PAD } from '../../dist/src/protocol/records.js';
import { byteAt, mulberry32 } from '../helpers/prng.js';

const KIND = EV_MSG_BINARY | FLAG_WHOLE;
const CANARY = 0xa5;


function fillPayload(dst: Uint8Array, at: number, seq: number, len: number): void {
  for (let i = 0; i < len; i++) dst[at + i] = byteAt(seq, i);
}

/** Index of the first wrong byte of record `seq`'s payload, or -1. */
function checkPayload(src: Uint8Array, at: number, seq: number, len: number): number {
  for (let i = 0; i < len; i++) if (src[at + i] !== byteAt(seq, i)) return i;
  return -1;
}

function ctlOf(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, RING_HEADER_BYTES >> 2);
}

/** A ring whose write and read positions both start at `start` (an empty ring at offset start % capacity). */
function ring(capacity = 4096, start = 0) {
  const sab = allocRing(capacity);
  const ctl0 = ctlOf(sab);
  Atomics.store(ctl0, RING_WRITE, start | 0);
  Atomics.store(ctl0, RING_READ, start | 0);
  return { sab, p: new RingProducer(sab), c: new RingConsumer(sab), ctl: ctlOf(sab) };
}

/** Read every published record as plain objects (begin, next*, release). */
function drain(c: RingConsumer): { slot: number; kind: number; aux: number; bytes: number[] }[] {
  const out: { slot: number; kind: number; aux: number; bytes: number[] }[] = [];
  c.begin();
  while (c.next()) out.push({ slot: c.slot, kind: c.kind, aux: c.aux, bytes: [...c.copyPayload()] });
  c.release();
  return out;
}

describe('allocRing', () => {
  it.each([0, 1, 2048, 4095, 4096 + 16, 5000, 12288, 4096.5, NaN, -4096, 2 ** 31, 2 ** 32])('rejects capacity %s with a RangeError', (cap) => {
    expect(() => allocRing(cap)).toThrow(RangeError);
    expect(() => allocRing(cap)).toThrow(/power of two/);
  });

  it('accepts the bounds 4096 and 2^30 and sizes the buffer as header + capacity', () => {
    expect(allocRing(4096).byteLength).toBe(RING_HEADER_BYTES + 4096);
    expect(allocRing(8192).byteLength).toBe(RING_HEADER_BYTES + 8192);
    // 2^30 is the largest allowed; 2^31 is refused above. (1 GiB of SAB is reserved lazily, not touched.)
    expect(allocRing(2 ** 30).byteLength).toBe(RING_HEADER_BYTES + 2 ** 30);
    expect(allocRing(4096)).toBeInstanceOf(SharedArrayBuffer);
  });

  it('reserve refuses a record larger than maxRecordPayload with a RangeError (it could never fit)', () => {
    const sab = allocRing(4096);
    const p = new RingProducer(sab);
    expect(() => p.reserve(p.maxRecordPayload + 1, 0, 1, 0)).toThrow(RangeError);
    expect(p.reserve(p.maxRecordPayload, 0, 1, 0)).toBeGreaterThanOrEqual(0);
  });

  it('maxRecordPayload is a quarter of the capacity, on both halves', () => {
    for (const cap of [4096, 8192, 1 << 16, 1 << 22]) {
      const { p, c } = ring(cap);
      expect(p.capacity).toBe(cap);
      expect(p.maxRecordPayload).toBe(cap / 4);
      expect(c.maxRecordPayload).toBe(cap / 4);
    }
  });
});

describe('RingProducer / RingConsumer', () => {
  it('round-trips one record: slot, kind, aux, len and payload', () => {
    const { p, c } = ring();
    const payload = new Uint8Array([1, 2, 3, 250, 251, 252, 253]);
    expect(p.push(0x7fff, KIND, -123456, payload)).toBe(true);
    p.publish();
    expect(c.begin()).toBe(true);
    expect(c.next()).toBe(true);
    expect(c.slot).toBe(0x7fff);
    expect(c.kind).toBe(KIND);
    expect(c.aux).toBe(-123456);
    expect(c.len).toBe(7);
    expect(c.payloadOffset).toBe(REC_HEADER_BYTES);
    expect([...c.copyPayload()]).toEqual([...payload]);
    expect(c.next()).toBe(false);
    c.release();
    expect(c.begin()).toBe(false);
    expect(p.free()).toBe(4096);
  });

  it('reserve() returns the payload offset; bytes written there arrive', () => {
    const { p, c } = ring();
    const at = p.reserve(40, 3, KIND, 40);
    expect(at).toBe(REC_HEADER_BYTES);
    fillPayload(p.data, at, 9, 40);
    const at2 = p.reserve(5, 4, KIND, 5);
    expect(at2).toBe(REC_HEADER_BYTES + alignRecord(40) + REC_HEADER_BYTES);
    fillPayload(p.data, at2, 10, 5);
    p.publish();
    c.begin();
    expect(c.next()).toBe(true);
    expect([c.slot, c.len, c.payloadOffset]).toEqual([3, 40, at]);
    expect(checkPayload(c.data, c.payloadOffset, 9, 40)).toBe(-1);
    expect(c.next()).toBe(true);
    expect([c.slot, c.len, c.payloadOffset]).toEqual([4, 5, at2]);
    expect(checkPayload(c.data, c.payloadOffset, 10, 5)).toBe(-1);
    expect(c.next()).toBe(false);
  });

  it('carries zero-length records (push with null or an empty array, reserve(0)), 16 bytes each', () => {
    const { p, c } = ring();
    expect(p.push(1, KIND, 11, null)).toBe(true);
    expect(p.push(2, KIND, 22, new Uint8Array(0))).toBe(true);
    expect(p.reserve(0, 3, KIND, 33)).toBe(3 * REC_HEADER_BYTES);
    expect(p.push(4, KIND, 44, new Uint8Array([9]))).toBe(true);
    p.publish();
    expect(c.used()).toBe(3 * REC_HEADER_BYTES + REC_HEADER_BYTES + alignRecord(1));
    const got = drain(c);
    expect(got).toEqual([
      { slot: 1, kind: KIND, aux: 11, bytes: [] },
      { slot: 2, kind: KIND, aux: 22, bytes: [] },
      { slot: 3, kind: KIND, aux: 33, bytes: [] },
      { slot: 4, kind: KIND, aux: 44, bytes: [9] },
    ]);
  });

  it('records written in a batch are invisible until publish()', () => {
    const { sab, p, c, ctl } = ring();
    for (let i = 0; i < 3; i++) expect(p.push(i, KIND, i, new Uint8Array([i]))).toBe(true);
    expect(Atomics.load(ctl, RING_WRITE)).toBe(0);
    expect(c.used()).toBe(0);
    expect(c.begin()).toBe(false);
    expect(c.next()).toBe(false);
    // A second consumer made now sees nothing either.
    expect(new RingConsumer(sab).begin()).toBe(false);
    p.publish();
    expect(Atomics.load(ctl, RING_WRITE)).toBe(3 * (REC_HEADER_BYTES + 16));
    expect(drain(c).map((r) => r.bytes)).toEqual([[0], [1], [2]]);
  });

  it('unreserve() takes back the last unpublished record, and the pad it wrote: the next one lands in its place', () => {
    const { p, c } = ring(4096);
    expect(p.push(1, KIND, 1, new Uint8Array([1]))).toBe(true);
    const at = p.reserve(5, 2, KIND, 2);
    p.data.fill(0xee, at, at + 5);
    p.unreserve();
    expect(p.push(3, KIND, 3, new Uint8Array([3]))).toBe(true);
    p.publish();
    expect(drain(c).map((r) => [r.slot, r.bytes])).toEqual([[1, [1]], [3, [3]]]);
    // A record that needed a pad (the tail too short for it): unreserve takes the pad back too.
    const big = 1024 - REC_HEADER_BYTES;
    for (let i = 0; i < 3; i++) expect(p.reserve(big, 4, KIND, 4)).toBeGreaterThanOrEqual(0);
    p.publish();
    drain(c);
    const used = p.free();
    const wrapped = p.reserve(big, 6, KIND, 6); // the tail (960 B) is too short: a pad, then offset 0
    expect(wrapped).toBe(REC_HEADER_BYTES);
    p.unreserve();
    expect(p.free()).toBe(used);
    p.publish();
    expect(c.begin()).toBe(false);
  });

  it('a burst is the records published before begin(); later ones wait for the next begin()', () => {
    const { p, c } = ring();
    p.push(1, KIND, 1, null);
    p.publish();
    expect(c.begin()).toBe(true);
    p.push(2, KIND, 2, null);
    p.publish();
    expect(c.next()).toBe(true);
    expect(c.aux).toBe(1);
    expect(c.next()).toBe(false);
    expect(c.begin()).toBe(true);
    expect(c.next()).toBe(true);
    expect(c.aux).toBe(2);
    expect(c.next()).toBe(false);
  });

  it('reserve returns -1 when full, writes nothing, and space comes back only after release()', () => {
    const { sab, p, c, ctl } = ring(4096);
    const big = 1024 - REC_HEADER_BYTES; // each record takes exactly a quarter of the ring
    for (let i = 0; i < 4; i++) {
      const at = p.reserve(big, i, KIND, i);
      expect(at).toBe(i * 1024 + REC_HEADER_BYTES);
      fillPayload(p.data, at, i, big);
    }
    p.publish();
    expect(p.free()).toBe(0);
    const before = new Uint8Array(sab).slice();
    expect(p.reserve(0, 9, KIND, 9)).toBe(-1);
    expect(p.push(9, KIND, 9, new Uint8Array([1]))).toBe(false);
    p.publish(); // nothing new to publish: the write position must not move
    expect(new Uint8Array(sab)).toEqual(before);

    // Read every record but do not release: the producer still has no room.
    expect(c.begin()).toBe(true);
    let n = 0;
    while (c.next()) {
      expect(checkPayload(c.data, c.payloadOffset, n, big)).toBe(-1);
      n++;
    }
    expect(n).toBe(4);
    expect(p.reserve(0, 9, KIND, 9)).toBe(-1);
    expect(p.free()).toBe(0);
    expect(Atomics.load(ctl, RING_READ)).toBe(0);

    c.release();
    expect(Atomics.load(ctl, RING_READ)).toBe(4096);
    expect(p.free()).toBe(4096);
    expect(p.reserve(big, 5, KIND, 5)).toBe(REC_HEADER_BYTES);
  });

  it('the ring fills to the last byte: space freed by a release is usable exactly', () => {
    const { p, c } = ring(4096);
    const big = 1024 - REC_HEADER_BYTES;
    for (let i = 0; i < 4; i++) expect(p.reserve(big, i, KIND, i)).toBe(i * 1024 + REC_HEADER_BYTES);
    p.publish();
    expect(p.reserve(0, 9, KIND, 9)).toBe(-1); // the producer's cached read position is now stale
    c.begin();
    c.next();
    c.release(); // exactly 1024 bytes free, at offset 0
    expect(p.reserve(big, 4, KIND, 4)).toBe(REC_HEADER_BYTES);
    expect(p.free()).toBe(0);
    p.publish();
    c.begin();
    c.next();
    c.release(); // 1024 bytes free again, at offset 1024
    expect(p.reserve(big + 1, 9, KIND, 9)).toBe(-1); // 1040 bytes: one alignment step too many
    expect(p.reserve(big, 5, KIND, 5)).toBe(1024 + REC_HEADER_BYTES);
    p.publish();
    const got = drain(c).map((r) => r.aux);
    expect(got).toEqual([2, 3, 4, 5]);
  });

  it('refuses a record whose pad + record do not fit even though as many bytes are free, and writes no pad', () => {
    const { sab, p, c } = ring(4096);
    const q = 1024 - REC_HEADER_BYTES;
    for (let i = 0; i < 3; i++) expect(p.reserve(q, i, KIND, i)).toBeGreaterThan(0);
    p.publish();
    // Free the first quarter: 1024 bytes free at the tail and 1024 at the head, 2048 in all.
    c.begin();
    c.next();
    c.release();
    expect(p.free()).toBe(2048);
    const before = new Uint8Array(sab).slice();
    // 1024-byte payload needs 1040 bytes: more than the tail, and pad (1024) + 1040 > 2048.
    expect(p.reserve(1024, 7, KIND, 7)).toBe(-1);
    expect(new Uint8Array(sab)).toEqual(before);
    // Free another quarter: now the pad and the record fit; the record starts at offset 0.
    c.begin();
    c.next();
    c.release();
    const at = p.reserve(1024, 7, KIND, 7);
    expect(at).toBe(REC_HEADER_BYTES);
    p.publish();
    const words = new Int32Array(sab, RING_HEADER_BYTES);
    expect(words[3072 / 4 + 2]).toBe(REC_PAD);
    expect(words[3072 / 4]).toBe(1024 - REC_HEADER_BYTES);
    c.begin();
    expect(c.next()).toBe(true);
    expect(c.aux).toBe(2);
    expect(c.next()).toBe(true); // the pad is skipped
    expect([c.aux, c.len, c.payloadOffset]).toEqual([7, 1024, REC_HEADER_BYTES]);
    expect(c.next()).toBe(false);
  });

  it('a record that exactly fills the tail is written in place, without a pad', () => {
    const { p, c } = ring(4096, 4096 - 64); // an empty ring with a 64-byte tail
    expect(p.reserve(48, 1, KIND, 1)).toBe(4096 - 64 + REC_HEADER_BYTES);
    expect(p.reserve(0, 2, KIND, 2)).toBe(REC_HEADER_BYTES); // the next one starts at 0
    p.publish();
    c.begin();
    expect(c.next()).toBe(true);
    expect([c.aux, c.payloadOffset]).toEqual([1, 4096 - 64 + REC_HEADER_BYTES]);
    expect(c.next()).toBe(true);
    expect([c.aux, c.payloadOffset]).toEqual([2, REC_HEADER_BYTES]);
    expect(c.next()).toBe(false);
  });

  it('a maxRecordPayload record fits an empty ring at any offset (even a 16-byte tail)', () => {
    const { p, c } = ring(4096, 4096 - 16);
    const at = p.reserve(p.maxRecordPayload, 1, KIND, 1);
    expect(at).toBe(REC_HEADER_BYTES);
    fillPayload(p.data, at, 1, p.maxRecordPayload);
    p.publish();
    c.begin();
    expect(c.next()).toBe(true);
    expect(c.len).toBe(1024);
    expect(checkPayload(c.data, c.payloadOffset, 1, c.len)).toBe(-1);
  });

  it('copyPayload() is a non-shared copy (a slab view); viewPayload() is a view into shared memory at a non-zero byteOffset', () => {
    const { sab, p, c } = ring();
    p.push(0, KIND, 0, new Uint8Array([1, 2, 3]));
    p.push(0, KIND, 0, new Uint8Array([4, 5, 6, 7]));
    p.publish();
    c.begin();
    c.next();
    const copy = c.copyPayload();
    expect(copy.buffer).toBeInstanceOf(ArrayBuffer);
    expect(copy.buffer instanceof SharedArrayBuffer).toBe(false);
    // A view into the copy-out slab, after the record's header that was copied with it.
    expect(copy.byteOffset).toBe(REC_HEADER_BYTES);
    expect(copy.byteLength).toBe(3);
    expect([...copy]).toEqual([1, 2, 3]);
    c.next();
    const view = c.viewPayload();
    expect(view.buffer).toBe(sab);
    expect(view.byteOffset).toBe(RING_HEADER_BYTES + c.payloadOffset);
    expect(view.byteOffset).not.toBe(0);
    expect(view.byteLength).toBe(4);
    expect([...view]).toEqual([4, 5, 6, 7]);
    // A Buffer built from the view the naive way (whole buffer) would read the header: the trap.
    expect(Buffer.from(view.buffer, view.byteOffset, view.byteLength).equals(Buffer.from([4, 5, 6, 7]))).toBe(true);
    c.release();
    // Overwrite the ring: the copy keeps its bytes, the view sees the new ones.
    new Uint8Array(sab).fill(0xee, RING_HEADER_BYTES);
    expect([...copy]).toEqual([1, 2, 3]);
    expect([...view]).toEqual([0xee, 0xee, 0xee, 0xee]);
  });
});

/**
 * Many laps: seeded sizes 0..maxRecordPayload, random batch sizes on both sides, a running sequence in
 * every record (aux and the payload's first bytes), canaries in the alignment padding after every payload,
 * and a check that each record starts where the previous one ended (or at 0 after a pad).
 */
function laps(opts: { capacity: number; start: number; seed: number; minLaps: number }): { records: number; laps: number; pads: number; finalWrite: number } {
  const { capacity, start, seed, minLaps } = opts;
  const sab = allocRing(capacity);
  const ctl = ctlOf(sab);
  // Canaries in the control area's unused words: nothing may write there.
  for (let i = 0; i < ctl.length; i++) if (i !== RING_WRITE && i !== RING_READ) ctl[i] = 0x5a5a5a5a;
  new Uint8Array(sab, RING_HEADER_BYTES).fill(CANARY);
  Atomics.store(ctl, RING_WRITE, start | 0);
  Atomics.store(ctl, RING_READ, start | 0);
  const p = new RingProducer(sab);
  const c = new RingConsumer(sab);
  const words = new Int32Array(sab, RING_HEADER_BYTES);
  const max = p.maxRecordPayload;
  const sizes = mulberry32(seed);
  const steps = mulberry32(seed ^ 0x9e3779b9);

  let wseq = 0;
  let rseq = 0;
  let pendingLen = -1;
  let prevEnd = start % capacity; // data offset right after the last record read
  let lastOff = prevEnd;
  let wraps = 0;
  let pads = 0;
  for (let iter = 0; iter < 2_000_000 && wraps < minLaps; iter++) {
    // Producer: a batch of 1..8 records, stop early when full, publish once.
    const batch = 1 + Math.floor(steps() * 8);
    for (let k = 0; k < batch; k++) {
      if (pendingLen < 0) {
        // Bias towards the ends: 0, max and the alignment edges matter most.
        const r = sizes();
        pendingLen = r < 0.05 ? 0 : r < 0.1 ? max : r < 0.15 ? 16 * Math.floor(sizes() * (max / 16)) : Math.floor(sizes() * (max + 1));
      }
      const at = p.reserve(pendingLen, wseq & 0xffff, KIND, wseq);
      if (at < 0) break;
      fillPayload(p.data, at, wseq, pendingLen);
      p.data.fill(CANARY, at + pendingLen, at + alignRecord(pendingLen));
      wseq++;
      pendingLen = -1;
    }
    p.publish();
    // Consumer: up to 1..8 records of the burst, then release.
    if (!c.begin()) continue;
    const take = 1 + Math.floor(steps() * 8);
    for (let k = 0; k < take && c.next(); k++) {
      const off = c.payloadOffset - REC_HEADER_BYTES;
      if (off !== prevEnd) {
        // Only legal when the record did not fit the tail: a pad fills it and the record is at 0.
        const tail = capacity - prevEnd;
        if (off !== 0 || REC_HEADER_BYTES + alignRecord(c.len) <= tail) {
          throw new Error(`record ${rseq} at offset ${off}, expected ${prevEnd} (len ${c.len})`);
        }
        const h = prevEnd >> 2;
        if (words[h + 2] !== REC_PAD || words[h] !== tail - REC_HEADER_BYTES) {
          throw new Error(`record ${rseq}: no pad of ${tail - REC_HEADER_BYTES} bytes at ${prevEnd} before the wrap`);
        }
        pads++;
      }
      if (off < lastOff) wraps++;
      lastOff = off;
      if (c.aux !== rseq || c.slot !== (rseq & 0xffff) || c.kind !== KIND) {
        throw new Error(`record ${rseq}: header slot=${c.slot} kind=${c.kind} aux=${c.aux}`);
      }
      const bad = checkPayload(c.data, c.payloadOffset, rseq, c.len);
      if (bad >= 0) throw new Error(`record ${rseq} (len ${c.len}): payload byte ${bad} is wrong`);
      const end = c.payloadOffset + alignRecord(c.len);
      for (let i = c.payloadOffset + c.len; i < end; i++) {
        if (c.data[i] !== CANARY) throw new Error(`record ${rseq} (len ${c.len}): canary at +${i - c.payloadOffset} clobbered`);
      }
      if (c.viewPayload().byteLength !== c.len) throw new Error(`record ${rseq}: view length ${c.viewPayload().byteLength} != ${c.len}`);
      prevEnd = end === capacity ? 0 : end;
      rseq++;
    }
    c.release();
  }
  // Drain what is left.
  for (;;) {
    if (!c.begin()) break;
    while (c.next()) {
      if (c.aux !== rseq || checkPayload(c.data, c.payloadOffset, rseq, c.len) >= 0) throw new Error(`tail record ${rseq} is wrong`);
      rseq++;
    }
    c.release();
  }
  expect(rseq).toBe(wseq);
  expect(p.free()).toBe(capacity);
  expect(c.used()).toBe(0);
  for (let i = 0; i < ctl.length; i++) if (i !== RING_WRITE && i !== RING_READ) expect(ctl[i]).toBe(0x5a5a5a5a);
  return { records: rseq, laps: wraps, pads, finalWrite: Atomics.load(ctl, RING_WRITE) >>> 0 };
}

describe('wrap-around', () => {
  it.each([
    [4096, 1],
    [8192, 2],
    [4096, 3],
  ])('200 laps of a %i-byte ring with seeded sizes 0..max: in order, contiguous, canaries intact (seed %i)', (capacity, seed) => {
    const r = laps({ capacity, start: 0, seed, minLaps: 200 });
    expect(r.laps).toBeGreaterThanOrEqual(200);
    expect(r.pads).toBeGreaterThan(50); // most laps end with a pad: the path was exercised
    expect(r.records).toBeGreaterThan(200);
  });

  it('free-running positions cross 2^31 (int32 sign) and 2^32 (uint32 wrap) without a hiccup', () => {
    for (const start of [0x7fffff00, 0xfffff000, 0xfffffe40]) {
      const r = laps({ capacity: 4096, start, seed: start & 0xffff, minLaps: 20 });
      expect(r.laps).toBeGreaterThanOrEqual(20);
      // 20 wraps of a 4 KiB ring moved the position more than 19 whole laps past `start`.
      expect((r.finalWrite - start) >>> 0).toBeGreaterThan(19 * 4096);
      if (start >= 0xfffff000) expect(r.finalWrite).toBeLessThan(start); // it did wrap past 2^32
    }
  });

  it.each([
    ['2^31 (int32 sign)', 0x7ffffff0],
    ['2^32 (uint32 wrap)', 0xfffffff0],
  ])('a record straddling %s and the ring end is padded and read back at offset 0', (_what, start) => {
    // 16 bytes before the boundary = 16 bytes before the end of the data area.
    const { p, c, ctl } = ring(4096, start);
    expect(p.free()).toBe(4096);
    const at = p.reserve(100, 1, KIND, 77);
    expect(at).toBe(REC_HEADER_BYTES);
    fillPayload(p.data, at, 77, 100);
    p.publish();
    // pad (16) + header (16) + 112 bytes: the write position is past the boundary, the read one is not
    expect(Atomics.load(ctl, RING_WRITE) >>> 0).toBe((start + 144) >>> 0);
    expect(Atomics.load(ctl, RING_READ) >>> 0).toBe(start);
    expect(c.used()).toBe(16 + REC_HEADER_BYTES + alignRecord(100));
    expect(p.used()).toBe(144);
    expect(p.free()).toBe(4096 - 144);
    c.begin();
    expect(c.next()).toBe(true);
    expect([c.aux, c.len, c.payloadOffset]).toEqual([77, 100, REC_HEADER_BYTES]);
    expect(checkPayload(c.data, c.payloadOffset, 77, 100)).toBe(-1);
    expect(c.next()).toBe(false);
    c.release();
    expect(p.free()).toBe(4096);
  });
});

describe('RingConsumer.copyPayload: copies out of shared memory that nothing writes again', () => {
  it('keeps every copy intact while the ring is reused, and copies never overlap', async () => {
    const { SLAB_BYTES, SLAB_MAX_PACKET } = await import('../../dist/src/protocol/ring.js');
    const sab = allocRing(1 << 17); // records up to 32 KiB: every size class fits whole
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    const rnd = mulberry32(7);
    const sizes = [0, 1, 64, 65, 100, 1000, 4096, SLAB_MAX_PACKET, SLAB_MAX_PACKET + 1, 12_000];
    const kept: { seq: number; bytes: Uint8Array }[] = [];
    let seq = 0;
    for (let round = 0; round < 200; round++) {
      // A burst of records, copied out, then released: the next burst overwrites the ring.
      const burst: { seq: number; len: number }[] = [];
      for (let k = 0; k < 3; k++) {
        const len = sizes[Math.floor(rnd() * sizes.length)]!;
        const at = p.reserve(len, 1, KIND, 0);
        if (at < 0) break;
        fillPayload(p.data, at, seq, len);
        burst.push({ seq: seq++, len });
      }
      p.publish();
      expect(c.begin()).toBe(true);
      for (const b of burst) {
        expect(c.next()).toBe(true);
        const copy = c.copyPayload();
        expect(copy.byteLength).toBe(b.len);
        expect(copy.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        kept.push({ seq: b.seq, bytes: copy });
      }
      c.release();
    }
    // Every copy still holds its own bytes after the ring was overwritten many times.
    for (const k of kept) expect(checkPayload(k.bytes, 0, k.seq, k.bytes.byteLength)).toBe(-1);
    // Copies that share an ArrayBuffer (slab packets, up to SLAB_MAX_PACKET) never overlap, start
    // 8-byte aligned and stay inside one slab; the larger ones have a buffer of their own.
    const byBuffer = new Map<ArrayBufferLike, Uint8Array[]>();
    for (const { bytes } of kept) {
      const list = byBuffer.get(bytes.buffer) ?? [];
      list.push(bytes);
      byBuffer.set(bytes.buffer, list);
    }
    let shared = 0;
    for (const [buf, list] of byBuffer) {
      if (list.length === 1 && list[0]!.byteLength > SLAB_MAX_PACKET) continue;
      expect(buf.byteLength).toBe(SLAB_BYTES);
      list.sort((a, b) => a.byteOffset - b.byteOffset);
      for (let i = 0; i < list.length; i++) {
        const x = list[i]!;
        expect(x.byteLength).toBeLessThanOrEqual(SLAB_MAX_PACKET);
        expect(x.byteOffset % 8).toBe(0);
        if (i > 0) expect(x.byteOffset).toBeGreaterThanOrEqual(list[i - 1]!.byteOffset + list[i - 1]!.byteLength);
      }
      shared += list.length > 1 ? 1 : 0;
    }
    expect(shared).toBeGreaterThan(0);
    // Writing into one copy changes no other.
    const a = kept.find((k) => k.bytes.byteLength === 1000)!;
    a.bytes.fill(0);
    for (const k of kept) if (k !== a) expect(checkPayload(k.bytes, 0, k.seq, k.bytes.byteLength)).toBe(-1);
  });

  it('copies a run of small records once: the packets of one burst share a slab; a large record breaks the run', async () => {
    const { SLAB_BYTES, SLAB_MAX_PACKET } = await import('../../dist/src/protocol/ring.js');
    const sab = allocRing(1 << 18);
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    const lens = [64, 64, 0, 300, SLAB_MAX_PACKET + 1, 64, 64];
    lens.forEach((len, i) => fillPayload(p.data, p.reserve(len, 1, KIND, 0), i, len));
    p.publish();
    c.begin();
    const got: Uint8Array[] = [];
    while (c.next()) got.push(c.copyPayload());
    c.release();
    expect(got.map((g) => g.byteLength)).toEqual(lens);
    got.forEach((g, i) => expect(checkPayload(g, 0, i, g.byteLength)).toBe(-1));
    // The four before the large record sit in one slab, 16 bytes of record header apart.
    const first = got[0]!.buffer;
    expect(first.byteLength).toBe(SLAB_BYTES);
    for (const g of got.slice(0, 4)) expect(g.buffer).toBe(first);
    expect(got[1]!.byteOffset - got[0]!.byteOffset).toBe(64 + REC_HEADER_BYTES);
    // The large one has a buffer of its own; the run after it continues in the same slab.
    expect(got[4]!.buffer.byteLength).toBe(SLAB_MAX_PACKET + 1);
    expect(got[4]!.byteOffset).toBe(0);
    expect(got[5]!.buffer).toBe(first);
    expect(got[5]!.byteOffset).toBeGreaterThan(got[3]!.byteOffset);
  });

  it('a new slab when the current one cannot hold the record; earlier packets keep the old one', async () => {
    const { SLAB_BYTES, SLAB_MAX_PACKET } = await import('../../dist/src/protocol/ring.js');
    const sab = allocRing(1 << 20);
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    // 5 records of SLAB_MAX_PACKET: 4 fill a 64 KiB slab but for 4 x 16 header bytes, so the 4th starts a new one.
    for (let i = 0; i < 5; i++) fillPayload(p.data, p.reserve(SLAB_MAX_PACKET, 1, KIND, 0), i, SLAB_MAX_PACKET);
    p.publish();
    c.begin();
    const got: Uint8Array[] = [];
    while (c.next()) got.push(c.copyPayload());
    c.release();
    const buffers = [...new Set(got.map((g) => g.buffer))];
    expect(buffers.length).toBe(2);
    for (const b of buffers) expect(b.byteLength).toBe(SLAB_BYTES);
    expect(got.slice(0, 3).every((g) => g.buffer === buffers[0])).toBe(true);
    got.forEach((g, i) => expect(checkPayload(g, 0, i, SLAB_MAX_PACKET)).toBe(-1));
  });
});
