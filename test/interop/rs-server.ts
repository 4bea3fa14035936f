/**
 * A ringsocket server for the interop tests, written as the Godot server loop (TCPServer → [StreamPeerTLS] →
 * WebSocketPeer.acceptStream, poll every 1 ms). It keeps every packet each peer received (to check bytes on
 * the ringsocket side), echoes it with the same type, and records how each peer closed.
 */
import {
  ErrorCode,
  State,
  StreamPeerTLS,
  StreamPeerTLSStatus,
  TCPServer,
  TLSOptions,
  WebSocketPeer,
  WriteMode,
  type PeerPool,
  type StreamPeerTCP,
} from '../helpers/lib.js';

export interface ServerPeer {
  peer: WebSocketPeer;
  received: Array<{ text: boolean; bytes: Uint8Array }>;
  /** Set when the peer became CLOSED. */
  closed?: { code: number; reason: string; failure: string };
  /** Echoes `send` refused (outbound full), retried on the next tick. */
  held: Array<{ text: boolean; bytes: Uint8Array }>;
}

export interface RsServer {
  port: number;
  peers: ServerPeer[];
  /** TLS streams that failed their handshake (wss refused by the client). */
  tlsFailures: number;
  stop(): Promise<void>;
}

export function startRsServer(opts: { pool: PeerPool; tls?: { key: string; cert: string }; inboundBufferSize?: number; outboundBufferSize?: number; echo?: boolean; perMessageDeflate?: WebSocketPeer['perMessageDeflate'] }): RsServer {
  const server = new TCPServer({ pool: opts.pool });
  const err = server.listen(0, '127.0.0.1');
  if (err !== ErrorCode.OK) throw new Error(`listen: ${err}`);
  const tlsOptions = opts.tls ? TLSOptions.server(opts.tls.key, opts.tls.cert) : null;
  const pendingTls: Array<{ tls: StreamPeerTLS; tcp: StreamPeerTCP }> = [];
  const self: RsServer = { port: server.getLocalPort(), peers: [], tlsFailures: 0, stop };

  const accept = (stream: StreamPeerTCP | StreamPeerTLS): void => {
    const peer = new WebSocketPeer({ pool: opts.pool });
    if (opts.inboundBufferSize !== undefined) peer.inboundBufferSize = opts.inboundBufferSize;
    if (opts.outboundBufferSize !== undefined) peer.outboundBufferSize = opts.outboundBufferSize;
    if (opts.perMessageDeflate !== undefined) peer.perMessageDeflate = opts.perMessageDeflate;
    if (peer.acceptStream(stream) === ErrorCode.OK) self.peers.push({ peer, received: [], held: [] });
  };

  const tick = (): void => {
    while (server.isConnectionAvailable()) {
      const tcp = server.takeConnection()!;
      if (tlsOptions === null) accept(tcp);
      else {
        const tls = new StreamPeerTLS();
        if (tls.acceptStream(tcp, tlsOptions) === ErrorCode.OK) pendingTls.push({ tls, tcp });
      }
    }
    for (let i = pendingTls.length - 1; i >= 0; i--) {
      const p = pendingTls[i]!;
      p.tls.poll();
      const s = p.tls.getStatus();
      if (s === StreamPeerTLSStatus.STATUS_HANDSHAKING) continue;
      pendingTls.splice(i, 1);
      if (s === StreamPeerTLSStatus.STATUS_CONNECTED) accept(p.tls);
      else self.tlsFailures++;
    }
    for (const e of self.peers) {
      if (e.closed) continue;
      e.peer.poll();
      const st = e.peer.getReadyState();
      if (st === State.CLOSED) {
        e.closed = { code: e.peer.getCloseCode(), reason: e.peer.getCloseReason(), failure: e.peer.getFailureReason() };
        continue;
      }
      if (st !== State.OPEN) continue;
      while (e.peer.getAvailablePacketCount() > 0) {
        const bytes = e.peer.getPacket();
        const text = e.peer.wasStringPacket();
        e.received.push({ text, bytes });
        if (opts.echo !== false) e.held.push({ text, bytes });
      }
      while (e.held.length > 0) {
        const h = e.held[0]!;
        if (e.peer.send(h.bytes, h.text ? WriteMode.TEXT : WriteMode.BINARY) !== ErrorCode.OK) break;
        e.held.shift();
      }
    }
  };
  const timer = setInterval(tick, 1);

  async function stop(): Promise<void> {
    server.stop();
    for (const p of pendingTls) p.tls.disconnectFromStream();
    for (const e of self.peers) if (!e.closed) e.peer.close(1001);
    const deadline = Date.now() + 3000;
    while (self.peers.some((e) => !e.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    clearInterval(timer);
  }
  return self;
}
