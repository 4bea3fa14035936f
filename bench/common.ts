/**
 * The helpers every benchmark uses, the side-by-side suite (bench/suite/) included: paths and result
 * files, statistics, machine facts, CPU clocks, argument parsing, window profiles. What only the suite
 * needs (open-file limits, the machine-wide CPU clock, its table formats) is in bench/suite/common.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, availableParallelism, loadavg, release, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { threadCpuNs as threadCpuNsOrNull } from '../cli/load-part.js';
import { argValue } from '../examples/argv.js';

// One `--name value` reader for the examples and the benchmarks (examples/ ships, bench/ does not).
export { argInt, argValue } from '../examples/argv.js';

/** Repository root, from dist/bench/common.js (two levels up from dist/bench). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many finite values there were. */
  n: number;
}

/** Median, min and max of the finite values. */
export function spread(values: number[]): Spread {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** `median (min–max)` with `digits` decimals (the suite's tables use bench/suite/common.ts's fmtSpread). */
export function fmtSpread(s: Pick<Spread, 'median' | 'min' | 'max'>, digits = 0): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

export interface MachineInfo {
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  /** 1, 5 and 15 minute load averages when measured: other work on the machine skews every figure. */
  loadAvg: number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The soft limit on open files of this process (from /proc/self/limits; NaN where that file does not exist). */
export function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (m === null) return NaN;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return NaN;
  }
}

/** Open file descriptors of this process (/proc/self/fd; NaN where it does not exist). */
export function fdCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return NaN;
  }
}

/** This process's resident set in bytes: /proc/self/status VmRSS, process.memoryUsage().rss elsewhere. */
export function vmRssBytes(): number {
  let m: RegExpExecArray | null = null;
  try {
    m = /^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'latin1'));
  } catch {
    // not Linux
  }
  return m === null ? process.memoryUsage().rss : Number(m[1]) * 1024;
}

/** What the suite records about the machine: machineInfo's facts and more (versions, git, limits). */
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

function wsUsesBufferutil(): boolean {
  if (process.env.WS_NO_BUFFER_UTIL !== undefined) return false;
  try {
    createRequire(path.join(REPO_ROOT, 'node_modules', 'ws', 'index.js')).resolve('bufferutil');
    return true;
  } catch {
    return false;
  }
}

export function machineFacts(): MachineFacts {
  const m = machineInfo();
  return {
    date: new Date().toISOString(),
    node: m.node,
    v8: m.v8,
    uv: process.versions.uv ?? '',
    platform: m.platform,
    arch: m.arch,
    kernel: release(),
    cpuModel: m.cpuModel,
    cores: m.cores,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavgAtStart: m.loadAvg,
    openFilesLimit: openFilesLimit(),
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: git(['status', '--porcelain', '--', 'src', 'workers']) !== '',
    versions: {
      ws: pkgVersion('ws'),
      'uws-js-unofficial': pkgVersion('@trufflesuite/uws-js-unofficial'),
      'hdr-histogram-js': pkgVersion('hdr-histogram-js'),
      bufferutil: pkgVersion('bufferutil'),
    },
    wsUsesBufferutil: wsUsesBufferutil(),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The path bench/results/<time>-<name>.json (the folder made if need be); `isoTime` defaults to now. */
export function resultPath(name: string, isoTime = new Date().toISOString()): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return path.join(RESULTS_DIR, `${isoTime.replace(/[:.]/g, '-')}-${name}.json`);
}

/** Write `data` as bench/results/<timestamp>-<name>.json; returns the path. */
export function writeResult(name: string, data: unknown): string {
  const file = resultPath(name);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/**
 * CPU time (ns) consumed so far by the calling thread: the first field of /proc/thread-self/schedstat
 * (time spent on the CPU). Called on the main thread it counts the main thread alone, not the workers.
 * Granularity: the kernel brings the figure up to date at context switches and scheduler ticks (every
 * 4 ms at HZ=250), so a reading can lag by one tick: measure windows of a second or more. One read
 * costs ~35 µs here (open + read + close of a /proc file): not for per-tick use.
 */
export function threadCpuNs(): number {
  const ns = threadCpuNsOrNull(); // the one thread clock, shared with `ringsocket load`
  if (ns === null) throw new Error('cannot read /proc/thread-self/schedstat');
  return ns;
}

/** Throws with a clear message where /proc/thread-self/schedstat does not exist (not Linux). */
export function checkThreadClock(): void {
  try {
    const v = threadCpuNs();
    if (!Number.isFinite(v)) throw new Error('unparsable');
  } catch (err) {
    throw new Error(`this benchmark needs /proc/thread-self/schedstat (Linux): ${(err as Error).message}`, { cause: err });
  }
}

/** Process CPU (user + system, all threads) in ns. */
export function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Whether this module is the program's entry point (`node dist/bench/x.js`). */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && path.resolve(entry) === fileURLToPath(metaUrl);
}

/** A comma-separated list flag whose items must be among `allowed`; every allowed item when absent. */
export function argList<T extends string>(argv: string[], name: string, allowed: readonly T[]): T[] {
  const v = argValue(argv, name);
  if (v === undefined || v === '') return [...allowed];
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of items) if (!allowed.includes(s as T)) throw new TypeError(`--${name}: unknown '${s}' (one of ${allowed.join(', ')})`);
  return items as T[];
}

/**
 * A V8 CPU profile of chosen windows of this thread (not the whole process, as `node --cpu-prof`
 * gives): `start()` just before a measured window, `stop(name)` after it; writes `<dir>/<name>.cpuprofile`
 * (open in Chrome DevTools or summarise with any .cpuprofile reader).
 */
export class WindowProfiler {
  readonly dir: string;
  readonly intervalUs: number;
  #session: Session | null = null;

  constructor(dir: string, intervalUs = 100) {
    this.dir = dir;
    this.intervalUs = intervalUs;
  }

  async start(): Promise<void> {
    const s = new Session();
    s.connect();
    await s.post('Profiler.enable');
    await s.post('Profiler.setSamplingInterval', { interval: this.intervalUs });
    await s.post('Profiler.start');
    this.#session = s;
  }

  async stop(name: string): Promise<string> {
    const s = this.#session;
    if (s === null) throw new Error('WindowProfiler.stop without start');
    this.#session = null;
    const { profile } = await s.post('Profiler.stop');
    s.disconnect();
    mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return file;
  }
}
