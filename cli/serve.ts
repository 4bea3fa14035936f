/**
 * `ringsocket serve`: a standalone ringsocket WebSocket server. The main thread runs the Godot server
 * loop (TCPServer → [StreamPeerTLS] → WebSocketPeer.acceptStream, poll every peer each tick); accept,
 * TLS, the HTTP upgrade and framing run in the pool's I/O workers.
 *
 * - `--mode echo` (default) is `startEchoServer` from examples/echo-server.ts, unchanged: every
 *   message comes back to its sender with the same type.
 * - `--mode topic` (cli/broadcast-server.ts): peers send `sub T`, `unsub T`, `pub T payload`.
 * - `--redis URL`: the pool publishes through a Redis broker (src/redis-broker.ts), so the topics of
 *   broadcast and topic modes span every `serve` process on that Redis; the counters line then shows the
 *   broker's figures. Redis must be reachable at start (exit 3 otherwise); later losses are retried.
 * - `--mode broadcast` (cli/broadcast-server.ts): every message is sent to every open peer, the sender
 *   included, as one topic publication framed once per worker. A peer whose socket holds more than its
 *   outbound buffer unwritten misses that message (counted as dropped).
 *
 * Prints its URL on stdout, then a counters line on stderr every --interval (1 s): connections, messages/s
 * in and out (from the workers' stats). Rewritten in place when stderr is a terminal; otherwise a plain
 * line per interval while connections are open or the counts moved (an idle server stays quiet).
 * SIGINT/SIGTERM: stop listening, close every peer with 1001, poll until they are CLOSED (at most 3 s),
 * close the pool; the process then exits on its own with code 0.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createRedisBroker, PeerPool, type RedisBroker, type RedisBrokerStats } from '../src/index.js';
import { startEchoServer } from '../examples/echo-server.js';
import { startBroadcastServer, type RunningServer } from './broadcast-server.js';
import { bool, flagsHelp, num, parseArgs, str, type FlagSpecs } from './args.js';
import { CliError, EXIT, holdingLoop, setStage, UsageError } from './errors.js';
import { int, StatusLine } from './term.js';

export const SERVE_FLAGS: FlagSpecs = {
  port: { kind: 'int', min: 0, max: 65535, help: 'port to listen on (0 = any free port)', defaultText: '8080' },
  host: { kind: 'string', meta: 'ADDR', help: 'address to bind ("*" = every interface)', defaultText: '127.0.0.1' },
  'tls-key': { kind: 'string', meta: 'FILE', help: 'serve wss:// with this private key (PEM); needs --tls-cert' },
  'tls-cert': { kind: 'string', meta: 'FILE', help: 'certificate chain (PEM) for --tls-key' },
  mode: { kind: 'string', meta: 'echo|broadcast|topic', choices: ['echo', 'broadcast', 'topic'], help: 'echo each message to its sender, send it to every peer, or topics chosen by the peers (sub T, unsub T, pub T payload)', defaultText: 'echo' },
  redis: { kind: 'string', meta: 'URL', help: 'broadcast/topic across every serve process on this Redis (redis://host:port)' },
  threads: { kind: 'int', min: 1, max: 256, help: 'I/O worker threads', defaultText: 'cores - 1' },
  protocols: { kind: 'string', meta: 'LIST', help: 'subprotocols accepted, comma-separated (a client asking only for others gets 400)', defaultText: 'chat' },
  'max-message': { kind: 'bytes', min: 1, max: 256 * 1024 * 1024, meta: 'B', help: 'largest message accepted (larger: close 1009)', defaultText: '64k - 1' },
  'tick-ms': { kind: 'int', min: 1, max: 1000, meta: 'MS', help: 'main-thread loop period', defaultText: '1' },
  interval: { kind: 'duration', min: 100, max: 3600_000, meta: 'D', help: 'period of the counters line on stderr', defaultText: '1s' },
  deflate: { kind: 'bool', help: 'accept permessage-deflate (compression, in the I/O workers) from clients that offer it' },
  quiet: { kind: 'bool', help: 'no counters line' },
};

export const SERVE_USAGE = `Usage: ringsocket serve [--port N] [--host ADDR] [--tls-key FILE --tls-cert FILE]
                       [--mode echo|broadcast|topic] [--redis URL] [--threads N] [more flags]

A ringsocket WebSocket server: the main thread polls, the I/O workers accept, upgrade and frame.
Prints its URL on stdout and a live counters line each second on stderr (connections, messages/s
in and out). SIGINT or SIGTERM closes every peer with 1001 (going away) and exits 0.

Flags:
${flagsHelp(SERVE_FLAGS)}

Exit codes: 0 stopped by SIGINT/SIGTERM · 1 runtime failure · 2 usage error · 3 cannot listen (port in
use, address not local…: the message names the errno) · 130 second signal while stopping

Example: ringsocket serve --port 8080 --mode echo --threads 1`;

/** What a listen failure reason (TCPServer.getFailureReason()) means, in the error message. */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'port in use',
  EADDRNOTAVAIL: 'address not local to this machine',
  EACCES: 'permission denied: a port below 1024 needs privileges',
  EPERM: 'operation not permitted',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'host name lookup failed',
  EAFNOSUPPORT: 'address family not supported',
  LISTEN_TIMEOUT: 'the I/O worker did not answer in time',
};

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

