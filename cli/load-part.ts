/**
 * What one load-generating thread of `ringsocket load` is given (its share) and what it measured (its
 * part): plain data, histograms encoded, so that a worker thread can post it to the main thread, where
 * cli/load-report.ts merges the parts. Also the thread clocks both sides read.
 */
import { readFileSync } from 'node:fs';
import type { IntervalHistogram } from 'node:perf_hooks';
import { ELD_RESOLUTION_MS } from './load-config.js';

/** The share of the load one thread runs. */
export interface Share {
  index: number;
  connections: number;
  /** Rate mode: this thread's messages/s. */
  rate: number;
  /** I/O workers of this thread's pool. */
  ioThreads: number | undefined;
}

export interface Counters {
  scheduled: number;
  sent: number;
  received: number;
  sentWin: number;
  receivedWin: number;
  badEchoes: number;
  foreign: number;
  unsent: number;
  backpressured: number;
  connectFailed: number;
  opened: number;
  closedEarly: number;
  unanswered: number;
}

export function newCounters(): Counters {
  return { scheduled: 0, sent: 0, received: 0, sentWin: 0, receivedWin: 0, badEchoes: 0, foreign: 0, unsent: 0, backpressured: 0, connectFailed: 0, opened: 0, closedEarly: 0, unanswered: 0 };
}

export interface DelaySummary {
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** What one thread measured; plain data (histograms encoded), so a worker can post it. */
export interface PartResult {
  index: number;
  connections: number;
  ioThreads: number;
  interrupted: boolean;
  counters: Counters;
  failures: Record<string, number>;
  closeCodes: Record<string, number>;
  closeFailures: Record<string, number>;
  rtt: string;
  rttRaw: string;
  openTimes: string;
  elapsedMs: number;
  rampMs: number;
  eventLoopDelayMs: DelaySummary;
  /** This thread's CPU time in the measured window (Linux), null elsewhere. */
  cpuMs: number | null;
  /** The whole process's CPU time in the same window. */
  processCpuMs: number;
}

/** CPU time (ns) of the calling thread (/proc/thread-self/schedstat), null where that file does not exist. */
export function threadCpuNs(): number | null {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' ')));
  } catch {
    return null;
  }
}

export function inc(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** An event-loop delay histogram (ns, 10 ms timer) as ms late. */
export function delaySummary(h: IntervalHistogram): DelaySummary {
  // The histogram holds the time between two runs of its 10 ms timer: the delay is what exceeds 10 ms.
  const toMs = (v: number) => (Number.isFinite(v) ? Math.round(Math.max(0, v / 1e6 - ELD_RESOLUTION_MS) * 1000) / 1000 : 0);
  if (h.count === 0) return { min: 0, mean: 0, p50: 0, p99: 0, max: 0 };
  return { min: toMs(h.min), mean: toMs(h.mean), p50: toMs(h.percentile(50)), p99: toMs(h.percentile(99)), max: toMs(h.max) };
}
