/**
 * Helpers only the side-by-side suite uses: open-file limits (S5), the machine-wide CPU clock, the
 * number formats of its tables, its simulated game logic. The helpers every benchmark shares (paths,
 * result files, statistics, machine facts, thread and process clocks, isMain) are in bench/common.ts.
 */
import { spawnSync } from 'node:child_process';
import { openSync, readFileSync, readSync } from 'node:fs';
import type { Spread } from '../common.js';

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

/** A spread in the suite's tables: `median (min–max)` with fmtNum, the median alone for one run. */
export function fmtSpreadNum(s: Spread): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return fmtNum(s.median);
  return `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)})`;
}

/** Spin on the CPU for `ms` milliseconds (the tick loop's simulated game logic). */
export function busyWork(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x = (x * 1103515245 + 12345) | 0;
  if (x === 0.5) console.log(x); // never true; keeps the loop from being optimised away
}

/**
 * The calling thread's /proc/thread-self/schedstat, kept open and re-read at offset 0 (~7 µs a read,
 * against ~28 µs for readFileSync): time on the CPU and time waiting on a run queue, ns.
 *
 * Why both: the kernel updates a thread's CPU time (the first field) only at scheduler events (a timer
 * tick, a switch), so while the thread runs it lags by up to a jiffy: fine over a window of seconds,
 * biased around a few milliseconds of work (the work then looks up to a jiffy shorter). The run-queue
 * wait (the second field) is exact whenever the thread itself reads it, since it is added when the
 * thread is switched back in. So the CPU time of a stretch of busy work that never sleeps is its wall
 * time minus the run-queue wait during it (`cpuOfBusyStretch`).
 */
export class ThreadSchedstat {
  readonly #fd: number;
  readonly #buf = Buffer.alloc(128);

  /** Opens the file of the calling thread (/proc/thread-self is resolved now). */
  constructor() {
    this.#fd = openSync('/proc/thread-self/schedstat', 'r');
  }

  /** Run-queue wait so far, ns (exact when the thread reads its own). */
  runDelayNs(): number {
    const n = readSync(this.#fd, this.#buf, 0, this.#buf.length, 0);
    const s = this.#buf.toString('latin1', 0, n);
    const a = s.indexOf(' ');
    return Number(s.slice(a + 1, s.indexOf(' ', a + 1)));
  }

  /** Runs `fn` (busy work that never sleeps) and returns the CPU it took, ns: wall minus run-queue wait. */
  cpuOfBusyStretch(fn: () => void): number {
    const d0 = this.runDelayNs();
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    const d1 = this.runDelayNs();
    return Math.max(0, (t1 - t0) * 1e6 - (d1 - d0));
  }
}