interface ServeConfig {
  tlsPems: { key: string; cert: string } | null;
  host: string;
  protocols: string[];
  mode: string;
  port: number;
  threads: number | undefined;
  maxMessage: number;
  tickMs: number;
  intervalMs: number;
  quiet: boolean;
  redis: string | undefined;
  deflate: boolean;
}

/** The checked flags (throws UsageError), or null for --help. */
function serveConfig(argv: readonly string[]): ServeConfig | null {
  const { flags, positionals, help } = parseArgs(argv, SERVE_FLAGS, 'serve');
  if (help) return null;
  if (positionals.length !== 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (serve takes flags only)`);
  const keyPath = str(flags, 'tls-key');
  const certPath = str(flags, 'tls-cert');
  if ((keyPath === undefined) !== (certPath === undefined)) throw new UsageError('--tls-key and --tls-cert go together');
  let tlsPems: { key: string; cert: string } | null = null;
  if (keyPath !== undefined && certPath !== undefined) {
    tlsPems = { key: readPem(keyPath, 'tls-key'), cert: readPem(certPath, 'tls-cert') };
    try {
      createSecureContext(tlsPems);
    } catch (err) {
      throw new UsageError(`--tls-key/--tls-cert: not a usable key and certificate: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const host = str(flags, 'host') ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host must not be empty');
  const redis = str(flags, 'redis');
  if (redis !== undefined && !/^rediss?:\/\/./.test(redis)) throw new UsageError(`--redis: not a redis:// or rediss:// URL: ${redis}`);
  if (redis !== undefined && (str(flags, 'mode') ?? 'echo') === 'echo') throw new UsageError('--redis needs --mode broadcast or --mode topic');
  const protocols = (str(flags, 'protocols') ?? 'chat').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (protocols.some((p) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p))) throw new UsageError(`--protocols: not a list of tokens: ${str(flags, 'protocols')}`);
  return {
    tlsPems,
    host,
    protocols,
    mode: str(flags, 'mode') ?? 'echo',
    port: num(flags, 'port') ?? 8080,
    threads: num(flags, 'threads'),
    maxMessage: num(flags, 'max-message') ?? 65535,
    tickMs: num(flags, 'tick-ms') ?? 1,
    intervalMs: num(flags, 'interval') ?? 1000,
    quiet: bool(flags, 'quiet'),
    redis: str(flags, 'redis'),
    deflate: bool(flags, 'deflate'),
  };
}

/** Listen with the echo or broadcast loop; a listen failure becomes exit 3 naming the errno. */
async function startServer(c: ServeConfig, pool: PeerPool): Promise<RunningServer> {
  const { port, host, tlsPems, protocols, maxMessage, tickMs } = c;
  try {
    if (c.mode !== 'echo') return startBroadcastServer({ port, host, tlsPems, protocols, maxMessage, tickMs, pool, mode: c.mode === 'topic' ? 'topic' : 'broadcast', deflate: c.deflate });
    return startEchoServer({
      port,
      host,
      pool,
      ...(tlsPems !== null ? { tls: tlsPems } : {}),
      tickMs,
      supportedProtocols: protocols,
      inboundBufferSize: maxMessage,
      outboundBufferSize: Math.max(65535, maxMessage),
      stopTimeoutMs: 3000,
      perMessageDeflate: c.deflate,
    });
  } catch (err) {
    await holdingLoop(pool.close());
    // listenOrThrow's message ends with "ERR_CANT_CREATE (EADDRINUSE)": the errno says why.
    const m = err instanceof Error ? /: (ERR_\w+) \((\w+)\)$/.exec(err.message) : null;
    const why = m !== null ? m[2]! : err instanceof Error ? err.message : String(err);
    const hint = LISTEN_HINTS[why];
    throw new CliError(`cannot listen on ${host}:${port}: ${why}${hint !== undefined ? ` (${hint})` : ''}`, EXIT.NETWORK);
  }
}

