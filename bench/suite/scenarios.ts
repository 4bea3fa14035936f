/**
 * The suite's scenarios (issue 4, "Scenarios") and how one run of one scenario against one server
 * is driven: start the server, start the load, warm up, take marks around a window, stop, drain.
 */
import { Child } from './procs.js';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { sleep, spread } from '../common.js';
import { LatencyHistogram, newHistogram } from '../../cli/histogram.js';
import { summarize as summarizeHistogram } from './load.js';
import { machineBusyPct, machineCpu } from './common.js';
import type {
  DeflateMode,
  LatencySummary,
  LoadCommand,
  LoadConfig,
  LoadFinal,
  LoadMark,
  LoadNotice,
  RsLoop,
  RsRead,
  ServerCommand,
  ServerConfig,
  ServerImpl,
  ServerMark,
  ServerMode,
  ServerNotice,
  TickSample,
} from './protocol.js';

export const SCENARIO_IDS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

const SERVER_JS = new URL('./server.js', import.meta.url);
const LOAD_JS = new URL('./load.js', import.meta.url);

export interface MetricDef {
  key: string;
  label: string;
  /** Which way is better (for the reader; ratios are always this server / ws-main). */
  better: 'higher' | 'lower' | 'none';
  /** Show a ratio-to-ws-main column for it. */
  ratio: boolean;
}

/** One variant of a scenario: what the server and the load do, and how long. */
export interface Variant {
  scenario: ScenarioId;
  /** '' when the scenario has a single variant. */
  name: string;
  title: string;
  mode: ServerMode;
  rsLoop: RsLoop;
  /** Load shape; conns 0 = no load process (S3 floor). */
  conns: number;
  load: Pick<LoadConfig, 'mode' | 'inflight' | 'rate' | 'expectEcho' | 'size'>;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  metrics: MetricDef[];
  /** Chart-worthy metric for RESULTS.md bars. */
  headline: string;
  /** Connections per load process (default CONNS_PER_LOAD_PROCESS). */
  connsPerLoad?: number;
  /** Handshakes in flight at once per load process (default 256). */
  connectConcurrency?: number;
  /** Only these servers run it (the others are skipped with a reason). */
  impls?: readonly ServerImpl[];
  /** S7: permessage-deflate offered by the load and on in the server ('' / absent: off). */
  deflate?: DeflateMode;
  /** Payload content (default `fill`; S7 `json`). */
  content?: 'fill' | 'json';
  /** S7 held connections: after the first RSS mark, wait this long and take another (idle sweep). */
  settleMs?: number;
  /** Environment added for the server process (S7 `active-mmap`: glibc's malloc tunables). */
  serverEnv?: Record<string, string>;
}

export interface SuiteOptions {
  scenarios: ScenarioId[];
  servers: ServerImpl[];
  reps: number;
  quick: boolean;
  /** Override the ringsocket loop of S1, S2, S4 and S5 (undefined: each scenario's default). */
  rsLoop: RsLoop | undefined;
  pacedMs: number;
  rsThreads: number;
  /** WebSocketPeer inboundBufferSize of ringsocket's peers (0: the default, 65535). */
  rsInboundBytes: number;
  /** PeerPool workerNice for ringsocket (-1: each scenario's default: S3's tick loops 10, others 0). */
  rsNice: number;
  /**
   * PeerPool workerResourceLimits.maxYoungGenerationSizeMb for ringsocket (-1: each scenario's default:
   * S5's idle connections 12, as the README advises for many idle connections; others Node's; 0: Node's).
   */
  rsYoungMb: number;
  /** S5 connection counts. */
  s5Conns: number[];
  /** S6 client counts. */
  s6Clients: number[];
  /** S7 held-connection counts (idle and active compressed connections). */
  s7Conns: number[];
  /** S6, ringsocket: skip a tick's snapshot while `getPublishBacklog()` is above this; -1 never. */
  rsSkipBehind: number;
  /** How ringsocket's per-peer backend reads packets (S1–S5): getPacketInto (default) or getPacket. */
  rsRead: RsRead;
  rssLimitMiB: number;
  /** Frames per write of the S3 and S4 floods (0: the scenario's own, 8 and 32). */
  floodBatch: number;
  /** Directory for --cpu-prof profiles of the server processes ('' = none). */
  cpuProfDir: string;
}

export interface RunResult {
  scenario: ScenarioId;
  variant: string;
  impl: ServerImpl;
  rep: number;
  ok: boolean;
  error: string;
  /** Why a run was not attempted (e.g. the fd limit for 50,000 connections). */
  skipped: string;
  metrics: Record<string, number>;
  /** Raw material for charts and re-analysis. */
  detail: {
    rtt?: LatencySummary;
    rttUncorrected?: LatencySummary;
    sendLag?: LatencySummary;
    /** S6: receipt − server stamp of the snapshots received in the window, all load processes merged. */
    snapshotAge?: LatencySummary;
    ticks?: TickSample[];
    serverExtra?: Record<string, unknown>;
    notes?: string[];
    /** Where the run's wall time went (orchestrator clock). */
    phasesMs?: Record<string, number>;
  };
  wallMs: number;
}

