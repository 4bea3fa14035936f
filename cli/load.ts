/**
 * `ringsocket load <url>`: a WebSocket latency load generator whose sockets, framing and parsing run
 * in ringsocket's I/O workers. The pieces:
 * - cli/load-config.ts: flags, usage, the checked configuration;
 * - cli/load-run.ts: one load-generating thread's run: its phases (ramp, run, drain, close) and its loop;
 * - cli/load-traffic.ts: that thread's connections and messages (schedule, sends, echo checks, timing);
 * - cli/load-message.ts: the message format (timestamps, sequence, connection index);
 * - cli/load-part.ts: what a thread is given and what it posts back (counters, encoded histograms);
 * - cli/load-thread.ts: the worker entry for `--threads N` (N > 1);
 * - cli/load-report.ts: merging the threads' parts, the JSON shape, the exit code, the table, the chart;
 * - cli/thresholds.ts: `--threshold` (exit code 4 when breached).
 * This file runs the threads and prints.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CliError, EXIT, setStage, type ExitCode } from './errors.js';
import { ELD_RESOLUTION_MS, LOAD_USAGE, loadConfig, type LoadConfig } from './load-config.js';
import { buildResult, formatLoad, writeOutput, type LoadResult } from './load-report.js';
import { delaySummary, threadCpuNs, type PartResult, type Share } from './load-part.js';
import { runPart } from './load-run.js';

export { LOAD_FLAGS, LOAD_USAGE, loadConfig, parsePoll, BINARY_HEADER, TEXT_HEADER, type LoadConfig } from './load-config.js';
export { formatLoad, type LoadResult } from './load-report.js';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Split the connections and the rate over the load threads (the first threads take the remainder). */
export function shares(cfg: LoadConfig): Share[] {
  const ioThreads = cfg.ioThreads ?? (cfg.threads === 1 ? undefined : Math.max(1, Math.floor((availableParallelism() - 1) / cfg.threads)));
  const out: Share[] = [];
  for (let i = 0; i < cfg.threads; i++) {
    const connections = Math.floor(cfg.connections / cfg.threads) + (i < cfg.connections % cfg.threads ? 1 : 0);
    out.push({ index: i, connections, rate: (cfg.rate * connections) / cfg.connections, ioThreads });
  }
  return out;
}

/** Run each share on its own worker thread; the shared flag tells them to stop early. */
async function runThreads(cfg: LoadConfig, list: Share[], interrupted: () => boolean): Promise<PartResult[]> {
  const flag = new SharedArrayBuffer(4);
  const stop = new Int32Array(flag);
  const watch = setInterval(() => {
    if (interrupted()) Atomics.store(stop, 0, 1);
  }, 20);
  try {
    return await Promise.all(
      list.map(
        (share) =>
          new Promise<PartResult>((resolve, reject) => {
            const w = new Worker(new URL('./load-thread.js', import.meta.url), { workerData: { cfg, share, flag } });
            let result: PartResult | null = null;
            w.once('message', (r: PartResult) => (result = r));
            w.once('error', reject);
            w.once('exit', (code) => (result !== null ? resolve(result) : reject(new Error(`load thread ${share.index} exited (code ${code}) without a result`))));
          }),
      ),
    );
  } finally {
    clearInterval(watch);
  }
}

/** Run the load described by `cfg` on its load threads; returns the results (not yet printed). */
export async function runLoad(cfg: LoadConfig, signals: { interrupted: () => boolean }): Promise<LoadResult> {
  const startedAt = new Date().toISOString();
  const list = shares(cfg);
  if (cfg.threads === 1) {
    const part = await runPart(cfg, list[0]!, signals.interrupted);
    return buildResult(cfg, { version: packageVersion(), startedAt }, [part], { eventLoopDelayMs: part.eventLoopDelayMs, cpuMs: part.cpuMs });
  }
  if (!cfg.quiet) process.stderr.write(`ringsocket load: ${cfg.threads} load threads, ${list.map((s) => s.connections).join(' + ')} connections\n`);
  setStage(`running ${cfg.threads} load threads`);
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  const cpu0 = threadCpuNs();
  const parts = await runThreads(cfg, list, signals.interrupted);
  eld.disable();
  const cpu1 = threadCpuNs();
  setStage('reporting');
  return buildResult(cfg, { version: packageVersion(), startedAt }, parts, { eventLoopDelayMs: delaySummary(eld), cpuMs: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / 1e6 : null });
}

function connectFailure(cfg: LoadConfig, r: LoadResult): CliError {
  const f = r.connections.failures;
  const reasons = Object.entries(f).map(([k, v]) => `${k} ×${v}`).join(', ');
  const first = Object.keys(f)[0] ?? 'unknown';
  const what = Object.keys(f).some((k) => k.startsWith('HTTP_')) ? 'handshake refused by' : 'cannot connect to';
  const detail = Object.keys(f).length > 1 ? `${reasons}; ` : '';
  return new CliError(`${what} ${cfg.url}: ${first} (${detail}${r.connections.failed} of ${r.connections.requested} connections failed)`, r.exitCode as ExitCode);
}

/** `ringsocket load …`: returns the exit code. */
export async function loadCommand(argv: readonly string[]): Promise<number> {
  const cfg = loadConfig(argv);
  if (cfg === null) {
    process.stdout.write(LOAD_USAGE + '\n');
    return EXIT.OK;
  }
  let signalled = 0;
  const onSignal = (): void => {
    signalled++;
    if (signalled === 1) {
      if (!cfg.quiet) process.stderr.write('\nringsocket load: interrupted, finishing (again to abort)\n');
    } else {
      process.exit(EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await runLoad(cfg, { interrupted: () => signalled > 0 });
    if (cfg.json === '-') process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      if (cfg.json !== undefined) writeOutput(cfg.json, JSON.stringify(r, null, 2) + '\n', '--json');
      if (r.connections.opened > 0) process.stdout.write(formatLoad(r) + '\n');
    }
    if (r.connections.opened === 0) throw connectFailure(cfg, r);
    if (r.exitCode === EXIT.THRESHOLD) {
      const breached = r.thresholds.filter((t) => !t.ok).map((t) => t.threshold);
      process.stderr.write(`ringsocket load: threshold${breached.length > 1 ? 's' : ''} breached: ${breached.join(', ')}\n`);
    }
    if (r.errors.total !== 0 && r.exitCode !== EXIT.OK) process.stderr.write(`ringsocket load: finished with ${r.errors.total} error(s)\n`);
    return r.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
