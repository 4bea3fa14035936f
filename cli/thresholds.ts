/**
 * `ringsocket load --threshold EXPR` (several allowed): pass/fail criteria that set the exit code, as
 * k6's thresholds do. EXPR is `metric op value`:
 *
 * | metric | value |
 * |---|---|
 * | `p50` `p90` `p99` `p99.9` `max` `mean` | latency (RTT from the intended send; fan-out: publish → receipt), with a unit: `5ms`, `800us`, `1s` (bare = ms) |
 * | `errors` `connect-failed` `closed-early` `unanswered` `unsent` `bad-echoes` | counts of the `errors` object |
 * | `throughput` | messages received per second (`20k` = 20,000) |
 *
 * `op` is one of `<` `<=` `>` `>=` `=`. Any threshold breached: exit code 4 (EXIT.THRESHOLD).
 */
import { UsageError } from './errors.js';

export type ThresholdOp = '<' | '<=' | '>' | '>=' | '=';

export interface Threshold {
  /** As given: `p99<5ms`. */
  text: string;
  metric: string;
  op: ThresholdOp;
  /** In the metric's unit: ms for latencies, a count, messages/s. */
  value: number;
}

export interface ThresholdResult {
  threshold: string;
  metric: string;
  op: ThresholdOp;
  limit: number;
  actual: number;
  ok: boolean;
}

/** What a threshold reads from the results (only the fields it needs). */
export interface ThresholdInput {
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errors: { total: number; connectFailed: number; closedEarly: number; unanswered: number; unsent: number; badEchoes: number };
  throughput: { receivedPerSec: number };
}

const LATENCY: Record<string, keyof ThresholdInput['latencyMs']> = { p50: 'p50', p90: 'p90', p99: 'p99', 'p99.9': 'p999', p999: 'p999', max: 'max', mean: 'mean' };
const COUNTS: Record<string, keyof ThresholdInput['errors']> = {
  errors: 'total',
  'connect-failed': 'connectFailed',
  'closed-early': 'closedEarly',
  unanswered: 'unanswered',
  unsent: 'unsent',
  'bad-echoes': 'badEchoes',
};

export function parseThreshold(raw: string): Threshold {
  const m = /^\s*([a-z][a-z0-9.-]*)\s*(<=|>=|<|>|==|=)\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*$/.exec(raw);
  if (m === null) throw new UsageError(`--threshold: not "metric op value" (e.g. p99<5ms, errors=0): ${JSON.stringify(raw)}`);
  const [, metric, rawOp, num, unit] = m as unknown as [string, string, string, string, string];
  const op = (rawOp === '==' ? '=' : rawOp) as ThresholdOp;
  const n = Number(num);
  let value: number;
  if (metric in LATENCY) {
    const scale: Record<string, number> = { '': 1, ms: 1, us: 0.001, µs: 0.001, s: 1000 };
    if (!(unit in scale)) throw new UsageError(`--threshold ${raw}: a latency takes ms, us or s, got ${JSON.stringify(unit)}`);
    value = n * scale[unit]!;
  } else if (metric in COUNTS || metric === 'throughput') {
    const scale: Record<string, number> = { '': 1, k: 1000, M: 1_000_000 };
    if (!(unit in scale) || (metric !== 'throughput' && unit !== '')) throw new UsageError(`--threshold ${raw}: ${metric} takes a plain number${metric === 'throughput' ? ' (or k/M)' : ''}`);
    value = n * scale[unit]!;
  } else {
    throw new UsageError(`--threshold ${raw}: unknown metric ${JSON.stringify(metric)} (p50, p90, p99, p99.9, max, mean, errors, connect-failed, closed-early, unanswered, unsent, bad-echoes, throughput)`);
  }
  return { text: raw.trim(), metric, op, value };
}

function actualOf(t: Threshold, r: ThresholdInput): number {
  if (t.metric in LATENCY) return r.latencyMs[LATENCY[t.metric]!];
  if (t.metric in COUNTS) return r.errors[COUNTS[t.metric]!];
  return r.throughput.receivedPerSec;
}

function holds(op: ThresholdOp, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '=':
      return a === b;
  }
}

export function evaluateThresholds(ts: readonly Threshold[], r: ThresholdInput): ThresholdResult[] {
  return ts.map((t) => {
    const actual = actualOf(t, r);
    return { threshold: t.text, metric: t.metric, op: t.op, limit: t.value, actual, ok: holds(t.op, actual, t.value) };
  });
}
