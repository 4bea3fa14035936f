/**
 * Acceptance benchmark: one process holds N (default 10,000) concurrent echoing WebSocket connections;
 * how much memory does each cost, and how fast do they open? ringsocket against `ws` on the main thread,
 * in the same run.
 *
 * ```
 *  this process (driver)                 server process (fork, one per run)      load processes (fork)
 *  ─────────────────────                 ──────────────────────────────────      ─────────────────────
 *  fork server ────────────────────────► ringsocket: PeerPool + TCPServer,        raw net sockets from
 *  mem 'before' (gc, settle)              Godot loop on the main thread           127.a.b.1 (own source
 *  fork ceil(N / perClient) clients                  or                            address, ports chosen
 *  'open' (one client after another) ──────────────────────────────────────────►  by it), `batch` at a
 *                                         ws-main: WebSocketServer, main thread    time: connect, GET
 *  wait: server sees N OPEN                                                        upgrade, check 101
 *  mem 'open-idle'                                                                 + Sec-WebSocket-Accept
 *  'echo' ─────────────────────────────────────────────────────────────────────►  one masked 64 B frame
 *  wait: server echoed N                                                           each, wait + verify
 *  mem 'echoed'; check N still held by both sides                                  the echo
 *  'reset' (RST all) ──────────────────────────────────────────────────────────►
 *  wait: server saw N closed; mem 'closed'
 * ```
 * Memory is read inside the server process: process.memoryUsage().rss and /proc/self/status (VmRSS and
 * its parts RssAnon / RssFile / RssShmem), each time after `settleMs` of quiet and a gc() on the main
 * thread (`--no-gc` to skip; ringsocket's worker heaps are not collected by it, which counts against
 * ringsocket). RSS per connection = (RSS at phase - RSS before) / N; the 'before' point is after the
 * pool's workers started and the server listens, so fixed costs (worker isolates, 2 x 4 MiB rings per
 * worker, of which only the touched pages count) are outside it — except ring pages first touched
 * during the phase, which are bounded by the ring size, not by N.
 *
 * Each rep runs both implementations, each in a fresh server process, alternating which goes first.
 * Every run is bounded by `timeoutMs` (default 120 s) and aborts with the phase and the counts reached.
 *
 * Usage: node dist/bench/e2e/connections.js [--connections N] [--reps R] [--batch B] [--threads T]
 *        [--only ringsocket|ws-main] [--per-client C] [--settle-ms MS] [--timeout S] [--no-gc] [--no-json]
 *        [--profile DIR] (V8 CPU profiles of the server and load processes, e.g. to see the Godot loop's cost)
 * More than ~19,000 connections need a larger `ulimit -n` for the server process (and the shell that
 * starts this): `bash -c 'ulimit -n 120000 && node dist/bench/e2e/connections.js --connections 50000'`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { argInt, argValue, fmtSpread, isMain, machineInfo, openFilesLimit, sleep, spread, writeResult, type MachineInfo, type Spread } from '../common.js';
import { type ClientCommand, type ClientNotice, type ClientOptions, type ClientProgress } from './connections-client.js';
import type { ConnImpl, MemSnapshot, ServerCommand, ServerCounts, ServerNotice, ServerOptions } from './connections-server.js';

export interface ConnectionsOptions {
  /** Connections held at once. */
  connections: number;
  /** Connections opened (and echoed) at a time per load process. */
  batch: number;
  /** Measured repetitions of each implementation. */
  reps: number;
  /** ringsocket PeerPool threads. */
  threads: number;
  impls: ConnImpl[];
  /** Most connections per load process (its fds and its source address's ephemeral ports bound it). */
  perClient: number;
  /** Payload bytes of the echoed message. */
  size: number;
  /** Quiet time before each memory reading. */
  settleMs: number;
  /** gc() on the server's main thread before each reading. */
  gc: boolean;
  /** ringsocket: ms between idle ticks of the server loop (0: setImmediate, the loop spins). */
  idleTickMs: number;
  /** Give up on one run (one implementation, one rep) after this many ms. */
  timeoutMs: number;
  writeJson: boolean;
  /** Write V8 CPU profiles of the server and load processes into this directory ('' = none). */
  profileDir: string;
}

