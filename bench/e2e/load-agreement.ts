/**
 * Does `ringsocket load` agree with the bench suite's own load generator on the same scenario?
 *
 * Scenario (the suite's S2): a `ws` echo server on the main thread of its own process, 100 connections,
 * 20,000 msg/s open loop, 64 B binary, 1 s warm-up, 5 s measured, RTT from each message's intended send
 * time. For each round: the suite (`dist/bench/suite/run.js --scenario S2 --servers ws-main --reps 1`),
 * then `ringsocket load` against a `ws` echo server in a child process, twice: with its default sender and
 * with `--send-tick 1ms` (sends what is due once per millisecond, as the suite's generator does). Rounds
 * alternate; medians are compared. PASS when the `--send-tick 1ms` p50 is within 20 % of the suite's.
 *
 * Why two `load` figures: the suite's generator sends on a 1 ms timer, so its messages leave 0.6-0.85 ms
 * after their intended time and that lag is part of its corrected RTT. `load`'s default sender polls every
 * 200 µs and reports the lower, truer p50; the 1 ms variant shows the two measure the same thing.
 *
 * Usage: node dist/bench/e2e/load-agreement.js [--rounds 3]
 */
import { execFile, fork } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { argInt, argValue, isMain, machineInfo, writeResult } from '../common.js';

const run = promisify(execFile);
const DIST = fileURLToPath(new URL('../', import.meta.url)); // dist/bench/
const RESULTS = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

const ECHO_CHILD = `
import { WebSocketServer } from 'ws';
const w = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
w.on('connection', (s) => s.on('message', (d, b) => s.send(d, { binary: b })));
w.on('listening', () => process.send(w.address().port));
`;

async function suiteP50(): Promise<number> {
  const before = new Set(readdirSync(RESULTS));
  await run(process.execPath, [`${DIST}suite/run.js`, '--scenario', 'S2', '--servers', 'ws-main', '--reps', '1', '--no-report'], { maxBuffer: 1 << 24 });
  const file = readdirSync(RESULTS).find((f) => !before.has(f) && f.includes('-suite'));
  if (file === undefined) throw new Error('the suite wrote no result file');
  const r = JSON.parse(readFileSync(RESULTS + file, 'utf8')) as { runs: { scenario: string; metrics: Record<string, number> }[] };
  const s2 = r.runs.find((x) => x.scenario === 'S2');
  if (s2 === undefined || typeof s2.metrics.p50Ms !== 'number') throw new Error(`no S2 p50 in ${file}`);
  return s2.metrics.p50Ms;
}

async function loadP50(extra: string[]): Promise<{ p50: number; errors: number }> {
  const script = `${DIST}e2e/.load-agreement-echo.mjs`;
  writeFileSync(script, ECHO_CHILD);
  const child = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], cwd: fileURLToPath(new URL('../../../', import.meta.url)) });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number));
      child.once('exit', (c) => reject(new Error(`echo server exited (${c})`)));
    });
    const { stdout } = await run(
      process.execPath,
      [`${DIST}../cli/ringsocket.js`, 'load', `ws://127.0.0.1:${port}`, '--connections', '100', '--rate', '20000', '--size', '64', '--warmup', '1s', '--duration', '5s', '--json', '-', ...extra],
      { maxBuffer: 1 << 24 },
    );
    const r = JSON.parse(stdout) as { latencyMs: { p50: number }; errors: { total: number } };
    return { p50: r.latencyMs.p50, errors: r.errors.total };
  } finally {
    child.kill();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

export async function runLoadAgreement(rounds: number): Promise<{ suite: number; load: number; loadTick: number; ratio: number; pass: boolean }> {
  const suite: number[] = [];
  const load: number[] = [];
  const loadTick: number[] = [];
  for (let i = 0; i < rounds; i++) {
    suite.push(await suiteP50());
    const a = await loadP50([]);
    const b = await loadP50(['--send-tick', '1ms']);
    load.push(a.p50);
    loadTick.push(b.p50);
    console.log(`  round ${i + 1}: suite p50 ${suite[i]!.toFixed(3)} ms   load ${a.p50.toFixed(3)} ms   load --send-tick 1ms ${b.p50.toFixed(3)} ms   (load errors ${a.errors + b.errors})`);
  }
  const res = { suite: median(suite), load: median(load), loadTick: median(loadTick), ratio: 0, pass: false };
  res.ratio = res.loadTick / res.suite;
  res.pass = Math.abs(res.ratio - 1) <= 0.2;
  console.log(`  medians: suite ${res.suite.toFixed(3)} ms, load ${res.load.toFixed(3)} ms, load --send-tick 1ms ${res.loadTick.toFixed(3)} ms`);
  console.log(`${res.pass ? 'PASS' : 'FAIL'}: ringsocket load (--send-tick 1ms) p50 is ${res.ratio.toFixed(2)}x the suite's on S2; target within 20 %`);
  return res;
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const rounds = argInt(argv, 'rounds', 3);
  console.log(`load-agreement: S2 (ws-main, 100 conns, 20k msg/s, 64 B), ${rounds} rounds; load average ${machineInfo().loadAvg.join(' ')}`);
  const r = await runLoadAgreement(rounds);
  if (argValue(argv, 'no-json') === undefined) console.log(`  results: ${writeResult('load-agreement', { bench: 'load-agreement', date: new Date().toISOString(), machine: machineInfo(), ...r })}`);
  if (argValue(argv, 'strict') !== undefined && !r.pass) process.exitCode = 1;
}
