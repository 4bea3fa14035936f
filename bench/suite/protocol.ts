/**
 * What the suite's three kinds of process say to each other over their IPC channels.
 *
 * ```
 *  run.js (orchestrator)                 server.js (one implementation)      load.js (1..n processes)
 *  fork(server.js, [ServerConfig]) ────► listen on 127.0.0.1:0
 *                                  ◄──── { t: 'listening', port }
 *  fork(load.js, [LoadConfig]) ─────────────────────────────────────────────► connect + handshake all
 *                                  ◄──────────────────────────────────────── { t: 'connected' }
 *  { t: 'await-clients', n } ──────────► (waits until n peers are OPEN)
 *                                  ◄──── { t: 'clients', n }
 *  { t: 'go' } ─────────────────────────────────────────────────────────────► start sending
 *  (warm-up) { t: 'mark' } ───────────►                              and ──► { t: 'mark' }
 *                                  ◄──── ServerMark                       ◄── LoadMark
 *  (window)  { t: 'mark' } again; then { t: 'stop' } to the loads ──────────► stop, drain replies
 *                                  ◄──────────────────────────────────────── LoadFinal
 *  { t: 'final' } ─────────────────────► ServerMark (after the load stopped)
 *  kill both
 * ```
 * Each process stamps its own marks with its own clock (performance.now): rates come from one
 * process's counters over that process's interval, so IPC delays (a server whose event loop is
 * flooded answers late) do not distort them.
 */

export const SERVER_IMPLS = ['ringsocket', 'ws-main', 'uws-main', 'ws-worker-postmessage'] as const;
export type ServerImpl = (typeof SERVER_IMPLS)[number];

/**
 * How a server treats messages: echo them back (S1, S2), count them (S4 `sink`, S5 `idle`), or count
 * them and run the 60 Hz tick loop that sends a snapshot to every client (S3 `tick`), or the same loop
 * as a game server at scale would write it (S6 `game`: ringsocket through `WebSocketMultiplayerPeer`, one
 * `poll()` per tick and the snapshot as one publication; uWS with `app.publish` to one topic; each snapshot
 * stamped with `process.hrtime.bigint()` in its first 8 bytes, little-endian).
 */
export type ServerMode = 'echo' | 'sink' | 'tick' | 'idle' | 'game';

/** How the ringsocket backend reads packets: `getPacketInto` one reusable buffer, or `getPacket` (a new Uint8Array each). */
export type RsRead = 'into' | 'packet';

/**
 * How the ringsocket server's main thread polls outside tick mode: `immediate` = flat out, one
 * setImmediate between passes over all peers; `paced` = one pass every `pacedMs` (setTimeout), as a
 * fixed-rate loop would, so that its CPU time is the per-message work rather than spinning.
 */
export type RsLoop = 'immediate' | 'paced' | 'wait';

export interface TickConfig {
  hz: number;
  busyMs: number;
  snapshotBytes: number;
}

export interface ServerConfig {
  impl: ServerImpl;
  mode: ServerMode;
  tick: TickConfig;
  rsLoop: RsLoop;
  pacedMs: number;
  /** PeerPool threads for ringsocket (0: the pool's default). */
  rsThreads: number;
  /** WebSocketPeer inboundBufferSize of ringsocket's peers (0: the default, 65535). */
  rsInboundBytes: number;
  /** How ringsocket's per-peer backend reads packets (S1–S5). */
  rsRead: RsRead;
  /** PeerPool workerNice for ringsocket. */
  rsNice: number;
  /** PeerPool workerResourceLimits.maxYoungGenerationSizeMb for ringsocket (0: Node's default). */
  rsYoungMb: number;
  /** The server process exits (and says so) past this RSS, so a runaway backlog cannot eat the machine. */
  rssLimitBytes: number;
  /**
   * S7: permessage-deflate on, as each server's user turns it on (ringsocket `perMessageDeflate: true`, ws
   * `perMessageDeflate: true`, uWS a shared compressor and decompressor for `no-context`, dedicated ones
   * with 32 KiB windows for `takeover`); '' off. The load's offer decides what is agreed.
   */
  deflate: DeflateMode;
  /** Collect garbage before each mark, so RSS shows what the connections hold (S5, S7's held connections). */
  gcOnMark: boolean;
  /** S6, ringsocket: skip a tick's snapshot while `getPublishBacklog()` is above this (`--rs-skip-behind N`); -1 never. */
  rsSkipBehind: number;
}

/**
 * S7 (issue 16): the load's permessage-deflate offer. `no-context`: `client_no_context_takeover;
 * server_no_context_takeover` (each message compressed on its own, so the load sends pre-built compressed
 * frames and can check echoes by inflating them alone); `takeover`: `client_max_window_bits`, what a browser
 * offers (context takeover both ways: the servers keep zlib streams per connection); '' no offer.
 */
export type DeflateMode = '' | 'no-context' | 'takeover';

/** `once` (S7 held connections): each connection sends one message after its handshake and counts as connected when its echo is back. */
export type LoadMode = 'window' | 'rate' | 'flood' | 'idle' | 'once';

