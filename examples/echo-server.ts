/**
 * An echo server written as a Godot user writes one (the "Server flow" loop of the spec, in TypeScript):
 *
 * ```gdscript
 * var server := TCPServer.new()
 * var peers := []
 * func _ready(): server.listen(8080)
 * func _process(_delta):
 *     while server.is_connection_available():
 *         var peer := WebSocketPeer.new()
 *         peer.supported_protocols = ["chat"]
 *         peer.accept_stream(server.take_connection())   # wss: StreamPeerTLS.accept_stream first
 *         peers.append(peer)
 *     for peer in peers:
 *         peer.poll()
 *         if peer.get_ready_state() == WebSocketPeer.STATE_OPEN:
 *             while peer.get_available_packet_count():
 *                 var bytes := peer.get_packet()
 *                 peer.send(bytes, WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
 *     peers = peers.filter(func(p): return p.get_ready_state() != WebSocketPeer.STATE_CLOSED)
 * ```
 *
 * Every message comes back with the same type (text or binary). Backpressure: when a peer's outbound
 * buffer is full (`send` → ERR_OUT_OF_MEMORY), its packet is kept and retried next tick, and the peer is
 * not drained further; its inbound budget then fills and the worker pauses its socket (TCP backpressure).
 *
 * Run: `node dist/examples/echo-server.js --port 8080 --host 127.0.0.1 [--tls-key key.pem --tls-cert cert.pem]`
 * (prints its URL; SIGINT/SIGTERM close every peer with 1001 and the process exits on its own).
 * Or in-process: `startEchoServer({ port: 0 })` (what the tests do).
 */
import {
  ErrorCode,
  PeerPool,
  State,
  StreamPeerTLS,
  StreamPeerTLSStatus,
  WebSocketPeer,
  WriteMode,
  type Pem,
  type StreamPeerTCP,
} from '../src/index.js';
import { listenOrThrow, parseServerArgs, runIfMain, stopOnSignal } from './listen.js';

export interface EchoServerOptions {
  /** Port to listen on; 0 picks a free one (see `EchoServer.port`). Default 8080. */
  port?: number;
  /** Address to bind. Default "127.0.0.1"; "*" = every interface. */
  host?: string;
  /** Serve wss:// with this key and certificate chain (PEM). */
  tls?: { key: Pem; cert: Pem };
  /** Worker pool to use. Default: a pool of its own (`threads` workers), closed by `stop()`. */
  pool?: PeerPool;
  /** Workers of the pool it creates when `pool` is not given. Default: the PeerPool default. */
  threads?: number;
  /** Milliseconds between two ticks of the loop. Default 2. */
  tickMs?: number;
  /** Each peer's `supportedProtocols`. Default `["chat"]`. */
  supportedProtocols?: string[];
  /** Each peer's `handshakeHeaders` (added to the 101 response). Default none. */
  handshakeHeaders?: string[];
  /** Each peer's `inboundBufferSize` (largest message it accepts). Default the peer default (65535). */
  inboundBufferSize?: number;
  /** Each peer's `outboundBufferSize`. Must be ≥ the largest message echoed. Default the peer default. */
  outboundBufferSize?: number;
  /** Each peer's `maxQueuedPackets`. Default the peer default. */
  maxQueuedPackets?: number;
  /** Each peer's `perMessageDeflate` (compression). Default false. */
  perMessageDeflate?: WebSocketPeer['perMessageDeflate'];
  /** Most milliseconds `stop()` waits for the peers' closing handshakes. Default 3000. */
  stopTimeoutMs?: number;
  /** Called after `acceptStream(…)` returned OK (the peer is CONNECTING). `tls` is set for wss. */
  onAccept?: (peer: WebSocketPeer, tcp: StreamPeerTCP, tls: StreamPeerTLS | null) => void;
  /** Called when a peer is dropped from the list because it is CLOSED. */
  onClose?: (peer: WebSocketPeer) => void;
  /** wss: called after `StreamPeerTLS.acceptStream` returned OK (HANDSHAKING). */
  onTlsStart?: (tls: StreamPeerTLS, tcp: StreamPeerTCP) => void;
  /** wss: called when a TLS stream is dropped before reaching a peer (STATUS_ERROR…). */
  onTlsFail?: (tls: StreamPeerTLS, tcp: StreamPeerTCP) => void;
}

export interface EchoServer {
  /** The port listened on. */
  readonly port: number;
  /** ws://host:port or wss://host:port (with 127.0.0.1 for the wildcard addresses). */
  readonly url: string;
  /** Peers in the list (CONNECTING, OPEN or CLOSING). */
  readonly peers: number;
  /** TLS streams still handshaking. */
  readonly pendingTls: number;
  /** The pool in use. */
  readonly pool: PeerPool;
  /** The peers in the list, for inspection. */
  peerList(): WebSocketPeer[];
  /**
   * Stop listening, close every peer with 1001 ("going away"), keep polling until they are CLOSED (at
   * most `stopTimeoutMs`), then close the pool if it is the server's own. Idempotent.
   */
  stop(): Promise<void>;
}

interface Entry {
  peer: WebSocketPeer;
  /** A packet `send` refused (outbound full), retried first on the next tick. */
  held: Uint8Array | null;
  heldText: boolean;
}

interface PendingTls {
  tls: StreamPeerTLS;
  tcp: StreamPeerTCP;
}

