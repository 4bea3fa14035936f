/**
 * `ringsocket load`'s results: the JSON shape (`--json`), how the threads' parts merge into it, the
 * exit code, the table on stdout and the SVG chart.
 */
import { writeFileSync } from 'node:fs';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { LatencyHistogram } from './histogram.js';
import type { LoadConfig } from './load-config.js';
import type { Counters, DelaySummary, PartResult } from './load-part.js';
import { ninesFor, percentileChartSvg, samplePercentiles } from './svg.js';
import { bytesPerSec, int, ms, table } from './term.js';
import { evaluateThresholds, type ThresholdResult } from './thresholds.js';

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** One load-generating thread's own figures (with --threads 1: the main thread). */
export interface ThreadFigures {
  index: number;
  connections: number;
  /** I/O worker threads of its pool. */
  ioThreads: number;
  /** Its CPU time in the measured window (Linux), null elsewhere; and as a percentage of the window. */
  cpuMs: number | null;
  cpuPercent: number | null;
  eventLoopDelayMs: DelaySummary;
}

/**
 * The JSON written by --json (schemaVersion 2). Times in milliseconds.
 * Version 2 against the unversioned first shape: `schemaVersion`, `thresholds` and `threads` added;
 * `config.threads` is now the number of load-generating threads (it was the I/O workers, now
 * `config.ioThreads`, per load thread); `config.fanout` added; in fan-out mode `messages.received`,
 * `unanswered` and the latencies count receipts (each message once per connection). Every other
 * field is as before.
 */
export interface LoadResult {
  schemaVersion: 2;
  tool: 'ringsocket load';
  version: string;
  startedAt: string;
  url: string;
  config: {
    connections: number;
    mode: 'rate' | 'flood';
    fanout: boolean;
    rate: number | null;
    flood: number | null;
    size: number;
    text: boolean;
    durationMs: number;
    rampMs: number;
    warmupMs: number;
    drainMs: number;
    threads: number;
    ioThreads: number;
    pollUs: number;
    sendTickUs: number;
  };
  interrupted: boolean;
  exitCode: number;
  /** Measured run time: from the end of the warm-up to the end of --duration (or the interrupt). */
  elapsedMs: number;
  connections: {
    requested: number;
    opened: number;
    failed: number;
    /** Why connections failed to open: failure reason (ECONNREFUSED, HTTP_404, HANDSHAKE_TIMEOUT…) → count. */
    failures: Record<string, number>;
    /** Connections that closed before the end of the run (the server closed or dropped them). */
    closedEarly: number;
    rampMs: number;
    openMs: LatencySummary;
  };
  messages: {
    /** Rate mode: messages the schedule called for (sent + unsent). Flood mode: equal to sent. */
    scheduled: number;
    sent: number;
    /** Valid echoes received (each matches a sent message); fan-out: receipts. sent = received + unanswered (fan-out: sent × connections). */
    received: number;
    unanswered: number;
    /** Scheduled but never sent: its connection was closed, or still backlogged when the drain ended. */
    unsent: number;
    /** Echoes that matched no sent message: wrong size, type, connection or order. */
    badEchoes: number;
    /** Messages sent by another of our connections (a broadcast server, without --fanout): counted, not errors, not in the latency. */
    foreign: number;
    /** Sends refused because the peer's outbound buffer was full (retried later, rate mode). */
    backpressured: number;
    bytesSent: number;
    bytesReceived: number;
  };
  throughput: { sentPerSec: number; receivedPerSec: number; bytesSentPerSec: number; bytesReceivedPerSec: number };
  /** RTT from the intended send time (rate mode; fan-out: publish → receipt) or the actual send (flood mode). */
  latencyMs: LatencySummary & { percentiles: [number, number][] };
  /** RTT from the actual send time (the same as latencyMs in flood mode). */
  latencyUncorrectedMs: LatencySummary;
  /** Close codes of every connection that opened: code → count (-1 = not clean; see closeFailures). */
  closeCodes: Record<string, number>;
  /** Failure reasons of connections with close code -1: reason → count. */
  closeFailures: Record<string, number>;
  errors: { total: number; connectFailed: number; closedEarly: number; unanswered: number; unsent: number; badEchoes: number };
  /** Each --threshold with the value measured, in the order given. */
  thresholds: ThresholdResult[];
  /**
   * The process's main thread during the measured window: event-loop delay from
   * perf_hooks.monitorEventLoopDelay (10 ms timer; the figures are how late it fired), and CPU time.
   * With --threads 1 it runs the load (the same figures as threads[0]); with more it only waits.
   */
  mainThread: {
    eventLoopDelayMs: DelaySummary;
    cpuPercent: number | null;
    cpuMs: number | null;
    /** CPU time of the whole load process (every thread: load threads + I/O workers). */
    processCpuMs: number;
  };
  /** Each load-generating thread's own CPU and event-loop delay. */
  threads: ThreadFigures[];
  histogramImpl: 'hdr-histogram-js';
}