const TICK = { hz: 60, busyMs: 8, snapshotBytes: 256 };
/** ringsocket's I/O threads in S3 run at this niceness (PeerPool `workerNice`), as the README advises a tick loop. */
const TICK_LOOP_NICE = 10;
/** S5 (idle connections): PeerPool workerResourceLimits.maxYoungGenerationSizeMb, as the README advises for many idle connections. */
const IDLE_YOUNG_MB = 12;

const M = (key: string, label: string, better: MetricDef['better'], ratio = true): MetricDef => ({ key, label, better, ratio });
const CPU_METRICS = [
  M('mainCpuPct', 'main-thread CPU %', 'none', false),
  M('procCpuPct', 'process CPU %', 'none', false),
  M('loadCpuPct', 'load CPU %', 'none', false),
  M('othersCpuPct', 'others CPU %', 'none', false),
];

export function variantsOf(id: ScenarioId, o: SuiteOptions): Variant[] {
  const q = o.quick;
  const loop = (dflt: RsLoop): RsLoop => o.rsLoop ?? dflt;
  const base = { drainMs: 3000, load: { mode: 'idle' as const, inflight: 1, rate: 0, expectEcho: false, size: 64 } };
  switch (id) {
    case 'S1':
      return [
        {
          ...base,
          scenario: 'S1',
          name: '',
          title: 'S1 echo throughput: 100 connections × 16 in flight, 64 B binary',
          mode: 'echo',
          rsLoop: loop('wait'),
          conns: 100,
          load: { mode: 'window', inflight: 16, rate: 0, expectEcho: true, size: 64 },
          warmupMs: q ? 500 : 1000,
          measureMs: q ? 1500 : 3000,
          metrics: [M('echoPerSec', 'echoes/s', 'higher'), ...CPU_METRICS, M('unanswered', 'lost', 'lower', false), M('stalledConns', 'stalled conns', 'lower', false)],
          headline: 'echoPerSec',
        },
      ];
    case 'S2':
      return [
        {
          ...base,
          scenario: 'S2',
          name: '',
          title: 'S2 latency: 100 connections, 20,000 msg/s open loop, 64 B echo (RTT from intended send time)',
          mode: 'echo',
          rsLoop: loop('wait'),
          conns: 100,
          load: { mode: 'rate', inflight: 1, rate: 20_000, expectEcho: true, size: 64 },
          warmupMs: q ? 500 : 1000,
          measureMs: q ? 2000 : 5000,
          metrics: [
            M('p50Ms', 'RTT p50 ms', 'lower'),
            M('p99Ms', 'RTT p99 ms', 'lower'),
            M('p999Ms', 'RTT p99.9 ms', 'lower'),
            M('maxMs', 'RTT max ms', 'lower'),
            M('rawP99Ms', 'uncorrected p99 ms', 'lower', false),
            M('lagP99Ms', 'load send lag p99 ms', 'lower', false),
            M('ratePerSec', 'achieved msg/s', 'none', false),
            ...CPU_METRICS,
            M('unanswered', 'lost', 'lower', false),
          ],
          headline: 'p99Ms',
        },
      ];
    case 'S3': {
      const tickMetrics = [
        M('lateP50Ms', 'lateness p50 ms', 'lower'),
        M('lateP99Ms', 'lateness p99 ms', 'lower'),
        M('lateMaxMs', 'lateness max ms', 'lower'),
        M('missedPct', 'ticks missed %', 'lower', false),
        M('bodyP99Ms', 'tick body p99 ms', 'lower', false),
        M('ingestP99Ms', 'ingest p99 ms', 'lower', false),
      ];
      const common = { ...base, scenario: 'S3' as const, mode: 'tick' as const, rsLoop: 'paced' as const, warmupMs: q ? 500 : 1000, measureMs: q ? 2000 : 5000, headline: 'lateP99Ms' };
      return [
        {
          ...common,
          name: 'flood',
          title: `S3 tick loop under flood: 60 Hz, 8 ms work, 256 B snapshot to each of 200 clients flooding 64 B (${o.floodBatch || 8} per write)`,
          conns: 200,
          load: { mode: 'flood', inflight: o.floodBatch || 8, rate: 0, expectEcho: false, size: 64 },
          metrics: [
            ...tickMetrics,
            M('consumedPerSec', 'consumed msg/s', 'higher'),
            M('snapshotsPerSec', 'snapshots/s delivered', 'higher'),
            M('backlog', 'backlog at end (msgs)', 'lower', false),
            ...CPU_METRICS,
          ],
        },
        {
          ...common,
          name: 'realistic',
          title: 'S3 tick loop, realistic: 200 clients × 60 msg/s (12,000 msg/s), same loop',
          conns: 200,
          load: { mode: 'rate', inflight: 1, rate: 200 * 60, expectEcho: false, size: 64 },
          metrics: [...tickMetrics, M('consumedPerSec', 'consumed msg/s', 'higher', false), M('snapshotsPerSec', 'snapshots/s delivered', 'higher'), ...CPU_METRICS],
        },
        {
          ...common,
          name: 'floor',
          title: 'S3 tick loop with no clients (the timer floor)',
          conns: 0,
          metrics: [...tickMetrics, M('mainCpuPct', 'main-thread CPU %', 'none', false), M('othersCpuPct', 'others CPU %', 'none', false)],
        },
      ];
    }
    case 'S4':
      return [
        {
          ...base,
          scenario: 'S4',
          name: '',
          title: `S4 main-thread cost: inbound-only flood, 100 connections, ${o.floodBatch || 32} frames per write, 64 B`,
          mode: 'sink',
          rsLoop: loop('paced'),
          conns: 100,
          load: { mode: 'flood', inflight: o.floodBatch || 32, rate: 0, expectEcho: false, size: 64 },
          warmupMs: q ? 500 : 1000,
          measureMs: q ? 1500 : 3000,
          metrics: [
            M('mainNsPerMsg', 'main-thread ns/msg', 'lower'),
            M('procNsPerMsg', 'process ns/msg', 'lower'),
            M('consumedPerSec', 'consumed msg/s', 'higher'),
            M('backlog', 'backlog at end (msgs)', 'lower', false),
            ...CPU_METRICS,
          ],
          headline: 'mainNsPerMsg',
        },
      ];
    case 'S5':
      return o.s5Conns.map((n) => ({
        ...base,
        scenario: 'S5' as const,
        name: `${n}`,
        title: `S5 ${n.toLocaleString('en-US')} idle connections`,
        mode: 'idle' as const,
        rsLoop: loop('paced'),
        conns: n,
        warmupMs: 0,
        measureMs: q ? 500 : 1000,
        metrics: [
          M('rssPerConnKB', 'RSS KB/conn', 'lower'),
          M('connsPerSec', 'opened conns/s', 'higher'),
          M('rssMiB', 'RSS MiB held', 'lower', false),
          M('failed', 'failed conns', 'lower', false),
        ],
        headline: 'rssPerConnKB',
      }));
    case 'S6': {
      const common = {
        ...base,
        scenario: 'S6' as const,
        mode: 'game' as const,
        rsLoop: 'paced' as const,
        warmupMs: q ? 1000 : 2000,
        measureMs: q ? 2000 : 5000,
        drainMs: 500,
        headline: 'lateP99Ms',
        impls: S6_IMPLS,
      };
      const tick = [
        M('missedPct', 'ticks missed %', 'lower', false),
        M('lateP99Ms', 'lateness p99 ms', 'lower'),
        M('lateOverFloorP99Ms', 'p99 − floor p99 ms', 'lower', false),
        M('nonWorkCpuUsPerTick', 'main CPU outside work µs/tick', 'lower'),
        M('nonWorkCpuPct', 'main CPU outside work % of wall', 'lower', false),
        M('nonWorkOverFloorPct', 'same − floor, % of wall', 'lower', false),
      ];
      return [
        {
          ...common,
          name: 'floor',
          title: 'S6 game server with no clients (the floor: 60 Hz, 8 ms work, nothing to send)',
          conns: 0,
          metrics: [...tick, M('procCpuPct', 'process CPU %', 'none', false), M('rssMiB', 'RSS MiB', 'lower', false), M('othersCpuPct', 'others CPU %', 'none', false)],
        },
        ...o.s6Clients.map((n) => ({
          ...common,
          name: `${n}`,
          title:
            `S6 game server at scale: ${n.toLocaleString('en-US')} clients, 60 Hz tick with 8 ms of work, a 256 B stamped snapshot to every client ` +
            `each tick, 10 inputs/s of 64 B per client (${(n * 10).toLocaleString('en-US')}/s, spread evenly)`,
          conns: n,
          load: { mode: 'rate' as const, inflight: 1, rate: n * 10, expectEcho: false, size: 64 },
          connsPerLoad: S6_CONNS_PER_LOAD,
          connectConcurrency: 64,
          metrics: [
            ...tick,
            M('deliveryPct', 'snapshot delivery %', 'higher', false),
            M('snapshotsSkippedPct', 'snapshots skipped % (--rs-skip-behind)', 'none', false),
            M('snapAgeP50Ms', 'snapshot age p50 ms', 'lower'),
            M('snapAgeP99Ms', 'snapshot age p99 ms', 'lower'),
            M('inputsConsumedPerSec', 'inputs consumed/s', 'higher', false),
            M('inputsSentPerSec', 'inputs sent/s', 'none', false),
            M('workerCpuPct', 'other threads CPU %', 'none', false),
            M('procCpuPct', 'process CPU %', 'none', false),
            M('rssMiB', 'RSS MiB', 'lower'),
            M('loadCpuPct', 'load CPU %', 'none', false),
            M('othersCpuPct', 'others CPU %', 'none', false),
          ],
        })),
      ];
    }
    case 'S7': {
      // Issue 16: permessage-deflate. The same 2 KiB JSON-like message with and without compression, so
      // that "-plain" is the baseline deflate is compared with on each server.
      const size = 2048;
      const cpu = [...CPU_METRICS, M('unanswered', 'lost', 'lower', false)];
      const perMsg = [M('mainNsPerMsg', 'main-thread ns/msg', 'lower'), M('procNsPerMsg', 'process ns/msg', 'lower'), M('otherNsPerMsg', 'other threads ns/msg', 'none', false)];
      const common = { ...base, scenario: 'S7' as const, content: 'json' as const, warmupMs: q ? 500 : 1000, measureMs: q ? 1500 : 3000, impls: S6_IMPLS };
      const echo = (deflate: DeflateMode): Variant => ({
        ...common,
        name: deflate === '' ? 'echo-plain' : 'echo',
        title: `S7 echo ${deflate === '' ? 'without' : 'with'} permessage-deflate: 100 connections × 16 in flight, 2 KiB JSON-like binary${deflate === '' ? '' : ', no context takeover both ways'}`,
        mode: 'echo',
        rsLoop: loop('wait'),
        conns: 100,
        deflate,
        load: { mode: 'window', inflight: 16, rate: 0, expectEcho: true, size },
        metrics: [M('echoPerSec', 'echoes/s', 'higher'), ...perMsg, ...cpu],
        headline: 'echoPerSec',
      });
      const sink = (deflate: DeflateMode): Variant => ({
        ...common,
        name: deflate === '' ? 'sink-plain' : 'sink',
        title: `S7 main-thread cost ${deflate === '' ? 'without' : 'with'} permessage-deflate: inbound-only flood, 100 connections, ${o.floodBatch || 32} frames per write, 2 KiB JSON-like`,
        mode: 'sink',
        rsLoop: loop('paced'),
        conns: 100,
        deflate,
        load: { mode: 'flood', inflight: o.floodBatch || 32, rate: 0, expectEcho: false, size },
        metrics: [...perMsg, M('consumedPerSec', 'consumed msg/s', 'higher'), M('backlog', 'backlog at end (msgs)', 'lower', false), ...CPU_METRICS],
        headline: 'mainNsPerMsg',
      });
      // The main thread's cost per message at one fixed rate with and without compression (a flood's
      // rates differ, and a paced loop's cost per pass is then spread over different counts).
      const paced = (deflate: DeflateMode): Variant => ({
        ...common,
        name: deflate === '' ? 'rate-plain' : 'rate',
        title: `S7 main-thread cost at ${(S7_RATE / 1000).toFixed(0)}k msg/s ${deflate === '' ? 'without' : 'with'} permessage-deflate: 100 connections, inbound only, 2 KiB JSON-like`,
        mode: 'sink',
        rsLoop: loop('paced'),
        conns: 100,
        deflate,
        load: { mode: 'rate', inflight: 1, rate: S7_RATE, expectEcho: false, size },
        metrics: [...perMsg, M('consumedPerSec', 'consumed msg/s', 'higher'), M('backlog', 'backlog at end (msgs)', 'lower', false), ...CPU_METRICS],
        headline: 'mainNsPerMsg',
      });
      const held = (n: number, active: boolean, mmap = false): Variant => ({
        ...common,
        name: `${active ? 'active' : 'idle'}${mmap ? '-mmap' : ''}-${n}`,
        title: active
          ? `S7 ${n.toLocaleString('en-US')} compressed connections, context takeover both ways, each after one 2 KiB message each way (then ${HELD_SETTLE_MS / 1000} s idle)` +
            (mmap ? `; servers run with MALLOC_MMAP_THRESHOLD_=65536 (glibc gives blocks of 64 KiB and more back when freed)` : '')
          : `S7 ${n.toLocaleString('en-US')} idle connections with permessage-deflate agreed (context takeover both ways), no message`,
        mode: active ? 'echo' : 'idle',
        rsLoop: loop('paced'),
        conns: n,
        deflate: 'takeover',
        load: { mode: active ? 'once' : 'idle', inflight: 1, rate: 0, expectEcho: false, size },
        warmupMs: 0,
        measureMs: q ? 500 : 1000,
        ...(active ? { settleMs: HELD_SETTLE_MS } : {}),
        ...(mmap ? { serverEnv: { MALLOC_MMAP_THRESHOLD_: '65536' } } : {}),
        metrics: [
          M('rssPerConnKB', 'RSS KB/conn', 'lower'),
          ...(active ? [M('rssPerConnIdleKB', `RSS KB/conn ${HELD_SETTLE_MS / 1000} s later`, 'lower')] : []),
          M('rssMiB', 'RSS MiB held', 'lower', false),
          M('connsPerSec', 'opened conns/s', 'higher'),
          M('failed', 'failed conns', 'lower', false),
        ],
        headline: 'rssPerConnKB',
      });
      return [
        echo('no-context'),
        echo(''),
        sink('no-context'),
        sink(''),
        paced('no-context'),
        paced(''),
        ...o.s7Conns.flatMap((n) => [held(n, false), held(n, true), held(n, true, true)]),
      ];
    }
  }
}

