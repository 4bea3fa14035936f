/**
 * `ringsocket load <url>`: a WebSocket latency load generator whose sockets, framing and parsing run
 * in ringsocket's I/O workers, so its main thread only schedules sends and reads timestamps.
 *
 * ```
 *  main thread (this file)                          PeerPool workers            echo server
 *  ───────────────────────                          ────────────────            ───────────
 *  pass(): poll every peer, take the echoes,  ───►  mask, frame, write   ───►   echo
 *          record now - intended send time    ◄───  read, unframe        ◄───
 *          send what the schedule says is due
 *  (one pass per turn of the event loop, after sleeping --poll (200 µs) in Atomics.wait)
 * ```
 * The workers do not wake the main thread, so the main thread polls: a short Atomics.wait sleep
 * before each pass keeps its CPU low (~15 % at 20,000 msg/s) while receive times stay within
 * ~0.2 ms of arrival; the event loop turns between passes, so its delay stays well under a
 * millisecond (reported as `mainThread.eventLoopDelayMs`). `--poll spin` polls back to back (lowest
 * latency, a whole core); `--poll 1ms` uses a timer. `--send-tick 1ms` batches the sends per
 * millisecond as the bench suite's generator does (its RTTs then include that send lag too).
 * Rate mode (open loop): message k is due at t0 + k / rate on connection k mod N, whatever the server
 * does. Its RTT is taken from that *intended* time, so a server (or a load generator) that falls behind
 * is charged for the wait of every message it delayed — corrected for coordinated omission. A send the
 * peer refuses (outbound buffer full) waits in a per-connection backlog and is sent late, still
 * measured from its intended time. The uncorrected RTT (from the actual send) is reported beside it.
 *
 * Flood mode (closed loop): W messages in flight per connection; each echo releases the next. RTT from
 * the actual send.
 *
 * Every message carries its intended and actual send times, a global sequence number and its
 * connection's index, the rest filled. Binary (24 bytes, little-endian): float64 intended send time,
 * float64 actual send time (both wall-clock ms: performance.timeOrigin + performance.now()), uint32
 * sequence number, uint32 connection index. Text (32 ASCII hex digits): sequence (8), connection (6),
 * intended and actual send times in µs since the run started (9 + 9), then 'x' padding. An echo that does not match (size, type, connection, order) is counted
 * as a bad echo, not as a latency.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { readFileSync, writeFileSync } from 'node:fs';
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer, WriteMode } from '../src/index.js';
import { bool, flagsHelp, num, parseArgs, str, type FlagSpecs } from './args.js';
import { CliError, EXIT, holdingLoop, setStage, UsageError, type ExitCode } from './errors.js';
import { loadHdr, newHistogram, type LatencyHistogram } from './histogram.js';
import { ninesFor, percentileChartSvg, samplePercentiles } from './svg.js';
import { bar, bytesPerSec, int, ms, short, StatusLine, table } from './term.js';

export const LOAD_FLAGS: FlagSpecs = {
  connections: { kind: 'int', min: 1, max: 1_000_000, help: 'connections to open', defaultText: '10' },
  rate: { kind: 'count', min: 0.001, max: 100_000_000, meta: 'R', help: 'open loop: R messages/s in total, spread evenly over connections and time (20k = 20,000)', defaultText: '1000' },
  flood: { kind: 'int', min: 1, max: 65_536, meta: 'W', help: 'closed loop instead: W messages in flight per connection, each echo releases the next' },
  size: { kind: 'bytes', min: 24, max: 16 * 1024 * 1024, meta: 'B', help: 'message size in bytes (1k = 1024); at least 24, 32 with --text', defaultText: '64' },
  duration: { kind: 'duration', min: 100, max: 12 * 3600_000, meta: 'D', help: 'how long to send, after the connections are open (2s, 500ms, 1m)', defaultText: '10s' },
  ramp: { kind: 'duration', min: 0, max: 3600_000, meta: 'D', help: 'open the connections evenly over D instead of all at once', defaultText: '0' },
  text: { kind: 'bool', help: 'send text messages (ASCII) instead of binary' },
  json: { kind: 'string', meta: 'FILE', help: 'write the results as JSON to FILE ("-" = stdout, instead of the table)' },
  histogram: { kind: 'string', meta: 'FILE', help: 'write an SVG latency percentile chart to FILE' },
  threads: { kind: 'int', min: 1, max: 256, help: 'I/O worker threads of the load generator', defaultText: 'cores - 1' },
  'connect-timeout': { kind: 'duration', min: 100, max: 3600_000, meta: 'D', help: 'limit for each connection to open (TCP + TLS + upgrade)', defaultText: '10s' },
  drain: { kind: 'duration', min: 0, max: 3600_000, meta: 'D', help: 'after --duration, wait at most D for the last echoes', defaultText: '3s' },
  protocols: { kind: 'string', meta: 'LIST', help: 'subprotocols to ask for, comma-separated' },
  ca: { kind: 'string', meta: 'FILE', help: 'wss: trust this CA certificate (PEM) besides the system ones' },
  insecure: { kind: 'bool', help: 'wss: do not verify the server certificate' },
  warmup: { kind: 'duration', min: 0, max: 3600_000, meta: 'D', help: 'send for D before measuring (not in the latency, throughput or CPU figures)', defaultText: '1s' },
  'send-tick': { kind: 'string', meta: 'T', help: 'rate mode: send what is due at most every T (e.g. 1ms, as the bench suite\'s generator does); 0 = every pass', defaultText: '0' },
  poll: { kind: 'string', meta: 'T', help: 'main-thread loop: sleep T (e.g. 200us, 1ms) between passes, or "spin" (back to back)', defaultText: '200us' },
  quiet: { kind: 'bool', help: 'no progress output on stderr' },
};

export const LOAD_USAGE = `Usage: ringsocket load <url> [--connections N] [--rate R | --flood W] [--size B] [--duration D]
                      [--ramp D] [--text] [--json FILE] [--histogram FILE] [more flags]

Open N WebSocket connections to an echo server through ringsocket's worker pool and measure round
trips. Rate mode (default) sends R messages/s in total on a fixed schedule (open loop) and measures
each RTT from the message's intended send time (corrected for coordinated omission). --flood keeps W
messages in flight per connection instead. Reports RTT p50/p90/p99/p99.9/max, throughput, errors,
close codes, and the load generator's own main-thread event-loop delay.

Flags:
${flagsHelp(LOAD_FLAGS)}

Exit codes: 0 ok · 1 runtime failure · 2 usage error · 3 no connection could be opened (refused,
unreachable, timeout, TLS, or the handshake refused: HTTP 4xx/5xx) · 5 finished with errors (failed
or dropped connections, unanswered or bad echoes, unsent messages)

Example: ringsocket load ws://127.0.0.1:8080 --connections 100 --rate 20k --size 64 --duration 10s --json out.json --histogram rtt.svg`;

/** Header bytes each message carries (binary / text). */
export const BINARY_HEADER = 24;
export const TEXT_HEADER = 32;
const FILL_BINARY = 0xa5;
const FILL_TEXT = 0x78; // 'x'
const ELD_RESOLUTION_MS = 10;