export const DEFAULT_OPTIONS: ConnectionsOptions = {
  connections: 10_000,
  batch: 500,
  reps: 3,
  threads: Math.max(1, availableParallelism() - 1),
  impls: ['ringsocket', 'ws-main'],
  perClient: 12_000,
  size: 64,
  settleMs: 1000,
  gc: true,
  idleTickMs: 1,
  timeoutMs: 120_000,
  writeJson: true,
  profileDir: '',
};

type Phase = 'before' | 'open-idle' | 'echoed' | 'closed';

export interface PerConnection {
  /** (rss(phase) - rss(before)) / N, bytes, process.memoryUsage().rss. */
  rss: number;
  /** Same with /proc/self/status VmRSS. */
  vmRss: number;
  rssAnon: number;
  /** Main-thread V8 heap used. */
  heapUsed: number;
  /** V8 heap used, main thread + I/O workers (live objects when measured after gc). */
  jsHeap: number;
}

export interface ConnectionsSample {
  impl: ConnImpl;
  rep: number;
  connections: number;
  loadProcesses: number;
  serverNofile: number;
  /** Connections OPEN on the server and held by the load processes after the echo round. */
  held: number;
  echoed: number;
  openMs: number;
  connectionsPerSec: number;
  echoMs: number;
  /** ringsocket: ms of one server tick (accept + poll() of every peer) with N idle peers (median of 9). */
  tickMsAtN: number;
  mem: Record<Phase, MemSnapshot>;
  perConnection: { openIdle: PerConnection; echoed: PerConnection; closed: PerConnection };
  serverCounts: ServerCounts;
  client: ClientProgress & { errors: Record<string, number> };
  /** 1-minute load average at the start and end of the run (other work on the machine skews the rates). */
  loadAvg: [number, number];
  ok: boolean;
  problems: string[];
}

export interface ImplSummary {
  rssPerConnEchoed: Spread;
  rssPerConnIdle: Spread;
  vmRssPerConnEchoed: Spread;
  rssPerConnAfterClose: Spread;
  jsHeapPerConnEchoed: Spread;
  connectionsPerSec: Spread;
}

export interface ConnectionsResult {
  bench: 'connections';
  date: string;
  command: string;
  machine: MachineInfo;
  nofile: number;
  options: ConnectionsOptions;
  samples: ConnectionsSample[];
  summary: Partial<Record<ConnImpl, ImplSummary>>;
  /** ringsocket / ws-main, medians of RSS per connection after the echo round. */
  ratioRssPerConn: number;
  allHeld: boolean;
  file?: string;
}

// ---- child processes --------------------------------------------------------------------------------

class RunTimeout extends Error {}

/** A forked child that answers typed requests over IPC, every wait bounded by the run's deadline. */
class Child<N extends { t: string }, C> {
  readonly child: ChildProcess;
  readonly name: string;
  #waiters: { t: string; resolve: (m: N) => void }[] = [];
  #unclaimed: N[] = [];
  #exited: Promise<never>;

