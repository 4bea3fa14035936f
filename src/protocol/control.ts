/**
 * The control-plane contract between the pool and its workers: what `workerData` carries, the comlink
 * API a worker exposes, and the JSON configs carried by CMD_CONNECT / EV_OPEN / EV_CLOSED records.
 * Types only (plus tiny helpers): the data path never uses these.
 */

import type { MessagePort } from 'node:worker_threads';

/** Handed to each worker at start (structured clone; SharedArrayBuffers are shared, not copied). */
export interface WorkerInit {
  index: number;
  /** worker -> main records. */
  inbound: SharedArrayBuffer;
  /** main -> worker records. */
  outbound: SharedArrayBuffer;
  /** Int32 control block (doorbell, flags). */
  control: SharedArrayBuffer;
  /** Int32 per-slot counters (SLOT_FIELDS per slot). */
  slots: SharedArrayBuffer;
  /** The comlink port (transferred). */
  port: MessagePort;
  handshakeTimeoutMs: number;
  /** Most TCP connections not yet upgraded (streams + connections reading their request). */
  maxPendingHandshakes: number;
  closeTimeoutMs: number;
  /** The pool's wake cell (see WAKE_SEQ in layout.ts), shared by every worker of the pool. */
  wake: SharedArrayBuffer;
  /** Niceness to give the worker's thread (0: leave it). */
  nice: number;
  /** Microseconds to spin for the doorbell after publishing inbound records (0: none). */
  spinMicros: number;
}

/** Per-worker figures returned by `PeerPool.stats()`. */
export interface WorkerStats {
  index: number;
  threadId: number;
  /** Connections the worker holds now (any state). */
  connections: number;
  /** Connections whose socket is paused for lack of main-thread credit or ring space. */
  paused: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Times the inbound ring was full and a socket had to wait. */
  inboundRingFull: number;
  /**
   * The worker's doorbell loop (see ARCHITECTURE.md "The doorbell"). `wakeLoops`: continuations of the
   * loop armed right now; always 1 (a larger number means the loop has multiplied and every doorbell
   * runs the drain that many times). `doorbells`: rings seen since the worker started (the main
   * thread's, and `selfRings`: the worker's own when ring space came back under it). `wakeups`: runs of
   * the drain. A healthy worker has `wakeups <= doorbells + 1`: each run answers at least one ring.
   */
  wakeLoops: number;
  /**
   * Data messages that arrived after the peer's own `close(code)` and were dropped (not delivered): the
   * worker reads on until the remote's close frame (README "Behaviour details").
   */
  droppedAfterClose: number;
  /** Published messages (CMD_PUBLISH_*) this worker framed: one per publication, whatever the members. */
  fanoutFrames: number;
  /** Socket writes of published messages (one per member reached). */
  fanoutWrites: number;
  /** Members a publication skipped because their outbound budget was full (`slowPeerPolicy` 'skip'). */
  fanoutSkipped: number;
  /** Members closed with 1008 because their outbound budget was full (`slowPeerPolicy` 'close'). */
  fanoutClosed: number;
  /** TCP connections accepted and not yet upgraded (streams, TLS handshakes, HTTP requests being read). */
  handshakesPending: number;
  /** TCP connections closed at accept because `maxPendingHandshakes` were pending. */
  handshakesRefused: number;
  doorbells: number;
  wakeups: number;
  selfRings: number;
  /** Doorbell rings caught by the spin after a publish (`workerSpinMicros`), drained without a wake-up. */
  spinCatches: number;
  /**
   * permessage-deflate in this worker: `streams` zlib streams open now (connections' own, with context
   * takeover, and the worker's shared ones); `hibernatedStreams` closed by idle connections
   * (`hibernateAfterMs`) since the worker started; `swept`: times the idle sweep put a connection to
   * sleep; `awake`: connections the sweep watches now (used a stream of their own recently); `fanoutCompressions` compressions done for publications
   * (one per publication per share key, or one per member with context takeover).
   */
  deflate: { streams: number; hibernatedStreams: number; swept: number; awake: number; fanoutCompressions: number };
  /** Worker heap in bytes. */
  heapUsed: number;
  /** The thread's niceness as the kernel reports it; null where a thread's own cannot be read (not Linux). */
  nice: number | null;
  /** The V8 heap limits this worker runs with (Node's `worker_threads.resourceLimits` inside it), in MB. */
  resourceLimits: { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number; codeRangeSizeMb?: number; stackSizeMb?: number };
}

/** What a worker exposes over comlink. */
export interface WorkerControl {
  stats(): WorkerStats;
  /** Close every connection with 1001 (going away), wait up to `ms` for them, then resolve. */
  shutdown(ms: number): Promise<void>;
  /** Test hook: throw an uncaught exception in the worker (a real crash, not a simulation). */
  crash(): void;
  /** Test hook: block the worker's thread (its event loop and every socket) for `ms`. */
  stall(ms: number): void;
}

/** Messages a worker posts on its parentPort (not comlink). */
export type WorkerNotice =
  | { t: 'ready' }
  /** The worker holds no connection after processing `opens` CMD_CONNECT/CMD_ACCEPT records. */
  | { t: 'idle'; opens: number };

/**
 * permessage-deflate options as a worker gets them (`WebSocketPeer.perMessageDeflate`, checked on the main
 * thread; the public `PerMessageDeflateOptions` is this type). `{}`: the defaults.
 */
