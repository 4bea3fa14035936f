/**
 * Small helpers shared by the benchmarks: statistics, machine description, result files, CPU clocks.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Session } from 'node:inspector/promises';

/** Repository root, from dist/bench/common.js (two levels up from dist/bench). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const s = values.slice().sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

/** `median (min–max)` with `digits` decimals. */
export function fmtSpread(s: Spread, digits = 0): string {
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

/** Write `data` as bench/results/<timestamp>-<name>.json; returns the path. */
export function writeResult(name: string, data: unknown): string {
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `${stamp}-${name}.json`);
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
  const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
  const sp = text.indexOf(' ');
  return Number(text.slice(0, sp));
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

/** `--name value` / `--name=value` / `--flag` from argv. */
export function argValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) {
      const next = argv[i + 1];
      return next === undefined || next.startsWith('--') ? '' : next;
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function argInt(argv: string[], name: string, fallback: number): number {
  const v = argValue(argv, name);
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`--${name} must be a positive integer, got ${v}`);
  return n;
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