/**
 * S7 active: the second RSS mark is taken this long after the first, past ringsocket's default
 * `hibernateAfterMs` (10 s) plus its sweep period (1 s).
 */
const HELD_SETTLE_MS = 12_000;
/** S7 rate variants: messages per second, below what every server inflates on this machine except ws. */
const S7_RATE = 30_000;

/** S6 compares the servers a game at scale would pick: ringsocket's many-peer class, ws on the main thread, uWS with topics. */
export const S6_IMPLS: readonly ServerImpl[] = ['ringsocket', 'ws-main', 'uws-main'];
/** S6: one load process per 2,500 clients (each is one Node thread reading 150,000 snapshots/s). */
const S6_CONNS_PER_LOAD = 2_500;

/** Connections per load process: below the 20,000 open files each process may have here. */
const CONNS_PER_LOAD_PROCESS = 15_000;

interface Spawned {
  server: Child<ServerNotice, ServerCommand>;
  loads: Child<LoadNotice, LoadCommand>[];
}

function serverConfig(v: Variant, impl: ServerImpl, o: SuiteOptions): ServerConfig {
  return {
    impl,
    mode: v.mode,
    tick: TICK,
    rsLoop: v.rsLoop,
    pacedMs: v.mode === 'idle' ? Math.max(o.pacedMs, 5) : o.pacedMs,
    rsRead: o.rsRead,
    rsThreads: o.rsThreads,
    rsInboundBytes: o.rsInboundBytes,
    // S6 leaves the workers at 0: there they carry the snapshots (the fan-out), and at 10 on this shared
    // machine they got ~11 % of a core and delivered 4.4 % of the snapshots at 2,000 clients (36 % at 0).
    rsNice: o.rsNice >= 0 ? o.rsNice : v.mode === 'tick' ? TICK_LOOP_NICE : 0,
    rsYoungMb: o.rsYoungMb >= 0 ? o.rsYoungMb : v.mode === 'idle' ? IDLE_YOUNG_MB : 0,
    rssLimitBytes: o.rssLimitMiB * 2 ** 20,
    deflate: v.deflate ?? '',
    gcOnMark: v.mode === 'idle' || v.settleMs !== undefined,
    rsSkipBehind: o.rsSkipBehind,
  };
}