  constructor(file: string, arg: unknown, name: string, execArgv: string[] = []) {
    this.name = name;
    this.child = fork(fileURLToPath(new URL(file, import.meta.url)), [JSON.stringify(arg)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
    });
    this.child.on('message', (m: N) => {
      if (m.t === 'fatal') {
        process.stderr.write(`${name}: ${(m as unknown as { message: string }).message}\n`);
        return;
      }
      const i = this.#waiters.findIndex((w) => w.t === m.t);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(m);
      else this.#unclaimed.push(m); // e.g. 'ready' of a second load process while we wait for the first
    });
    this.#exited = new Promise<never>((_, reject) => {
      this.child.once('exit', (code, signal) => reject(new Error(`${name} exited (code ${code}, signal ${signal})`)));
    });
    this.#exited.catch(() => undefined);
  }

  /** Wait for a notice of type `t` (sending `cmd` first if given), until `deadline` (performance.now()). */
  async next<T extends N['t']>(t: T, deadline: number, what: string, cmd?: C): Promise<Extract<N, { t: T }>> {
    const k = this.#unclaimed.findIndex((m) => m.t === t);
    const got = k >= 0 ? Promise.resolve(this.#unclaimed.splice(k, 1)[0]!) : new Promise<N>((resolve) => this.#waiters.push({ t, resolve }));
    if (cmd !== undefined) this.child.send(cmd as object);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RunTimeout(`timed out ${what}`)), Math.max(0, deadline - performance.now()));
    });
    try {
      return (await Promise.race([got, this.#exited, timeout])) as Extract<N, { t: T }>;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  async stop(cmd: C): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    try {
      this.child.send(cmd as object);
    } catch {
      // channel already closed
    }
    const timer = setTimeout(() => this.kill(), 3000);
    await exited;
    clearTimeout(timer);
  }
}

type Server = Child<ServerNotice, ServerCommand>;
type Client = Child<ClientNotice, ClientCommand>;


// ---- one run ----------------------------------------------------------------------------------------

function jsHeap(m: MemSnapshot): number {
  let h = m.heapUsed;
  for (const w of m.workerHeapUsed ?? []) h += w;
  return h;
}

function perConn(a: MemSnapshot, b: MemSnapshot, n: number): PerConnection {
  return {
    rss: (b.rss - a.rss) / n,
    vmRss: (b.vmRss - a.vmRss) / n,
    rssAnon: (b.rssAnon - a.rssAnon) / n,
    heapUsed: (b.heapUsed - a.heapUsed) / n,
    jsHeap: (jsHeap(b) - jsHeap(a)) / n,
  };
}

/** Source addresses: a random 127.x block per driver process, one per run, one /24 per load process. */
const ADDR_BASE = 2 + Math.floor(Math.random() * 200);
let runCounter = 0;

async function runOnce(impl: ConnImpl, rep: number, o: ConnectionsOptions, log: (s: string) => void): Promise<ConnectionsSample> {
  const n = o.connections;
  const deadline = performance.now() + o.timeoutMs;
  const runNo = runCounter++;
  const load0 = loadavg()[0]!;
  let phase = 'starting the server';
  const serverOpts: ServerOptions = { impl, threads: o.threads, idleTickMs: o.idleTickMs, gc: o.gc };
  const execArgv = o.gc ? ['--expose-gc'] : [];
  const profArgv = o.profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`];
  execArgv.push(...profArgv);
  const server: Server = new Child<ServerNotice, ServerCommand>('./connections-server.js', serverOpts, `server(${impl})`, execArgv);
  const clients: Client[] = [];
  const lastCounts = async (): Promise<string> => {
    try {
      const c = await server.next('counts', performance.now() + 1000, 'reading counts', { t: 'counts' });
      return JSON.stringify(c.counts);
    } catch {
      return '(server not answering)';
    }
  };
  const lastProgress = async (): Promise<string> => {
    const parts: string[] = [];
    for (const c of clients) {
      try {
        const p = await c.next('progress', performance.now() + 1000, 'reading progress', { t: 'progress' });
        const { t: _t, ...rest } = p;
        parts.push(JSON.stringify(rest));
      } catch {
        parts.push('(not answering)');
      }
    }
    return parts.join(' ');
  };
  try {
    const listening = await server.next('listening', deadline, phase);
    if (listening.nofile < n + 256) {
      throw new Error(
        `the server process may open ${listening.nofile} files (ulimit -n) and needs about ${n + 256} for ${n} connections; ` +
          `raise it in the shell that runs the benchmark, e.g. bash -c 'ulimit -n ${Math.max(2 * n, 65536)} && node dist/bench/e2e/connections.js ...' ` +
          `(needs CAP_SYS_RESOURCE beyond the hard limit)`,
      );
    }
    const mem = async (label: Phase): Promise<MemSnapshot> => {
      phase = `settling before the '${label}' reading`;
      await sleep(o.settleMs);
      phase = `reading memory '${label}'`;
      return (await server.next('mem', deadline, phase, { t: 'mem', label, gc: o.gc })).snap;
    };
    const counts = async (): Promise<ServerCounts> => (await server.next('counts', deadline, phase, { t: 'counts' })).counts;
    const waitServer = async (what: string, cond: (c: ServerCounts) => boolean): Promise<ServerCounts> => {
      phase = `waiting for the server to see ${what}`;
      for (;;) {
        const c = await counts();
        if (cond(c)) return c;
        if (performance.now() > deadline) throw new RunTimeout(`timed out ${phase}`);
        await sleep(25);
      }
    };
    const before = await mem('before');

    // Load processes: each under its fd limit, each from its own source address (own port range).
    const k = Math.ceil(n / o.perClient);
    phase = 'starting the load processes';
    for (let i = 0; i < k; i++) {
      const count = Math.floor(n / k) + (i < n % k ? 1 : 0);
      const co: ClientOptions = {
        port: listening.port,
        host: '127.0.0.1',
        // Own source address per process and run: its ports are all free (see ClientOptions.localAddress).
        localAddress: `127.${ADDR_BASE + (runNo % 50)}.${i + 1}.1`,
        firstLocalPort: 1024,
        count,
        batch: o.batch,
        size: o.size,
        idBase: i * o.perClient,
      };
      clients.push(new Child<ClientNotice, ClientCommand>('./connections-client.js', co, `load-${i}`, profArgv));
    }
    for (const c of clients) {
      const r = await c.next('ready', deadline, phase);
      const share = Math.ceil(n / k);
      if (r.nofile < share + 64) throw new Error(`load process ${c.name} may open ${r.nofile} files, needs ${share + 64}: use --per-client ${r.nofile - 100}`);
    }

    // Open, one load process after the other.
    phase = 'opening connections';
    const t0 = performance.now();
    const errors: Record<string, number> = {};
    let openedOk = 0;
    for (const c of clients) {
      const r = await c.next('opened', deadline, phase, { t: 'open' });
      openedOk += r.ok;
      for (const [e, v] of Object.entries(r.errors)) errors[e] = (errors[e] ?? 0) + v;
    }
    const openMs = performance.now() - t0;
    if (openedOk !== n) throw new Error(`only ${openedOk} of ${n} connections opened; client errors ${JSON.stringify(errors)}; server ${await lastCounts()}`);
    await waitServer(`${n} connections OPEN`, (c) => c.live >= n);
    const openIdle = await mem('open-idle');

    // Echo one message per connection.
    phase = 'echoing';
    const t1 = performance.now();
    let echoedOk = 0;
    for (const c of clients) {
      const r = await c.next('echoed', deadline, phase, { t: 'echo' });
      echoedOk += r.ok;
    }
    const echoMs = performance.now() - t1;
    await waitServer(`${n} messages echoed`, (c) => c.echoed >= n);
    const echoed = await mem('echoed');

    // Still held by both sides?
    phase = 'checking that every connection is held';
    const held = await counts();
    const progress: ClientProgress = { started: 0, opened: 0, failed: 0, echoed: 0, bad: 0, dropped: 0, unexpected: 0 };
    for (const c of clients) {
      const p = await c.next('progress', deadline, phase, { t: 'progress' });
      for (const key of Object.keys(progress) as (keyof ClientProgress)[]) progress[key] += p[key];
    }
    const heldBoth = Math.min(held.live, progress.opened - progress.dropped);
    // ringsocket: what one tick of the Godot loop (accept + poll every peer) costs with N idle peers.
    const tickMs: number[] = [];
    if (impl === 'ringsocket') {
      for (let i = 0; i < 9; i++) {
        await sleep(20);
        tickMs.push((await counts()).lastTickMs);
      }
    }

    // Drop them all (RST) and see the memory come back.
    phase = 'resetting';
    for (const c of clients) await c.next('reset', deadline, phase, { t: 'reset' });
    const afterClose = await waitServer(`${n} connections CLOSED`, (c) => c.closed >= n);
    const closed = await mem('closed');

    const problems: string[] = [];
    if (heldBoth !== n) problems.push(`held ${heldBoth} of ${n} (server live ${held.live}, client dropped ${progress.dropped})`);
    if (echoedOk !== n || held.echoed !== n) problems.push(`echoed: client verified ${echoedOk}, server sent ${held.echoed} of ${n}`);
    if (progress.bad !== 0) problems.push(`${progress.bad} wrong echoes`);
    if (progress.unexpected !== 0) problems.push(`${progress.unexpected} unexpected bytes at the client`);
    if (held.sendErrors !== 0 || held.acceptErrors !== 0) problems.push(`server: ${held.sendErrors} send errors, ${held.acceptErrors} accept errors`);
    if (held.failedBeforeOpen !== 0) problems.push(`server: ${held.failedBeforeOpen} connections closed before OPEN`);
    if (echoed.fds < n) problems.push(`server holds ${echoed.fds} fds for ${n} connections`);
    return {
      impl,
      rep,
      connections: n,
      loadProcesses: k,
      serverNofile: listening.nofile,
      held: heldBoth,
      echoed: Math.min(echoedOk, held.echoed),
      openMs,
      connectionsPerSec: (n / openMs) * 1000,
      echoMs,
      tickMsAtN: tickMs.length === 0 ? NaN : spread(tickMs).median,
      mem: { before, 'open-idle': openIdle, echoed, closed },
      perConnection: { openIdle: perConn(before, openIdle, n), echoed: perConn(before, echoed, n), closed: perConn(before, closed, n) },
      serverCounts: afterClose,
      client: { ...progress, errors },
      loadAvg: [load0, loadavg()[0]!],
      ok: problems.length === 0,
      problems,
    };
  } catch (err) {
    if (err instanceof RunTimeout) {
      throw new Error(
        `connections: ${impl} rep ${rep} aborted after ${(o.timeoutMs / 1000).toFixed(0)} s while ${phase}; ` +
          `server ${await lastCounts()}; load ${await lastProgress()}`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    await Promise.all([server.stop({ t: 'exit' }), ...clients.map((c) => c.stop({ t: 'exit' }))]);
    log(`    (${impl} rep ${rep}: server and ${clients.length} load process(es) stopped)`);
  }
}

// ---- driver -----------------------------------------------------------------------------------------

const MB = 1024 * 1024;
const fmtB = (b: number) => `${(b / 1024).toFixed(2)} KiB`;

function fmtRow(s: ConnectionsSample): string {
  const m = s.mem;
  return (
    `  rep ${s.rep}  ${s.impl.padEnd(10)}  held ${s.held}/${s.connections}  echoed ${s.echoed}` +
    `  open ${(s.openMs / 1000).toFixed(2)} s (${s.connectionsPerSec.toFixed(0)} conn/s)  echo ${s.echoMs.toFixed(0)} ms` +
    (Number.isNaN(s.tickMsAtN) ? '' : `  tick at N ${s.tickMsAtN.toFixed(2)} ms`) +
    `  RSS MiB before ${(m.before.rss / MB).toFixed(1)} idle ${(m['open-idle'].rss / MB).toFixed(1)} echoed ${(m.echoed.rss / MB).toFixed(1)} closed ${(m.closed.rss / MB).toFixed(1)}` +
    `  per conn: idle ${fmtB(s.perConnection.openIdle.rss)}, echoed ${fmtB(s.perConnection.echoed.rss)} (VmRSS ${fmtB(s.perConnection.echoed.vmRss)},` +
    ` JS heap ${fmtB(s.perConnection.echoed.jsHeap)}), after close ${fmtB(s.perConnection.closed.rss)}` +
    `  load avg ${s.loadAvg[0].toFixed(1)}–${s.loadAvg[1].toFixed(1)}` +
    (s.ok ? '' : `  PROBLEMS: ${s.problems.join('; ')}`)
  );
}

export async function runConnections(partial: Partial<ConnectionsOptions> = {}, log: (s: string) => void = console.log): Promise<ConnectionsResult> {
  const o: ConnectionsOptions = { ...DEFAULT_OPTIONS, ...partial };
  const machine = machineInfo();
  const nofile = openFilesLimit();
  let portRange = '';
  try {
    portRange = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().replace(/\s+/, '-');
  } catch {
    // not Linux
  }
  log(
    `connections: ${o.connections.toLocaleString('en-US')} concurrent connections, one ${o.size} B echo each, ${o.reps} reps, ${o.impls.join(' vs ')}` +
      `; ringsocket threads ${o.threads}; ulimit -n ${nofile}; ephemeral ports ${portRange}; node ${machine.node}, ${machine.cpuModel}, ${machine.cores} cores`,
  );
  if (!(nofile >= o.connections + 256)) {
    throw new Error(
      `connections: ulimit -n is ${nofile} here; the server process inherits it and needs about ${o.connections + 256} fds for ` +
        `${o.connections} connections. Raise it in the shell that runs the benchmark, e.g. ` +
        `bash -c 'ulimit -n ${Math.max(2 * o.connections, 65536)} && node dist/bench/e2e/connections.js --connections ${o.connections}' ` +
        `(beyond the hard limit this needs root with CAP_SYS_RESOURCE).`,
    );
  }
  const samples: ConnectionsSample[] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    const order = rep % 2 === 1 ? o.impls : o.impls.slice().reverse();
    for (const impl of order) {
      const s = await runOnce(impl, rep, o, log);
      samples.push(s);
      log(fmtRow(s));
    }
  }

  const summary: Partial<Record<ConnImpl, ImplSummary>> = {};
  for (const impl of o.impls) {
    const mine = samples.filter((s) => s.impl === impl);
    summary[impl] = {
      rssPerConnEchoed: spread(mine.map((s) => s.perConnection.echoed.rss)),
      rssPerConnIdle: spread(mine.map((s) => s.perConnection.openIdle.rss)),
      vmRssPerConnEchoed: spread(mine.map((s) => s.perConnection.echoed.vmRss)),
      rssPerConnAfterClose: spread(mine.map((s) => s.perConnection.closed.rss)),
      jsHeapPerConnEchoed: spread(mine.map((s) => s.perConnection.echoed.jsHeap)),
      connectionsPerSec: spread(mine.map((s) => s.connectionsPerSec)),
    };
  }
  const rs = summary.ringsocket;
  const ws = summary['ws-main'];
  const ratio = rs !== undefined && ws !== undefined ? rs.rssPerConnEchoed.median / ws.rssPerConnEchoed.median : NaN;
  const allHeld = samples.every((s) => s.ok);

  const kib = (sp: Spread) => `${fmtSpread({ median: sp.median / 1024, min: sp.min / 1024, max: sp.max / 1024 }, 2)} KiB`;
  log(`  medians (min–max) over ${o.reps} reps, ${o.connections.toLocaleString('en-US')} connections:`);
  const cols = ['RSS/conn echoed', 'RSS/conn idle', 'VmRSS/conn echoed', 'JS heap/conn echoed', 'RSS/conn after close'];
  log(`    ${'impl'.padEnd(10)}  ${cols.map((c) => c.padEnd(26)).join('  ')}  conn/s`);
  for (const impl of o.impls) {
    const s = summary[impl]!;
    const vals = [s.rssPerConnEchoed, s.rssPerConnIdle, s.vmRssPerConnEchoed, s.jsHeapPerConnEchoed, s.rssPerConnAfterClose];
    log(`    ${impl.padEnd(10)}  ${vals.map((v) => kib(v).padEnd(26)).join('  ')}  ${fmtSpread(s.connectionsPerSec)}`);
  }
  if (!Number.isNaN(ratio)) log(`  ratio ringsocket / ws-main, RSS per connection after the echo: ${ratio.toFixed(2)}x`);
  log(`  ${allHeld ? 'OK' : 'PROBLEMS'}: ${samples.filter((s) => s.ok).length}/${samples.length} runs held and echoed all ${o.connections} connections`);

  const result: ConnectionsResult = {
    bench: 'connections',
    date: new Date().toISOString(),
    command: `node ${process.argv.slice(1).map((a) => path.relative(process.cwd(), a) || a).join(' ')}`,
    machine,
    nofile,
    options: o,
    samples,
    summary,
    ratioRssPerConn: ratio,
    allHeld,
  };
  if (o.writeJson) {
    result.file = writeResult('connections', result);
    log(`  results: ${result.file}`);
  }
  return result;
}

export function optionsFromArgv(argv: string[], quick = false): Partial<ConnectionsOptions> {
  const only = argValue(argv, 'only');
  if (only !== undefined && only !== 'ringsocket' && only !== 'ws-main') throw new TypeError(`--only must be ringsocket or ws-main, got ${only}`);
  const timeoutS = argInt(argv, 'timeout', DEFAULT_OPTIONS.timeoutMs / 1000);
  const base = quick ? { connections: 2000, reps: 1 } : {};
  return {
    connections: argInt(argv, 'connections', base.connections ?? DEFAULT_OPTIONS.connections),
    batch: argInt(argv, 'batch', DEFAULT_OPTIONS.batch),
    reps: argInt(argv, 'reps', base.reps ?? DEFAULT_OPTIONS.reps),
    threads: argInt(argv, 'threads', DEFAULT_OPTIONS.threads),
    perClient: argInt(argv, 'per-client', DEFAULT_OPTIONS.perClient),
    settleMs: argValue(argv, 'settle-ms') === '0' ? 0 : argInt(argv, 'settle-ms', DEFAULT_OPTIONS.settleMs),
    idleTickMs: argValue(argv, 'idle-tick-ms') === '0' ? 0 : argInt(argv, 'idle-tick-ms', DEFAULT_OPTIONS.idleTickMs),
    timeoutMs: timeoutS * 1000,
    gc: argValue(argv, 'no-gc') === undefined,
    impls: only === undefined ? DEFAULT_OPTIONS.impls : [only],
    writeJson: argValue(argv, 'no-json') === undefined,
    profileDir: argValue(argv, 'profile') ?? '',
  };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  try {
    const r = await runConnections(optionsFromArgv(argv, argValue(argv, 'quick') !== undefined));
    process.exitCode = r.allHeld ? 0 : 1;
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
  }
}
