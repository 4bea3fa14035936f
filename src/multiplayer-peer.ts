/**
 * WebSocketMultiplayerPeer — Godot 4's many-peer class, with one `poll()` for all peers.
 *
 * Godot's `poll()` polls every peer and moves each one's packets into one list. Here the peers'
 * connections are a group (`EndpointGroup`): the pool's drain puts their packets straight into this
 * object's one queue, in arrival order, and puts a connection on the event list when it opens, closes or
 * asks for approval. So `poll()` costs one look at each worker's ring plus what arrived — not a visit to
 * each of 10,000 peers. Sending to every peer (target 0 or -n) is one topic publication: one record per
 * worker, framed once there (src/pool/topics.ts, workers/fanout.ts).
 *
 * Wire behaviour is Godot 4's (modules/websocket/websocket_multiplayer_peer.cpp): the server gives each
 * peer a random id in [2, 2^31 - 1] and sends it as the connection's first message (4 bytes,
 * little-endian int32); the client reports `peer_connected(1)` once that message came; every later
 * message is the application's bytes, unwrapped. A Godot client's WebSocketMultiplayerPeer can join.
 */
import { isUtf8 } from 'node:buffer';
import { randomInt } from 'node:crypto';
import { ConnectionStatus, ErrorCode, State, StreamPeerTLSStatus, WriteMode } from './enums.js';
import { getDefaultPool, poolEngine, type PeerPool } from './peer-pool.js';
import type { PoolEngine } from './pool/engine.js';
import type { Topic } from './pool/topics.js';
import type { TopicBroker } from './broker.js';
import { PacketQueue } from './packet-queue.js';
import { peerAccess } from './peer-access.js';
import type { EndpointGroup, PeerEndpoint } from './peer-endpoint.js';
import { WebSocketPeer } from './websocket-peer.js';
import { PeerSettings, copySettings } from './peer-settings.js';
import { TCPServer, type StreamPeerTCP } from './tcp-server.js';
import { StreamPeerTLS } from './stream-peer-tls.js';
import { TLSOptions } from './tls-options.js';
import { toBytes } from './validation.js';

export interface WebSocketMultiplayerPeerOptions {
  /** The worker pool that holds the connections. Default: the shared pool. */
  pool?: PeerPool;
}

/** The signals, as Godot names them. */
export type MultiplayerSignal = 'peer_connected' | 'peer_disconnected' | 'handshake_request';

const SIGNALS: readonly MultiplayerSignal[] = ['peer_connected', 'peer_disconnected', 'handshake_request'];
/** The id of the server, as every client sees it (Godot's TARGET_PEER_SERVER). */
const SERVER_ID = 1;

/** A peer of ours: handshaking (pending) or connected. */
interface Member {
  readonly id: number;
  readonly peer: WebSocketPeer;
  /** Its connection engine once started (the group's packets name it). */
  ep: PeerEndpoint | null;
  /** Server side, TLS: the stream still in its TLS handshake. */
  tls: StreamPeerTLS | null;
  /** When the handshake must be done (performance.now() ms). */
  deadline: number;
  connected: boolean;
  /** handshake_request was emitted for it (approval on). */
  requested: boolean;
}

export class WebSocketMultiplayerPeer extends PeerSettings {
  readonly #pool: PeerPool | null;
  #engine: PoolEngine | null = null;
  #status = ConnectionStatus.CONNECTION_DISCONNECTED;
  #uniqueId = 0;
  #targetPeer = 0;
  #server: TCPServer | null = null;
  #tls: TLSOptions | null = null;
  /** Connected peers by id (the client has one: the server, id 1). */
  readonly #peers = new Map<number, Member>();
  /** Peers whose handshake is not done, by id; and in the order they started (deadlines, in order). */
  readonly #pending = new Map<number, Member>();
  #pendingOrder: Member[] = [];
  #pendingHead = 0;
  /** Server side, TLS: members whose stream is in its TLS handshake. */
  readonly #tlsPending = new Set<Member>();
  /** Every packet of every peer, in arrival order. */
  readonly #queue = new PacketQueue<PeerEndpoint>(true);
  /** Connections with news since the last poll (see EndpointGroup). */
  #events: PeerEndpoint[] = [];
  readonly #group: EndpointGroup = { queue: this.#queue, noteEvent: (ep) => this.#events.push(ep) };
  /** "Every peer": the topic putPacket to 0 or -n publishes to. */
  #all: Topic | null = null;
  readonly #listeners = new Map<MultiplayerSignal, Set<(id: number) => void>>();
  #packetError = ErrorCode.OK;
  #lastPeer = SERVER_ID;
  #lastText = false;
  // Godot's properties of the multiplayer peer itself (the peers' settings: PeerSettings).
  #handshakeTimeout = 3;
  #refuse = false;

