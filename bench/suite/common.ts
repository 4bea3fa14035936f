/**
 * Helpers shared by the side-by-side suite's processes: clocks, statistics, machine facts, paths.
 * Kept apart from bench/common.ts so that the suite does not depend on files other benchmarks edit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, availableParallelism, loadavg, release, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, from dist/bench/suite/common.js (three levels up). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** CPU time (ns) of the calling thread: first field of /proc/thread-self/schedstat. */
export function threadCpuNs(): number {
  const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
  return Number(text.slice(0, text.indexOf(' ')));
}

/** CPU time (ns) of the whole process, every thread (user + system). */
export function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** The soft limit on open files of this process (from /proc/self/limits). */
export function openFilesLimit(): number {
  const text = readFileSync('/proc/self/limits', 'latin1');
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (m === null) return NaN;
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * Whether a child can be given `want` open files: `ulimit -n` in a shell raises the hard limit only
 * with CAP_SYS_RESOURCE (root alone is not enough in a container). Returns the shell's error if not.
 */
export function tryRaiseFdLimit(want: number): { ok: boolean; detail: string } {
  const r = spawnSync('bash', ['-c', `ulimit -n ${want} && ulimit -n`], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true, detail: `ulimit -n ${want}: ok (${r.stdout.trim()})` };
  return { ok: false, detail: `ulimit -n ${want}: ${(r.stderr || r.stdout).trim().replace(/^bash: (line \d+: )?/, '')}` };
}

/** Machine-wide CPU clock from /proc/stat: busy and total jiffies over all cores. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Percent of one core the whole machine was busy between two machineCpu() readings. */
export function machineBusyPct(a: { busy: number; total: number }, b: { busy: number; total: number }, cores: number): number {
  const dt = b.total - a.total;
  return dt > 0 ? ((b.busy - a.busy) / dt) * 100 * cores : NaN;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Number with a sensible count of significant digits and k/M suffixes for large values. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

export function fmtSpread(s: Spread): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return fmtNum(s.median);
  return `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)})`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Spin on the CPU for `ms` milliseconds (the tick loop's simulated game logic). */
export function busyWork(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x = (x * 1103515245 + 12345) | 0;
  if (x === 0.5) console.log(x); // never true; keeps the loop from being optimised away
}

export interface MachineFacts {
  date: string;
  node: string;
  v8: string;
  uv: string;
  platform: string;
  arch: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  memGiB: number;
  loadavgAtStart: number[];
  openFilesLimit: number;
  gitCommit: string;
  gitDirty: boolean;
  versions: Record<string, string>;
  /** ws uses bufferutil's native mask/unmask when it can load it (an optional dependency of uWS here). */
  wsUsesBufferutil: boolean;
}

function pkgVersion(name: string): string {
  try {
    const req = createRequire(path.join(REPO_ROOT, 'package.json'));
    const file = req.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    // Packages whose "exports" hide package.json: look in node_modules directly.
    const file = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    if (!existsSync(file)) return 'absent';
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineFacts(): MachineFacts {
  const c = cpus();
  let wsUsesBufferutil = false;
  if (process.env.WS_NO_BUFFER_UTIL === undefined) {
    try {
      createRequire(path.join(REPO_ROOT, 'node_modules', 'ws', 'index.js')).resolve('bufferutil');
      wsUsesBufferutil = true;
    } catch {
      wsUsesBufferutil = false;
    }
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    uv: process.versions.uv ?? '',
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavgAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    openFilesLimit: openFilesLimit(),
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'src', 'workers']) !== '',
    versions: {
      ws: pkgVersion('ws'),
      'uws-js-unofficial': pkgVersion('@trufflesuite/uws-js-unofficial'),
      'hdr-histogram-js': pkgVersion('hdr-histogram-js'),
      bufferutil: pkgVersion('bufferutil'),
    },
    wsUsesBufferutil,
  };
}

/** Whether this module is the program's entry point. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && path.resolve(entry) === fileURLToPath(metaUrl);
}
