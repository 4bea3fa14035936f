/**
 * Latency histograms in microseconds: `hdr-histogram-js` (a runtime dependency of the package), 1 µs ..
 * 60 s, 3 significant digits, the same settings as the bench suite's load generator. The hand-made
 * log-bucket fallback is gone: it existed only because hdr-histogram-js used to be a dev dependency.
 * `encode()` / `LatencyHistogram.decode()` carry a histogram from a load thread to the main thread,
 * where `add()` merges them. The bench suite's load process (bench/suite/load.ts) keeps its latencies
 * in this class too, and publishes `encodeHdr()` (HdrHistogram's own format) in its results.
 */
import hdr from 'hdr-histogram-js';

const SETTINGS = { lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 } as const;

export class LatencyHistogram {
  /** Which implementation records the values (the `histogramImpl` of `load --json`). */
  readonly impl = 'hdr-histogram-js' as const;
  readonly #h: hdr.Histogram;
  // Exact extremes: HdrHistogram's own maxValue after add() is a bucket's upper edge.
  #min = Infinity;
  #max = 0;

  constructor(min = Infinity, max = 0) {
    this.#h = hdr.build(SETTINGS);
    this.#min = min;
    this.#max = max;
  }

  record(us: number): void {
    const v = Math.min(SETTINGS.highestTrackableValue, Math.max(0, Math.round(us)));
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
    this.#h.recordValue(v);
  }
  get count(): number {
    return this.#h.totalCount;
  }
  get min(): number {
    return this.count === 0 ? 0 : this.#min;
  }
  get max(): number {
    return this.count === 0 ? 0 : this.#max;
  }
  get mean(): number {
    return this.count === 0 ? 0 : this.#h.mean;
  }
  /** Value (µs) at or below which `p` percent of the recorded values fall. 0 when empty. */
  percentile(p: number): number {
    // HdrHistogram answers with the highest value equivalent to the bucket, which can pass the
    // largest value recorded: clamp, so that p99.9 <= max always holds.
    return this.count === 0 ? 0 : Math.min(this.max, Math.max(this.min, this.#h.getValueAtPercentile(p)));
  }
  /** Add every value of `other` to this one. */
  add(other: LatencyHistogram): void {
    if (other.count === 0) return;
    this.#h.add(other.#h);
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }
  /** HdrHistogram's compressed base64 form, readable by any HdrHistogram implementation. */
  encodeHdr(): string {
    return hdr.encodeIntoCompressedBase64(this.#h);
  }
  /** A compact text form for postMessage: the exact min and max, then HdrHistogram's compressed base64. */
  encode(): string {
    return `${this.count === 0 ? 'Infinity' : this.#min} ${this.#max} ${this.encodeHdr()}`;
  }
  static decode(text: string): LatencyHistogram {
    const [min, max, b64] = text.split(' ') as [string, string, string];
    // Decoding keeps the counts, not our range settings: add into one built with ours.
    const out = new LatencyHistogram(Number(min), Number(max));
    out.#h.add(hdr.decodeFromCompressedBase64(b64));
    return out;
  }
}

export function newHistogram(): LatencyHistogram {
  return new LatencyHistogram();
}