export function summarize(h: LatencyHistogram): LatencySummary {
  const r = (us: number) => Math.round(us) / 1000;
  return { count: h.count, min: r(h.min), mean: Math.round(h.mean) / 1000, p50: r(h.percentile(50)), p90: r(h.percentile(90)), p99: r(h.percentile(99)), p999: r(h.percentile(99.9)), max: r(h.max) };
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

const pct = (cpuMs: number | null, windowMs: number): number | null => (cpuMs === null || windowMs <= 0 ? null : Math.round((cpuMs / windowMs) * 1000) / 10);
const round1 = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);

/** The parts of every thread, merged. */
export interface Merged {
  n: Counters;
  failures: Record<string, number>;
  closeCodes: Record<string, number>;
  closeFailures: Record<string, number>;
  rtt: LatencyHistogram;
  rttRaw: LatencyHistogram;
  openTimes: LatencyHistogram;
  elapsedMs: number;
  rampMs: number;
  interrupted: boolean;
  processCpuMs: number;
}

export function mergeParts(parts: readonly PartResult[]): Merged {
  const m: Merged = {
    n: { scheduled: 0, sent: 0, received: 0, sentWin: 0, receivedWin: 0, badEchoes: 0, foreign: 0, unsent: 0, backpressured: 0, connectFailed: 0, opened: 0, closedEarly: 0, unanswered: 0 },
    failures: {},
    closeCodes: {},
    closeFailures: {},
    rtt: new LatencyHistogram(),
    rttRaw: new LatencyHistogram(),
    openTimes: new LatencyHistogram(),
    elapsedMs: 0,
    rampMs: 0,
    interrupted: false,
    processCpuMs: 0,
  };
  for (const p of parts) {
    for (const k of Object.keys(m.n) as (keyof Counters)[]) m.n[k] += p.counters[k];
    addInto(m.failures, p.failures);
    addInto(m.closeCodes, p.closeCodes);
    addInto(m.closeFailures, p.closeFailures);
    m.rtt.add(LatencyHistogram.decode(p.rtt));
    m.rttRaw.add(LatencyHistogram.decode(p.rttRaw));
    m.openTimes.add(LatencyHistogram.decode(p.openTimes));
    m.elapsedMs = Math.max(m.elapsedMs, p.elapsedMs);
    m.rampMs = Math.max(m.rampMs, p.rampMs);
    m.interrupted ||= p.interrupted;
    m.processCpuMs = Math.max(m.processCpuMs, p.processCpuMs);
  }
  return m;
}

export function threadFigures(p: PartResult): ThreadFigures {
  return { index: p.index, connections: p.connections, ioThreads: p.ioThreads, cpuMs: round1(p.cpuMs), cpuPercent: pct(p.cpuMs, p.elapsedMs), eventLoopDelayMs: p.eventLoopDelayMs };
}