function loadConfigs(v: Variant, port: number): LoadConfig[] {
  if (v.conns === 0) return [];
  const procs = Math.ceil(v.conns / (v.connsPerLoad ?? CONNS_PER_LOAD_PROCESS));
  const out: LoadConfig[] = [];
  for (let i = 0; i < procs; i++) {
    const conns = Math.floor(v.conns / procs) + (i < v.conns % procs ? 1 : 0);
    out.push({
      index: i,
      host: '127.0.0.1',
      port,
      // One source address per process past the first keeps each under the ephemeral port range.
      localAddress: procs > 1 ? `127.0.0.${2 + i}` : '',
      conns,
      mode: v.load.mode,
      size: v.load.size,
      snapshotBytes: TICK.snapshotBytes,
      inflight: v.load.inflight,
      rate: v.load.rate / procs,
      expectEcho: v.load.expectEcho,
      connectConcurrency: v.connectConcurrency ?? 256,
      drainMs: v.drainMs,
      snapshotAge: v.scenario === 'S6',
      deflate: v.deflate ?? '',
      content: v.content ?? 'fill',
    });
  }
  return out;
}

const pct = (cpuNs: number, ms: number): number => (ms > 0 ? (cpuNs / (ms * 1e6)) * 100 : NaN);
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function tickMetrics(m: Record<string, number>, ticks: NonNullable<ServerMark['ticks']>): void {
  const late = ticks.samples.map((s) => s.lateness).sort((a, b) => a - b);
  const at = (p: number): number => (late.length === 0 ? NaN : late[Math.min(late.length - 1, Math.ceil((p / 100) * late.length) - 1)]!);
  m.lateP50Ms = at(50);
  m.lateP99Ms = at(99);
  m.lateMaxMs = late.length === 0 ? NaN : late[late.length - 1]!;
  m.ticksRun = ticks.run;
  m.ticksMissed = ticks.missed;
  m.missedPct = ticks.run + ticks.missed === 0 ? NaN : (100 * ticks.missed) / (ticks.run + ticks.missed);
  const body = ticks.samples.map((s) => s.body).sort((a, b) => a - b);
  const ingest = ticks.samples.map((s) => s.ingest).sort((a, b) => a - b);
  m.bodyP99Ms = body.length === 0 ? NaN : body[Math.min(body.length - 1, Math.ceil(0.99 * body.length) - 1)]!;
  m.ingestP99Ms = ingest.length === 0 ? NaN : ingest[Math.min(ingest.length - 1, Math.ceil(0.99 * ingest.length) - 1)]!;
  m.ingestMaxMs = ingest.length === 0 ? NaN : ingest[ingest.length - 1]!;
}

