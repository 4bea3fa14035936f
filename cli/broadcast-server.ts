/**
 * `ringsocket serve --mode broadcast`: every message received from any peer goes to every OPEN peer
 * (the sender included), with its type. Each peer joins one topic when it opens, and each message is
 * one `PeerPool.publish` to it: one record per I/O worker, framed once there and written to every
 * socket it holds (not one send per peer). A peer whose socket holds more than its outbound buffer
 * unwritten misses that message (`slowPeerPolicy` 'skip', counted by the workers as `fanoutSkipped`:
 * the "dropped" of the counters line). Listening and the URL come from examples/listen.ts (as for the
 * echo server); the accept loop is the Godot one: TCPServer → [StreamPeerTLS] → WebSocketPeer.acceptStream.
 *
 * `ringsocket serve --mode topic`: peers choose their topics. A text message `sub T` / `unsub T` joins /
 * leaves topic T (answered `subscribed T` / `unsubscribed T`), `pub T payload` publishes `payload` (text)
 * to T; a binary message [topic length: 1 byte][topic, UTF-8][payload] publishes the payload as binary.
 * Anything else is answered `error …`. With `--redis URL` (both modes) the pool publishes through a Redis
 * broker: topics span every `serve` process that shares the Redis server.
 */
import { ErrorCode, PeerPool, State, StreamPeerTLS, StreamPeerTLSStatus, TCPServer, TLSOptions, WebSocketPeer, WriteMode, type StreamPeerTCP } from '../src/index.js';
import { listenOrThrow } from '../examples/listen.js';

export interface RunningServer {
  readonly url: string;
  readonly peers: number;
  stop(): Promise<void>;
}

export interface BroadcastOptions {
  port: number;
  host: string;
  tlsPems: { key: string; cert: string } | null;
  protocols: string[];
  maxMessage: number;
  tickMs: number;
  pool: PeerPool;
  /** 'broadcast' (default): every peer joins one topic; 'topic': peers choose (see above). */
  mode?: 'broadcast' | 'topic';
  /** Each peer's perMessageDeflate (serve --deflate). */
  deflate?: boolean;
}

/** Takes what the server accepted, through a TLS handshake for wss://, and hands each stream to `makePeer`. */
class Acceptor {
  #pending: { tls: StreamPeerTLS; tcp: StreamPeerTCP }[] = [];

  constructor(
    readonly server: TCPServer,
    readonly tlsOptions: TLSOptions | null,
    readonly makePeer: (tcp: StreamPeerTCP, tls: StreamPeerTLS | null) => void,
  ) {}

  accept(): void {
    const { server, tlsOptions } = this;
    while (server.isConnectionAvailable()) {
      const tcp = server.takeConnection()!;
      if (tlsOptions === null) {
        this.makePeer(tcp, null);
        continue;
      }
      const tls = new StreamPeerTLS();
      if (tls.acceptStream(tcp, tlsOptions) !== ErrorCode.OK) tcp.disconnectFromHost();
      else this.#pending.push({ tls, tcp });
    }
    if (this.#pending.length !== 0) {
      this.#pending = this.#pending.filter((p) => {
        p.tls.poll();
        const s = p.tls.getStatus();
        if (s === StreamPeerTLSStatus.STATUS_CONNECTED) this.makePeer(p.tcp, p.tls);
        return s === StreamPeerTLSStatus.STATUS_HANDSHAKING;
      });
    }
  }

  /** Stop listening and drop the TLS handshakes under way. */
  stop(): void {
    this.server.stop();
    for (const p of this.#pending) p.tls.disconnectFromStream();
    this.#pending = [];
  }
}

/** The topic every peer of the server joins. */
const EVERYONE = 'ringsocket-serve-broadcast';

