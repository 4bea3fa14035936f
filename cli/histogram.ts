/**
 * Latency histograms in microseconds. `hdr-histogram-js` (1 µs .. 60 s, 3 significant digits, the
 * same settings as the bench suite's load generator) when it can be loaded; otherwise a log-bucket
 * histogram of our own (buckets 1 % apart: every percentile within 1 % of the true value).
 */
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';

export interface LatencyHistogram {
  /** Which implementation records the values. */
  readonly impl: 'hdr-histogram-js' | 'log-buckets';
  record(us: number): void;
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Value (µs) at or below which `p` percent of the recorded values fall. 0 when empty. */
  percentile(p: number): number;
}

type HdrModule = typeof import('hdr-histogram-js');
let hdrModule: HdrModule | null | undefined;

/** Try to load hdr-histogram-js once (it is a dev dependency: not installed with the package alone). */
export async function loadHdr(): Promise<boolean> {
  if (hdrModule === undefined) {
    try {
      const m = (await import('hdr-histogram-js')) as HdrModule & { default?: HdrModule };
      hdrModule = m.default ?? m;
    } catch {
      hdrModule = null;
    }
  }
  return hdrModule !== null;
}

class Hdr implements LatencyHistogram {
  readonly impl = 'hdr-histogram-js' as const;
  readonly #h: HdrHistogram;
  #min = Infinity;
  constructor(m: HdrModule) {
    this.#h = m.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  }
  record(us: number): void {
    const v = Math.max(0, Math.round(us));
    if (v < this.#min) this.#min = v;
    this.#h.recordValue(v);
  }
  get count(): number {
    return this.#h.totalCount;
  }
  get min(): number {
    return this.count === 0 ? 0 : this.#min;
  }
  get max(): number {
    return this.count === 0 ? 0 : this.#h.maxValue;
  }
  get mean(): number {
    return this.count === 0 ? 0 : this.#h.mean;
  }
  percentile(p: number): number {
    // HdrHistogram answers with the highest value equivalent to the bucket, which can pass the
    // largest value recorded: clamp, so that p99.9 <= max always holds.
    return this.count === 0 ? 0 : Math.min(this.max, Math.max(this.min, this.#h.getValueAtPercentile(p)));
  }
}

/** Buckets growing by 1 % from 1 µs: bucket i holds [1.01^i, 1.01^(i+1)); values < 1 µs go to bucket 0. */
export class LogBucketHistogram implements LatencyHistogram {
  readonly impl = 'log-buckets' as const;
  static readonly #LN = Math.log(1.01);
  #buckets = new Float64Array(2048);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  record(us: number): void {
    const v = Math.max(0, us);
    const i = v < 1 ? 0 : Math.floor(Math.log(v) / LogBucketHistogram.#LN);
    if (i >= this.#buckets.length) {
      const grown = new Float64Array(Math.max(i + 1, this.#buckets.length * 2));
      grown.set(this.#buckets);
      this.#buckets = grown;
    }
    this.#buckets[i]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }
  get count(): number {
    return this.#count;
  }
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }
  get max(): number {
    return this.#max;
  }
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    if (p >= 100) return this.#max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) {
        // The bucket's upper edge, clamped to what was actually seen.
        const upper = i === 0 ? 1 : Math.pow(1.01, i + 1);
        return Math.min(this.#max, Math.max(this.#min, upper));
      }
    }
    return this.#max;
  }
}

/** A new histogram: hdr-histogram-js if `loadHdr()` found it, else log buckets (or when `forceLog`). */
export function newHistogram(forceLog = false): LatencyHistogram {
  if (!forceLog && hdrModule) return new Hdr(hdrModule);
  return new LogBucketHistogram();
}
