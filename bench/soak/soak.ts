/**
 * Soak benchmark: many short WebSocket lives against one ringsocket server, to show that nothing leaks.
 *
 * ```
 *  this process (driver, --expose-gc)                 server child (--expose-gc): bench/soak/soak-server
 *  ──────────────────────────────────                 ───────────────────────────────────────────────────
 *  `concurrency` loops of ws clients, each cycle:     examples/echo-server's loop: TCPServer +
 *  connect → send 64 B → check the echo →             WebSocketPeer on a PeerPool (2 threads), 1 ms tick
 *  close(1000) → wait for the close      ──────────►  [--kill-every T: crashWorker(pool, i) every T,
 *  sample every --sample-every s (both sides:          i = 0, 1, 0, …; reports when the replacement is up]
 *  fds, RSS; server peers and worker connections)
 * ```
 * Phases: warm-up (the first 10 % of the cycles, at most 5,000), then the load stops, the server is left
 * to drop every connection, and a *baseline* is taken on both sides (fd count; RSS after a forced GC: the
 * server's main thread and its I/O workers, via the inspector); then the rest of the cycles; then the same
 * quiet point again for the *final* sample. Reported: fds final − baseline (flat = 0), RSS final / baseline
 * (target ≤ 1.10), failed cycles by stage (connect, echo, close), cycles per second.
 * With --kill-every, each failure is put with the kill before it: during the gap (the cycle started before
 * the replacement worker answered) or after the replacement was up (expected: 0).
 *
 * Usage: npm run bench -- --scope soak [--cycles 100000] [--seconds 600] [--concurrency 50]
 *        [--kill-every 30s] [--sample-every 5] [--gc-every 30] [--threads 2] [--size 64] [--no-json]
 *   or:  node --expose-gc dist/bench/soak/soak.js (same flags)
 * Results: bench/results/<timestamp>-soak.json (or -soak-kill.json).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { argInt, argValue, fdCount, isMain, machineInfo, vmRssBytes, writeResult } from '../common.js';
import type { KillEvent, SoakSample, SoakServerCommand, SoakServerNotice } from './soak-server.js';

export interface SoakOptions {
  cycles: number;
  /** Cycles before the baseline sample; -1: 10 % of the cycles, at most 5,000. */
  warmup: number;
  seconds: number;
  concurrency: number;
  killEveryMs: number;
  sampleEveryS: number;
  /** Every this many seconds a periodic sample is taken after a forced GC on both sides (the RSS trend). */
  gcEveryS: number;
  threads: number;
  size: number;
  cycleTimeoutMs: number;
  json: boolean;
}

type Stage = 'connect' | 'echo' | 'close';

interface Failure {
  /** Epoch ms: the cycle started, and it failed. */
  t0: number;
  t1: number;
  stage: Stage;
  why: string;
}

interface SideSample {
  at: number;
  fds: number;
  rss: number;
  gc: boolean;
}