/** The fan-out: each packet of each OPEN peer, published to every OPEN peer (the sender included). */
function broadcast(pool: PeerPool, peers: readonly WebSocketPeer[]): void {
  for (const p of peers) {
    if (p.getReadyState() !== State.OPEN) continue;
    while (p.getAvailablePacketCount() > 0) {
      const bytes = p.getPacket();
      pool.publish(EVERYONE, bytes, p.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY);
    }
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** `--mode topic`: each packet of each OPEN peer is a command (see the header). */
function topicCommands(pool: PeerPool, peers: readonly WebSocketPeer[]): void {
  for (const p of peers) {
    if (p.getReadyState() !== State.OPEN) continue;
    while (p.getAvailablePacketCount() > 0) {
      const bytes = p.getPacket();
      if (!p.wasStringPacket()) {
        const n = bytes[0] ?? 0;
        if (bytes.length < 1 + n || n === 0) p.sendText('error binary: [topic length][topic][payload]');
        else pool.publish(decoder.decode(bytes.subarray(1, 1 + n)), bytes.subarray(1 + n), WriteMode.BINARY);
        continue;
      }
      const text = decoder.decode(bytes);
      const m = /^(sub|unsub|pub) (\S+)(?: ([\s\S]*))?$/.exec(text);
      if (m === null) {
        p.sendText('error expected: sub T | unsub T | pub T payload');
      } else if (m[1] === 'pub') {
        pool.publish(m[2]!, encoder.encode(m[3] ?? ''), WriteMode.TEXT);
      } else if (m[1] === 'sub') {
        const e = pool.subscribe(p, m[2]!);
        p.sendText(e === ErrorCode.OK || e === ErrorCode.ERR_ALREADY_EXISTS ? `subscribed ${m[2]!}` : `error subscribe ${e}`);
      } else {
        pool.unsubscribe(p, m[2]!);
        p.sendText(`unsubscribed ${m[2]!}`);
      }
    }
  }
}

export function startBroadcastServer(o: BroadcastOptions): RunningServer {
  const topicMode = o.mode === 'topic';
  const { server, tlsOptions, url } = listenOrThrow({ port: o.port, host: o.host, pool: o.pool, ...(o.tlsPems !== null ? { tls: o.tlsPems } : {}) }, 'broadcast server');
  let peers: WebSocketPeer[] = [];

  const makePeer = (tcp: StreamPeerTCP, tls: StreamPeerTLS | null): void => {
    const peer = new WebSocketPeer({ pool: o.pool });
    peer.supportedProtocols = o.protocols;
    peer.inboundBufferSize = o.maxMessage;
    peer.outboundBufferSize = Math.max(65535, o.maxMessage);
    if (o.deflate === true) peer.perMessageDeflate = true;
    if (peer.acceptStream(tls ?? tcp) !== ErrorCode.OK) {
      if (tls !== null) tls.disconnectFromStream();
      else tcp.disconnectFromHost();
      return;
    }
    peers.push(peer);
  };
  const acceptor = new Acceptor(server, tlsOptions, makePeer);

  const pollAll = (): void => {
    for (const p of peers) p.poll();
    if (peers.some((p) => p.getReadyState() === State.CLOSED)) peers = peers.filter((p) => p.getReadyState() !== State.CLOSED);
  };

  const joined = new WeakSet<WebSocketPeer>();
  const timer = setInterval(() => {
    acceptor.accept();
    pollAll();
    // Joining first: a peer that opened this tick gets the messages of this tick.
    if (topicMode) {
      topicCommands(o.pool, peers);
      return;
    }
    for (const p of peers) {
      if (p.getReadyState() === State.OPEN && !joined.has(p)) {
        joined.add(p);
        o.pool.subscribe(p, EVERYONE);
      }
    }
    broadcast(o.pool, peers);
  }, o.tickMs);
  let stopping: Promise<void> | null = null;
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    acceptor.stop();
    for (const p of peers) p.close(1001, 'going away');
    const deadline = Date.now() + 3000;
    while (peers.length !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, o.tickMs));
      pollAll();
    }
    // Whoever did not answer in time is dropped (close code -1).
    for (const p of peers) p.close(-1);
    peers = [];
  };
  return {
    url,
    get peers() {
      return peers.length;
    },
    stop: () => (stopping ??= stop()),
  };
}