/** The result of a run from its threads' parts; `main` is the main thread's own figures. */
export function buildResult(cfg: LoadConfig, meta: { version: string; startedAt: string }, parts: readonly PartResult[], main: { eventLoopDelayMs: DelaySummary; cpuMs: number | null }): LoadResult {
  const m = mergeParts(parts);
  const { n } = m;
  const flood = cfg.mode === 'flood';
  const secs = m.elapsedMs / 1000;
  const per = (x: number) => (secs > 0 ? Math.round((x / secs) * 10) / 10 : 0);
  const errors = { total: n.connectFailed + n.closedEarly + n.unanswered + n.unsent + n.badEchoes, connectFailed: n.connectFailed, closedEarly: n.closedEarly, unanswered: n.unanswered, unsent: n.unsent, badEchoes: n.badEchoes };
  const r: LoadResult = {
    schemaVersion: 2,
    tool: 'ringsocket load',
    version: meta.version,
    startedAt: meta.startedAt,
    url: cfg.url,
    config: {
      connections: cfg.connections, mode: cfg.mode, fanout: cfg.fanout, rate: flood ? null : cfg.rate, flood: flood ? cfg.flood : null, size: cfg.size, text: cfg.text,
      durationMs: cfg.durationMs, rampMs: cfg.rampMs, warmupMs: cfg.warmupMs, drainMs: cfg.drainMs, threads: cfg.threads, ioThreads: parts[0]?.ioThreads ?? 0, pollUs: cfg.pollUs, sendTickUs: cfg.sendTickUs,
    },
    interrupted: m.interrupted,
    exitCode: 0,
    elapsedMs: Math.round(m.elapsedMs * 1000) / 1000,
    connections: { requested: cfg.connections, opened: n.opened, failed: n.connectFailed, failures: m.failures, closedEarly: n.closedEarly, rampMs: Math.round(m.rampMs * 1000) / 1000, openMs: summarize(m.openTimes) },
    messages: {
      scheduled: n.scheduled, sent: n.sent, received: n.received, unanswered: n.unanswered, unsent: n.unsent, badEchoes: n.badEchoes, foreign: n.foreign, backpressured: n.backpressured,
      bytesSent: n.sent * cfg.size, bytesReceived: n.received * cfg.size,
    },
    throughput: { sentPerSec: per(n.sentWin), receivedPerSec: per(n.receivedWin), bytesSentPerSec: per(n.sentWin * cfg.size), bytesReceivedPerSec: per(n.receivedWin * cfg.size) },
    latencyMs: { ...summarize(m.rtt), percentiles: samplePercentiles(ninesFor(m.rtt.count), 60).map((p) => [Number(p.toFixed(6)), m.rtt.percentile(p) / 1000] as [number, number]) },
    latencyUncorrectedMs: summarize(m.rttRaw),
    closeCodes: m.closeCodes,
    closeFailures: m.closeFailures,
    errors,
    thresholds: [],
    mainThread: { eventLoopDelayMs: main.eventLoopDelayMs, cpuPercent: pct(main.cpuMs, m.elapsedMs), cpuMs: round1(main.cpuMs), processCpuMs: Math.round(m.processCpuMs * 10) / 10 },
    threads: parts.map(threadFigures),
    histogramImpl: 'hdr-histogram-js',
  };
  r.thresholds = evaluateThresholds(cfg.thresholds, r);
  r.exitCode = exitCodeOf(r);
  if (cfg.histogram !== undefined) writeHistogram(cfg.histogram, r, m.rtt, m.rttRaw);
  return r;
}

/** 3 nothing opened; 4 a threshold breached; 5 errors; 0 otherwise. */
export function exitCodeOf(r: LoadResult): ExitCode {
  if (r.connections.opened === 0) return EXIT.NETWORK;
  if (r.thresholds.some((t) => !t.ok)) return EXIT.THRESHOLD;
  return r.errors.total === 0 ? EXIT.OK : EXIT.LOAD_ERRORS;
}

function writeHistogram(file: string, r: LoadResult, rtt: LatencyHistogram, raw: LatencyHistogram): void {
  const maxNines = ninesFor(rtt.count);
  const pts = (h: LatencyHistogram): [number, number][] => samplePercentiles(maxNines).map((p) => [p, h.percentile(p) / 1000]);
  const series =
    r.config.mode === 'rate'
      ? [
          { name: 'from intended send', color: '#d62728', points: pts(rtt) },
          { name: 'from actual send', color: '#1f77b4', points: pts(raw) },
        ]
      : [{ name: 'RTT', color: '#d62728', points: pts(rtt) }];
  const what = r.config.mode === 'rate' ? `${int(r.config.rate ?? 0)} msg/s open loop${r.config.fanout ? ', fan-out' : ''}` : `${r.config.flood} in flight per connection`;
  const svg = percentileChartSvg(
    `ringsocket load ${r.url}: ${r.config.fanout ? 'publish-to-receipt latency' : 'round-trip time'} by percentile`,
    [
      `${r.connections.opened} connections, ${what}, ${r.config.size} B ${r.config.text ? 'text' : 'binary'}, ${(r.elapsedMs / 1000).toFixed(1)} s, ${int(rtt.count)} samples`,
      `p50 ${ms(r.latencyMs.p50)} ms, p90 ${ms(r.latencyMs.p90)} ms, p99 ${ms(r.latencyMs.p99)} ms, p99.9 ${ms(r.latencyMs.p999)} ms, max ${ms(r.latencyMs.max)} ms`,
    ],
    series,
    maxNines,
  );
  writeOutput(file, svg, '--histogram');
}