/** Parse "30s", "500ms", "2m" or plain seconds into ms (0 = off). */
export function parseDuration(v: string | undefined, name: string): number {
  if (v === undefined || v === '' || v === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (m === null) throw new TypeError(`--${name} must be a duration like 30s, 500ms or 2m; got ${v}`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

export function soakOptionsFromArgv(argv: string[]): SoakOptions {
  return {
    cycles: argInt(argv, 'cycles', 100_000),
    // Cycles before the baseline sample (default 10 % of the cycles, at most 5,000). A longer one lets V8
    // size the server's heaps first (the main thread's young generation grows under load), so that the
    // baseline-to-last ratio is about leaks, not heap sizing.
    warmup: argInt(argv, 'warmup', -1, -1),
    seconds: argInt(argv, 'seconds', 600),
    concurrency: argInt(argv, 'concurrency', 50),
    killEveryMs: parseDuration(argValue(argv, 'kill-every'), 'kill-every'),
    sampleEveryS: argInt(argv, 'sample-every', 5),
    gcEveryS: argInt(argv, 'gc-every', 30),
    threads: argInt(argv, 'threads', 2),
    size: argInt(argv, 'size', 64),
    cycleTimeoutMs: argInt(argv, 'cycle-timeout-ms', 5000),
    json: argValue(argv, 'no-json') === undefined,
  };
}

function selfSample(gc: boolean): SideSample {
  const g = (globalThis as { gc?: () => void }).gc;
  const didGc = gc && typeof g === 'function';
  if (didGc) g!();
  return { at: Date.now(), fds: fdCount(), rss: vmRssBytes(), gc: didGc };
}

class ServerChild {
  readonly proc: ChildProcess;
  port = 0;
  pid = 0;
  readonly kills: KillEvent[] = [];
  readonly fatal: string[] = [];
  #id = 0;
  readonly #waiting = new Map<number, (s: SoakSample) => void>();
  readonly ready: Promise<void>;

  constructor(o: SoakOptions) {
    const file = fileURLToPath(new URL('./soak-server.js', import.meta.url));
    this.proc = fork(file, [JSON.stringify({ threads: o.threads, killEveryMs: o.killEveryMs })], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.proc.on('message', (m: SoakServerNotice) => {
        if (m.t === 'listening') {
          this.port = m.port;
          this.pid = m.pid;
          resolve();
        } else if (m.t === 'sample') {
          this.#waiting.get(m.id)?.(m.sample);
          this.#waiting.delete(m.id);
        } else if (m.t === 'kill') {
          this.kills.push(m.kill);
          const k = m.kill;
          console.log(`  killed worker ${k.index}: exited after ${k.exitAt - k.killAt} ms, replacement up ${k.upAt === 0 ? 'NEVER (10 s)' : `${k.upAt - k.exitAt} ms later`}`);
        } else if (m.t === 'fatal') {
          this.fatal.push(m.message);
          console.error(`  server: ${m.message}`);
        }
      });
      this.proc.once('exit', (code) => reject(new Error(`soak server exited (${code}) before listening`)));
    });
  }

  sample(gc: boolean): Promise<SoakSample> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server sample timed out (30 s)')), 30_000);
      this.#waiting.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.proc.send({ t: 'sample', id, gc } satisfies SoakServerCommand);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send({ t: 'exit' } satisfies SoakServerCommand);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

export interface SoakResult {
  bench: 'soak';
  options: SoakOptions;
  cycles: { attempted: number; ok: number; failed: number; warmup: number; seconds: number; perSecond: number };
  failures: { byStage: Record<Stage, number>; kills?: { gap: number; afterUp: number; beforeAnyKill: number; gapConnect: number; afterUpConnect: number }; examples: Failure[] };
  server: { baseline: SoakSample; final: SoakSample; fdsDelta: number; rssRatio: number; samples: SoakSample[] };
  client: { baseline: SideSample; final: SideSample; fdsDelta: number; rssRatio: number; samples: SideSample[] };
  kills: KillEvent[];
  serverErrors: string[];
  file?: string;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const server = new ServerChild(o);
  await server.ready;
  const url = `ws://127.0.0.1:${server.port}/soak`;
  const deadline = Date.now() + o.seconds * 1000;
  const warmup = o.warmup >= 0 ? Math.min(o.warmup, o.cycles - 1) : Math.min(5000, Math.max(1, Math.floor(o.cycles / 10)));
  console.log(
    `soak: ${o.cycles.toLocaleString('en-US')} cycles (warm-up ${warmup.toLocaleString('en-US')}) of connect/echo ${o.size} B/close, ` +
      `${o.concurrency} at a time, at most ${o.seconds} s; server pid ${server.pid} (${o.threads} I/O threads)` +
      (o.killEveryMs > 0 ? `; a worker killed every ${o.killEveryMs / 1000} s` : ''),
  );

  let attempted = 0;
  let ok = 0;
  const failures: Failure[] = [];
  const byStage: Record<Stage, number> = { connect: 0, echo: 0, close: 0 };

  const cycle = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const payload = randomBytes(o.size);
      let stage: Stage = 'connect';
      let finished = false;
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: o.cycleTimeoutMs });
      const fail = (why: string): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        byStage[stage]++;
        failures.push({ t0, t1: Date.now(), stage, why });
        ws.terminate();
        resolve();
      };
      const timer = setTimeout(() => fail('timeout'), o.cycleTimeoutMs);
      ws.on('open', () => {
        stage = 'echo';
        ws.send(payload);
      });
      ws.on('message', (d: Buffer) => {
        if (stage !== 'echo') return fail('unexpected message');
        if (!payload.equals(d)) return fail('bad echo');
        stage = 'close';
        ws.close(1000);
      });
      ws.on('close', (code: number) => {
        if (finished) return;
        if (stage !== 'close' || code !== 1000) return fail(`closed ${code}`);
        finished = true;
        clearTimeout(timer);
        ok++;
        resolve();
      });
      ws.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    });

  const load = async (until: number): Promise<void> => {
    const loop = async (): Promise<void> => {
      while (attempted < until && Date.now() < deadline) {
        attempted++;
        await cycle();
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, loop));
  };

  /** Wait until the server holds no connection (at most 15 s), then sample both sides after a GC. */
  const quiet = async (): Promise<{ s: SoakSample; c: SideSample }> => {
    const until = Date.now() + 15_000;
    for (;;) {
      const s = await server.sample(false);
      if ((s.peers === 0 && s.workerConnections.every((n) => n === 0)) || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    return { s: await server.sample(true), c: selfSample(true) };
  };

  const serverSamples: SoakSample[] = [];
  const clientSamples: SideSample[] = [];
  const t0 = Date.now();
  let lastPrint = 0;
  let lastGc = Date.now();
  const sampler = setInterval(() => {
    const gc = Date.now() - lastGc >= o.gcEveryS * 1000 - 100;
    if (gc) lastGc = Date.now();
    server.sample(gc).then(
      (s) => {
        serverSamples.push(s);
        const c = selfSample(gc);
        clientSamples.push(c);
        if (s.at - lastPrint >= 10_000 || gc) {
          lastPrint = s.at;
          console.log(
            `  ${((s.at - t0) / 1000).toFixed(0).padStart(4)} s  cycles ${attempted.toLocaleString('en-US').padStart(7)}  failed ${failures.length}  ` +
              `server fds ${s.fds} rss ${(s.rss / 2 ** 20).toFixed(1)} MiB peers ${s.peers}  client fds ${c.fds} rss ${(c.rss / 2 ** 20).toFixed(1)} MiB${gc ? ' (GC)' : ''}`,
          );
        }
      },
      () => undefined,
    );
  }, o.sampleEveryS * 1000);

  try {
    await load(warmup);
    const base = await quiet();
    console.log(`  baseline after warm-up: server fds ${base.s.fds}, RSS ${(base.s.rss / 2 ** 20).toFixed(1)} MiB (GC); client fds ${base.c.fds}, RSS ${(base.c.rss / 2 ** 20).toFixed(1)} MiB`);
    const loadStart = Date.now();
    await load(o.cycles);
    const loadSeconds = (Date.now() - loadStart) / 1000;
    const fin = await quiet();
    clearInterval(sampler);

    const result: SoakResult = {
      bench: 'soak',
      options: o,
      cycles: { attempted, ok, failed: failures.length, warmup, seconds: (Date.now() - t0) / 1000, perSecond: (attempted - warmup) / loadSeconds },
      failures: { byStage, examples: failures.slice(0, 20) },
      server: { baseline: base.s, final: fin.s, fdsDelta: fin.s.fds - base.s.fds, rssRatio: fin.s.rss / base.s.rss, samples: serverSamples },
      client: { baseline: base.c, final: fin.c, fdsDelta: fin.c.fds - base.c.fds, rssRatio: fin.c.rss / base.c.rss, samples: clientSamples },
      kills: server.kills,
      serverErrors: server.fatal,
    };
    if (o.killEveryMs > 0) {
      const k = { gap: 0, afterUp: 0, beforeAnyKill: 0, gapConnect: 0, afterUpConnect: 0 };
      for (const f of failures) {
        // The last kill asked for before this cycle failed.
        const kill = server.kills.filter((x) => x.killAt <= f.t1).at(-1);
        if (kill === undefined) k.beforeAnyKill++;
        else if (kill.upAt === 0 || f.t0 < kill.upAt) {
          k.gap++;
          if (f.stage === 'connect') k.gapConnect++;
        } else {
          k.afterUp++;
          if (f.stage === 'connect') k.afterUpConnect++;
        }
      }
      result.failures.kills = k;
    }
    printSoak(result);
    if (o.json) {
      result.file = writeResult(o.killEveryMs > 0 ? 'soak-kill' : 'soak', { date: new Date().toISOString(), machine: machineInfo(), ...result });
      console.log(`  results: ${result.file}`);
    }
    return result;
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
}

export function printSoak(r: SoakResult): void {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const c = r.cycles;
  console.log(`\n== soak summary ==`);
  console.log(`cycles      ${c.attempted.toLocaleString('en-US')} attempted, ${c.ok.toLocaleString('en-US')} ok, ${c.failed} failed (connect ${r.failures.byStage.connect}, echo ${r.failures.byStage.echo}, close ${r.failures.byStage.close}); ${c.perSecond.toFixed(0)} cycles/s after warm-up; ${c.seconds.toFixed(0)} s in all`);
  const s = r.server;
  const cl = r.client;
  console.log(`server      fds ${s.baseline.fds} -> ${s.final.fds} (${s.fdsDelta === 0 ? 'flat' : `${s.fdsDelta > 0 ? '+' : ''}${s.fdsDelta}`}); RSS after GC ${mib(s.baseline.rss)} -> ${mib(s.final.rss)} (${s.rssRatio.toFixed(3)}x, ${s.rssRatio <= 1.1 ? 'within' : 'OVER'} 10 %)`);
  console.log(`client      fds ${cl.baseline.fds} -> ${cl.final.fds} (${cl.fdsDelta === 0 ? 'flat' : `${cl.fdsDelta > 0 ? '+' : ''}${cl.fdsDelta}`}); RSS after GC ${mib(cl.baseline.rss)} -> ${mib(cl.final.rss)} (${cl.rssRatio.toFixed(3)}x)`);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  console.log(
    `server heaps main used ${mib(s.baseline.heapUsed)} -> ${mib(s.final.heapUsed)}, committed ${mib(s.baseline.heapTotal)} -> ${mib(s.final.heapTotal)}; ` +
      `workers used ${mib(sum(s.baseline.workerHeapUsed))} -> ${mib(sum(s.final.workerHeapUsed))}, committed ${mib(sum(s.baseline.workerHeapTotal))} -> ${mib(sum(s.final.workerHeapTotal))}; ` +
      `ArrayBuffers ${mib(s.baseline.arrayBuffers)} -> ${mib(s.final.arrayBuffers)}`,
  );
  const trend = s.samples.filter((x) => x.gc).map((x) => (x.rss / 2 ** 20).toFixed(1));
  if (trend.length > 0) console.log(`server RSS after GC during the load (every ${r.options.gcEveryS} s): ${trend.join(', ')} MiB`);
  if (r.failures.kills !== undefined) {
    const k = r.failures.kills;
    console.log(`kills       ${r.kills.length}; failed cycles during the gap ${k.gap} (connect ${k.gapConnect}), after the replacement was up ${k.afterUp} (connect ${k.afterUpConnect}), before any kill ${k.beforeAnyKill}`);
  }
  if (r.failures.examples.length > 0) {
    const why = new Map<string, number>();
    for (const f of r.failures.examples) why.set(`${f.stage}: ${f.why}`, (why.get(`${f.stage}: ${f.why}`) ?? 0) + 1);
    console.log(`first failures: ${[...why].map(([w, n]) => `${w} x${n}`).join(', ')}`);
  }
}

if (isMain(import.meta.url)) {
  const o = soakOptionsFromArgv(process.argv.slice(2));
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') console.log('  (no --expose-gc: the client side RSS is read without a GC)');
  await runSoak(o);
}
