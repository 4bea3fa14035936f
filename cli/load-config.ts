/**
 * `ringsocket load`: its flags, usage text and the checked configuration (cli/load.ts runs it).
 */
import { bool, flagsHelp, list, num, parseArgs, str, type FlagSpecs } from './args.js';
import { UsageError } from './errors.js';
import { parseThreshold, type Threshold } from './thresholds.js';

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
  threads: { kind: 'int', min: 1, max: 256, help: 'load-generating threads: the connections and the rate are split between them, each with its own I/O workers; CPU and event-loop delay reported per thread', defaultText: '1' },
  'io-threads': { kind: 'int', min: 1, max: 256, help: 'I/O worker threads per load thread', defaultText: '(cores - 1) / threads, at least 1' },
  fanout: { kind: 'bool', help: 'fan-out: the first connection publishes at --rate, every connection (publisher included) must receive each message (against serve --mode broadcast); latency from the publish\'s intended time to each receipt' },
  threshold: { kind: 'string', repeat: true, meta: 'EXPR', help: 'pass/fail criterion, several allowed: p50|p90|p99|p99.9|max|mean<5ms, errors=0, unanswered<10, throughput>=20k…; any breached: exit 4' },
  'connect-timeout': { kind: 'duration', min: 100, max: 3600_000, meta: 'D', help: 'limit for each connection to open (TCP + TLS + upgrade)', defaultText: '10s' },
  drain: { kind: 'duration', min: 0, max: 3600_000, meta: 'D', help: 'after --duration, wait at most D for the last echoes', defaultText: '3s' },
  protocols: { kind: 'string', meta: 'LIST', help: 'subprotocols to ask for, comma-separated' },
  ca: { kind: 'string', meta: 'FILE', help: 'wss: trust this CA certificate (PEM) besides the system ones' },
  insecure: { kind: 'bool', help: 'wss: do not verify the server certificate' },
  warmup: { kind: 'duration', min: 0, max: 3600_000, meta: 'D', help: 'send for D before measuring (not in the latency, throughput or CPU figures)', defaultText: '1s' },
  'send-tick': { kind: 'string', meta: 'T', help: 'rate mode: send what is due at most every T (e.g. 1ms, as the bench suite\'s generator does); 0 = every pass', defaultText: '0' },
  poll: { kind: 'string', meta: 'T', help: 'main-thread loop: sleep T (e.g. 200us, 1ms) between passes, or "spin" (back to back)', defaultText: '200us' },
  deflate: { kind: 'bool', help: 'offer permessage-deflate (compression, in the I/O workers); a server that declines it is used without' },
  quiet: { kind: 'bool', help: 'no progress output on stderr' },
};

export const LOAD_USAGE = `Usage: ringsocket load <url> [--connections N] [--rate R | --flood W] [--size B] [--duration D]
                      [--ramp D] [--text] [--json FILE] [--histogram FILE] [more flags]

Open N WebSocket connections to an echo server through ringsocket's worker pool and measure round
trips. Rate mode (default) sends R messages/s in total on a fixed schedule (open loop) and measures
each RTT from the message's intended send time (corrected for coordinated omission). --flood keeps W
messages in flight per connection instead. Reports RTT p50/p90/p99/p99.9/max, throughput, errors,
close codes, and the load generator's own main-thread event-loop delay. --fanout measures a broadcast
server instead: one publisher, every connection a subscriber, latency from publish to each receipt.

Flags:
${flagsHelp(LOAD_FLAGS)}

Exit codes: 0 ok · 1 runtime failure · 2 usage error · 3 no connection could be opened (refused,
unreachable, timeout, TLS, or the handshake refused: HTTP 4xx/5xx) · 4 a --threshold was breached ·
5 finished with errors (failed or dropped connections, unanswered or bad echoes, unsent messages)

Examples: ringsocket load ws://127.0.0.1:8080 --connections 100 --rate 20k --size 64 --duration 10s --json out.json --histogram rtt.svg
          ringsocket load ws://127.0.0.1:8080 --rate 5k --threshold 'p99<5ms' --threshold errors=0   # CI gate
          ringsocket load ws://127.0.0.1:8080 --fanout --connections 200 --rate 100                # serve --mode broadcast`;

/** Header bytes each message carries (binary / text). */
export const BINARY_HEADER = 24;
export const TEXT_HEADER = 32;
export const FILL_BINARY = 0xa5;
export const FILL_TEXT = 0x78; // 'x'
export const ELD_RESOLUTION_MS = 10;

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
  /** Load-generating threads (1: the main thread itself). */
  threads: number;
  /** I/O workers per load thread (undefined: (cores - 1) / threads, at least 1). */
  ioThreads: number | undefined;
  fanout: boolean;
  thresholds: Threshold[];
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
  /** --deflate: offer permessage-deflate. */
  deflate: boolean;
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
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) {
    // Without a scheme, only host:port is taken (as ws://host:port): a bare word such as "notaurl" is a
    // usage error here, not a DNS lookup that fails later.
    if (!/^(\[[0-9a-fA-F:.]+\]|[^\s/:]+):\d+(\/\S*)?$/.test(url)) throw new UsageError(`not a URL: ${JSON.stringify(positionals[0])} (expected ws://host:port/path, wss://…, or host:port)`);
    url = `ws://${url}`;
  }
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
  const fanout = bool(flags, 'fanout');
  if (fanout && flood !== undefined) throw new UsageError('--fanout measures an open-loop publish rate: use --rate, not --flood');
  const threads = num(flags, 'threads') ?? 1;
  if (fanout && threads > 1) throw new UsageError('--fanout runs on one load thread (--threads 1): the publisher and its subscribers share one clock');
  const connections = num(flags, 'connections') ?? 10;
  if (threads > connections) throw new UsageError(`--threads ${threads} needs at least as many --connections (got ${connections})`);
  const thresholds = list(flags, 'threshold').map(parseThreshold);
  const ca = str(flags, 'ca');
  const insecure = bool(flags, 'insecure');
  if ((ca !== undefined || insecure) && parsed.protocol !== 'wss:') throw new UsageError('--ca and --insecure apply to wss:// URLs only');
  return {
    url: parsed.href,
    connections,
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
    threads,
    ioThreads: num(flags, 'io-threads'),
    fanout,
    thresholds,
    protocols,
    ca,
    insecure,
    pollUs: parsePoll(str(flags, 'poll') ?? '200us', 'poll'),
    sendTickUs: parsePoll(str(flags, 'send-tick') ?? '0', 'send-tick'),
    json: str(flags, 'json'),
    histogram: str(flags, 'histogram'),
    quiet: bool(flags, 'quiet'),
    deflate: bool(flags, 'deflate'),
  };
}

