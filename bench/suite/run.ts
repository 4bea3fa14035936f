/**
 * The side-by-side benchmark suite (issue 4): ringsocket against ws-main, uws-main and
 * ws-worker-postmessage, each server in its own process, load from separate processes.
 *
 * ```
 *  run.js ──fork──► server.js <impl> <mode>     (one per run, killed after it)
 *         ──fork──► load.js × n                  (raw sockets, pre-built masked frames, HDR histograms)
 *  for each scenario variant, for each repetition, every implementation once — the order rotates
 *  with the repetition, so no implementation always runs first (or last, on a warmer machine).
 * ```
 * Writes bench/results/<time>-suite[-quick].json (machine facts, options, every run's figures) and
 * regenerates bench/RESULTS.md with tables and SVG charts (report.ts).
 *
 * Usage: npm run bench:suite -- [--scenario S1,S3] [--servers ringsocket,ws-main] [--reps 3] [--quick]
 *          [--rs-loop immediate|paced|wait] [--paced-ms 1] [--rs-threads N] [--s5-conns 10000,50000]
 *          [--rss-limit-mib 4096] [--flood-batch N] [--cpu-prof DIR] [--no-report]
 *          [--s6-clients 2000,5000,10000] [--rs-skip-behind [N]] [--s7-conns 10000] [--rs-read into|packet]
 * --flood-batch N: frames per write of the S3/S4 floods (default 8 and 32; larger floods harder).
 * --cpu-prof DIR writes a V8 CPU profile of every server process and each of its threads into DIR
 * (the servers then exit cleanly instead of being killed).
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { argInt, argList, argValue, isMain, machineFacts, openFilesLimit, REPO_ROOT, spread } from '../common.js';
import { fmtNum, tryRaiseFdLimit } from './common.js';
import { SERVER_IMPLS, type RsLoop, type ServerImpl } from './protocol.js';
import { writeSuiteResult, type SuiteResult, type VariantInfo } from './results.js';
import { runOne, SCENARIO_IDS, variantsOf, type RunResult, type ScenarioId, type SuiteOptions, type Variant } from './scenarios.js';
import { variantTable, writeReport } from './report.js';

export function parseOptions(argv: string[]): SuiteOptions & { report: boolean } {
  const quick = argValue(argv, 'quick') !== undefined;
  const rsLoop = argValue(argv, 'rs-loop');
  if (rsLoop !== undefined && rsLoop !== 'immediate' && rsLoop !== 'paced' && rsLoop !== 'wait') throw new TypeError(`--rs-loop must be immediate, paced or wait, got ${rsLoop}`);
  const cpuProf = argValue(argv, 'cpu-prof');
  const s5 = argValue(argv, 's5-conns');
  const s5Conns = s5 === undefined || s5 === '' ? (quick ? [5_000] : [10_000, 50_000]) : s5.split(',').map((x) => Number(x.replace(/_/g, '')));
  if (s5Conns.some((n) => !Number.isInteger(n) || n < 1)) throw new TypeError(`--s5-conns must be positive integers, got ${s5}`);
  const s6 = argValue(argv, 's6-clients');
  const s6Clients = s6 === undefined || s6 === '' ? (quick ? [2_000] : [2_000, 5_000, 10_000]) : s6.split(',').map((x) => Number(x.replace(/_/g, '')));
  if (s6Clients.some((n) => !Number.isInteger(n) || n < 1)) throw new TypeError(`--s6-clients must be positive integers, got ${s6}`);
  const s7 = argValue(argv, 's7-conns');
  // `--s7-conns 0`: S7 without its held-connection variants.
  const s7Conns = s7 === undefined || s7 === '' ? (quick ? [2_000] : [10_000]) : s7 === '0' ? [] : s7.split(',').map((x) => Number(x.replace(/_/g, '')));
  if (s7Conns.some((n) => !Number.isInteger(n) || n < 1)) throw new TypeError(`--s7-conns must be positive integers (or 0: none), got ${s7}`);
  const rsRead = argValue(argv, 'rs-read') ?? 'into';
  if (rsRead !== 'into' && rsRead !== 'packet') throw new TypeError(`--rs-read must be into or packet, got ${rsRead}`);
  const skip = argValue(argv, 'rs-skip-behind');
  const rsSkipBehind = skip === undefined ? -1 : skip === '' ? 0 : Number(skip);
  if (!Number.isInteger(rsSkipBehind) || rsSkipBehind < -1) throw new TypeError(`--rs-skip-behind takes a backlog of 0 or more, got ${skip}`);
  return {
    scenarios: argList(argv, 'scenario', SCENARIO_IDS),
    servers: argList(argv, 'servers', SERVER_IMPLS),
    reps: argInt(argv, 'reps', quick ? 1 : 3),
    quick,
    rsLoop: rsLoop as RsLoop | undefined,
    pacedMs: argInt(argv, 'paced-ms', 1),
    rsThreads: argInt(argv, 'rs-threads', 0, 0),
    rsInboundBytes: argInt(argv, 'rs-inbound-bytes', 0, 0),
    rsNice: argInt(argv, 'rs-nice', -1, -1),
    rsYoungMb: argInt(argv, 'rs-young-mb', -1, -1),
    s5Conns,
    s6Clients,
    s7Conns,
    // --rs-skip-behind [N]: skip while the backlog is above N (default 0); absent: never skip (-1).
    rsSkipBehind,
    rsRead,
    rssLimitMiB: argInt(argv, 'rss-limit-mib', 4096),
    floodBatch: argInt(argv, 'flood-batch', 0, 0),
    cpuProfDir: cpuProf === undefined ? '' : path.resolve(cpuProf === '' ? 'prof' : cpuProf),
    report: argValue(argv, 'no-report') === undefined,
  };
}

/** One line per run for the console. */
function runLine(v: Variant, r: RunResult): string {
  const tag = `${v.scenario}${v.name !== '' ? ` ${v.name}` : ''}`.padEnd(13);
  const who = `${r.impl} #${r.rep + 1}`.padEnd(26);
  const secs = `${(r.wallMs / 1000).toFixed(1)} s`;
  if (r.skipped !== '') return `${tag} ${who} skipped: ${r.skipped}`;
  if (!r.ok) return `${tag} ${who} FAILED (${secs}): ${r.error}`;
  const shown = v.metrics
    .slice(0, 4)
    .map((m) => `${m.label} ${fmtNum(r.metrics[m.key] ?? NaN)}`)
    .join(', ');
  const notes = r.detail.notes !== undefined ? ` [${r.detail.notes.join('; ')}]` : '';
  const slow = r.detail.phasesMs !== undefined && r.wallMs > 2 * (v.warmupMs + v.measureMs) + 4000 ? ` phases ${JSON.stringify(r.detail.phasesMs)}` : '';
  return `${tag} ${who} ${shown} (${secs})${notes}${slow}`;
}