export interface LoadConfig {
  index: number;
  host: string;
  port: number;
  /** Source address for the sockets ('' = the kernel's choice); several spread the ephemeral ports. */
  localAddress: string;
  conns: number;
  mode: LoadMode;
  /** Payload bytes of the messages sent. */
  size: number;
  /** Payload bytes of the server's tick snapshots (counted apart from echoes). */
  snapshotBytes: number;
  /** window: messages outstanding per connection; flood: frames per write (next write when the kernel took it). */
  inflight: number;
  /** rate: messages per second from this process, spread round-robin over its connections. */
  rate: number;
  /** Handshakes in progress at once while connecting. */
  connectConcurrency: number;
  /** rate mode: the server echoes (S2), so unanswered messages are counted and RTTs recorded. */
  expectEcho: boolean;
  /** Milliseconds to wait for outstanding replies after 'stop'. */
  drainMs: number;
  /**
   * S6: snapshots carry the server's `process.hrtime.bigint()` in their first 8 bytes; record receipt
   * minus stamp (same CLOCK_MONOTONIC in every process on Linux) for those received in the window. 4-byte
   * binary frames are Godot's id message (ringsocket's WebSocketMultiplayerPeer), counted apart.
   */
  snapshotAge: boolean;
  /** S7: what to offer (see DeflateMode); the connection fails if the server does not agree to it. */
  deflate: DeflateMode;
  /** Payload content: `fill` one byte repeated (S1–S6), `json` compressible JSON-like text (S7). */
  content: 'fill' | 'json';
}

export interface ServerCounters {
  /** Messages the application code (main thread) consumed. */
  consumed: number;
  consumedBytes: number;
  echoed: number;
  /** send() refused or reported dropped (ringsocket ERR_OUT_OF_MEMORY / FAILED, uWS DROPPED). */
  sendFailed: number;
  snapshotsSent: number;
  snapshotsFailed: number;
  opened: number;
  closed: number;
  /** Messages that reached the server's I/O thread (ws-worker-postmessage: the worker), when known. */
  received: number;
  /** Game mode: snapshots the server meant to send (the clients connected at each tick, summed). */
  snapshotsIntended: number;
  /** Game mode with `rsSkipBehind`: snapshots not sent because the workers were behind (clients × ticks skipped). */
  snapshotsSkipped: number;
  /** Tick modes: main-thread CPU (schedstat) spent inside the simulated work of the ticks. */
  workCpuNs: number;
}

export interface TickSample {
  /** ms since the server's start of the measurement window. */
  at: number;
  /** ms between the tick's scheduled time and its start. */
  lateness: number;
  /** ms the tick's ingest step took (ringsocket: accept + poll + drain every peer; others ~0). */
  ingest: number;
  /** ms the whole tick body took (ingest + busy work + snapshots). */
  body: number;
}

export interface ServerMark {
  t: 'mark';
  now: number;
  mainCpuNs: number;
  procCpuNs: number;
  rss: number;
  open: number;
  counters: ServerCounters;
  /** Tick mode: ticks run and slots missed since the previous mark, with each tick's lateness. */
  ticks?: { run: number; missed: number; samples: TickSample[] };
  /** Only on the final mark of a ringsocket server: worker statistics. */
  extra?: Record<string, unknown>;
}

export type ServerNotice =
  | { t: 'listening'; port: number; fdLimit: number; note: string }
  | { t: 'clients'; n: number }
  | ServerMark
  | { t: 'overload'; rss: number }
  | { t: 'error'; message: string };

export type ServerCommand = { t: 'await-clients'; n: number } | { t: 'mark' } | { t: 'final' } | { t: 'exit' };

export interface LoadCounters {
  /** Frames handed to the kernel (flood: whole batches whose write completed). */
  sent: number;
  /** Echo replies (frames of `size` bytes, or compressed frames with RSV1 when deflate was agreed). */
  echoes: number;
  /** Frames with RSV1 (compressed). */
  compressed: number;
  /** S7 `no-context`: sampled compressed echoes (1 in 64) that did not inflate to the message sent. */
  badEchoes: number;
  /** Snapshots (frames of `snapshotBytes` bytes). */
  snapshots: number;
  /** Frames of any other size or opcode. */
  otherFrames: number;
  closes: number;
  socketErrors: number;
  /** Open connections whose socket closed before 'stop' (the server dropped them). */
  disconnects: number;
  /** snapshotAge mode: 4-byte binary frames (the server's id message, Godot 4's WebSocketMultiplayerPeer). */
  ids: number;
}

export interface LoadMark {
  t: 'mark';
  now: number;
  cpuNs: number;
  counters: LoadCounters;
}

/** Percentiles kept for charts and tables (in microseconds). */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** [percentile, µs] points for a latency-distribution chart. */
  curve: [number, number][];
  /** hdr-histogram-js compressed base64, for re-analysis. */
  encoded: string;
}

export interface LoadFinal {
  t: 'final';
  now: number;
  cpuNs: number;
  counters: LoadCounters;
  /** Messages sent and never answered after the drain (window and rate modes). */
  unanswered: number;
  /** Connections that got no echo at all during the window (window mode): a stalled connection. */
  stalledConns: number;
  /** rate mode: RTT from the intended send time (coordinated-omission corrected). */
  rtt?: LatencySummary;
  /** rate mode: RTT from the actual write (what a closed-loop tool would report). */
  rttUncorrected?: LatencySummary;
  /** rate mode: how late the load process wrote each message after its intended time. */
  sendLag?: LatencySummary;
  /** snapshotAge mode: receipt − stamp of the snapshots received in the window (LatencyHistogram.encode()). */
  snapshotAge?: string;
}

export type LoadNotice =
  | { t: 'connected'; conns: number; failed: number; ms: number; firstError: string }
  | LoadMark
  | LoadFinal
  | { t: 'error'; message: string };

export type LoadCommand = { t: 'go' } | { t: 'mark'; window: 'start' | 'end' } | { t: 'stop' } | { t: 'exit' };
