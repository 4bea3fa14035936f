/**
 * Writes bench/RESULTS.md and its SVG charts (bench/results/charts/) from the suite's JSON results.
 * For each scenario it takes the most recent result that ran it, preferring complete (all servers), then
 * full (not --quick), then default-loop runs.
 *
 * Usage: node dist/bench/suite/report.js [result.json ...]   (default: every suite JSON in bench/results/)
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMain, REPO_ROOT, RESULTS_DIR, spread, type Spread } from '../common.js';
import { fmtNum, fmtSpreadNum } from './common.js';
import { SERVER_IMPLS, type ServerImpl } from './protocol.js';
import { readSuiteResults, RESULT_KIND, type SuiteResult, type VariantInfo } from './results.js';
import { S6_IMPLS, SCENARIO_IDS, type RunResult, type ScenarioId } from './scenarios.js';
import { percentileChartSvg, type Series as PercentileSeries } from '../../cli/svg.js';
import { barChart, COLORS, lineChart, type Series } from './svg.js';

/** The S2 latency chart's percentile axis reaches 99.999 % (the last point of a run's curve before 100 %). */
const S2_NINES = 5;
const CHART_DIR = path.join(RESULTS_DIR, 'charts');
const RESULTS_MD = path.join(REPO_ROOT, 'bench', 'RESULTS.md');
const BASELINE: ServerImpl = 'ws-main';

function implsIn(runs: RunResult[]): ServerImpl[] {
  return SERVER_IMPLS.filter((i) => runs.some((r) => r.impl === i));
}

function runsOf(r: SuiteResult, v: VariantInfo): RunResult[] {
  return r.runs.filter((x) => x.scenario === v.scenario && x.variant === v.name);
}

function stat(runs: RunResult[], impl: ServerImpl, key: string): Spread {
  return spread(runs.filter((x) => x.impl === impl && x.ok && x.skipped === '').map((x) => x.metrics[key] ?? NaN));
}

function ratio(runs: RunResult[], impl: ServerImpl, key: string): string {
  const base = stat(runs, BASELINE, key).median;
  const v = stat(runs, impl, key).median;
  if (!Number.isFinite(base) || !Number.isFinite(v) || base === 0) return '–';
  return `×${(v / base).toPrecision(3)}`;
}