/** One run of one variant against one server implementation. Never throws. */
export async function runOne(v: Variant, impl: ServerImpl, rep: number, o: SuiteOptions, fdLimitForServer: number | undefined): Promise<RunResult> {
  const t0 = performance.now();
  const result: RunResult = { scenario: v.scenario, variant: v.name, impl, rep, ok: false, error: '', skipped: '', metrics: {}, detail: {}, wallMs: 0 };
  if (v.impls !== undefined && !v.impls.includes(impl)) {
    result.skipped = `${v.scenario} runs ${v.impls.join(', ')} only`;
    return result;
  }
  const sp: Spawned = {
    server: new Child<ServerNotice, ServerCommand>(`${impl} server`, SERVER_JS, serverConfig(v, impl, o), {
      execArgv: [
        '--expose-gc',
        ...(o.cpuProfDir !== ''
          ? ['--cpu-prof', `--cpu-prof-dir=${path.join(o.cpuProfDir, `${v.scenario}${v.name}-${impl}-${rep + 1}`)}`]
          : []),
      ],
      ...(fdLimitForServer !== undefined ? { fdLimit: fdLimitForServer } : {}),
      ...(v.serverEnv !== undefined ? { env: v.serverEnv } : {}),
    }),
    loads: [],
  };
  try {
    const listening = await sp.server.wait('listening', 20_000);
    if ((v.scenario === 'S5' || v.conns > 1000) && listening.fdLimit < v.conns + 64) {
      result.skipped = `server open-files limit ${listening.fdLimit} < ${v.conns} connections`;
      return result;
    }
    if (v.scenario === 'S5' || (v.scenario === 'S7' && (v.load.mode === 'idle' || v.load.mode === 'once'))) await runIdle(v, sp, listening.port, result);
    else if (v.conns === 0) await runFloor(v, sp, result);
    else await runLoaded(v, sp, listening.port, result);
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    for (const l of sp.loads) l.send({ t: 'exit' });
    await Promise.all([sp.server.kill(o.cpuProfDir !== '' ? 5000 : 0, { t: 'exit' }), ...sp.loads.map((l) => l.kill())]);
    result.wallMs = performance.now() - t0;
  }
  return result;
}