export interface LoadConfig {
  url: string;
  connections: number;
  mode: 'rate' | 'flood';
  rate: number;
  flood: number;
  size: number;
  text: boolean;
  durationMs: number;
  rampMs: number;
  warmupMs: number;
  drainMs: number;
  connectTimeoutMs: number;
  threads: number | undefined;
  protocols: string[];
  ca: string | undefined;
  insecure: boolean;
  /** Rate mode: least µs between two passes that send (0 = every pass). */
  sendTickUs: number;
  /** Sleep between passes in µs; 0 = spin. */
  pollUs: number;
  json: string | undefined;
  histogram: string | undefined;
  quiet: boolean;
}

interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** The JSON written by --json. Times in milliseconds. */
export interface LoadResult {
  tool: 'ringsocket load';
  version: string;
  startedAt: string;
  url: string;
  config: {
    connections: number;
    mode: 'rate' | 'flood';
    rate: number | null;
    flood: number | null;
    size: number;
    text: boolean;
    durationMs: number;
    rampMs: number;
    warmupMs: number;
    drainMs: number;
    threads: number;
    pollUs: number;
    sendTickUs: number;
  };
  interrupted: boolean;
  exitCode: number;
  /** Measured run time: from the first scheduled send to the end of --duration (or the interrupt). */
  elapsedMs: number;
  connections: {
    requested: number;
    opened: number;
    failed: number;
    /** Why connections failed to open: failure reason (ECONNREFUSED, HTTP_404, HANDSHAKE_TIMEOUT…) → count. */
    failures: Record<string, number>;
    /** Connections that closed before the end of the run (the server closed or dropped them). */
    closedEarly: number;
    rampMs: number;
    openMs: LatencySummary;
  };
  messages: {
    /** Rate mode: messages the schedule called for (sent + unsent). Flood mode: equal to sent. */
    scheduled: number;
    sent: number;
    /** Valid echoes received (each matches a sent message). sent = received + unanswered. */
    received: number;
    unanswered: number;
    /** Scheduled but never sent: its connection was closed, or still backlogged when the drain ended. */
    unsent: number;
    /** Echoes that matched no sent message: wrong size, type, connection or order. */
    badEchoes: number;
    /** Messages sent by another of our connections (a broadcast server): counted, not errors, not in the latency. */
    foreign: number;
    /** Sends refused because the peer's outbound buffer was full (retried later, rate mode). */
    backpressured: number;
    bytesSent: number;
    bytesReceived: number;
  };
  throughput: {
    sentPerSec: number;
    receivedPerSec: number;
    bytesSentPerSec: number;
    bytesReceivedPerSec: number;
  };
  /** RTT from the intended send time (rate mode) or the actual send (flood mode). */
  latencyMs: LatencySummary & { percentiles: [number, number][] };
  /** RTT from the actual send time (the same as latencyMs in flood mode). */
  latencyUncorrectedMs: LatencySummary;
  /** Close codes of every connection that opened: code → count (-1 = not clean; see closeFailures). */
  closeCodes: Record<string, number>;
  /** Failure reasons of connections with close code -1: reason → count. */
  closeFailures: Record<string, number>;
  errors: {
    total: number;
    connectFailed: number;
    closedEarly: number;
    unanswered: number;
    unsent: number;
    badEchoes: number;
  };
  /**
   * The load generator's own main thread during the measured window: event-loop delay from
   * perf_hooks.monitorEventLoopDelay (10 ms timer; the figures are how late it fired), and CPU time.
   */
  mainThread: {
    eventLoopDelayMs: { min: number; mean: number; p50: number; p99: number; max: number };
    /** Main-thread CPU as a percentage of the measured window (null where cpuMs is null). */
    cpuPercent: number | null;
    /** CPU time of the main thread alone (Linux /proc/thread-self/schedstat), null elsewhere. */
    cpuMs: number | null;
    /** CPU time of the whole load process (every thread: main + I/O workers). */
    processCpuMs: number;
  };
  histogramImpl: 'hdr-histogram-js' | 'log-buckets';
}