/** The counters line on stderr every --interval, from the workers' stats. Returns its timer. */
function startCounters(c: ServeConfig, pool: PeerPool, server: RunningServer, status: StatusLine, broker: RedisBroker | null): NodeJS.Timeout {
  let lastIn = 0;
  let lastOut = 0;
  let lastT = performance.now();
  let lastLine = '';
  let statsBusy = false;
  const onStats = (stats: { messagesIn: number; messagesOut: number; fanoutWrites: number; fanoutSkipped: number }[]): void => {
    statsBusy = false;
    let inn = 0;
    let out = 0;
    let dropped = 0;
    for (const s of stats) {
      inn += s.messagesIn;
      out += s.messagesOut + s.fanoutWrites;
      dropped += s.fanoutSkipped;
    }
    const now = performance.now();
    const dt = (now - lastT) / 1000;
    const rin = dt > 0 ? (inn - lastIn) / dt : 0;
    const rout = dt > 0 ? (out - lastOut) / dt : 0;
    const changed = inn !== lastIn || out !== lastOut;
    lastIn = inn;
    lastOut = out;
    lastT = now;
    const line =
      `connections ${int(server.peers)}  in ${int(rin)} msg/s  out ${int(rout)} msg/s  ` +
      `(total in ${int(inn)}, out ${int(out)}${c.mode !== 'echo' ? `, dropped ${int(dropped)}` : ''})` +
      (broker !== null ? redisLine(broker.stats()) : '');
    const key = `${server.peers} ${inn} ${out}${broker !== null ? redisLine(broker.stats()) : ''}`;
    if (status.isTTY || changed || server.peers !== 0 || key !== lastLine) status.update(() => line, true);
    lastLine = key;
  };
  const timer = setInterval(() => {
    if (statsBusy) return;
    statsBusy = true;
    pool.stats().then(onStats, () => (statsBusy = false));
  }, c.intervalMs);
  timer.unref();
  return timer;
}

/** The broker's part of the counters line. */
function redisLine(b: RedisBrokerStats): string {
  return `  redis ${b.connected ? 'up' : 'DOWN'}: published ${int(b.published)}, failed ${int(b.publishFailed)}, received ${int(b.received)}, channels ${int(b.channels)}, reconnects ${int(b.reconnects)}`;
}

/** Resolve with the exit code once SIGINT/SIGTERM stopped the server; a second signal exits 130 at once. */
function untilStopped(pool: PeerPool, server: RunningServer, stopCounters: () => void, broker: RedisBroker | null): Promise<number> {
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        process.stderr.write(`ringsocket serve: ${signal} again, exiting without waiting\n`);
        process.exit(EXIT.INTERRUPTED);
      }
      stopCounters();
      setStage('stopping');
      process.stdout.write(`${signal}: closing ${server.peers} peer(s) with 1001\n`);
      holdingLoop(server.stop().then(() => pool.close()).then(() => broker?.close())).then(
        () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.stdout.write('ringsocket serve: stopped\n');
          // If something still holds the event loop, say so rather than hang (this timer does not hold it).
          setTimeout(() => {
            process.stderr.write('ringsocket serve: something still holds the event loop after stopping; exiting\n');
            process.exit(EXIT.RUNTIME);
          }, 5000).unref();
          resolve(EXIT.OK);
        },
        (err: unknown) => {
          process.stderr.write(`ringsocket serve: stop failed: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(EXIT.RUNTIME);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** `ringsocket serve …`: resolves with the exit code once the server stopped. */
export async function serveCommand(argv: readonly string[]): Promise<number> {
  const c = serveConfig(argv);
  if (c === null) {
    process.stdout.write(SERVE_USAGE + '\n');
    return EXIT.OK;
  }
  const pool = new PeerPool(c.threads !== undefined ? { threads: c.threads } : {});
  let broker: RedisBroker | null = null;
  if (c.redis !== undefined) {
    try {
      broker = await createRedisBroker(c.redis, { connectTimeoutMs: 5000 });
    } catch (err) {
      await holdingLoop(pool.close());
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.NETWORK);
    }
    await pool.useBroker(broker);
    process.stdout.write(`ringsocket serve: redis ${c.redis} (${broker.sharded ? 'sharded pub/sub: SPUBLISH/SSUBSCRIBE' : 'pub/sub: PUBLISH/SUBSCRIBE'}), node ${broker.nodeId}\n`);
  }
  let server: RunningServer;
  try {
    server = await startServer(c, pool);
  } catch (err) {
    await broker?.close();
    throw err;
  }
  const status = new StatusLine(process.stderr, { quiet: c.quiet, plainEveryMs: 0 });
  const counters = startCounters(c, pool, server, status, broker);
  process.stdout.write(`ringsocket serve: ${c.mode} server listening on ${server.url} (${pool.threads} I/O thread${pool.threads === 1 ? '' : 's'}; Ctrl-C to stop)\n`);
  setStage('serving');
  return untilStopped(
    pool,
    server,
    () => {
      clearInterval(counters);
      status.clear();
    },
    broker,
  );
}