async function startLoads(v: Variant, sp: Spawned, port: number, timeoutMs: number): Promise<{ conns: number; failed: number; ms: number; firstError: string }> {
  sp.loads = loadConfigs(v, port).map((c) => new Child<LoadNotice, LoadCommand>(`load ${c.index}`, LOAD_JS, c));
  const connected = await Promise.all(sp.loads.map((l) => l.wait('connected', timeoutMs)));
  const conns = sum(connected.map((c) => c.conns));
  const failed = sum(connected.map((c) => c.failed));
  const firstError = connected.find((c) => c.firstError !== '')?.firstError ?? '';
  if (conns === 0) throw new Error(`no connection opened (${failed} failed: ${firstError})`);
  return { conns, failed, ms: Math.max(...connected.map((c) => c.ms)), firstError };
}

async function marks(sp: Spawned, window: 'start' | 'end'): Promise<{ s: ServerMark; l: LoadMark[] }> {
  const [s, ...l] = await Promise.all([
    sp.server.ask({ t: 'mark' }, 'mark', 30_000),
    ...sp.loads.map((x) => x.ask({ t: 'mark', window }, 'mark', 30_000)),
  ]);
  return { s: s as ServerMark, l: l as LoadMark[] };
}

async function runLoaded(v: Variant, sp: Spawned, port: number, r: RunResult): Promise<void> {
  const phases: Record<string, number> = {};
  let tp = performance.now();
  const phase = (name: string): void => {
    const now = performance.now();
    phases[name] = Math.round(now - tp);
    tp = now;
  };
  r.detail.phasesMs = phases;
  // Many clients (S6): connecting and the server seeing them open take longer.
  const connectMs = v.conns > 1000 ? 120_000 : 30_000;
  const c = await startLoads(v, sp, port, connectMs);
  phase('connect');
  const notes: string[] = [];
  if (c.failed > 0) notes.push(`${c.failed} connections failed (${c.firstError})`);
  await sp.server.ask({ t: 'await-clients', n: c.conns }, 'clients', connectMs);
  phase('awaitClients');
  for (const l of sp.loads) l.send({ t: 'go' });
  await sleep(v.warmupMs);
  const a = await marks(sp, 'start');
  const cpuA = machineCpu();
  phase('warmup');
  await sleep(v.measureMs);
  const b = await marks(sp, 'end');
  const cpuB = machineCpu();
  phase('window');
  const finals = (await Promise.all(sp.loads.map((l) => l.ask({ t: 'stop' }, 'final', v.drainMs + 30_000)))) as LoadFinal[];
  phase('loadStop');
  const fin = await sp.server.ask({ t: 'final' }, 'mark', 60_000);
  phase('serverFinal');

  const m = r.metrics;
  const sMs = b.s.now - a.s.now;
  const dConsumed = b.s.counters.consumed - a.s.counters.consumed;
  m.windowMs = sMs;
  m.conns = c.conns;
  m.mainCpuPct = pct(b.s.mainCpuNs - a.s.mainCpuNs, sMs);
  m.procCpuPct = pct(b.s.procCpuNs - a.s.procCpuNs, sMs);
  m.consumedPerSec = (dConsumed / sMs) * 1000;
  m.mainNsPerMsg = dConsumed > 0 ? (b.s.mainCpuNs - a.s.mainCpuNs) / dConsumed : NaN;
  m.procNsPerMsg = dConsumed > 0 ? (b.s.procCpuNs - a.s.procCpuNs) / dConsumed : NaN;
  m.otherNsPerMsg = m.procNsPerMsg - m.mainNsPerMsg;
  m.sendFailed = fin.counters.sendFailed;
  m.snapshotsFailed = fin.counters.snapshotsFailed;
  m.rssMiB = fin.rss / 2 ** 20;
  // Backlog at the end of the window: reached the server's I/O thread but not consumed by the app.
  m.backlog = b.s.counters.received > 0 ? b.s.counters.received - b.s.counters.consumed : NaN;
  let loadCpu = 0;
  let dEcho = 0;
  let dSnap = 0;
  let dSent = 0;
  let lMsMax = 0;
  for (let i = 0; i < sp.loads.length; i++) {
    const la = a.l[i]!;
    const lb = b.l[i]!;
    const lMs = lb.now - la.now;
    lMsMax = Math.max(lMsMax, lMs);
    loadCpu += pct(lb.cpuNs - la.cpuNs, lMs);
    dEcho += ((lb.counters.echoes - la.counters.echoes) / lMs) * 1000;
    dSnap += ((lb.counters.snapshots - la.counters.snapshots) / lMs) * 1000;
    dSent += ((lb.counters.sent - la.counters.sent) / lMs) * 1000;
  }
  m.loadCpuPct = loadCpu;
  // The machine is shared: what neither the server nor the load used during the window.
  m.machineBusyPct = machineBusyPct(cpuA, cpuB, availableParallelism());
  m.othersCpuPct = Math.max(0, m.machineBusyPct - m.procCpuPct - m.loadCpuPct);
  m.echoPerSec = dEcho;
  m.snapshotsPerSec = dSnap;
  m.ratePerSec = dSent;
  m.unanswered = sum(finals.map((f) => f.unanswered));
  m.stalledConns = sum(finals.map((f) => f.stalledConns));
  m.closes = sum(finals.map((f) => f.counters.closes));
  m.socketErrors = sum(finals.map((f) => f.counters.socketErrors));
  m.otherFrames = sum(finals.map((f) => f.counters.otherFrames));
  m.compressedFrames = sum(finals.map((f) => f.counters.compressed));
  m.badEchoes = sum(finals.map((f) => f.counters.badEchoes));
  if (m.badEchoes > 0) notes.push(`${m.badEchoes} sampled compressed echoes did not inflate to the message sent`);
  if (v.deflate !== undefined && v.deflate !== '' && v.load.expectEcho && m.compressedFrames === 0) notes.push('no compressed frame came back');
  m.disconnects = sum(finals.map((f) => f.counters.disconnects));
  if (m.disconnects > 0) notes.push(`${m.disconnects} connections dropped by the server during the run`);
  if (m.closes > 0) notes.push(`the server closed ${m.closes} connections`);
  if (m.socketErrors > 0) notes.push(`${m.socketErrors} socket errors on the load side`);
  if (m.otherFrames > 0) notes.push(`${m.otherFrames} unexpected frames`);
  if (m.unanswered > 0) notes.push(`${m.unanswered} messages never answered after ${v.drainMs} ms`);
  if (m.stalledConns > 0) notes.push(`${m.stalledConns} connections got no echo during the window`);
  if (m.sendFailed > 0) notes.push(`server send refused/dropped ${m.sendFailed} times`);
  if (m.othersCpuPct > 25) notes.push(`other processes used ~${m.othersCpuPct.toFixed(0)} % CPU during the window: noisy`);
  if (m.loadCpuPct > 90 * sp.loads.length) notes.push(`load process saturated (${m.loadCpuPct.toFixed(0)} % CPU): figures may be load-bound`);

  if (v.scenario === 'S2' && finals.length > 0) {
    const f = finals[0]!;
    // One load process in S2: its histograms are the run's.
    r.detail.rtt = f.rtt;
    r.detail.rttUncorrected = f.rttUncorrected;
    r.detail.sendLag = f.sendLag;
    m.p50Ms = f.rtt!.p50 / 1000;
    m.p99Ms = f.rtt!.p99 / 1000;
    m.p999Ms = f.rtt!.p999 / 1000;
    m.maxMs = f.rtt!.max / 1000;
    m.rawP99Ms = f.rttUncorrected!.p99 / 1000;
    m.lagP99Ms = f.sendLag!.p99 / 1000;
  }
  if (b.s.ticks !== undefined) {
    tickMetrics(m, b.s.ticks);
    r.detail.ticks = b.s.ticks.samples;
    if (b.s.ticks.run === 0) {
      // The loop never came round inside the window (ws-main at 10,000 clients in S6): every slot missed.
      m.missedPct = 100;
      notes.push('no tick ran inside the window');
    }
  }
  if (v.scenario === 'S6') {
    gameMetrics(m, a.s, b.s);
    m.rssMiB = b.s.rss / 2 ** 20;
    // Snapshots received by the clients (their clocks) / snapshots the server meant to send (its clock).
    m.snapshotsIntendedPerSec = ((b.s.counters.snapshotsIntended - a.s.counters.snapshotsIntended) / sMs) * 1000;
    m.deliveryPct = (100 * dSnap) / m.snapshotsIntendedPerSec;
    m.inputsSentPerSec = dSent;
    m.inputsConsumedPerSec = m.consumedPerSec;
    m.ids = sum(finals.map((f) => f.counters.ids));
    // Whole-run totals (server clock, from the final mark): inputs the application consumed, and
    // snapshots the server meant to send.
    m.inputsConsumedTotal = fin.counters.consumed;
    m.snapshotsIntendedTotal = fin.counters.snapshotsIntended;
    m.snapshotsSkippedPct = (100 * (b.s.counters.snapshotsSkipped - a.s.counters.snapshotsSkipped)) / (b.s.counters.snapshotsIntended - a.s.counters.snapshotsIntended);
    m.inputsSentTotal = sum(finals.map((f) => f.counters.sent));
    const age = newHistogram();
    for (const f of finals) if (f.snapshotAge !== undefined) age.add(LatencyHistogram.decode(f.snapshotAge));
    const ages = summarizeHistogram(age);
    r.detail.snapshotAge = ages;
    m.snapAgeP50Ms = ages.p50 / 1000;
    m.snapAgeP99Ms = ages.p99 / 1000;
    m.snapAgeP999Ms = ages.p999 / 1000;
    m.snapAgeMaxMs = ages.max / 1000;
    m.snapAgeCount = ages.count;
    if (m.deliveryPct < 99) notes.push(`snapshot delivery ${m.deliveryPct.toFixed(1)} %`);
  }
  if (fin.extra !== undefined) r.detail.serverExtra = fin.extra;
  if (notes.length > 0) r.detail.notes = notes;
}