/** `--poll`: "spin" → 0, else a duration in µs (us, µs, ms; a bare number is µs), 1 µs .. 100 ms. */
export function parsePoll(raw: string, flag: string): number {
  const t = raw.trim();
  if (t === 'spin' || t === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(us|µs|ms)?$/.exec(t);
  if (m === null) throw new UsageError(`--${flag}: not ${flag === 'poll' ? '"spin" or ' : ''}a duration such as 200us or 1ms: ${JSON.stringify(raw)}`);
  const us = Number(m[1]) * (m[2] === 'ms' ? 1000 : 1);
  if (us < 1 || us > 100_000) throw new UsageError(`--${flag} must be between 1us and 100ms${flag === 'poll' ? ' (or "spin")' : ' (or 0)'}, got ${raw}`);
  return Math.round(us);
}

/** Turn parsed flags into a checked configuration (throws UsageError). */
export function loadConfig(argv: readonly string[]): LoadConfig | null {
  const { flags, positionals, help } = parseArgs(argv, LOAD_FLAGS, 'load');
  if (help) return null;
  if (positionals.length === 0) throw new UsageError('missing <url> (e.g. ringsocket load ws://127.0.0.1:8080)');
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])} (one <url> only)`);
  let url = positionals[0]!;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) url = `ws://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(positionals[0])}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new UsageError(`the URL must be ws:// or wss://, got ${parsed.protocol}//`);
  if (parsed.hostname === '') throw new UsageError(`the URL has no host: ${JSON.stringify(positionals[0])}`);
  const rate = num(flags, 'rate');
  const flood = num(flags, 'flood');
  if (rate !== undefined && flood !== undefined) throw new UsageError('--rate and --flood exclude each other (open loop or closed loop: pick one)');
  const text = bool(flags, 'text');
  const size = num(flags, 'size') ?? 64;
  if (text && size < TEXT_HEADER) throw new UsageError(`--size must be at least ${TEXT_HEADER} with --text (the timestamps and sequence number take ${TEXT_HEADER} characters), got ${size}`);
  const protocols = (str(flags, 'protocols') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (protocols.some((p) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p))) throw new UsageError(`--protocols: not a list of tokens: ${str(flags, 'protocols')}`);
  const ca = str(flags, 'ca');
  const insecure = bool(flags, 'insecure');
  if ((ca !== undefined || insecure) && parsed.protocol !== 'wss:') throw new UsageError('--ca and --insecure apply to wss:// URLs only');
  return {
    url: parsed.href,
    connections: num(flags, 'connections') ?? 10,
    mode: flood !== undefined ? 'flood' : 'rate',
    rate: rate ?? 1000,
    flood: flood ?? 0,
    size,
    text,
    durationMs: num(flags, 'duration') ?? 10_000,
    rampMs: num(flags, 'ramp') ?? 0,
    warmupMs: num(flags, 'warmup') ?? 1000,
    drainMs: num(flags, 'drain') ?? 3000,
    connectTimeoutMs: num(flags, 'connect-timeout') ?? 10_000,
    threads: num(flags, 'threads'),
    protocols,
    ca,
    insecure,
    pollUs: parsePoll(str(flags, 'poll') ?? '200us', 'poll'),
    sendTickUs: parsePoll(str(flags, 'send-tick') ?? '0', 'send-tick'),
    json: str(flags, 'json'),
    histogram: str(flags, 'histogram'),
    quiet: bool(flags, 'quiet'),
  };
}

interface Conn {
  index: number;
  peer: WebSocketPeer;
  /** performance.now() at which connectToUrl is due (ramp). */
  startAt: number;
  startedAt: number;
  phase: 'waiting' | 'connecting' | 'open' | 'closed';
  /** Opened, then closed before we closed it. */
  closedEarly: boolean;
  sent: number;
  received: number;
  lastSeq: number;
  /** Rate mode: intended times and sequence numbers refused by the outbound buffer, in order. */
  backlogT: number[];
  backlogSeq: number[];
  /** Flood mode: sends owed (an echo arrived but the send was refused). */
  floodOwed: number;
}

function summarize(h: LatencyHistogram): LatencySummary {
  const r = (us: number) => Math.round(us) / 1000;
  return {
    count: h.count,
    min: r(h.min),
    mean: Math.round(h.mean) / 1000,
    p50: r(h.percentile(50)),
    p90: r(h.percentile(90)),
    p99: r(h.percentile(99)),
    p999: r(h.percentile(99.9)),
    max: r(h.max),
  };
}

