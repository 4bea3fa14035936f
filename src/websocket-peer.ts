/**
 * WebSocketPeer — Godot 4's `WebSocketPeer`, poll-based, with the socket work in worker threads.
 *
 * ```
 *            connectToUrl / acceptStream          handshake done (seen on poll)
 *  CLOSED ───────────────────────────────► CONNECTING ─────────────────────► OPEN
 *    ▲  ▲                                       │ close(any) / failure            │ close(code ≥ 0)
 *    │  └───────────────────────────────────────┘                                 ▼
 *    │        peer's close frame, TCP drop, close(negative), close timeout     CLOSING
 *    └──────────────────────────────────────────────────────────────────────────────┘
 * ```
 * Nothing changes between two `poll()` calls except what the caller does itself: `close()` moves to
 * CLOSING (or CLOSED) at once, `getPacket()` consumes. Everything that comes from the network — the
 * handshake's end, messages, the peer's close — becomes visible on `poll()`.
 *
 * Hot-path calls (`send`, `getPacket`, `poll`…) return error codes and never throw for runtime
 * conditions; passing a wrong type or an invalid configuration value throws a TypeError at once.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCode, State, WriteMode } from './enums.js';
import { peerAccess } from './peer-access.js';
import { deflateWire, PeerSettings, settingsOf } from './peer-settings.js';
import { TLSOptions } from './tls-options.js';
import { getDefaultPool, poolEngine, type PeerPool } from './peer-pool.js';
import type { PoolEngine } from './pool/engine.js';
import type { WorkerLink } from './pool/link.js';
import { ARRIVED_CLOSED, ARRIVED_OPEN, PeerEndpoint, type EndpointGroup } from './peer-endpoint.js';
import { CMD_ACCEPT, CMD_CLOSE, CMD_CONNECT, CMD_HEARTBEAT, CMD_NO_DELAY, CMD_SEND_BINARY, CMD_SEND_TEXT } from './protocol/records.js';
import { encodeJson, requestHeaders, type AcceptConfig, type ConnectConfig, type RequestInfo } from './protocol/control.js';
import { lookupStream } from './stream-ref.js';
import type { StreamPeerTCP } from './tcp-server.js';
import type { StreamPeerTLS } from './stream-peer-tls.js';
import { isValidCloseCode, isToken, parseHeaderLine, toBytes } from './validation.js';

export interface WebSocketPeerOptions {
  /** The worker pool that holds this peer's connections. Default: a shared pool created on first use. */
  pool?: PeerPool;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const MAX_CLOSE_REASON_BYTES = 123;
/** Most UTF-8 bytes of a `rejectHandshake` reason (the body of the HTTP refusal). */
const MAX_REJECT_REASON_BYTES = 1024;

export class WebSocketPeer extends PeerSettings {
  readonly #pool: PeerPool | null;
  /** The engine of the pool that holds the current connection (set when one starts). */
  #engine: PoolEngine | null = null;
  #ep: PeerEndpoint | null = null;
  #state: State = State.CLOSED;
  #closeCode = -1;
  #closeReason = '';
  #failure = '';
  #protocol = '';
  #extensions = '';
  #host = '';
  #port = 0;
  #url = '';
  #packetError: ErrorCode = ErrorCode.OK;
  #wasString = false;
  #noDelay = true;
  /** Approval on: the upgrade request, as of the poll that saw it (kept for the connection's life). */
  #request: RequestInfo | null = null;
  /** The request is shown and not answered yet. */
  #pendingHandshake = false;
  // Configuration (Godot properties). Read when a connection starts.
  #heartbeatInterval = 0;
  // The limits in force for the current connection (snapshotted at connect).
  #outLimitBytes = 65535;
  #outLimitMsgs = 4096;
  /** A WebSocketMultiplayerPeer's shared queue and event list, for connections started from now on. */
  #group: EndpointGroup | null = null;
  #groupId = 0;