async function runFloor(v: Variant, sp: Spawned, r: RunResult): Promise<void> {
  await sleep(v.warmupMs);
  const a = await sp.server.ask({ t: 'mark' }, 'mark', 30_000);
  const cpuA = machineCpu();
  await sleep(v.measureMs);
  const b = await sp.server.ask({ t: 'mark' }, 'mark', 30_000);
  const cpuB = machineCpu();
  const ms = b.now - a.now;
  r.metrics.windowMs = ms;
  r.metrics.mainCpuPct = pct(b.mainCpuNs - a.mainCpuNs, ms);
  r.metrics.procCpuPct = pct(b.procCpuNs - a.procCpuNs, ms);
  r.metrics.machineBusyPct = machineBusyPct(cpuA, cpuB, availableParallelism());
  r.metrics.othersCpuPct = Math.max(0, r.metrics.machineBusyPct - r.metrics.procCpuPct);
  if (r.metrics.othersCpuPct > 25) r.detail.notes = [`other processes used ~${r.metrics.othersCpuPct.toFixed(0)} % CPU during the window: noisy`];
  if (b.ticks !== undefined) {
    tickMetrics(r.metrics, b.ticks);
    r.detail.ticks = b.ticks.samples;
  }
  if (v.scenario === 'S6') {
    gameMetrics(r.metrics, a, b);
    r.metrics.rssMiB = b.rss / 2 ** 20;
  }
}