  constructor(options: WebSocketMultiplayerPeerOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    super();
    this.#pool = options.pool ?? null;
    for (const s of SIGNALS) this.#listeners.set(s, new Set());
  }

  // ---- properties ---------------------------------------------------------------------------------

  /** Godot `handshake_timeout` (seconds, default 3): a peer not connected by then is dropped. */
  get handshakeTimeout(): number {
    return this.#handshakeTimeout;
  }
  set handshakeTimeout(v: number) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`handshakeTimeout must be a number of seconds > 0, got ${String(v)}`);
    this.#handshakeTimeout = v;
  }

  /** Godot `refuse_new_connections`: a server drops new connections (and handshakes that end) while set. */
  get refuseNewConnections(): boolean {
    return this.#refuse;
  }
  set refuseNewConnections(v: boolean) {
    this.#refuse = Boolean(v);
  }

  // ---- signals ------------------------------------------------------------------------------------

  /**
   * Godot's `peer_connected(id)` / `peer_disconnected(id)`, and `handshake_request(id)` (not in Godot: see
   * `handshakeApproval`): called only inside `poll()`.
   */
  on(signal: MultiplayerSignal, fn: (id: number) => void): this {
    this.#signal(signal).add(fn);
    return this;
  }

  off(signal: MultiplayerSignal, fn: (id: number) => void): this {
    this.#signal(signal).delete(fn);
    return this;
  }

  #signal(name: MultiplayerSignal): Set<(id: number) => void> {
    const set = this.#listeners.get(name);
    if (set === undefined) throw new TypeError(`unknown signal ${String(name)}; signals: ${SIGNALS.join(', ')}`);
    if (typeof name !== 'string') throw new TypeError('signal must be a string');
    return set;
  }

  #emit(name: MultiplayerSignal, id: number): void {
    for (const fn of this.#listeners.get(name)!) fn(id);
  }

  // ---- starting -----------------------------------------------------------------------------------

  /**
   * Godot `create_server(port, bind_address = "*", tls_server_options = null)`: listen; this peer is
   * CONNECTED at once, with id 1.
   * @returns OK; ERR_ALREADY_IN_USE unless DISCONNECTED; ERR_INVALID_PARAMETER for client TLS options;
   *   TCPServer.listen's errors (ERR_CANT_CREATE: port taken…).
   */
  createServer(port: number, bindAddress = '*', tlsServerOptions?: TLSOptions | null): ErrorCode {
    if (this.#status !== ConnectionStatus.CONNECTION_DISCONNECTED) return ErrorCode.ERR_ALREADY_IN_USE;
    if (tlsServerOptions != null && (!(tlsServerOptions instanceof TLSOptions) || !tlsServerOptions.isServer())) return ErrorCode.ERR_INVALID_PARAMETER;
    const pool = this.#pool ?? getDefaultPool();
    const server = new TCPServer({ pool });
    const code = server.listen(port, bindAddress);
    if (code !== ErrorCode.OK) return code;
    this.#reset();
    this.#engine = poolEngine(pool);
    this.#server = server;
    this.#tls = tlsServerOptions ?? null;
    this.#all = this.#engine.topics.anonymous();
    this.#uniqueId = SERVER_ID;
    this.#status = ConnectionStatus.CONNECTION_CONNECTED;
    return ErrorCode.OK;
  }

  /**
   * Godot `create_client(url, tls_client_options = null)`: connect; CONNECTING until the server's id
   * message arrives (then `peer_connected(1)`), DISCONNECTED again if the connection fails or the
   * handshake timeout passes.
   * @returns OK; ERR_ALREADY_IN_USE unless DISCONNECTED; `WebSocketPeer.connectToUrl`'s errors.
   */
  createClient(url: string, tlsClientOptions?: TLSOptions | null): ErrorCode {
    if (this.#status !== ConnectionStatus.CONNECTION_DISCONNECTED) return ErrorCode.ERR_ALREADY_IN_USE;
    if (tlsClientOptions != null && (!(tlsClientOptions instanceof TLSOptions) || tlsClientOptions.isServer())) return ErrorCode.ERR_INVALID_PARAMETER;
    this.#reset();
    const pool = this.#pool ?? getDefaultPool();
    const m = this.#member(SERVER_ID);
    const code = m.peer.connectToUrl(url, tlsClientOptions);
    if (code !== ErrorCode.OK) return code;
    this.#engine = poolEngine(pool);
    this.#started(m);
    this.#status = ConnectionStatus.CONNECTION_CONNECTING;
    return ErrorCode.OK;
  }

  /** A WebSocketPeer configured as Godot's `_create_peer` does, in our group, named `id`. */
  #member(id: number): Member {
    const peer = new WebSocketPeer(this.#pool === null ? {} : { pool: this.#pool });
    copySettings(this, peer);
    peerAccess.setGroup(peer, this.#group, id);
    return { id, peer, ep: null, tls: null, deadline: performance.now() + this.#handshakeTimeout * 1000, connected: false, requested: false };
  }

  /** `m`'s handshake has begun: pending until it connects, fails or times out. */
  #started(m: Member): void {
    m.ep = peerAccess.endpoint(m.peer)?.ep ?? null;
    this.#pending.set(m.id, m);
    this.#pendingOrder.push(m);
  }

  // ---- poll ---------------------------------------------------------------------------------------

  /**
   * Godot `poll()`: take new connections, apply what happened to every peer (connected, gone), make the
   * packets that arrived readable, drop handshakes past their timeout. Costs O(workers + packets +
   * events): idle peers cost nothing. Signals are emitted here and only here.
   */
  poll(): void {
    if (this.#status === ConnectionStatus.CONNECTION_DISCONNECTED) return;
    const engine = this.#engine!;
    engine.pump();
    if (this.#server !== null) this.#accept();
    this.#applyEvents();
    this.#queue.reveal();
    if (this.#server === null && this.#status === ConnectionStatus.CONNECTION_CONNECTING) this.#readId();
    this.#expire();
    engine.flush();
  }

  /** Server: connections the workers accepted since the last poll. */
  #accept(): void {
    const server = this.#server!;
    while (server.isConnectionAvailable()) {
      const tcp = server.takeConnection()!;
      if (this.#refuse) {
        tcp.disconnectFromHost();
        continue;
      }
      const m = this.#member(this.#newId());
      if (this.#tls === null) {
        if (m.peer.acceptStream(tcp) === ErrorCode.OK) this.#started(m);
        else tcp.disconnectFromHost();
        continue;
      }
      this.#startTls(m, tcp);
    }
    if (this.#tlsPending.size !== 0) this.#pollTls();
  }

  #startTls(m: Member, tcp: StreamPeerTCP): void {
    const tls = new StreamPeerTLS();
    if (tls.acceptStream(tcp, this.#tls!) !== ErrorCode.OK) {
      tcp.disconnectFromHost();
      return;
    }
    m.tls = tls;
    this.#pending.set(m.id, m);
    this.#pendingOrder.push(m);
    this.#tlsPending.add(m);
  }

  /** Server, TLS: streams whose TLS handshake ended become WebSocket handshakes (or are dropped). */
  #pollTls(): void {
    for (const m of this.#tlsPending) {
      const tls = m.tls!;
      const st = tls.getStatus();
      if (st === StreamPeerTLSStatus.STATUS_HANDSHAKING) continue;
      this.#tlsPending.delete(m);
      m.tls = null;
      if (st === StreamPeerTLSStatus.STATUS_CONNECTED && m.peer.acceptStream(tls) === ErrorCode.OK) {
        m.ep = peerAccess.endpoint(m.peer)?.ep ?? null;
      } else {
        tls.disconnectFromStream();
        this.#pending.delete(m.id);
      }
    }
  }

  /** A random id in [2, 2^31 - 1] that no peer of ours has (Godot's generate_unique_id). */
  #newId(): number {
    for (;;) {
      const id = randomInt(2, 0x80000000);
      if (!this.#peers.has(id) && !this.#pending.has(id)) return id;
    }
  }

  /** Connections that opened, closed or were closed by us since the last poll. */
  #applyEvents(): void {
    const events = this.#events;
    if (events.length === 0) return;
    this.#events = [];
    for (const ep of events) {
      ep.eventQueued = false;
      const id = ep.groupId;
      const m = this.#pending.get(id) ?? this.#peers.get(id);
      if (m === undefined || m.ep !== ep) continue;
      peerAccess.sync(m.peer);
      const state = m.peer.getReadyState();
      if (!m.connected) {
        if (!m.requested && m.peer.hasPendingHandshake()) {
          m.requested = true;
          this.#emit('handshake_request', id);
        }
        if (state === State.OPEN) this.#opened(m);
        else if (state === State.CLOSED) this.#pending.delete(id);
        if (this.#server === null && state === State.CLOSED) this.#clientGone();
      } else if (state !== State.OPEN) {
        this.#disconnected(m);
      }
    }
  }

  /** A peer's WebSocket handshake completed. */
  #opened(m: Member): void {
    if (this.#server === null) return; // the client waits for its id (#readId)
    this.#pending.delete(m.id);
    if (this.#refuse) {
      m.peer.close(-1);
      return;
    }
    const id = new Uint8Array(4);
    new DataView(id.buffer).setInt32(0, m.id, true);
    if (m.peer.putPacket(id) !== ErrorCode.OK) {
      m.peer.close(-1);
      return;
    }
    m.connected = true;
    this.#peers.set(m.id, m);
    this.#engine!.topics.subscribe(m.ep!, this.#all!);
    this.#emit('peer_connected', m.id);
  }

  /**
   * A connected peer is closing or closed: gone for us (its packets already queued stay readable). As
   * in Godot, `getPeer(id)` still finds it inside the peer_disconnected handler.
   */
  #disconnected(m: Member): void {
    if (!m.connected) return;
    m.connected = false;
    if (this.#server === null) {
      this.#emit('peer_disconnected', SERVER_ID);
      this.#clientGone();
      return;
    }
    try {
      this.#emit('peer_disconnected', m.id);
    } finally {
      this.#peers.delete(m.id);
    }
  }

  /** Client: the first message of the connection is our id (Godot 4's handshake). */
  #readId(): void {
    const m = this.#pending.get(SERVER_ID);
    if (m === undefined || m.peer.getReadyState() !== State.OPEN || this.#queue.available() === 0) return;
    const q = this.#queue;
    const buf = new Uint8Array(4);
    const n = q.peekLength() === 4 ? q.takeInto(buf, 0) : -1;
    if (n === 4) {
      m.ep!.consumed(4);
      m.ep!.publishCredit();
    }
    const id = new DataView(buf.buffer).getInt32(0, true);
    if (n !== 4 || id < 2) {
      // Godot closes, and the close shows on a later poll as a failed connection.
      m.peer.close();
      return;
    }
    this.#uniqueId = id;
    this.#pending.delete(SERVER_ID);
    m.connected = true;
    this.#peers.set(SERVER_ID, m);
    this.#status = ConnectionStatus.CONNECTION_CONNECTED;
    this.#emit('peer_connected', SERVER_ID);
  }

  /** Client: the connection to the server is over; back to DISCONNECTED (Godot's _clear). */
  #clientGone(): void {
    this.#reset();
  }

  /** Handshakes past their deadline are dropped (deadlines come in the order the peers started). */
  #expire(): void {
    const order = this.#pendingOrder;
    if (this.#pendingHead === order.length) return;
    const now = performance.now();
    while (this.#pendingHead < order.length) {
      const m = order[this.#pendingHead]!;
      if (this.#pending.get(m.id) === m) {
        if (m.deadline > now) break;
        this.#pending.delete(m.id);
        this.#tlsPending.delete(m);
        if (m.tls !== null) m.tls.disconnectFromStream();
        m.peer.close(-1);
        if (this.#server === null) {
          this.#reset();
          return;
        }
      }
      this.#pendingHead++;
    }
    if (this.#pendingHead > 1024 && this.#pendingHead * 2 > order.length) {
      this.#pendingOrder = order.slice(this.#pendingHead);
      this.#pendingHead = 0;
    }
  }

  // ---- packets ------------------------------------------------------------------------------------

  /** Godot `get_available_packet_count()`: packets of every peer, as of the last `poll()`. */
  getAvailablePacketCount(): number {
    return this.#queue.available();
  }

  /**
   * Godot `get_packet()`: the next packet of any peer (`getPacketPeer()` then says whose). Empty with
   * `getPacketError()` ERR_UNAVAILABLE when none; ERR_UNCONFIGURED unless CONNECTED.
   */
  getPacket(): Uint8Array {
    if (!this.#canRead()) return new Uint8Array(0);
    const q = this.#queue;
    const text = q.nextIsText();
    const p = q.take();
    this.#took(text);
    return p;
  }

  /**
   * Not in Godot: `getPacket()` into `target` at `offset` without allocating; returns the length, or
   * minus it (the packet stays queued, `getPacketError()` ERR_OUT_OF_MEMORY) if it does not fit. 0 with
   * ERR_UNAVAILABLE / ERR_UNCONFIGURED when there is nothing to read.
   */
  getPacketInto(target: Uint8Array, offset = 0): number {
    if (!(target instanceof Uint8Array)) throw new TypeError('target must be a Uint8Array');
    if (!Number.isInteger(offset) || offset < 0 || offset > target.byteLength) throw new RangeError(`offset must be an integer in [0, ${target.byteLength}], got ${String(offset)}`);
    if (!this.#canRead()) return 0;
    const q = this.#queue;
    const text = q.nextIsText();
    const n = q.takeInto(target, offset);
    if (n < 0) {
      this.#packetError = ErrorCode.ERR_OUT_OF_MEMORY;
      return n;
    }
    this.#took(text);
    return n;
  }

  /** Not in Godot: the next packet's length, -1 when none is readable. */
  peekPacketLength(): number {
    return this.#queue.peekLength();
  }

  /** Not in Godot: the id of the peer the next packet came from (Godot's `get_packet_peer()`), 0 when none. */
  peekPacketPeer(): number {
    if (this.#queue.available() === 0) return 0;
    return this.#idOf(this.#queue.nextSource());
  }

  #canRead(): boolean {
    if (this.#status !== ConnectionStatus.CONNECTION_CONNECTED) {
      this.#packetError = ErrorCode.ERR_UNCONFIGURED;
      return false;
    }
    if (this.#queue.available() === 0) {
      this.#packetError = ErrorCode.ERR_UNAVAILABLE;
      return false;
    }
    return true;
  }

  /** A packet was taken: whose, its credit back to its worker. */
  #took(text: boolean): void {
    const q = this.#queue;
    const ep = q.lastSource!;
    ep.consumed(q.lastLength);
    ep.publishCredit();
    this.#lastPeer = this.#idOf(ep);
    this.#lastText = text;
    this.#packetError = ErrorCode.OK;
  }

  #idOf(ep: PeerEndpoint | undefined): number {
    if (ep === undefined) return 0;
    return this.#server === null ? SERVER_ID : ep.groupId;
  }

  /**
   * The id of the peer the packet last taken (`getPacket`/`getPacketInto`) came from. Godot's
   * `get_packet_peer()` names the NEXT packet's sender; here it describes the packet last taken, like
   * `wasStringPacket()` — one rule for both, and right after `getPacketInto`. `peekPacketPeer()` is
   * Godot's meaning.
   */
  getPacketPeer(): number {
    return this.#lastPeer;
  }

  /** Whether the packet last taken arrived as text. */
  wasStringPacket(): boolean {
    return this.#lastText;
  }

  /** Godot `get_packet_error()` (of the last `getPacket`/`getPacketInto`). */
  getPacketError(): ErrorCode {
    return this.#packetError;
  }

  /** Godot `put_packet(buffer)`: `send(data, WriteMode.BINARY)`. */
  putPacket(data: Uint8Array | ArrayBufferView | ArrayBuffer): ErrorCode {
    return this.send(data, WriteMode.BINARY);
  }

  /**
   * Godot `put_packet` to the target peer (`setTargetPeer`), with a write mode: a server sends to peer n
   * (n > 0), to every peer (0), or to every peer but n (-n) — the last two as one publication framed
   * once per worker; a client sends to the server whatever the target.
   * @returns OK; ERR_UNCONFIGURED unless CONNECTED; ERR_INVALID_PARAMETER for an unknown target peer,
   *   TEXT bytes that are not UTF-8 or a bad write mode; the target `WebSocketPeer.send`'s codes (n > 0).
   */
  send(data: Uint8Array | ArrayBufferView | ArrayBuffer, writeMode: WriteMode = WriteMode.BINARY): ErrorCode {
    const bytes = toBytes(data);
    if (this.#status !== ConnectionStatus.CONNECTION_CONNECTED) return ErrorCode.ERR_UNCONFIGURED;
    if (this.#server === null) return this.#peers.get(SERVER_ID)!.peer.send(bytes, writeMode);
    const target = this.#targetPeer;
    if (target > 0) {
      const m = this.#peers.get(target);
      return m === undefined ? ErrorCode.ERR_INVALID_PARAMETER : m.peer.send(bytes, writeMode);
    }
    if (writeMode !== WriteMode.BINARY && writeMode !== WriteMode.TEXT) return ErrorCode.ERR_INVALID_PARAMETER;
    if (writeMode === WriteMode.TEXT && !isUtf8(bytes)) return ErrorCode.ERR_INVALID_PARAMETER;
    const exclude = target < 0 ? (this.#peers.get(-target)?.ep ?? null) : null;
    this.#engine!.topics.publish(this.#all!, writeMode === WriteMode.TEXT, bytes, exclude);
    return ErrorCode.OK;
  }

  /** Godot `set_target_peer(id)`: 0 every peer, n > 0 peer n, -n every peer but n. */
  setTargetPeer(id: number): void {
    if (!Number.isInteger(id) || id < -0x7fffffff || id > 0x7fffffff) throw new TypeError(`target peer must be an int32, got ${String(id)}`);
    this.#targetPeer = id;
  }

  getTargetPeer(): number {
    return this.#targetPeer;
  }

  // ---- topics (not in Godot) ----------------------------------------------------------------------

  /**
   * Make peer `id` (connected) a subscriber of `topic` (`PeerPool.subscribe`). It leaves all topics
   * when it disconnects. @returns as PeerPool.subscribe; ERR_DOES_NOT_EXIST for an unknown id.
   */
  subscribe(id: number, topic: string): ErrorCode {
    const m = this.#peers.get(id);
    if (m === undefined) return ErrorCode.ERR_DOES_NOT_EXIST;
    return this.#poolOf().subscribe(m.peer, topic);
  }

  /** Peer `id` leaves `topic`. @returns as PeerPool.unsubscribe; ERR_DOES_NOT_EXIST for an unknown id. */
  unsubscribe(id: number, topic: string): ErrorCode {
    const m = this.#peers.get(id);
    if (m === undefined) return ErrorCode.ERR_DOES_NOT_EXIST;
    return this.#poolOf().unsubscribe(m.peer, topic);
  }

  /** Send to every subscriber of `topic` (`PeerPool.publish`): the number of peers it was queued for. */
  publish(topic: string, data: Uint8Array | ArrayBufferView | ArrayBuffer, writeMode: WriteMode = WriteMode.BINARY): number {
    return this.#poolOf().publish(topic, data, writeMode);
  }

  /** Topics across nodes through a broker (`PeerPool.useBroker`), on this peer's pool. */
  useBroker(broker: TopicBroker | PromiseLike<TopicBroker> | null): Promise<void> {
    return this.#poolOf().useBroker(broker);
  }

  /** Subscribers of `topic` in this peer's pool. */
  getSubscriberCount(topic: string): number {
    return this.#poolOf().getSubscriberCount(topic);
  }

  /**
   * Publications (sends to several peers, `publish`) this peer's pool's I/O workers have not yet written
   * (`PeerPool.getPublishBacklog`): a tick loop can skip a snapshot while it is above 0.
   */
  getPublishBacklog(): number {
    return this.#poolOf().getPublishBacklog();
  }

  #poolOf(): PeerPool {
    return this.#pool ?? getDefaultPool();
  }

  // ---- approval (not in Godot) -------------------------------------------------------------------

  /** Accept peer `id`'s pending upgrade request (see `handshakeApproval`). Codes as `WebSocketPeer.acceptHandshake`; ERR_DOES_NOT_EXIST for an unknown id. */
  acceptHandshake(id: number): ErrorCode {
    const m = this.#pending.get(id);
    return m === undefined ? ErrorCode.ERR_DOES_NOT_EXIST : m.peer.acceptHandshake();
  }

  /**
   * Refuse peer `id`'s pending upgrade request with an HTTP `status` (400–599) and `reason` as the body;
   * the peer is forgotten at once, no signal. Codes as `WebSocketPeer.rejectHandshake`; ERR_DOES_NOT_EXIST
   * for an unknown id.
   */
  rejectHandshake(id: number, status = 403, reason = ''): ErrorCode {
    const m = this.#pending.get(id);
    if (m === undefined) return ErrorCode.ERR_DOES_NOT_EXIST;
    const code = m.peer.rejectHandshake(status, reason);
    if (code === ErrorCode.OK) this.#pending.delete(id);
    return code;
  }

  // ---- peers --------------------------------------------------------------------------------------

  /** Godot `get_peer(id)`: the peer's `WebSocketPeer` (connected, or handshaking on a server), or null. */
  getPeer(id: number): WebSocketPeer | null {
    return (this.#peers.get(id) ?? this.#pending.get(id))?.peer ?? null;
  }

  /** Godot `get_peer_address(id)` ("" for an unknown id). */
  getPeerAddress(id: number): string {
    return this.#peers.get(id)?.peer.getConnectedHost() ?? '';
  }

  /** Godot `get_peer_port(id)` (0 for an unknown id). */
  getPeerPort(id: number): number {
    return this.#peers.get(id)?.peer.getConnectedPort() ?? 0;
  }

  /**
   * Godot `disconnect_peer(id, force = false)`: close the peer (1000). Without `force`,
   * `peer_disconnected(id)` follows on the next poll; with it, the peer is forgotten at once, no signal
   * (and a client is DISCONNECTED at once).
   */
  disconnectPeer(id: number, force = false): void {
    const m = this.#peers.get(id);
    if (m === undefined) return;
    m.peer.close();
    if (!force) {
      const ep = m.ep!;
      if (!ep.eventQueued) {
        ep.eventQueued = true;
        this.#events.push(ep);
      }
      return;
    }
    this.#peers.delete(id);
    m.connected = false;
    if (this.#server === null) this.#reset();
  }

  /** Godot `get_unique_id()`: 1 for a server, the id the server gave for a client, 0 when DISCONNECTED. */
  getUniqueId(): number {
    return this.#uniqueId;
  }

  /** Godot `get_connection_status()`. */
  getConnectionStatus(): ConnectionStatus {
    return this.#status;
  }

  /** Godot `get_max_packet_size()`: the outbound buffer of a peer. */
  getMaxPacketSize(): number {
    return this.outboundBufferSize;
  }

  /** Not in Godot: a server's bound port (useful after `createServer(0)`); 0 otherwise. */
  getLocalPort(): number {
    return this.#server?.getLocalPort() ?? 0;
  }

  /** Godot `is_server()`. */
  isServer(): boolean {
    return this.#server !== null;
  }

  /**
   * Godot `close()`: stop listening, close every peer (1001 going away; Godot drops them without a close
   * frame — a clean close costs nothing here: the workers finish it), forget every packet; DISCONNECTED.
   * No signal is emitted.
   */
  close(): void {
    this.#reset();
  }

  #reset(): void {
    for (const m of this.#peers.values()) this.#let(m, 1001);
    for (const m of this.#pending.values()) this.#let(m, -1);
    this.#peers.clear();
    this.#pending.clear();
    this.#tlsPending.clear();
    this.#pendingOrder = [];
    this.#pendingHead = 0;
    this.#events = [];
    this.#queue.clear();
    this.#server?.stop();
    this.#server = null;
    this.#tls = null;
    this.#all = null;
    this.#uniqueId = 0;
    this.#status = ConnectionStatus.CONNECTION_DISCONNECTED;
  }

  /** Close `m` and detach it from us (its late packets and events go to its own peer, unread). */
  #let(m: Member, code: number): void {
    if (m.tls !== null) m.tls.disconnectFromStream();
    if (m.ep !== null) m.ep.group = null;
    m.peer.close(code);
  }
}
