/**
 * What the two thread hand-offs cost: one ws client, one message in flight (ping-pong), 64 B, against an
 * echo server in its own process. ringsocket's echo crosses worker → main (ring + `Atomics.notify` when
 * the main thread sleeps in `waitForActivity`) and main → worker (ring + doorbell) on top of what a
 * `ws` server on its main thread does. The servers alternate over `reps`; medians of the per-rep
 * percentiles, with min–max.
 *
 * Usage: node dist/bench/e2e/hop-latency.js [--count 5000] [--reps 5] [--no-json]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { argInt, argValue, fmtSpread, isMain, machineInfo, spread, writeResult, type Spread } from '../common.js';
import type { HopServerKind } from './hop-latency-server.js';

const KINDS: HopServerKind[] = ['ws', 'ringsocket-wait', 'ringsocket-immediate'];

interface Rep {
  kind: HopServerKind;
  p50: number;
  p90: number;
  p99: number;
}

async function oneRep(kind: HopServerKind, count: number): Promise<Rep> {
  const script = fileURLToPath(new URL('./hop-latency-server.js', import.meta.url));
  const child = fork(script, [kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [port] = (await Promise.race([
      once(child, 'message'),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${kind}: no port in 10 s`)), 10_000)),
    ])) as [number];
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(ws, 'open');
    const payload = Buffer.alloc(64, 7);
    const warmup = Math.min(1000, count);
    const rtts = new Float64Array(count);
    let done = -warmup;
    let t0 = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind}: ${count} round trips did not finish in 60 s`)), 60_000);
      ws.on('message', () => {
        const rtt = performance.now() - t0;
        if (done >= 0) rtts[done] = rtt;
        done++;
        if (done === count) {
          clearTimeout(timer);
          resolve();
          return;
        }
        t0 = performance.now();
        ws.send(payload);
      });
      t0 = performance.now();
      ws.send(payload);
    });
    ws.close();
    rtts.sort();
    const q = (p: number): number => rtts[Math.min(count - 1, Math.floor(p * count))]! * 1000;
    return { kind, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
  } finally {
    child.disconnect();
    child.kill();
  }
}

export interface HopLatencyResult {
  count: number;
  reps: Rep[];
  summary: Record<string, { p50: Spread; p90: Spread; p99: Spread }>;
}

export async function runHopLatency(count: number, repsN: number, log: (s: string) => void = console.log): Promise<HopLatencyResult> {
  const reps: Rep[] = [];
  for (let r = 0; r < repsN; r++) {
    // Rotate the order each repetition so no server always runs first.
    for (let i = 0; i < KINDS.length; i++) {
      const kind = KINDS[(i + r) % KINDS.length]!;
      const rep = await oneRep(kind, count);
      reps.push(rep);
      log(`  rep ${r + 1}  ${kind.padEnd(20)} RTT µs p50 ${rep.p50.toFixed(0)}  p90 ${rep.p90.toFixed(0)}  p99 ${rep.p99.toFixed(0)}`);
    }
  }
  const summary: HopLatencyResult['summary'] = {};
  for (const kind of KINDS) {
    const mine = reps.filter((x) => x.kind === kind);
    summary[kind] = { p50: spread(mine.map((x) => x.p50)), p90: spread(mine.map((x) => x.p90)), p99: spread(mine.map((x) => x.p99)) };
  }
  log(`  medians (min–max), µs, ${count} round trips of 64 B per rep:`);
  for (const kind of KINDS) {
    const s = summary[kind]!;
    log(`    ${kind.padEnd(20)} p50 ${fmtSpread(s.p50)}   p90 ${fmtSpread(s.p90)}   p99 ${fmtSpread(s.p99)}`);
  }
  const ws = summary['ws']!.p50.median;
  const rs = summary['ringsocket-wait']!.p50.median;
  log(`  ringsocket-wait − ws at p50: ${(rs - ws).toFixed(0)} µs for the two hand-offs (${(rs / ws).toFixed(2)}×)`);
  return { count, reps, summary };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const count = argInt(argv, 'count', 5000);
  const reps = argInt(argv, 'reps', 5);
  const result = await runHopLatency(count, reps);
  if (argValue(argv, 'no-json') === undefined) {
    console.log(`  results: ${writeResult('hop-latency', { bench: 'hop-latency', date: new Date().toISOString(), machine: machineInfo(), ...result })}`);
  }
}