/** Markdown table of one variant: medians (min–max) over the repetitions, ratios to ws-main. */
export function variantTable(r: SuiteResult, v: VariantInfo): string {
  const runs = runsOf(r, v);
  const head = ['server', 'runs'];
  for (const m of v.metrics) {
    head.push(m.label + (m.better === 'higher' ? ' ↑' : m.better === 'lower' ? ' ↓' : ''));
    if (m.ratio) head.push(`vs ${BASELINE}`);
  }
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const impl of implsIn(runs)) {
    const mine = runs.filter((x) => x.impl === impl);
    const ok = mine.filter((x) => x.ok && x.skipped === '').length;
    const row = [impl, `${ok}/${mine.length}`];
    for (const m of v.metrics) {
      row.push(fmtSpreadNum(stat(runs, impl, m.key)));
      if (m.ratio) row.push(ratio(runs, impl, m.key));
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  // Identical notes of several runs (a skip reason, "load-bound") are listed once.
  const byText = new Map<string, string[]>();
  const note = (text: string, who: string) => byText.set(text, [...(byText.get(text) ?? []), who]);
  for (const x of runs) {
    const who = `${x.impl} #${x.rep + 1}`;
    if (x.skipped !== '') note(`skipped — ${x.skipped}`, who);
    else if (!x.ok) note(`**failed** — ${x.error}`, who);
    for (const n of x.detail.notes ?? []) note(n.replace(/\d+(\.\d+)? % CPU/, 'n % CPU').replace(/~\d+ %/, '~n %'), who);
  }
  const notes = [...byText].map(([text, who]) => `- ${who.length === runs.length && runs.length > 1 ? 'all runs' : who.join(', ')}: ${text}`);
  return [lines.join('\n'), ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

/** The run whose `key` is the median among an implementation's successful runs (for charts). */
function medianRun(runs: RunResult[], impl: ServerImpl, key: string): RunResult | undefined {
  const mine = runs.filter((x) => x.impl === impl && x.ok && Number.isFinite(x.metrics[key] ?? NaN));
  mine.sort((a, b) => a.metrics[key]! - b.metrics[key]!);
  return mine[(mine.length - 1) >> 1];
}

function chartsFor(r: SuiteResult, v: VariantInfo): { file: string; alt: string }[] {
  const runs = runsOf(r, v);
  const impls = implsIn(runs);
  const out: { file: string; alt: string }[] = [];
  const base = `${v.scenario.toLowerCase()}${v.name !== '' ? `-${v.name}` : ''}`;
  const write = (name: string, alt: string, svg: string) => {
    mkdirSync(CHART_DIR, { recursive: true });
    writeFileSync(path.join(CHART_DIR, name), svg);
    out.push({ file: `results/charts/${name}`, alt });
  };
  const bars = (key: string) =>
    impls.map((impl) => {
      const s = stat(runs, impl, key);
      return { label: impl, median: s.median, min: s.min, max: s.max, color: COLORS[impl] ?? '#777' };
    });
  const metricLabel = (key: string) => v.metrics.find((m) => m.key === key)?.label ?? key;

  if (v.scenario === 'S2') {
    // The latency-by-percentile chart is `ringsocket load`'s (cli/svg.ts), with a log latency axis.
    const series: PercentileSeries[] = [];
    for (const impl of impls) {
      const run = medianRun(runs, impl, 'p99Ms');
      if (run?.detail.rtt === undefined) continue;
      series.push({ name: impl, color: COLORS[impl] ?? '#777', points: run.detail.rtt.curve.map(([p, us]) => [p, us / 1000] as [number, number]) });
    }
    const title = 'S2 RTT by percentile (corrected for coordinated omission; median run)';
    write(`${base}-latency.svg`, 'RTT distribution', percentileChartSvg(title, [], series, S2_NINES, { logLatency: true }));
  } else if (v.scenario === 'S3') {
    const series: Series[] = [];
    for (const impl of impls) {
      const run = medianRun(runs, impl, 'lateP99Ms');
      if (run?.detail.ticks === undefined) continue;
      series.push({ label: impl, color: COLORS[impl] ?? '#777', points: run.detail.ticks.map((t) => [t.at / 1000, Math.max(0.01, t.lateness)] as [number, number]) });
    }
    write(`${base}-lateness.svg`, `tick lateness over time (${v.name})`, lineChart(`S3 ${v.name}: tick lateness over time (median run)`, { label: 'time in window (s)', scale: 'linear' }, { label: 'lateness (ms, log; 0 drawn at 0.01)', scale: 'log' }, series));
  }
  if (!runs.some((x) => x.ok && x.skipped === '')) return out;
  if (v.headline !== '' && v.scenario !== 'S2' && v.scenario !== 'S3') {
    write(`${base}-${v.headline}.svg`, metricLabel(v.headline), barChart(`${v.title.split(':')[0]}: ${metricLabel(v.headline)} (median, min–max)`, metricLabel(v.headline), bars(v.headline)));
  }
  if (v.scenario === 'S4') {
    write(`${base}-procNsPerMsg.svg`, metricLabel('procNsPerMsg'), barChart(`S4: ${metricLabel('procNsPerMsg')} (median, min–max)`, metricLabel('procNsPerMsg'), bars('procNsPerMsg')));
  }
  return out;
}

interface Picked {
  scenario: ScenarioId;
  file: string;
  result: SuiteResult;
}

/**
 * For each scenario, the latest result that ran it, preferring runs of all its servers to partial
 * ones, then full runs to --quick ones, then default loops to tuned experiments.
 */
function pick(all: { file: string; result: SuiteResult }[]): Picked[] {
  const out: Picked[] = [];
  for (const id of SCENARIO_IDS) {
    // "All servers": all those the scenario runs (S6 runs three).
    const servers = id === 'S6' ? S6_IMPLS : SERVER_IMPLS;
    const score = (r: SuiteResult): number =>
      (servers.every((i) => r.options.servers.includes(i)) ? 4 : 0) + (r.options.quick ? 0 : 2) + (r.options.rsLoop === undefined ? 1 : 0);
    let chosen: { file: string; result: SuiteResult } | undefined;
    for (const x of all) {
      if (!x.result.runs.some((r) => r.scenario === id)) continue;
      // `all` is oldest first: a later result of equal standing replaces an earlier one.
      if (chosen === undefined || score(x.result) >= score(chosen.result)) chosen = x;
    }
    if (chosen !== undefined) out.push({ scenario: id, ...chosen });
  }
  return out;
}

function targets(picked: Picked[]): string[] {
  const get = (id: ScenarioId, variant: string) => {
    const p = picked.find((x) => x.scenario === id);
    if (p === undefined) return null;
    return p.result.runs.filter((r) => r.scenario === id && r.variant === variant);
  };
  const med = (runs: RunResult[] | null, impl: ServerImpl, key: string) => (runs === null ? NaN : stat(runs, impl, key).median);
  const rows: string[][] = [];
  const verdict = (ok: boolean | null) => (ok === null ? 'no data' : ok ? 'met' : '**missed**');
  const known = (...xs: number[]) => xs.every((x) => Number.isFinite(x));

  const s4 = get('S4', '');
  const s4r = med(s4, 'ringsocket', 'mainNsPerMsg') / med(s4, BASELINE, 'mainNsPerMsg');
  rows.push(['S4 main-thread CPU/msg ≤ 0.1× ws-main', Number.isFinite(s4r) ? `×${s4r.toPrecision(3)}` : '–', verdict(Number.isFinite(s4r) ? s4r <= 0.1 : null)]);

  const flood = get('S3', 'flood');
  const floor = get('S3', 'floor');
  const missed = med(flood, 'ringsocket', 'ticksMissed');
  const p99 = med(flood, 'ringsocket', 'lateP99Ms');
  const p99floor = med(floor, 'ringsocket', 'lateP99Ms');
  const cons = med(flood, 'ringsocket', 'consumedPerSec');
  const consWs = med(flood, BASELINE, 'consumedPerSec');
  rows.push(['S3 no tick missed under flood', Number.isFinite(missed) ? `${fmtNum(missed)} missed` : '–', verdict(Number.isFinite(missed) ? missed === 0 : null)]);
  rows.push([
    'S3 lateness p99 within 1 ms of the no-client floor',
    known(p99, p99floor) ? `${fmtNum(p99)} ms vs floor ${fmtNum(p99floor)} ms` : '–',
    verdict(known(p99, p99floor) ? p99 - p99floor <= 1 : null),
  ]);
  rows.push(['S3 consumes ≥ ws-main msg/s under flood', known(cons, consWs) ? `${fmtNum(cons)} vs ${fmtNum(consWs)}` : '–', verdict(known(cons, consWs) ? cons >= consWs : null)]);

  const s1 = get('S1', '');
  const s1r = med(s1, 'ringsocket', 'echoPerSec') / med(s1, BASELINE, 'echoPerSec');
  rows.push(['S1 echo throughput ≥ 1.5× ws-main', Number.isFinite(s1r) ? `×${s1r.toPrecision(3)}` : '–', verdict(Number.isFinite(s1r) ? s1r >= 1.5 : null)]);

  const s2 = get('S2', '');
  const a = med(s2, 'ringsocket', 'p99Ms');
  const b = med(s2, BASELINE, 'p99Ms');
  rows.push(['S2 RTT p99 ≤ ws-main', known(a, b) ? `${fmtNum(a)} ms vs ${fmtNum(b)} ms` : '–', verdict(known(a, b) ? a <= b : null)]);

  const s5p = picked.find((x) => x.scenario === 'S5');
  const s5runs = s5p?.result.runs.filter((r) => r.scenario === 'S5') ?? [];
  const held50k = s5runs.filter((r) => r.impl === 'ringsocket' && r.variant === '50000');
  const heldOk = held50k.some((r) => r.ok && r.skipped === '' && (r.metrics.conns ?? 0) >= 50_000);
  const heldWhy = held50k.find((r) => r.skipped !== '')?.skipped ?? '';
  rows.push(['S5 50,000 connections held', heldOk ? 'held' : heldWhy !== '' ? `not run: ${heldWhy}` : '–', verdict(held50k.length === 0 || (heldWhy !== '' && !heldOk) ? null : heldOk)]);
  const s510 = s5runs.filter((r) => r.variant === '10000');
  const rr = med(s510.length > 0 ? s510 : null, 'ringsocket', 'rssPerConnKB');
  const rw = med(s510.length > 0 ? s510 : null, BASELINE, 'rssPerConnKB');
  rows.push(['S5 RSS per idle connection ≤ ws-main (10,000)', known(rr, rw) ? `${fmtNum(rr)} KB vs ${fmtNum(rw)} KB` : '–', verdict(known(rr, rw) ? rr <= rw : null)]);

  // Issue 14: the game server at scale (S6), at each client count the picked run has.
  const s6p = picked.find((x) => x.scenario === 'S6');
  const s6runs = s6p?.result.runs.filter((r) => r.scenario === 'S6') ?? [];
  const sizes = [...new Set(s6runs.map((r) => r.variant).filter((n) => n !== 'floor'))].sort((x, y) => Number(x) - Number(y));
  for (const n of sizes) {
    const at = s6runs.filter((r) => r.variant === n);
    const label = Number(n).toLocaleString('en-US');
    const miss = med(at, 'ringsocket', 'missedPct');
    rows.push([`S6 no tick missed at ${label} clients`, Number.isFinite(miss) ? `${fmtNum(miss)} % missed` : '–', verdict(Number.isFinite(miss) ? miss === 0 : null)]);
    if (n === '2000') {
      const over = med(at, 'ringsocket', 'lateOverFloorP99Ms');
      rows.push([`S6 lateness p99 within 1 ms of the floor at ${label}`, Number.isFinite(over) ? `+${fmtNum(over)} ms` : '–', verdict(Number.isFinite(over) ? over <= 1 : null)]);
    }
    if (n === '10000') {
      const cpu = med(at, 'ringsocket', 'nonWorkOverFloorPct');
      rows.push([`S6 main-thread CPU outside the work < 1 % of wall at ${label} (over the floor)`, Number.isFinite(cpu) ? `${fmtNum(cpu)} %` : '–', verdict(Number.isFinite(cpu) ? cpu < 1 : null)]);
    }
    const del = med(at, 'ringsocket', 'deliveryPct');
    rows.push([`S6 snapshot delivery ≥ 99 % at ${label}`, Number.isFinite(del) ? `${fmtNum(del)} %` : '–', verdict(Number.isFinite(del) ? del >= 99 : null)]);
    const age = med(at, 'ringsocket', 'snapAgeP99Ms');
    const ageU = med(at, 'uws-main', 'snapAgeP99Ms');
    rows.push([`S6 snapshot age p99 ≤ uws-main's at ${label}`, known(age, ageU) ? `${fmtNum(age)} ms vs ${fmtNum(ageU)} ms` : '–', verdict(known(age, ageU) ? age <= ageU : null)]);
  }

  return ['| target | ringsocket | verdict |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** The ringsocket workers' young-generation cap as a run used it (older result files predate the option). */
function youngLine(mb: number | undefined): string {
  if (mb === undefined || mb === 0) return "Node's default";
  return mb < 0 ? "12 MB in S5, Node's default elsewhere" : `${mb} MB`;
}

function machineLine(r: SuiteResult): string {
  const m = r.machine;
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.memGiB} GiB; Linux ${m.kernel}; Node ${m.node} (V8 ${m.v8}); ws ${m.versions.ws}` +
    `${m.wsUsesBufferutil ? ' with bufferutil' : ''}, uWS ${m.versions['uws-js-unofficial']}; ringsocket ${m.gitCommit}${m.gitDirty ? ' (uncommitted changes)' : ''}; ` +
    `load average at start ${m.loadavgAtStart.join(' ')}, at end ${r.loadavgAtEnd.join(' ')}`
  );
}

/** Regenerate bench/RESULTS.md (and the charts) from the given results, or from every one on disk. */
export function writeReport(files?: string[]): string {
  const all =
    files !== undefined && files.length > 0
      ? files.map((file) => ({ file, result: JSON.parse(readFileSync(file, 'utf8')) as SuiteResult })).filter((x) => x.result.kind === RESULT_KIND)
      : readSuiteResults();
  const picked = pick(all);
  const md: string[] = [
    '# Benchmark results: ringsocket side by side',
    '',
    '<!-- Generated by bench/suite/report.ts (npm run bench:suite). Do not edit by hand. -->',
    '',
    'ringsocket against `ws` on the main thread, uWebSockets.js on the main thread, and `ws` in a worker with every message ' +
      'forwarded by `postMessage`. Each server runs in its own process; the load comes from separate processes (raw sockets, ' +
      'pre-built masked frames). Cells are **median (min–max)** over the repetitions; "vs ws-main" is the ratio of medians. ' +
      '↑ higher is better, ↓ lower is better. CPU % is of one core.',
    '',
    'Run: `npm run bench:suite` (all, ~15 min), `npm run bench:suite -- --quick` (~3 min), ' +
      '`npm run bench:suite -- --scenario S1,S4 --servers ringsocket,ws-main --reps 5`. Regenerate this page: `node dist/bench/suite/report.js`.',
    '',
  ];
  if (picked.length === 0) {
    md.push('No suite results yet.');
  } else {
    md.push('## Targets (issues 4 and 14)', '', ...targets(picked), '');
  }
  let lastFile = '';
  for (const p of picked) {
    const r = p.result;
    const variants = r.variants.filter((v) => v.scenario === p.scenario);
    md.push(`## ${p.scenario}`, '');
    if (p.file !== lastFile) md.push(
      `From \`${path.relative(path.join(REPO_ROOT, 'bench'), p.file)}\` (${r.startedAt}${r.options.quick ? ', **--quick**' : ''}, ${r.options.reps} rep(s), ` +
        `ringsocket loop ${JSON.stringify(r.options.rsLoop ?? 'scenario default')}, PeerPool threads ${r.options.rsThreads === 0 ? 'default' : r.options.rsThreads}, workerNice ${r.options.rsNice === undefined ? 0 : r.options.rsNice < 0 ? '10 in S3, 0 elsewhere' : r.options.rsNice}${r.options.rsRead !== undefined ? `, reads with ${r.options.rsRead === 'packet' ? 'getPacket' : 'getPacketInto'}` : ''}, ` +
        `worker young generation ${youngLine(r.options.rsYoungMb)}).`,
      '',
      `Machine: ${machineLine(r)}.`,
      '',
    );
    else md.push('Same run as above.', '');
    lastFile = p.file;
    for (const v of variants) {
      md.push(`### ${v.title}`, '', `Parameters: \`${JSON.stringify(v.params)}\``, '', variantTable(r, v), '');
      for (const c of chartsFor(r, v)) md.push(`![${c.alt}](${c.file})`, '');
    }
  }
  md.push(
    '## How each figure is measured',
    '',
    '- **echoes/s** (S1): echo replies counted by the load processes over the window, on their own clocks.',
    '- **RTT** (S2): open loop at a constant rate; each message carries its intended send time and the RTT is taken from it, so a ' +
      'stalled server is charged for the messages it delayed (coordinated omission corrected). "uncorrected" is from the actual ' +
      'write; "load send lag" is how late the load process itself wrote (its 1 ms timer), part of every server\'s RTT alike.',
    '- **tick lateness** (S3): the same 60 Hz setTimeout loop in every server (8 ms of busy work, then a 256 B snapshot to each ' +
      'client); lateness = start − scheduled time; a slot is *missed* when its successor was already due before it could run ' +
      '(the loop skips ahead instead of running late ticks back to back). ringsocket consumes its messages at the start of each tick; ' +
      'the others in their callbacks between ticks.',
    '- **main-thread ns/msg** (S4): /proc/thread-self/schedstat of the server\'s main thread over the window ÷ messages the ' +
      'application consumed; **process ns/msg** uses process.cpuUsage (every thread). ringsocket polls every 1 ms in S4 (`paced`) so ' +
      'that its main-thread time is work, not spinning; S1/S2 poll flat out (setImmediate).',
    '- **backlog**: messages that reached the server\'s I/O thread but not the application at the end of the window (the ' +
      'postMessage worker queues them without bound).',
    '- **RSS KB/conn** (S5): (RSS with N idle connections − RSS before any), after a forced GC, ÷ N.',
    '- **S6** (game server at scale): the S3 loop with N clients sending 10 inputs/s each; snapshots stamped with ' +
      '`process.hrtime.bigint()` (CLOCK_MONOTONIC, shared by every process), **snapshot age** = receipt − stamp in the load ' +
      'processes; **delivery %** = snapshots/s received ÷ (clients × ticks run)/s; **main CPU outside the work** = main-thread ' +
      'schedstat over the window − the CPU of the 8 ms of work (wall − run-queue wait around it), per tick; "− floor" subtracts the ' +
      'no-client run of the same server. ringsocket: `WebSocketMultiplayerPeer`, one `poll()` per tick, the snapshot as one ' +
      'publication; uws-main: `app.publish` to one topic; ws-main: a send loop.',
    '',
  );
  writeFileSync(RESULTS_MD, md.join('\n'));
  // Charts of scenarios no longer shown (e.g. another S5 connection count) would linger: remove them.
  const linked = new Set(md.flatMap((l) => /\(results\/charts\/([^)]+)\)/.exec(l)?.[1] ?? []));
  for (const f of readdirSync(CHART_DIR, { withFileTypes: true })) {
    if (f.isFile() && f.name.endsWith('.svg') && !linked.has(f.name)) rmSync(path.join(CHART_DIR, f.name));
  }
  return RESULTS_MD;
}

if (isMain(import.meta.url)) {
  const file = writeReport(process.argv.slice(2));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