export function writeOutput(path: string, text: string, flag: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new CliError(`${flag}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, EXIT.RUNTIME);
  }
}

const counts = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ×${v}`).join(', ');

/** Close code 1009 means a message was larger than the server accepts: say so, and what to change. */
function closeCodeHints(r: LoadResult): string[] {
  if (!('1009' in r.closeCodes)) return [];
  return [
    `             1009 = message too big: the server refused ${int(r.config.size)} B messages. ringsocket serve accepts 65,535 B by default`,
    `             (64 KiB - 1, inboundBufferSize): start it with --max-message ${r.config.size >= 1024 ? `${Math.ceil(r.config.size / 1024)}k` : r.config.size} or more, or send a smaller --size.`,
  ];
}

function latencyLines(r: LoadResult): string[] {
  const c = r.config;
  const what = c.fanout
    ? 'from publish to each receipt, from the intended publish time (coordinated omission corrected); uncorrected = from the actual send'
    : c.mode === 'rate'
      ? 'RTT from the intended send time (coordinated omission corrected); uncorrected = from the actual send'
      : 'RTT';
  const row = (name: string, s: LatencySummary) => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.p999), ms(s.max), ms(s.mean), int(s.count)];
  const rows = [['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'samples'], row(c.mode === 'rate' ? 'corrected' : 'rtt', r.latencyMs)];
  if (c.mode === 'rate') rows.push(row('uncorrected', r.latencyUncorrectedMs));
  return [`latency (ms) ${what}`, table(rows, '  ')];
}

function threadLines(r: LoadResult): string[] {
  const t = r.mainThread;
  const cpu = (cpuMs: number | null, p: number | null) => (cpuMs === null ? '-' : `${int(cpuMs)} ms (${p} %)`);
  const lines = [
    `main thread  event-loop delay p50 ${ms(t.eventLoopDelayMs.p50)} ms, p99 ${ms(t.eventLoopDelayMs.p99)} ms, max ${ms(t.eventLoopDelayMs.max)} ms; ` +
      `CPU main ${cpu(t.cpuMs, t.cpuPercent)} of process ${int(t.processCpuMs)} ms ` +
      `(sockets, framing and parsing run in ${r.config.ioThreads} I/O worker${r.config.ioThreads === 1 ? '' : 's'}${r.config.threads > 1 ? ' per load thread' : ''})`,
  ];
  if (r.config.threads > 1) {
    for (const th of r.threads) {
      const d = th.eventLoopDelayMs;
      lines.push(`load thread ${th.index}  ${th.connections} connections; event-loop delay p50 ${ms(d.p50)} ms, p99 ${ms(d.p99)} ms, max ${ms(d.max)} ms; CPU ${cpu(th.cpuMs, th.cpuPercent)}`);
    }
  }
  return lines;
}

function thresholdValue(t: ThresholdResult): string {
  if (/^(p\d|max|mean)/.test(t.metric)) return `${ms(t.actual)} ms`;
  return t.metric === 'throughput' ? `${int(t.actual)} msg/s` : int(t.actual);
}

/** The human-readable report (stdout). */
export function formatLoad(r: LoadResult): string {
  const c = r.config;
  const what = c.mode === 'rate' ? `rate ${int(c.rate ?? 0)} msg/s (open loop${c.fanout ? ', fan-out: one publisher, every connection subscribes' : ''})` : `flood ${c.flood} in flight per connection`;
  const lines: string[] = [];
  lines.push(`ringsocket load ${r.url}: ${c.connections} connections, ${what}, ${c.size} B ${c.text ? 'text' : 'binary'}, ${(c.durationMs / 1000).toFixed(1)} s${c.threads > 1 ? `, ${c.threads} load threads` : ''}${r.interrupted ? ' (interrupted)' : ''}`);
  const fails = counts(r.connections.failures);
  lines.push(
    `connections  ${r.connections.opened} opened, ${r.connections.failed} failed${fails ? ` (${fails})` : ''}, ${r.connections.closedEarly} closed early; ` +
      `open time p50 ${ms(r.connections.openMs.p50)} ms, max ${ms(r.connections.openMs.max)} ms`,
  );
  const m = r.messages;
  lines.push(`messages     sent ${int(m.sent)}, received ${int(m.received)}${c.fanout ? ' (receipts)' : ''}, unanswered ${int(m.unanswered)}, unsent ${int(m.unsent)}, bad echoes ${int(m.badEchoes)}, backpressured sends ${int(m.backpressured)}${m.foreign ? `, from other connections ${int(m.foreign)}` : ''}`);
  lines.push(`throughput   ${int(r.throughput.sentPerSec)} msg/s sent, ${int(r.throughput.receivedPerSec)} msg/s received (${bytesPerSec(r.throughput.bytesReceivedPerSec)}) over ${(r.elapsedMs / 1000).toFixed(2)} s`);
  lines.push(...latencyLines(r));
  const cf = counts(r.closeFailures);
  lines.push(`close codes  ${counts(r.closeCodes) || 'none'}${cf ? ` (-1: ${cf})` : ''}`, ...closeCodeHints(r));
  const e = r.errors;
  lines.push(`errors       ${e.total}${e.total ? ` (connect ${e.connectFailed}, closed early ${e.closedEarly}, unanswered ${e.unanswered}, unsent ${e.unsent}, bad echoes ${e.badEchoes})` : ''}`);
  for (const t of r.thresholds) lines.push(`threshold    ${t.threshold}: ${t.ok ? 'ok' : 'BREACHED'} (measured ${thresholdValue(t)})`);
  lines.push(...threadLines(r));
  return lines.join('\n');
}