/** Start the echo server; throws if it cannot listen. */
export function startEchoServer(options: EchoServerOptions = {}): EchoServer {
  const tickMs = options.tickMs ?? 2;
  const stopTimeoutMs = options.stopTimeoutMs ?? 3000;
  const { pool, ownPool, server, tlsOptions, port, url } = listenOrThrow(options, 'echo server');

  let entries: Entry[] = [];
  let tlsPending: PendingTls[] = [];

  const makePeer = (tcp: StreamPeerTCP, tls: StreamPeerTLS | null): void => {
    const peer = new WebSocketPeer({ pool });
    peer.supportedProtocols = options.supportedProtocols ?? ['chat'];
    if (options.handshakeHeaders !== undefined) peer.handshakeHeaders = options.handshakeHeaders;
    if (options.inboundBufferSize !== undefined) peer.inboundBufferSize = options.inboundBufferSize;
    if (options.outboundBufferSize !== undefined) peer.outboundBufferSize = options.outboundBufferSize;
    if (options.maxQueuedPackets !== undefined) peer.maxQueuedPackets = options.maxQueuedPackets;
    if (options.perMessageDeflate !== undefined) peer.perMessageDeflate = options.perMessageDeflate;
    if (peer.acceptStream(tls ?? tcp) !== ErrorCode.OK) {
      // The stream died meanwhile (e.g. its handshake deadline passed).
      if (tls !== null) tls.disconnectFromStream();
      else tcp.disconnectFromHost();
      return;
    }
    entries.push({ peer, held: null, heldText: false });
    options.onAccept?.(peer, tcp, tls);
  };

  /** Echo what `e.peer` received; stop at the first packet its outbound buffer refuses (kept for next tick). */
  const echo = (e: Entry): void => {
    const peer = e.peer;
    if (e.held !== null) {
      if (peer.send(e.held, e.heldText ? WriteMode.TEXT : WriteMode.BINARY) === ErrorCode.ERR_OUT_OF_MEMORY) return;
      e.held = null;
    }
    while (peer.getAvailablePacketCount() > 0) {
      const bytes = peer.getPacket();
      const text = peer.wasStringPacket();
      if (peer.send(bytes, text ? WriteMode.TEXT : WriteMode.BINARY) === ErrorCode.ERR_OUT_OF_MEMORY) {
        e.held = bytes;
        e.heldText = text;
        return;
      }
    }
  };

  const tick = (): void => {
    while (server.isConnectionAvailable()) {
      const tcp = server.takeConnection()!;
      if (tlsOptions === null) {
        makePeer(tcp, null);
        continue;
      }
      const tls = new StreamPeerTLS();
      if (tls.acceptStream(tcp, tlsOptions) !== ErrorCode.OK) {
        tcp.disconnectFromHost();
        continue;
      }
      tlsPending.push({ tls, tcp });
      options.onTlsStart?.(tls, tcp);
    }
    if (tlsPending.length !== 0) {
      const still: PendingTls[] = [];
      for (const p of tlsPending) {
        p.tls.poll();
        const s = p.tls.getStatus();
        if (s === StreamPeerTLSStatus.STATUS_HANDSHAKING) still.push(p);
        else if (s === StreamPeerTLSStatus.STATUS_CONNECTED) makePeer(p.tcp, p.tls);
        else options.onTlsFail?.(p.tls, p.tcp);
      }
      tlsPending = still;
    }
    for (const e of entries) {
      e.peer.poll();
      if (e.peer.getReadyState() === State.OPEN) echo(e);
    }
    if (entries.some((e) => e.peer.getReadyState() === State.CLOSED)) {
      entries = entries.filter((e) => {
        if (e.peer.getReadyState() !== State.CLOSED) return true;
        options.onClose?.(e.peer);
        return false;
      });
    }
  };

  const timer = setInterval(tick, tickMs);
  let stopping: Promise<void> | null = null;

  const stop = async (): Promise<void> => {
    clearInterval(timer);
    server.stop();
    for (const p of tlsPending) p.tls.disconnectFromStream();
    tlsPending = [];
    for (const e of entries) e.peer.close(1001, 'going away');
    const deadline = Date.now() + stopTimeoutMs;
    while (entries.length !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, tickMs));
      for (const e of entries) e.peer.poll();
      entries = entries.filter((e) => {
        if (e.peer.getReadyState() !== State.CLOSED) return true;
        options.onClose?.(e.peer);
        return false;
      });
    }
    // Whoever did not answer in time is dropped (close code -1).
    for (const e of entries) {
      e.peer.close(-1);
      options.onClose?.(e.peer);
    }
    entries = [];
    if (ownPool) await pool.close();
  };

  return {
    port,
    url,
    pool,
    get peers() {
      return entries.length;
    },
    get pendingTls() {
      return tlsPending.length;
    },
    peerList: () => entries.map((e) => e.peer),
    stop: () => (stopping ??= stop()),
  };
}

async function main(): Promise<void> {
  const a = parseServerArgs(['tick-ms']);
  const server = startEchoServer({
    port: a.port,
    host: a.host,
    ...(a.tls !== undefined ? { tls: a.tls } : {}),
    ...(a.threads !== undefined ? { threads: a.threads } : {}),
    ...(a.values['tick-ms'] !== undefined ? { tickMs: Number(a.values['tick-ms']) } : {}),
  });
  stopOnSignal('echo server', (signal) => `${signal}: closing ${server.peers} peer(s) with 1001`, () => server.stop());
  // Printed last: whoever reads the URL may signal us at once, so the handlers must be in place.
  console.log(`echo server listening on ${server.url}`);
}

runIfMain(import.meta.url, main);
