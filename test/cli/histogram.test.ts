/**
 * The load generator's fallback histogram (used when hdr-histogram-js is not installed): percentiles
 * within 1 % of the exact values, min/max/mean exact, and the same answers as the HDR one.
 */
import { describe, expect, it } from 'vitest';
import { LogBucketHistogram, loadHdr, newHistogram } from '../../dist/cli/histogram.js';

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('LogBucketHistogram', () => {
  it('is empty-safe', () => {
    const h = new LogBucketHistogram();
    expect([h.count, h.min, h.max, h.mean, h.percentile(50)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('answers percentiles within 1 % of the exact ones over six decades', () => {
    const h = new LogBucketHistogram();
    const values: number[] = [];
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648; // deterministic
      const v = Math.exp((x / 2147483648) * Math.log(5_000_000)); // 1 µs .. 5 s, log-uniform
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    expect(h.count).toBe(20_000);
    expect(h.min).toBe(values[0]);
    expect(h.max).toBe(values[values.length - 1]);
    expect(h.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
    for (const p of [1, 10, 50, 90, 99, 99.9, 99.99]) {
      const exact = exactPercentile(values, p);
      expect(Math.abs(h.percentile(p) - exact) / exact, `p${p}`).toBeLessThanOrEqual(0.0101);
    }
    expect(h.percentile(100)).toBe(h.max);
  });

  it('agrees with the hdr-histogram-js one (installed here as a dev dependency) to 1 %', async () => {
    expect(await loadHdr()).toBe(true);
    const hdr = newHistogram();
    const log = newHistogram(true);
    expect(hdr.impl).toBe('hdr-histogram-js');
    expect(log.impl).toBe('log-buckets');
    for (let i = 1; i <= 10_000; i++) {
      hdr.record(i * 3);
      log.record(i * 3);
    }
    for (const p of [50, 90, 99, 99.9]) expect(Math.abs(hdr.percentile(p) - log.percentile(p)) / hdr.percentile(p)).toBeLessThan(0.011);
    expect(hdr.percentile(99.9)).toBeLessThanOrEqual(hdr.max);
  });
});