function inc(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function threadCpuNs(): number | null {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' ')));
  } catch {
    return null;
  }
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Run the load described by `cfg`; returns the results (not yet printed). */
export async function runLoad(cfg: LoadConfig, signals: { interrupted: () => boolean }): Promise<LoadResult> {
  await loadHdr();
  let tlsOptions: TLSOptions | null = null;
  if (cfg.ca !== undefined || cfg.insecure) {
    let caPem: string | undefined;
    if (cfg.ca !== undefined) {
      try {
        caPem = readFileSync(cfg.ca, 'utf8');
      } catch (err) {
        throw new UsageError(`--ca: cannot read ${cfg.ca}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    tlsOptions = cfg.insecure ? TLSOptions.clientUnsafe(caPem) : TLSOptions.client(caPem);
  }

  const pool = new PeerPool({
    ...(cfg.threads !== undefined ? { threads: cfg.threads } : {}),
    handshakeTimeout: Math.round(cfg.connectTimeoutMs),
    closeTimeout: 2000,
  });
  const status = new StatusLine(process.stderr, { quiet: cfg.quiet });
  const startedAt = new Date().toISOString();
  const epoch = performance.now();
  const origin = performance.timeOrigin;
  const size = cfg.size;
  const flood = cfg.mode === 'flood';

  const rtt = newHistogram();
  const rttRaw = newHistogram();
  const openTimes = newHistogram();
  const failures: Record<string, number> = {};
  const closeCodes: Record<string, number> = {};
  const closeFailures: Record<string, number> = {};

  // ---- message template ----
  const tpl = new Uint8Array(size).fill(cfg.text ? FILL_TEXT : FILL_BINARY);
  const tplView = new DataView(tpl.buffer);
  const writeMode = cfg.text ? WriteMode.TEXT : WriteMode.BINARY;
  const hex = (v: number, digits: number): string => Math.max(0, Math.floor(v)).toString(16).padStart(digits, '0').slice(-digits);
  const stampInto = (intended: number, actual: number, seq: number, conn: number): void => {
    if (!cfg.text) {
      // Wall-clock milliseconds (performance.timeOrigin + performance.now()): readable by any echo server.
      tplView.setFloat64(0, origin + intended, true);
      tplView.setFloat64(8, origin + actual, true);
      tplView.setUint32(16, seq >>> 0, true);
      tplView.setUint32(20, conn >>> 0, true);
    } else {
      const s = hex(seq, 8) + hex(conn, 6) + hex((intended - epoch) * 1000, 9) + hex((actual - epoch) * 1000, 9);
      for (let i = 0; i < TEXT_HEADER; i++) tpl[i] = s.charCodeAt(i);
    }
  };

  // ---- connections ----
  const conns: Conn[] = [];
  const open: Conn[] = [];
  // Wait for the workers to boot (a control call answers once a worker runs), so that the connection
  // times below are the network's, not the workers' start-up.
  setStage('waiting for the I/O workers to start');
  await pool.stats().catch(() => undefined);
  setStage('connecting');
  const rampStart = performance.now();
  for (let i = 0; i < cfg.connections; i++) {
    const peer = new WebSocketPeer({ pool });
    const room = Math.min(0x7fffffff, Math.max(65535, size, flood ? cfg.flood * size : 0));
    peer.inboundBufferSize = room;
    peer.outboundBufferSize = room;
    peer.maxQueuedPackets = Math.max(4096, flood ? cfg.flood : 0);
    if (cfg.protocols.length !== 0) peer.supportedProtocols = cfg.protocols;
    conns.push({
      index: i,
      peer,
      startAt: rampStart + (cfg.connections <= 1 ? 0 : (cfg.rampMs * i) / cfg.connections),
      startedAt: 0,
      phase: 'waiting',
      closedEarly: false,
      sent: 0,
      received: 0,
      lastSeq: -1,
      backlogT: [],
      backlogSeq: [],
      floodOwed: 0,
    });
  }

  // ---- counters ----
  let seq = 0; // next sequence number (rate mode: next scheduled message)
  let sent = 0;
  let received = 0;
  let sentWin = 0; // sent / received with an intended time inside the measured window
  let receivedWin = 0;
  let badEchoes = 0;
  let foreign = 0;
  let unsent = 0;
  let backpressured = 0;
  let connectFailed = 0;
  let settled = 0;
  let phase: 'ramp' | 'run' | 'drain' | 'close' | 'done' = 'ramp';
  let t0 = 0; // the schedule's start (warm-up included)
  let tW = Infinity; // the measured window's start
  let tEnd = 0; // the end of sending
  let measuring = false;
  /** The first sequence number of the measured window (rate: fixed by the schedule; flood: when it starts). */
  let firstSeqW = Infinity;
  let totalScheduled = 0;
  let nextSendAt = 0;
  const sendTickMs = cfg.sendTickUs / 1000;
  let drainDeadline = 0;
  let closeDeadline = 0;
  let interrupted = false;
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  let cpu0 = process.cpuUsage();
  let thread0 = threadCpuNs();
  let processCpuMs = 0;
  let mainCpuMs: number | null = null;

  /** Send one message on `c`; false if the peer refused it for lack of room (try later). */
  const sendOne = (c: Conn, intended: number, s: number, now: number): boolean => {
    stampInto(intended, now, s, c.index);
    const err = c.peer.send(tpl, writeMode);
    if (err === ErrorCode.OK) {
      c.sent++;
      sent++;
      if (s >= firstSeqW) sentWin++;
      return true;
    }
    if (err === ErrorCode.ERR_OUT_OF_MEMORY) {
      backpressured++;
      return false;
    }
    // FAILED: the connection is closing; poll() will show it.
    unsent++;
    return true;
  };

  const onPacket = (c: Conn, p: Uint8Array, wasText: boolean, now: number): void => {
    if (p.byteLength !== size || wasText !== cfg.text) {
      badEchoes++;
      return;
    }
    let intended: number;
    let actual: number;
    let s: number;
    let ci: number;
    if (!cfg.text) {
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      intended = v.getFloat64(0, true) - origin;
      actual = v.getFloat64(8, true) - origin;
      s = v.getUint32(16, true);
      ci = v.getUint32(20, true);
    } else {
      const t = String.fromCharCode(...p.subarray(0, TEXT_HEADER));
      s = parseInt(t.slice(0, 8), 16);
      ci = parseInt(t.slice(8, 14), 16);
      intended = epoch + parseInt(t.slice(14, 23), 16) / 1000;
      actual = epoch + parseInt(t.slice(23, 32), 16) / 1000;
    }
    if (ci !== c.index && ci < conns.length && s < seq && intended <= now) {
      // Another of our connections' message (a broadcast server sends everyone's messages to all).
      foreign++;
      return;
    }
    if (ci !== c.index || !(s > c.lastSeq) || s >= seq || !(intended <= now) || c.received >= c.sent) {
      badEchoes++;
      return;
    }
    c.lastSeq = s;
    c.received++;
    received++;
    if (s >= firstSeqW) {
      receivedWin++;
      rtt.record((now - intended) * 1000);
      rttRaw.record((now - actual) * 1000);
    }
    if (flood && phase === 'run') {
      if (c.floodOwed > 0 || !sendOne(c, now, seq, now)) c.floodOwed++;
      else seq++;
    }
  };

  const onClosed = (c: Conn): void => {
    const code = c.peer.getCloseCode();
    inc(closeCodes, String(code));
    if (code === -1) inc(closeFailures, c.peer.getFailureReason() || 'UNKNOWN');
    if (phase === 'ramp' || phase === 'run' || phase === 'drain') c.closedEarly = true;
    c.phase = 'closed';
    // Its backlog will never go out.
    unsent += c.backlogT.length;
    c.backlogT.length = 0;
    c.backlogSeq.length = 0;
  };

  const startMeasuring = (now: number): void => {
    measuring = true;
    tW = Math.min(tW, now);
    if (flood) firstSeqW = seq;
    eld.enable();
    cpu0 = process.cpuUsage();
    thread0 = threadCpuNs();
  };

  const startRun = (now: number): void => {
    phase = 'run';
    setStage('sending');
    t0 = now;
    tW = t0 + cfg.warmupMs;
    tEnd = tW + cfg.durationMs;
    totalScheduled = flood ? 0 : Math.floor(((cfg.warmupMs + cfg.durationMs) * cfg.rate) / 1000);
    if (!flood) firstSeqW = Math.ceil((cfg.warmupMs * cfg.rate) / 1000);
    if (cfg.warmupMs === 0) startMeasuring(now);
    if (flood) {
      for (const c of open) {
        for (let k = 0; k < cfg.flood; k++) {
          if (!sendOne(c, now, seq, now)) {
            c.floodOwed += cfg.flood - k;
            break;
          }
          seq++;
        }
      }
    }
  };

  const endRun = (now: number): void => {
    if (!measuring) startMeasuring(now);
    eld.disable();
    const cpu = process.cpuUsage(cpu0);
    processCpuMs = (cpu.user + cpu.system) / 1000;
    const th = threadCpuNs();
    mainCpuMs = th !== null && thread0 !== null ? (th - thread0) / 1e6 : null;
    tEnd = Math.min(tEnd, now);
    phase = 'drain';
    setStage('waiting for the last echoes');
    drainDeadline = now + cfg.drainMs;
    // Flood: what is owed will not be sent.
    for (const c of open) c.floodOwed = 0;
  };

  const outstanding = (): number => {
    let n = 0;
    for (const c of open) if (c.phase === 'open') n += c.sent - c.received + c.backlogT.length;
    return n;
  };

  const runProgress = (now: number) => () => {
    const head = now < tW ? `warm-up ${((now - t0) / 1000).toFixed(1)}/${(cfg.warmupMs / 1000).toFixed(1)} s` : `${(Math.min(cfg.durationMs, now - tW) / 1000).toFixed(1)}/${(cfg.durationMs / 1000).toFixed(1)} s`;
    return (
      `${head}  sent ${short(sent)}  received ${short(received)}  ` +
      `p50 ${ms(rtt.percentile(50) / 1000)} ms  p99 ${ms(rtt.percentile(99) / 1000)} ms  max ${ms(rtt.max / 1000)} ms  errors ${int(badEchoes + unsent + connectFailed)}`
    );
  };

  /** One pass of the main-thread loop. */
  const pass = (): void => {
    const now = performance.now();
    if (signals.interrupted() && !interrupted && (phase === 'ramp' || phase === 'run')) {
      interrupted = true;
      if (phase === 'ramp') {
        status.done(`interrupted while connecting: ${open.length}/${cfg.connections} open`);
        t0 = now;
        tW = now;
        tEnd = now;
      }
      endRun(now);
    }

    if (phase === 'ramp') {
      for (const c of conns) {
        if (c.phase === 'waiting' && c.startAt <= now) {
          c.phase = 'connecting';
          c.startedAt = now;
          const err = c.peer.connectToUrl(cfg.url, tlsOptions);
          if (err !== ErrorCode.OK) {
            c.phase = 'closed';
            connectFailed++;
            settled++;
            inc(failures, c.peer.getFailureReason() || ErrorCode[err] || String(err));
          }
        }
      }
    }

    // Poll and take what arrived.
    for (const c of conns) {
      if (c.phase !== 'connecting' && c.phase !== 'open') continue;
      const peer = c.peer;
      peer.poll();
      const st = peer.getReadyState();
      if (c.phase === 'connecting') {
        if (st === State.OPEN) {
          c.phase = 'open';
          open.push(c);
          settled++;
          openTimes.record((now - c.startedAt) * 1000);
        } else if (st === State.CLOSED) {
          c.phase = 'closed';
          connectFailed++;
          settled++;
          inc(failures, peer.getFailureReason() || `CLOSE_${peer.getCloseCode()}`);
        }
        continue;
      }
      let n = peer.getAvailablePacketCount();
      while (n-- > 0) {
        const p = peer.getPacket();
        onPacket(c, p, peer.wasStringPacket(), now);
      }
      if (st === State.CLOSED) onClosed(c);
    }

    if (phase === 'ramp') {
      status.update(() => `connecting ${bar(settled, cfg.connections)} ${open.length}/${cfg.connections} open, ${connectFailed} failed`);
      if (settled === cfg.connections) {
        status.done(`connected: ${open.length}/${cfg.connections} open, ${connectFailed} failed, in ${((now - rampStart) / 1000).toFixed(2)} s`);
        if (open.length === 0) {
          phase = 'done';
          return;
        }
        startRun(now);
      }
    }

    if (phase === 'run' && !measuring && now >= tW) startMeasuring(now);

    if (phase === 'run' || phase === 'drain') {
      // Sends refused earlier go first (oldest first), then what the schedule says is due now.
      for (const c of open) {
        if (c.phase !== 'open') continue;
        if (c.backlogT.length !== 0) {
          let k = 0;
          while (k < c.backlogT.length && sendOne(c, c.backlogT[k]!, c.backlogSeq[k]!, now)) k++;
          if (k !== 0) {
            c.backlogT.splice(0, k);
            c.backlogSeq.splice(0, k);
          }
        }
        while (flood && phase === 'run' && c.floodOwed > 0 && sendOne(c, now, seq, now)) {
          c.floodOwed--;
          seq++;
        }
      }
      // At the end of the window everything scheduled goes out, send tick or not.
      if (!flood && phase === 'run' && (now >= nextSendAt || now >= tEnd)) {
        nextSendAt = now + sendTickMs;
        const due = Math.min(totalScheduled, Math.floor(((now - t0) * cfg.rate) / 1000) + 1);
        const n = open.length;
        while (seq < due) {
          const s = seq++;
          const c = open[s % n]!;
          if (c.phase !== 'open') {
            unsent++;
            continue;
          }
          const intended = t0 + (s * 1000) / cfg.rate;
          if (c.backlogT.length !== 0 || !sendOne(c, intended, s, now)) {
            c.backlogT.push(intended);
            c.backlogSeq.push(s);
          }
        }
      }
    }

    if (phase === 'run') {
      status.update(runProgress(now));
      if (now >= tEnd) {
        status.done(runProgress(now)());
        endRun(now);
      }
    }

    if (phase === 'drain' && (outstanding() === 0 || now >= drainDeadline)) {
      phase = 'close';
      setStage('closing the connections');
      closeDeadline = now + 2000;
      for (const c of open) if (c.phase === 'open') c.peer.close(1000, 'load done');
    }

    if (phase === 'close') {
      let left = 0;
      for (const c of open) if (c.phase === 'open') left++;
      if (left === 0 || now >= closeDeadline) {
        for (const c of open) {
          if (c.phase !== 'open') continue;
          c.peer.close(-1);
          onClosed(c);
        }
        phase = 'done';
      }
    }
  };

  // The loop: one pass per turn of the event loop. Sends queued in a pass reach the workers from a
  // microtask after it, so a short sleep goes at the start of the next turn, never after a pass.
  const sleepCell = new Int32Array(new SharedArrayBuffer(4));
  const pollMs = cfg.pollUs / 1000;
  try {
    await new Promise<void>((resolve, reject) => {
      const loop = (): void => {
        try {
          if (cfg.pollUs > 0 && cfg.pollUs < 1000) Atomics.wait(sleepCell, 0, 0, pollMs);
          pass();
        } catch (err) {
          reject(err);
          return;
        }
        if (phase === 'done') resolve();
        else if (cfg.pollUs >= 1000) setTimeout(loop, pollMs);
        else setImmediate(loop);
      };
      loop();
    });
  } finally {
    eld.disable();
    setStage('closing the worker pool');
    await holdingLoop(pool.close(500));
    setStage('reporting');
  }
  if (t0 === 0) {
    // Nothing opened: no run.
    t0 = performance.now();
    tW = t0;
    tEnd = t0;
  }

  let unanswered = 0;
  let closedEarly = 0;
  for (const c of open) {
    unanswered += Math.max(0, c.sent - c.received);
    unsent += c.backlogT.length;
    if (c.closedEarly) closedEarly++;
  }
  const elapsedMs = Math.max(0, tEnd - tW);
  const secs = elapsedMs / 1000;
  const per = (n: number) => (secs > 0 ? Math.round((n / secs) * 10) / 10 : 0);
  const maxNines = ninesFor(rtt.count);
  const errors = {
    total: connectFailed + closedEarly + unanswered + unsent + badEchoes,
    connectFailed,
    closedEarly,
    unanswered,
    unsent,
    badEchoes,
  };
  const h = eld;
  // The histogram holds the time between two runs of its 10 ms timer: the delay is what exceeds 10 ms.
  const nsToMs = (v: number) => (Number.isFinite(v) ? Math.round(Math.max(0, v / 1e6 - ELD_RESOLUTION_MS) * 1000) / 1000 : 0);
  const result: LoadResult = {
    tool: 'ringsocket load',
    version: packageVersion(),
    startedAt,
    url: cfg.url,
    config: {
      connections: cfg.connections,
      mode: cfg.mode,
      rate: flood ? null : cfg.rate,
      flood: flood ? cfg.flood : null,
      size,
      text: cfg.text,
      durationMs: cfg.durationMs,
      rampMs: cfg.rampMs,
      warmupMs: cfg.warmupMs,
      drainMs: cfg.drainMs,
      threads: pool.threads,
      pollUs: cfg.pollUs,
      sendTickUs: cfg.sendTickUs,
    },
    interrupted,
    exitCode: 0,
    elapsedMs: Math.round(elapsedMs * 1000) / 1000,
    connections: {
      requested: cfg.connections,
      opened: open.length,
      failed: connectFailed,
      failures,
      closedEarly,
      rampMs: Math.round((t0 - rampStart) * 1000) / 1000,
      openMs: summarize(openTimes),
    },
    messages: {
      scheduled: flood ? sent : seq,
      sent,
      received,
      unanswered,
      unsent,
      badEchoes,
      foreign,
      backpressured,
      bytesSent: sent * size,
      bytesReceived: received * size,
    },
    throughput: {
      sentPerSec: per(sentWin),
      receivedPerSec: per(receivedWin),
      bytesSentPerSec: per(sentWin * size),
      bytesReceivedPerSec: per(receivedWin * size),
    },
    latencyMs: {
      ...summarize(rtt),
      percentiles: samplePercentiles(maxNines, 60).map((p) => [Number(p.toFixed(6)), rtt.percentile(p) / 1000] as [number, number]),
    },
    latencyUncorrectedMs: summarize(rttRaw),
    closeCodes,
    closeFailures,
    errors,
    mainThread: {
      eventLoopDelayMs: h.count === 0
        ? { min: 0, mean: 0, p50: 0, p99: 0, max: 0 }
        : { min: nsToMs(h.min), mean: nsToMs(h.mean), p50: nsToMs(h.percentile(50)), p99: nsToMs(h.percentile(99)), max: nsToMs(h.max) },
      cpuPercent: mainCpuMs === null || elapsedMs <= 0 ? null : Math.round((mainCpuMs / elapsedMs) * 1000) / 10,
      cpuMs: mainCpuMs === null ? null : Math.round(mainCpuMs * 10) / 10,
      processCpuMs: Math.round(processCpuMs * 10) / 10,
    },
    histogramImpl: rtt.impl,
  };
  result.exitCode = exitCodeOf(result);
  if (cfg.histogram !== undefined) writeHistogram(cfg, result, rtt, rttRaw);
  return result;
}

function exitCodeOf(r: LoadResult): ExitCode {
  if (r.connections.opened === 0) return EXIT.NETWORK;
  return r.errors.total === 0 ? EXIT.OK : EXIT.LOAD_ERRORS;
}

function writeHistogram(cfg: LoadConfig, r: LoadResult, rtt: LatencyHistogram, raw: LatencyHistogram): void {
  const maxNines = ninesFor(rtt.count);
  const pts = (h: LatencyHistogram): [number, number][] => samplePercentiles(maxNines).map((p) => [p, h.percentile(p) / 1000]);
  const series =
    r.config.mode === 'rate'
      ? [
          { name: 'from intended send', color: '#d62728', points: pts(rtt) },
          { name: 'from actual send', color: '#1f77b4', points: pts(raw) },
        ]
      : [{ name: 'RTT', color: '#d62728', points: pts(rtt) }];
  const what = r.config.mode === 'rate' ? `${int(r.config.rate ?? 0)} msg/s open loop` : `${r.config.flood} in flight per connection`;
  const svg = percentileChartSvg(
    `ringsocket load ${r.url}: round-trip time by percentile`,
    [
      `${r.connections.opened} connections, ${what}, ${r.config.size} B ${r.config.text ? 'text' : 'binary'}, ${(r.elapsedMs / 1000).toFixed(1)} s, ${int(rtt.count)} samples`,
      `p50 ${ms(r.latencyMs.p50)} ms, p90 ${ms(r.latencyMs.p90)} ms, p99 ${ms(r.latencyMs.p99)} ms, p99.9 ${ms(r.latencyMs.p999)} ms, max ${ms(r.latencyMs.max)} ms`,
    ],
    series,
    maxNines,
  );
  writeOutput(cfg.histogram!, svg, '--histogram');
}

function writeOutput(path: string, text: string, flag: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new CliError(`${flag}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, EXIT.RUNTIME);
  }
}

/** The human-readable report (stdout). */
export function formatLoad(r: LoadResult): string {
  const c = r.config;
  const what = c.mode === 'rate' ? `rate ${int(c.rate ?? 0)} msg/s (open loop)` : `flood ${c.flood} in flight per connection`;
  const lines: string[] = [];
  lines.push(`ringsocket load ${r.url}: ${c.connections} connections, ${what}, ${c.size} B ${c.text ? 'text' : 'binary'}, ${(c.durationMs / 1000).toFixed(1)} s${r.interrupted ? ' (interrupted)' : ''}`);
  const fails = Object.entries(r.connections.failures).map(([k, v]) => `${k} ×${v}`).join(', ');
  lines.push(
    `connections  ${r.connections.opened} opened, ${r.connections.failed} failed${fails ? ` (${fails})` : ''}, ${r.connections.closedEarly} closed early; ` +
      `open time p50 ${ms(r.connections.openMs.p50)} ms, max ${ms(r.connections.openMs.max)} ms`,
  );
  const m = r.messages;
  lines.push(`messages     sent ${int(m.sent)}, received ${int(m.received)}, unanswered ${int(m.unanswered)}, unsent ${int(m.unsent)}, bad echoes ${int(m.badEchoes)}, backpressured sends ${int(m.backpressured)}${m.foreign ? `, from other connections ${int(m.foreign)}` : ''}`);
  lines.push(`throughput   ${int(r.throughput.sentPerSec)} msg/s sent, ${int(r.throughput.receivedPerSec)} msg/s received (${bytesPerSec(r.throughput.bytesReceivedPerSec)}) over ${(r.elapsedMs / 1000).toFixed(2)} s`);
  lines.push(`latency (ms) ${c.mode === 'rate' ? 'RTT from the intended send time (coordinated omission corrected); uncorrected = from the actual send' : 'RTT'}`);
  const L = r.latencyMs;
  const U = r.latencyUncorrectedMs;
  const row = (name: string, s: LatencySummary) => [name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.p999), ms(s.max), ms(s.mean), int(s.count)];
  const rows = [['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'samples'], row(c.mode === 'rate' ? 'corrected' : 'rtt', L)];
  if (c.mode === 'rate') rows.push(row('uncorrected', U));
  lines.push(table(rows, '  '));
  const codes = Object.entries(r.closeCodes).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
  const cf = Object.entries(r.closeFailures).map(([k, v]) => `${k} ×${v}`).join(', ');
  lines.push(`close codes  ${codes}${cf ? ` (-1: ${cf})` : ''}`);
  const e = r.errors;
  lines.push(`errors       ${e.total}${e.total ? ` (connect ${e.connectFailed}, closed early ${e.closedEarly}, unanswered ${e.unanswered}, unsent ${e.unsent}, bad echoes ${e.badEchoes})` : ''}`);
  const t = r.mainThread;
  lines.push(
    `main thread  event-loop delay p50 ${ms(t.eventLoopDelayMs.p50)} ms, p99 ${ms(t.eventLoopDelayMs.p99)} ms, max ${ms(t.eventLoopDelayMs.max)} ms; ` +
      `CPU main ${t.cpuMs === null ? '-' : `${int(t.cpuMs)} ms (${t.cpuPercent} %)`} of process ${int(t.processCpuMs)} ms ` +
      `(sockets, framing and parsing run in ${c.threads} I/O worker${c.threads === 1 ? '' : 's'})`,
  );
  return lines.join('\n');
}

/** `ringsocket load …`: returns the exit code. */
export async function loadCommand(argv: readonly string[]): Promise<number> {
  const cfg = loadConfig(argv);
  if (cfg === null) {
    process.stdout.write(LOAD_USAGE + '\n');
    return EXIT.OK;
  }
  let signalled = 0;
  const onSignal = (): void => {
    signalled++;
    if (signalled === 1) {
      if (!cfg.quiet) process.stderr.write('\nringsocket load: interrupted, finishing (again to abort)\n');
    } else {
      process.exit(EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await runLoad(cfg, { interrupted: () => signalled > 0 });
    if (cfg.json === '-') process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      if (cfg.json !== undefined) writeOutput(cfg.json, JSON.stringify(r, null, 2) + '\n', '--json');
      if (r.connections.opened > 0) process.stdout.write(formatLoad(r) + '\n');
    }
    if (r.connections.opened === 0) {
      const reasons = Object.entries(r.connections.failures).map(([k, v]) => `${k} ×${v}`).join(', ');
      const first = Object.keys(r.connections.failures)[0] ?? 'unknown';
      const what = Object.keys(r.connections.failures).some((k) => k.startsWith('HTTP_')) ? 'handshake refused by' : 'cannot connect to';
      const detail = Object.keys(r.connections.failures).length > 1 ? `${reasons}; ` : '';
      throw new CliError(`${what} ${cfg.url}: ${first} (${detail}${r.connections.failed} of ${r.connections.requested} connections failed)`, r.exitCode as ExitCode);
    }
    if (r.exitCode === EXIT.LOAD_ERRORS) process.stderr.write(`ringsocket load: finished with ${r.errors.total} error(s)\n`);
    return r.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