  static {
    peerAccess.endpoint = (p) => (p instanceof WebSocketPeer && p.#ep !== null ? { ep: p.#ep, engine: p.#engine! } : null);
    peerAccess.setGroup = (p, g, id) => {
      if (!(p instanceof WebSocketPeer)) return;
      p.#group = g;
      p.#groupId = id;
    };
    peerAccess.sync = (p) => {
      if (p instanceof WebSocketPeer && p.#ep !== null && !p.#ep.detached) p.#sync(p.#ep);
    };
  }

  constructor(options: WebSocketPeerOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    super();
    this.#pool = options.pool ?? null;
  }

  // ---- properties ---------------------------------------------------------------------------------

  /**
   * Godot `heartbeat_interval` (default `0`): seconds between automatic pings; 0 sends none.
   * Applies live to an open connection (as in Godot). A peer from which no frame at all (data, ping,
   * pong) arrives for two whole intervals is dropped: CLOSED with close code -1.
   */
  get heartbeatInterval(): number {
    return this.#heartbeatInterval;
  }
  set heartbeatInterval(v: number) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`heartbeatInterval must be a finite number >= 0, got ${String(v)}`);
    this.#heartbeatInterval = v;
    const ep = this.#ep;
    if (ep !== null && !ep.detached && this.#state !== State.CLOSED) ep.command(CMD_HEARTBEAT, this.#heartbeatMs(), null);
  }

  #heartbeatMs(): number {
    return Math.min(0x7fffffff, Math.round(this.#heartbeatInterval * 1000));
  }

  // ---- connection ---------------------------------------------------------------------------------

  /**
   * Godot `connect_to_url(url, tls_client_options = null)`. Non-blocking: the peer is CONNECTING and
   * later OPEN or CLOSED as seen through `poll()`. A URL without a scheme is taken as `ws://`.
   * @returns OK; ERR_ALREADY_IN_USE when not CLOSED; ERR_INVALID_PARAMETER for a bad URL, scheme, TLS
   *   options, handshake header or protocol name; ERR_UNAVAILABLE when the pool is closed or broken.
   */
  connectToUrl(url: string, tlsOptions?: TLSOptions | null): ErrorCode {
    if (this.#state !== State.CLOSED) return ErrorCode.ERR_ALREADY_IN_USE;
    if (typeof url !== 'string') return ErrorCode.ERR_INVALID_PARAMETER;
    let text = url.trim();
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text)) text = `ws://${text}`;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return ErrorCode.ERR_INVALID_PARAMETER;
    }
    if ((parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') || parsed.hostname === '') return ErrorCode.ERR_INVALID_PARAMETER;
    if (tlsOptions != null && (!(tlsOptions instanceof TLSOptions) || tlsOptions.isServer())) return ErrorCode.ERR_INVALID_PARAMETER;
    const headers: [string, string][] = [];
    for (const line of settingsOf(this).handshakeHeaders) {
      const h = parseHeaderLine(line);
      if (h === null) return ErrorCode.ERR_INVALID_PARAMETER;
      headers.push(h);
    }
    const protocols = settingsOf(this).supportedProtocols;
    if (protocols.some((p) => !isToken(p)) || new Set(protocols).size !== protocols.length) return ErrorCode.ERR_INVALID_PARAMETER;

    const tls =
      parsed.protocol === 'wss:'
        ? {
            ...(tlsOptions?.trustedChain !== undefined ? { ca: tlsOptions.trustedChain } : {}),
            ...(tlsOptions?.commonNameOverride ? { servername: tlsOptions.commonNameOverride } : {}),
            unsafe: tlsOptions?.isUnsafe() ?? false,
          }
        : null;
    const cfg: ConnectConfig = {
      url: parsed.href,
      protocols: protocols.slice(),
      headers,
      tls,
      inboundBufferSize: settingsOf(this).inboundBufferSize,
      maxQueuedPackets: settingsOf(this).maxQueuedPackets,
      heartbeatMs: this.#heartbeatMs(),
      noDelay: this.#noDelay,
      outboundBufferSize: settingsOf(this).outboundBufferSize,
      slowPeerPolicy: settingsOf(this).slowPeerPolicy === 'close' ? 1 : 0,
    };
    const deflate = deflateWire(settingsOf(this));
    if (deflate !== undefined) cfg.deflate = deflate;
    return this.#start(poolEngine(this.#pool ?? getDefaultPool()), undefined, url, CMD_CONNECT, encodeJson(cfg));
  }

  /**
   * Godot `accept_stream(stream)`: become the server side of a connection taken from a `TCPServer`
   * (or of a `StreamPeerTLS` whose handshake completed). The worker that holds the socket reads and
   * validates the HTTP upgrade with this peer's `supportedProtocols`, `handshakeHeaders` (added to the
   * 101 answer) and buffer sizes; bad requests get a 4xx and are closed. CONNECTING, then OPEN or CLOSED
   * as seen through `poll()`.
   * @returns OK; ERR_ALREADY_IN_USE when not CLOSED; ERR_INVALID_PARAMETER when `stream` is not a
   *   connected stream from a TCPServer (or a connected StreamPeerTLS), or a header line is invalid.
   */
  acceptStream(stream: StreamPeerTCP | StreamPeerTLS): ErrorCode {
    if (this.#state !== State.CLOSED) return ErrorCode.ERR_ALREADY_IN_USE;
    const ref = lookupStream(stream);
    if (ref === undefined || !ref.usable()) return ErrorCode.ERR_INVALID_PARAMETER;
    if (this.#pool !== null && poolEngine(this.#pool) !== ref.engine) return ErrorCode.ERR_INVALID_PARAMETER;
    const headers: [string, string][] = [];
    for (const line of settingsOf(this).handshakeHeaders) {
      const h = parseHeaderLine(line);
      if (h === null) return ErrorCode.ERR_INVALID_PARAMETER;
      headers.push(h);
    }
    const cfg: AcceptConfig = {
      streamId: ref.id,
      protocols: settingsOf(this).supportedProtocols.slice(),
      headers,
      inboundBufferSize: settingsOf(this).inboundBufferSize,
      maxQueuedPackets: settingsOf(this).maxQueuedPackets,
      heartbeatMs: this.#heartbeatMs(),
      noDelay: this.#noDelay,
      outboundBufferSize: settingsOf(this).outboundBufferSize,
      slowPeerPolicy: settingsOf(this).slowPeerPolicy === 'close' ? 1 : 0,
    };
    if (settingsOf(this).handshakeApproval) cfg.approval = true;
    const deflate = deflateWire(settingsOf(this));
    if (deflate !== undefined) cfg.deflate = deflate;
    const code = this.#start(ref.engine, ref.link, '', CMD_ACCEPT, encodeJson(cfg));
    if (code === ErrorCode.OK) ref.consume();
    return code;
  }

  #start(engine: PoolEngine, into: WorkerLink | undefined, url: string, cmd: number, config: Uint8Array): ErrorCode {
    const ep = new PeerEndpoint();
    ep.group = this.#group;
    ep.groupId = this.#groupId;
    // Reset what the previous connection left (Godot clears received packets on a new connection).
    this.#ep = null;
    this.#closeCode = -1;
    this.#closeReason = '';
    this.#failure = '';
    this.#protocol = '';
    this.#extensions = '';
    this.#host = '';
    this.#port = 0;
    this.#url = url;
    this.#packetError = ErrorCode.OK;
    this.#wasString = false;
    this.#request = null;
    this.#pendingHandshake = false;
    if (!engine.attach(ep, into)) {
      this.#failure = engine.brokenReason;
      return ErrorCode.ERR_UNAVAILABLE;
    }
    this.#engine = engine;
    this.#ep = ep;
    this.#outLimitBytes = settingsOf(this).outboundBufferSize;
    this.#outLimitMsgs = settingsOf(this).maxQueuedPackets;
    this.#state = State.CONNECTING;
    ep.command(cmd, 0, config);
    return ErrorCode.OK;
  }

  /**
   * Godot `poll()`: collect what the workers prepared — handshake result, messages, the peer's close —
   * and make it visible to the getters. Call it regularly (every tick); keep polling until CLOSED to
   * close cleanly. Cost when nothing happened: one atomic load per worker.
   */
  poll(): void {
    const ep = this.#ep;
    if (ep === null) return;
    const engine = this.#engine!;
    engine.pump();
    if (!ep.detached) {
      this.#sync(ep);
      ep.reveal();
      ep.publishCredit();
    }
    engine.flush();
  }

  /** Show what the worker reported (a request to approve, the handshake's end, the close) in the peer's state. */
  #sync(ep: PeerEndpoint): void {
    const req = ep.requestInfo;
    if (req !== null) {
      ep.requestInfo = null;
      if (this.#state === State.CONNECTING) {
        this.#request = req;
        this.#pendingHandshake = true;
        this.#host = req.host;
        this.#port = req.port;
        this.#url = req.url;
      }
    }
    if (ep.arrived === ARRIVED_OPEN || (ep.arrived === ARRIVED_CLOSED && ep.openInfo !== null)) {
      if (this.#state === State.CONNECTING) {
        const info = ep.openInfo!;
        // Copied out: the endpoint need not keep it for the connection's life.
        ep.openInfo = null;
        this.#state = State.OPEN;
        this.#protocol = info.protocol;
        this.#extensions = info.extensions ?? '';
        this.#host = info.host;
        this.#port = info.port;
        if (info.url !== undefined) this.#url = info.url;
      }
    }
    if (ep.arrived === ARRIVED_CLOSED && this.#state !== State.CLOSED) {
      this.#pendingHandshake = false;
      this.#state = State.CLOSED;
      this.#closeCode = ep.closeCode;
      this.#closeReason = ep.closeInfo?.reason ?? '';
      this.#failure = ep.closeInfo?.error ?? '';
    }
  }

  /** Godot `get_ready_state()`. */
  getReadyState(): State {
    return this.#state;
  }

  /** Godot `get_available_packet_count()`: complete messages waiting (as of the last `poll()`). */
  getAvailablePacketCount(): number {
    return this.#ep === null ? 0 : this.#ep.available();
  }

  /**
   * Godot `get_packet()`: the next message, as a `Uint8Array` the caller owns (a copy nothing else writes;
   * 65 B–16 KiB packets are views into a shared 64 KiB slab, see README "Behaviour details") (text messages as
   * their UTF-8 bytes; see `wasStringPacket()`). With none waiting: an empty array and
   * `getPacketError()` = ERR_UNAVAILABLE. Frees room in the inbound budget at once.
   */
  getPacket(): Uint8Array {
    const ep = this.#ep;
    if (ep === null || ep.visibleTail === ep.head) {
      this.#packetError = ErrorCode.ERR_UNAVAILABLE;
      return new Uint8Array(0);
    }
    this.#wasString = ep.nextIsText();
    this.#packetError = ErrorCode.OK;
    return ep.take();
  }

  /**
   * Not in Godot: the next message's length in bytes (as of the last `poll()`), -1 when none is waiting.
   * Allocates nothing.
   */
  peekPacketLength(): number {
    const ep = this.#ep;
    return ep === null ? -1 : ep.peekLength();
  }

  /**
   * Not in Godot: `getPacket()` without the allocation — copy the next message into `target` at `offset`
   * and return its length (`wasStringPacket()` then describes it). If it does not fit in
   * `target.byteLength - offset` bytes, returns minus its length and the message stays queued (grow the
   * buffer, call again; `getPacketError()` is ERR_OUT_OF_MEMORY meanwhile). With none waiting: 0 and
   * `getPacketError()` ERR_UNAVAILABLE (an empty message is 0 too, with OK: check the count or
   * `peekPacketLength()` first). Nothing is allocated on the main thread.
   */
  getPacketInto(target: Uint8Array, offset = 0): number {
    if (!(target instanceof Uint8Array)) throw new TypeError('target must be a Uint8Array');
    if (!Number.isInteger(offset) || offset < 0 || offset > target.byteLength) throw new RangeError(`offset must be an integer in [0, ${target.byteLength}], got ${String(offset)}`);
    const ep = this.#ep;
    if (ep === null || ep.visibleTail === ep.head) {
      this.#packetError = ErrorCode.ERR_UNAVAILABLE;
      return 0;
    }
    const text = ep.nextIsText();
    const n = ep.takeInto(target, offset);
    if (n < 0) {
      this.#packetError = ErrorCode.ERR_OUT_OF_MEMORY;
      return n;
    }
    this.#wasString = text;
    this.#packetError = ErrorCode.OK;
    return n;
  }

  /**
   * Not in Godot: topic publications this peer missed because its outbound budget was full when they
   * reached it (`slowPeerPolicy` 'skip'), over its current connection.
   */
  getSkippedPacketCount(): number {
    const ep = this.#ep;
    return ep === null ? 0 : ep.skipped();
  }

  /** Godot `get_packet_error()`: OK after a successful `getPacket`, ERR_UNAVAILABLE after an empty one. */
  getPacketError(): ErrorCode {
    return this.#packetError;
  }

  /** Godot `was_string_packet()`: whether the message last returned by `getPacket` arrived as text. */
  wasStringPacket(): boolean {
    return this.#wasString;
  }

  /**
   * Godot `send(message, write_mode = BINARY)`. The bytes are copied; the caller may reuse `data`.
   * @returns OK; FAILED when not OPEN; ERR_INVALID_PARAMETER for TEXT bytes that are not UTF-8 or an
   *   unknown write mode; ERR_OUT_OF_MEMORY when `outboundBufferSize` bytes or `maxQueuedPackets`
   *   messages would be passed (the message is refused whole, the connection stays usable).
   */
  send(data: Uint8Array | ArrayBufferView | ArrayBuffer, writeMode: WriteMode = WriteMode.BINARY): ErrorCode {
    const bytes = toBytes(data);
    if (writeMode !== WriteMode.BINARY && writeMode !== WriteMode.TEXT) return ErrorCode.ERR_INVALID_PARAMETER;
    if (this.#state !== State.OPEN) return ErrorCode.FAILED;
    if (writeMode === WriteMode.TEXT && !isUtf8(bytes)) return ErrorCode.ERR_INVALID_PARAMETER;
    return this.#enqueue(bytes, writeMode === WriteMode.TEXT ? CMD_SEND_TEXT : CMD_SEND_BINARY);
  }

  /** Godot `send_text(message)`: send a string as a UTF-8 text message. Codes as `send`. */
  sendText(text: string): ErrorCode {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    if (this.#state !== State.OPEN) return ErrorCode.FAILED;
    return this.#enqueue(encoder.encode(text), CMD_SEND_TEXT);
  }

  /** Godot `put_packet(buffer)`: `send(bytes, WriteMode.BINARY)`. */
  putPacket(bytes: Uint8Array | ArrayBufferView | ArrayBuffer): ErrorCode {
    return this.send(bytes, WriteMode.BINARY);
  }

  #enqueue(bytes: Uint8Array, kind: number): ErrorCode {
    // FAILED if the worker closed the connection (not yet seen by poll): the slot is no longer ours.
    return this.#ep!.trySend(kind, bytes, this.#outLimitBytes, this.#outLimitMsgs);
  }

  /**
   * Godot `close(code = 1000, reason = "")`. OPEN: sends a close frame and becomes CLOSING, then CLOSED
   * when the peer answers (or after the pool's `closeTimeout`, default 5 s, with code -1). CONNECTING,
   * or a negative code: dropped at once, CLOSED, code -1. Already CLOSING/CLOSED: nothing (OK).
   * @returns OK, or ERR_INVALID_PARAMETER (nothing sent) for a code a sender may not use (RFC 6455
   *   §7.4.1) or a reason longer than 123 UTF-8 bytes.
   */
  close(code = 1000, reason = ''): ErrorCode {
    if (typeof code !== 'number' || !Number.isInteger(code)) return ErrorCode.ERR_INVALID_PARAMETER;
    if (typeof reason !== 'string') return ErrorCode.ERR_INVALID_PARAMETER;
    const reasonBytes = code < 0 ? EMPTY : encoder.encode(reason);
    if (code >= 0 && (!isValidCloseCode(code) || reasonBytes.byteLength > MAX_CLOSE_REASON_BYTES)) return ErrorCode.ERR_INVALID_PARAMETER;
    const ep = this.#ep;
    if (ep === null || this.#state === State.CLOSED) return ErrorCode.OK;
    if (ep.topics !== null) this.#engine!.topics.leaveAll(ep);
    if (code < 0 || this.#state === State.CONNECTING) {
      ep.drop();
      this.#pendingHandshake = false;
      this.#state = State.CLOSED;
      this.#closeCode = -1;
      this.#closeReason = '';
      this.#failure = code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING';
      return ErrorCode.OK;
    }
    if (this.#state === State.CLOSING) return ErrorCode.OK;
    ep.command(CMD_CLOSE, code, reasonBytes);
    this.#state = State.CLOSING;
    return ErrorCode.OK;
  }

  /** Godot `get_close_code()`: the peer's close code; -1 when the connection did not close cleanly. */
  getCloseCode(): number {
    return this.#closeCode;
  }

  /** Godot `get_close_reason()`: the peer's close reason, "" if none. */
  getCloseReason(): string {
    return this.#closeReason;
  }

  /**
   * Not in Godot: a stable code for why the connection failed or was not clean ("" after a clean close):
   * `ECONNREFUSED`, `HTTP_404`, `HANDSHAKE_TIMEOUT`, `WS_ERR_INVALID_UTF8`, `HEARTBEAT_TIMEOUT`,
   * `CLOSE_TIMEOUT`, `DROPPED`, `WORKER_DIED`…
   */
  getFailureReason(): string {
    return this.#failure;
  }

  /**
   * Godot `get_connected_host()`: remote IP address ("" before OPEN; with `handshakeApproval`, from the
   * poll that shows the request).
   */
  getConnectedHost(): string {
    return this.#host;
  }

  /** Godot `get_connected_port()`: remote port (0 before OPEN; with `handshakeApproval`, as the host). */
  getConnectedPort(): number {
    return this.#port;
  }

  /** Godot `get_current_outbound_buffered_amount()`: payload bytes accepted by `send`, not yet written. */
  getCurrentOutboundBufferedAmount(): number {
    return this.#ep === null ? 0 : this.#ep.outboundBytes();
  }

  /** Godot `get_requested_url()`: client, the URL given to `connectToUrl`; server, built from the request. */
  getRequestedUrl(): string {
    return this.#url;
  }

  // ---- the upgrade in the user's hands (not in Godot; `handshakeApproval`) -------------------------

  /**
   * Not in Godot: true while a valid upgrade request waits for `acceptHandshake()` / `rejectHandshake()`
   * (approval on, seen by `poll()`, not answered, not closed). The state is CONNECTING meanwhile.
   */
  hasPendingHandshake(): boolean {
    return this.#pendingHandshake && this.#state === State.CONNECTING;
  }

  /**
   * Not in Godot: the request target as the client sent it (path and query), "" when no request was
   * shown: only peers accepted with `handshakeApproval` keep it (from the poll that shows the request until
   * the peer's next `acceptStream`/`connectToUrl`, OPEN and CLOSED included).
   */
  getRequestPath(): string {
    return this.#request === null ? '' : this.#request.path;
  }

  /**
   * Not in Godot: the request's header lines as `[name, value]` pairs, in arrival order, names as sent,
   * values without surrounding spaces and tabs, each byte one character (latin1, as Node's `http`),
   * repeated headers kept as separate pairs. Parsed on each call from the lines kept as one string (a new
   * array each time); `[]` when no request was shown (as `getRequestPath`).
   */
  getRequestHeaders(): [string, string][] {
    const r = this.#request;
    return r === null ? [] : requestHeaders(r);
  }

  /**
   * Not in Godot: accept the pending request: the worker writes the 101 (with `supportedProtocols`'
   * choice and `handshakeHeaders`, as without approval) and the peer becomes OPEN on a later `poll()`.
   * @returns OK (sent; should the deadline have passed first, the peer becomes CLOSED with
   *   `HANDSHAKE_TIMEOUT` on a later poll and the answer does nothing); ERR_UNAVAILABLE when no request is
   *   pending (`hasPendingHandshake()` false: approval off, not arrived yet, answered, closed); FAILED when
   *   the worker has already closed the connection (seen on the next poll).
   */
  acceptHandshake(): ErrorCode {
    if (!this.hasPendingHandshake()) return ErrorCode.ERR_UNAVAILABLE;
    const ep = this.#ep!;
    if (!ep.live) return ErrorCode.FAILED;
    this.#pendingHandshake = false;
    ep.answerHandshake(0, null);
    return ErrorCode.OK;
  }

  /**
   * Not in Godot: refuse the pending request: the worker answers `HTTP/1.1 <status> <standard reason
   * phrase>` with `Connection: close`, `Content-Type: text/plain; charset=utf-8` and `reason` as the body,
   * then closes the socket. The peer is CLOSED at once (as after `close()`): close code -1,
   * `getFailureReason()` `HANDSHAKE_REJECTED`.
   * @returns OK; ERR_INVALID_PARAMETER (nothing sent) when `status` is not an integer 400-599 or `reason`
   *   not a string of at most 1,024 UTF-8 bytes; ERR_UNAVAILABLE / FAILED as `acceptHandshake`.
   */
  rejectHandshake(status = 403, reason = ''): ErrorCode {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) return ErrorCode.ERR_INVALID_PARAMETER;
    if (typeof reason !== 'string') return ErrorCode.ERR_INVALID_PARAMETER;
    const bytes = encoder.encode(reason);
    if (bytes.byteLength > MAX_REJECT_REASON_BYTES) return ErrorCode.ERR_INVALID_PARAMETER;
    if (!this.hasPendingHandshake()) return ErrorCode.ERR_UNAVAILABLE;
    const ep = this.#ep!;
    if (!ep.live) return ErrorCode.FAILED;
    ep.answerHandshake(status, bytes);
    this.#pendingHandshake = false;
    this.#state = State.CLOSED;
    this.#closeCode = -1;
    this.#closeReason = '';
    this.#failure = 'HANDSHAKE_REJECTED';
    return ErrorCode.OK;
  }

  /** Godot `get_selected_protocol()`: the negotiated subprotocol, "" if none. */
  getSelectedProtocol(): string {
    return this.#protocol;
  }

  /**
   * Not in Godot: the negotiated extensions, as the 101's `Sec-WebSocket-Extensions` value (e.g.
   * `permessage-deflate; client_max_window_bits=15`), "" if none (see `perMessageDeflate`).
   */
  getSelectedExtensions(): string {
    return this.#extensions;
  }

  /** Godot `set_no_delay(enabled)`: TCP_NODELAY (no-delay is the default). Applies live. */
  setNoDelay(enabled: boolean): void {
    this.#noDelay = Boolean(enabled);
    const ep = this.#ep;
    if (ep !== null && !ep.detached) ep.command(CMD_NO_DELAY, this.#noDelay ? 1 : 0, null);
  }
}