/**
 * S6: the main thread's CPU outside the simulated work (schedstat of the main thread over the window
 * minus the CPU the work itself took, measured around it each tick as wall minus run-queue wait: see
 * ThreadSchedstat; the two reads per tick, ~15 µs, fall outside the work and show in the floor), per tick run and as % of wall; the other threads'
 * CPU (process − main: ringsocket's I/O workers; libuv, GC helpers and uWS's own for the others).
 */
function gameMetrics(m: Record<string, number>, a: ServerMark, b: ServerMark): void {
  const ms = b.now - a.now;
  const main = b.mainCpuNs - a.mainCpuNs;
  const work = b.counters.workCpuNs - a.counters.workCpuNs;
  const ticks = b.ticks?.run ?? 0;
  m.workCpuMsPerTick = ticks > 0 ? work / ticks / 1e6 : NaN;
  m.nonWorkCpuUsPerTick = ticks > 0 ? (main - work) / ticks / 1000 : NaN;
  m.nonWorkCpuPct = pct(main - work, ms);
  m.mainCpuPct = pct(main, ms);
  m.procCpuPct = pct(b.procCpuNs - a.procCpuNs, ms);
  m.workerCpuPct = m.procCpuPct - m.mainCpuPct;
}

async function runIdle(v: Variant, sp: Spawned, port: number, r: RunResult): Promise<void> {
  await sleep(300);
  const before = await sp.server.ask({ t: 'mark' }, 'mark', 30_000);
  const c = await startLoads(v, sp, port, 120_000);
  const clients = await sp.server.ask({ t: 'await-clients', n: c.conns }, 'clients', 60_000);
  await sleep(v.measureMs);
  const after = await sp.server.ask({ t: 'mark' }, 'mark', 30_000);
  const m = r.metrics;
  m.conns = c.conns;
  m.failed = c.failed;
  m.connectMs = c.ms;
  m.connsPerSec = (c.conns / c.ms) * 1000;
  m.serverOpen = Math.min(clients.n, after.open);
  m.rssBeforeMiB = before.rss / 2 ** 20;
  m.rssMiB = after.rss / 2 ** 20;
  m.rssPerConnKB = (after.rss - before.rss) / 1024 / c.conns;
  if (v.settleMs !== undefined) {
    // S7 active: the same connections after a quiet spell (ringsocket's idle sweep closes their zlib streams).
    await sleep(v.settleMs);
    const later = await sp.server.ask({ t: 'mark' }, 'mark', 30_000);
    m.rssLaterMiB = later.rss / 2 ** 20;
    m.rssPerConnIdleKB = (later.rss - before.rss) / 1024 / c.conns;
    const fin = await sp.server.ask({ t: 'final' }, 'mark', 30_000);
    if (fin.extra !== undefined) r.detail.serverExtra = fin.extra;
  }
  if (c.failed > 0) r.detail.notes = [`${c.failed} connections failed (${c.firstError})`];
}

/** Median/min/max of one metric over the successful runs of one implementation. */
export function summarize(runs: RunResult[], impl: ServerImpl, key: string): ReturnType<typeof spread> {
  return spread(runs.filter((x) => x.impl === impl && x.ok).map((x) => x.metrics[key] ?? NaN));
}
