/**
 * The load generator's histogram: hdr-histogram-js always (a runtime dependency). Percentiles within
 * 0.1 % of the exact values (3 significant digits), min/max exact, p99.9 never above max, and a
 * histogram carried across threads (encode, decode, add) answers as if recorded in one.
 */
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, newHistogram } from '../../dist/cli/histogram.js';

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function values(n: number, seed: number): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648; // deterministic
    out.push(Math.round(Math.exp((x / 2147483648) * Math.log(5_000_000)))); // 1 µs .. 5 s, log-uniform
  }
  return out;
}

describe('LatencyHistogram (hdr-histogram-js)', () => {
  it('is empty-safe, and says which implementation it is', () => {
    const h = newHistogram();
    expect(h.impl).toBe('hdr-histogram-js');
    expect([h.count, h.min, h.max, h.mean, h.percentile(50)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('answers percentiles within 0.1 % of the exact ones over six decades; p100 = max', () => {
    const h = newHistogram();
    const v = values(20_000, 12345);
    for (const x of v) h.record(x);
    v.sort((a, b) => a - b);
    expect(h.count).toBe(20_000);
    expect(h.min).toBe(v[0]);
    for (const p of [1, 10, 50, 90, 99, 99.9, 99.99]) {
      const exact = exactPercentile(v, p);
      expect(Math.abs(h.percentile(p) - exact) / exact, `p${p}`).toBeLessThanOrEqual(0.001);
    }
    expect(h.percentile(99.9)).toBeLessThanOrEqual(h.max);
    expect(h.percentile(100)).toBe(h.max);
  });

  it('encode → decode → add: two threads\' histograms merge into the one of all their values', () => {
    const a = newHistogram();
    const b = newHistogram();
    const all = newHistogram();
    for (const x of values(5000, 1)) {
      a.record(x);
      all.record(x);
    }
    for (const x of values(7000, 2)) {
      b.record(x + 3);
      all.record(x + 3);
    }
    const merged = newHistogram();
    merged.add(LatencyHistogram.decode(a.encode()));
    merged.add(LatencyHistogram.decode(b.encode()));
    merged.add(LatencyHistogram.decode(newHistogram().encode())); // an empty one changes nothing
    expect([merged.count, merged.min, merged.max]).toEqual([all.count, all.min, all.max]);
    for (const p of [50, 90, 99, 99.9]) expect(merged.percentile(p), `p${p}`).toBe(all.percentile(p));
  });
});
