/**
 * Benchmark runner: the micro benchmarks (bench/micro), then the end-to-end benchmarks
 * (bench/e2e/main-thread-cost, the acceptance one; connections; hop-latency; client-memory), a summary, then the
 * side-by-side suite (bench/suite: ringsocket, ws, uWS, ws in a worker; S1-S5; ~10 min, --quick ~2).
 *
 * Usage: npm run bench [-- --scope micro|e2e|suite|soak|all] [--quick] [--strict] [main-thread-cost options]
 *   --scope   what to run (default all; the suite with its own flags: npm run bench:suite, see
 *             bench/suite/README.md). `soak` (not part of all: up to 10 min) runs bench/soak/soak with
 *             its flags: --cycles N --seconds S --concurrency C --kill-every 30s …
 *   --quick   shorter: micro cases ~100 ms, e2e 300,000 messages x 3 reps, the suite's --quick
 *   --strict  exit 1 when the e2e target is missed
 *   --no-json do not write result files
 * Results: bench/results/<timestamp>-main-thread-cost.json and <timestamp>-micro-ring.json.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { argValue, machineInfo, writeResult } from './common.js';
import { runRingBench, type MicroResult } from './micro/ring.bench.js';
import { optionsFromArgv, runMainThreadCost, type MainThreadCostResult } from './e2e/main-thread-cost.js';
import { runConnections, type ConnectionsResult } from './e2e/connections.js';
import { runHopLatency, type HopLatencyResult } from './e2e/hop-latency.js';
import { runClientMemory, type ClientMemoryResult } from './e2e/client-memory.js';

const argv = process.argv.slice(2);
const scope = argValue(argv, 'scope') ?? 'all';
if (scope !== 'micro' && scope !== 'e2e' && scope !== 'suite' && scope !== 'soak' && scope !== 'all') throw new TypeError(`--scope must be micro, e2e, suite, soak or all; got ${scope}`);
if (scope === 'soak') {
  // Its own process, with --expose-gc (RSS is compared after forced GCs); it forks the server itself.
  const soak = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./soak/soak.js', import.meta.url)), ...argv.filter((a, i) => a !== '--scope' && argv[i - 1] !== '--scope' && !a.startsWith('--scope='))], { stdio: 'inherit' });
  process.exit(soak.status ?? 1);
}
const quick = argValue(argv, 'quick') !== undefined;
const machine = machineInfo();
console.log(
  `ringsocket benchmarks: scope ${scope}${quick ? ', quick' : ''}; node ${machine.node}, ${machine.cpuModel}, ${machine.cores} cores, ` +
    `load average ${machine.loadAvg.join(' ')}`,
);

const t0 = performance.now();
let micro: MicroResult | null = null;
let e2e: MainThreadCostResult | null = null;
let conns: ConnectionsResult | null = null;
let hops: HopLatencyResult | null = null;
let clientMem: ClientMemoryResult | null = null;

if (scope === 'micro' || scope === 'all') {
  console.log('\n== micro: bench/micro/ring.bench ==');
  micro = await runRingBench({ timeMs: quick ? 100 : 300 });
  if (argValue(argv, 'no-json') === undefined) {
    const file = writeResult('micro-ring', { bench: 'micro-ring', date: new Date().toISOString(), machine, quick, ...micro });
    console.log(`  results: ${file}`);
  }
}
if (scope === 'e2e' || scope === 'all') {
  console.log('\n== e2e: bench/e2e/main-thread-cost ==');
  e2e = await runMainThreadCost(optionsFromArgv(argv, quick));
  console.log('\n== e2e: bench/e2e/connections ==');
  conns = await runConnections({ ...(quick ? { connections: 2000, reps: 1 } : {}), writeJson: argValue(argv, 'no-json') === undefined });
  console.log('\n== e2e: bench/e2e/hop-latency ==');
  hops = await runHopLatency(quick ? 2000 : 5000, quick ? 3 : 5);
  if (argValue(argv, 'no-json') === undefined) {
    console.log(`  results: ${writeResult('hop-latency', { bench: 'hop-latency', date: new Date().toISOString(), machine, quick, ...hops })}`);
  }
  console.log('\n== e2e: bench/e2e/client-memory ==');
  clientMem = await runClientMemory(quick ? 1000 : 5000, quick ? 1 : 3);
  if (argValue(argv, 'no-json') === undefined) {
    console.log(`  results: ${writeResult('client-memory', { date: new Date().toISOString(), machine, quick, ...clientMem })}`);
  }
}

console.log(`\n== summary (${((performance.now() - t0) / 1000).toFixed(0)} s; load average now ${machineInfo().loadAvg.join(' ')}) ==`);
if (micro !== null) {
  const c = new Map(micro.cases.map((x) => [x.name, x]));
  const med = (n: string) => `${c.get(n)!.p50NsPerOp.toFixed(1)} ns`;
  console.log(`micro (medians per operation):`);
  for (const size of ['64 B', '1 KiB', '64 KiB']) {
    console.log(`  ring push+pop ${size.padEnd(6)} ${med(`ring push+pop ${size}`).padStart(10)}   floor (Uint8Array.set) ${med(`Uint8Array.set ${size} (floor)`).padStart(10)}`);
  }
  for (const size of ['64 B', '1 KiB']) {
    console.log(`  drain ${size.padEnd(6)} (push, next, copyPayload) ${med(`drain ${size} (push, next, copyPayload: getPacket's copy)`).padStart(10)}   with a slice per record ${med(`drain ${size} (push, next, slice out of SAB)`).padStart(10)}`);
  }
  for (const r of micro.ratios) console.log(`  ${r.what}: ${r.ratio.toFixed(2)}x`);
}
if (e2e !== null) {
  const s = e2e.summary;
  console.log(`e2e main-thread CPU per ${e2e.options.size} B message (median of ${e2e.options.reps}, ${e2e.options.count.toLocaleString('en-US')} messages per run):`);
  for (const impl of e2e.options.impls) {
    const x = s[impl]!;
    console.log(`  ${impl.padEnd(16)} main ${x.mainNsPerMsg.median.toFixed(0).padStart(5)} ns/msg   process ${x.processNsPerMsg.median.toFixed(0).padStart(5)} ns/msg`);
  }
  if (e2e.pass !== null) {
    console.log(`  ws/ringsocket main-thread ratio, paced poll ${e2e.ratioPacedMain.toFixed(2)}x (flat-out spin, for diagnosis: ${e2e.ratioMain.toFixed(2)}x)`);
    if (Number.isFinite(e2e.ratioIntoMain)) console.log(`  ws/ringsocket-into (paced poll, getPacketInto) main-thread ratio ${e2e.ratioIntoMain.toFixed(2)}x (issue 14's target: >= 5x)`);
    console.log(`${e2e.pass ? 'PASS' : 'FAIL'}: ringsocket main-thread CPU per message at least ${e2e.options.target}x lower than ws (measured ${e2e.ratioPacedMain.toFixed(2)}x)`);
  }
  if (e2e.file !== undefined) console.log(`  results: ${e2e.file}`);
}
if (conns !== null) {
  console.log(`connections: ${conns.allHeld ? 'all held and echoed' : 'PROBLEMS'}; RSS per connection ringsocket/ws-main ${conns.ratioRssPerConn.toFixed(2)}x`);
}
if (hops !== null) {
  const p50 = (k: string) => hops!.summary[k]!.p50.median.toFixed(0);
  console.log(`ping-pong RTT p50 (64 B, one in flight): ws ${p50('ws')} µs, ringsocket waitForActivity ${p50('ringsocket-wait')} µs, polling flat out ${p50('ringsocket-immediate')} µs`);
}
if (clientMem !== null) {
  console.log(`client peers: RSS per peer ringsocket ${clientMem.rssPerPeerKiB.ringsocket.median.toFixed(2)} KiB, ws ${clientMem.rssPerPeerKiB.ws.median.toFixed(2)} KiB (${clientMem.ratioRss.toFixed(2)}x)`);
}
if (argValue(argv, 'strict') !== undefined && (e2e?.pass === false || conns?.allHeld === false)) process.exitCode = 1;

if (scope === 'suite' || scope === 'all') {
  // Its own process: it forks a server and load processes per run, and writes bench/RESULTS.md.
  console.log('\n== suite: bench/suite/run ==');
  const suite = spawnSync(process.execPath, [fileURLToPath(new URL('./suite/run.js', import.meta.url)), ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
  if (suite.status !== 0) process.exitCode = 1;
}