/**
 * S6: each loaded run's lateness p99 minus the no-client floor's (the same server's median over this
 * invocation's S6 floor runs; the floor is the timer's own lateness with that server's threads idle).
 */
export function lateOverFloor(runs: RunResult[]): void {
  for (const r of runs) {
    if (r.scenario !== 'S6' || !r.ok) continue;
    const floor = spread(runs.filter((x) => x.scenario === 'S6' && x.variant === 'floor' && x.impl === r.impl && x.ok).map((x) => x.metrics.lateP99Ms ?? NaN)).median;
    r.metrics.floorP99Ms = floor;
    r.metrics.lateOverFloorP99Ms = (r.metrics.lateP99Ms ?? NaN) - floor;
    // The floor's "outside the work" is the timer, the marks and the measuring itself (see ThreadSchedstat).
    const floorCpu = spread(runs.filter((x) => x.scenario === 'S6' && x.variant === 'floor' && x.impl === r.impl && x.ok).map((x) => x.metrics.nonWorkCpuUsPerTick ?? NaN)).median;
    r.metrics.nonWorkOverFloorUsPerTick = (r.metrics.nonWorkCpuUsPerTick ?? NaN) - floorCpu;
    r.metrics.nonWorkOverFloorPct = (100 * r.metrics.nonWorkOverFloorUsPerTick * (r.metrics.ticksRun ?? NaN)) / ((r.metrics.windowMs ?? NaN) * 1000);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const machine = machineFacts();

  // S5 needs as many open files in the server process as connections.
  const perProcess = openFilesLimit();
  const maxConns = o.scenarios.includes('S5') ? Math.max(...o.s5Conns) : 0;
  let raise = 'not needed';
  let serverFdLimit: number | undefined;
  if (maxConns + 1024 > perProcess) {
    const want = maxConns + 4096;
    const r = tryRaiseFdLimit(want);
    raise = r.detail;
    if (r.ok) serverFdLimit = want;
  }

  const variants = o.scenarios.flatMap((id: ScenarioId) => variantsOf(id, o));
  const { report, ...options } = o;
  console.log(
    `ringsocket bench suite: ${o.scenarios.join(',')} × ${o.servers.join(',')} × ${o.reps} rep(s)${o.quick ? ' (quick)' : ''}\n` +
      `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load average ${machine.loadavgAtStart.join(' ')}; ` +
      `open files per process ${perProcess}${maxConns > 0 ? `; raising for S5: ${raise}` : ''}` +
      `${machine.wsUsesBufferutil ? '; ws uses bufferutil' : ''}`,
  );

  const runs: RunResult[] = [];
  for (const v of variants) {
    for (let rep = 0; rep < o.reps; rep++) {
      const k = rep % o.servers.length;
      const order: ServerImpl[] = [...o.servers.slice(k), ...o.servers.slice(0, k)];
      for (const impl of order) {
        let r: RunResult;
        if (v.scenario === 'S5' && serverFdLimit === undefined && v.conns + 64 > perProcess) {
          // Not startable: say why without spawning anything.
          r = { scenario: v.scenario, variant: v.name, impl, rep, ok: false, error: '', metrics: {}, detail: {}, wallMs: 0, skipped: '' };
          r.skipped = `server open-files limit ${perProcess} < ${v.conns} connections (raising it: ${raise})`;
        } else {
          r = await runOne(v, impl, rep, options, v.scenario === 'S5' ? serverFdLimit : undefined);
          if (r.skipped !== '' && v.scenario === 'S5') r.skipped += ` (raising it: ${raise})`;
        }
        runs.push(r);
        console.log(runLine(v, r));
      }
    }
  }

  lateOverFloor(runs);

  const variantInfos: VariantInfo[] = variants.map((v) => ({
    scenario: v.scenario,
    name: v.name,
    title: v.title,
    metrics: v.metrics,
    headline: v.headline,
    params: { conns: v.conns, mode: v.mode, rsLoop: v.rsLoop, load: v.load, warmupMs: v.warmupMs, measureMs: v.measureMs },
  }));
  const result: SuiteResult = {
    kind: 'ringsocket-bench-suite',
    version: 1,
    startedAt,
    durationMs: performance.now() - t0,
    command: `node ${path.relative(REPO_ROOT, process.argv[1] ?? '')} ${argv.join(' ')}`.trim(),
    machine,
    loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    options,
    fdLimit: { perProcess, raise },
    variants: variantInfos,
    runs,
  };
  const file = writeSuiteResult(result);
  console.log('');
  for (const v of variantInfos) console.log(`${v.title}\n\n${variantTable(result, v)}\n`);
  console.log(`results: ${path.relative(process.cwd(), file)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (report) console.log(`report: ${path.relative(process.cwd(), writeReport())}`);
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