export interface DeflateWire {
  /** Server: always answer `server_no_context_takeover`; client: ask for it. Default false. */
  serverNoContextTakeover?: boolean;
  /** Server: always answer `client_no_context_takeover`; client: offer it. Default false. */
  clientNoContextTakeover?: boolean;
  /** 8…15: the largest window the server compresses with (client: asks for at most that). Default 15. */
  serverMaxWindowBits?: number;
  /** 8…15: the largest window the client compresses with. Default: the client offers the bare parameter. */
  clientMaxWindowBits?: number;
  /** Messages shorter than this many bytes are sent uncompressed. Default 1024 (as ws). */
  threshold?: number;
  /** zlib level -1 (zlib's default, 6) … 9. Default -1. */
  level?: number;
  /** zlib memLevel 1…9. Default 8. */
  memLevel?: number;
  /**
   * A connection with context takeover that has compressed and inflated nothing for this many milliseconds
   * closes its zlib streams, keeping each direction's last window of bytes (≤ 2^windowBits) to make them
   * again from on its next message. Default 10000; 0: never (the streams live as long as the connection).
   */
  hibernateAfterMs?: number;
}

export interface ConnectConfig {
  url: string;
  protocols: string[];
  /** [name, value] pairs, already checked for CR/LF. */
  headers: [string, string][];
  tls: { ca?: string; servername?: string; unsafe?: boolean } | null;
  inboundBufferSize: number;
  maxQueuedPackets: number;
  heartbeatMs: number;
  noDelay: boolean;
  /** Bytes the socket may hold unwritten before a publication finds this connection slow. */
  outboundBufferSize: number;
  /** What a publication does to a slow connection: 0 skip it, 1 close it with 1008. */
  slowPeerPolicy: number;
  /** permessage-deflate options (`perMessageDeflate`); absent when off, so the record is as before. */
  deflate?: DeflateWire;
}

/** CMD_ACCEPT payload: become the server side of stream `streamId` (already in this worker). */
export interface AcceptConfig {
  streamId: number;
  protocols: string[];
  /** Extra headers for the 101 response. */
  headers: [string, string][];
  inboundBufferSize: number;
  maxQueuedPackets: number;
  heartbeatMs: number;
  noDelay: boolean;
  /** Bytes the socket may hold unwritten before a publication finds this connection slow. */
  outboundBufferSize: number;
  /** What a publication does to a slow connection: 0 skip it, 1 close it with 1008. */
  slowPeerPolicy: number;
  /**
   * `WebSocketPeer.handshakeApproval`: a valid request is sent to the main thread (EV_REQUEST) and waits
   * for CMD_HANDSHAKE_ANSWER. Absent (not `false`) when off, so the record is as before.
   */
  approval?: true;
  /** permessage-deflate options (`perMessageDeflate`); absent when off. */
  deflate?: DeflateWire;
}

export interface ListenConfig {
  port: number;
  host: string;
  /** Bind with SO_REUSEPORT: every worker binds a socket of its own on the port. */
  reusePort: boolean;
  /** With reusePort: first check with a plain bind that no other socket holds the port. */
  probe: boolean;
  /** Answer through the sync cell (`listen()` waits for it); otherwise as an EV_LISTEN record. */
  sync: boolean;
}

/** EV_LISTEN payload. */
export interface ListenResult {
  /** The bound port (0 on failure). */
  port: number;
}

/** EV_INCOMING payload. */
export interface IncomingInfo {
  host: string;
  port: number;
}

export interface OpenInfo {
  protocol: string;
  host: string;
  port: number;
  /** Server side: URL derived from the request. */
  url?: string;
  /** The negotiated `Sec-WebSocket-Extensions` value; absent when none. */
  extensions?: string;
}

/**
 * EV_REQUEST payload: a valid upgrade request waiting for the main thread's answer (approval on).
 * ~120 B of JSON plus the header lines as sent (a browser's: 500 B - 1 KB). The header lines stay one
 * string (`head`) until asked for (`requestHeaders`): kept by 10,000 peers, a browser request's object
 * is ~0.75 KB of heap this way, ~1.85 KB as parsed pairs.
 */
export interface RequestInfo {
  /** The request target as sent: path and query. */
  path: string;
  /**
   * The header lines as they arrived (the request head without its request line and final blank line),
   * joined by CRLF, each byte one character (latin1). The worker has validated every line.
   */
  head: string;
  /** The peer's address and port. */
  host: string;
  port: number;
  /** ws:// or wss:// + Host + path: what `getRequestedUrl()` gives once open. */
  url: string;
  /** The subprotocol the 101 will select ("" for none). */
  protocol: string;
}

export interface CloseInfo {
  reason: string;
  /** Stable code of what failed (WS_ERR_*, ECONNREFUSED, HANDSHAKE_TIMEOUT…), "" for a clean close. */
  error: string;
}

/**
 * The header lines of a RequestInfo as `[name, value]` pairs: arrival order, names as sent, values
 * without surrounding spaces and tabs (RFC 9110 OWS), duplicates kept as separate pairs.
 */
export function requestHeaders(info: RequestInfo): [string, string][] {
  const out: [string, string][] = [];
  if (info.head === '') return out;
  for (const line of info.head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon), line.slice(colon + 1).replace(OWS, '')]);
  }
  return out;
}

const OWS = /^[ \t]+|[ \t]+$/g;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeJson(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(dec.decode(bytes)) as T;
}
