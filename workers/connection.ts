/**
 * One WebSocket connection held by an I/O worker. RFC 6455 framing, masking, UTF-8 validation,
 * ping/pong and the closing handshake are done by a `ws` WebSocket; this class connects it to the rings.
 *
 * No closures per connection on the hot path: the `ws` event handlers are module-level functions that
 * find their Connection through the `kConn` symbol on the WebSocket (as ws does with `kWebSocket`).
 */
import tls from 'node:tls';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { AcceptConfig, ConnectConfig, OpenInfo } from '../src/protocol/control.js';
import { answer, findHeadEnd, refuse } from './handshake.js';
import { encodeJson } from '../src/protocol/control.js';
import { EV_OPEN, FLAG_LAST } from '../src/protocol/records.js';
import type { WorkerRuntime } from './runtime.js';

/** An inbound item waiting for credit or ring space. */
export interface PendingItem {
  kind: number;
  isMessage: boolean;
  data: Uint8Array;
  aux: number;
  /** Bytes of `data` already pushed (fragmented delivery). */
  offset: number;
  /** Whether the message was counted against the budget (its first fragment is out). */
  counted: boolean;
}

/** Send options by (binary, fin), allocated once. `mask` is left to ws (clients mask, servers do not). */
const SEND_OPTS = [
  { binary: false, fin: false, compress: false },
  { binary: false, fin: true, compress: false },
  { binary: true, fin: false, compress: false },
  { binary: true, fin: true, compress: false },
];

/** Shared empty lists: replaced by a connection's own on first use, never written to. */
export const NO_PENDING: PendingItem[] = [];
const NO_WRITES: number[] = [];

const kConn = Symbol('ringsocket.connection');
type TaggedSocket = WebSocket & { [kConn]: Connection };

/** Close codes ws reports for closes that were not clean handshakes. */
const CODE_ABNORMAL = 1006;

export class Connection {
  readonly rt: WorkerRuntime;
  readonly slot: number;
  readonly inboundBufferSize: number;
  readonly maxQueuedPackets: number;
  ws: WebSocket | null = null;
  /** Inbound items waiting for credit or ring space; the shared empty list until the first one. */
  pending: PendingItem[] = NO_PENDING;
  deliveredBytes = 0;
  deliveredMsgs = 0;
  sentBytes = 0;
  sentMsgs = 0;
  socketClosed = false;
  retired = false;
  /** Set when the main thread dropped us (negative close) or a local timer gave up: close code -1. */
  dropped = false;
  error = '';
  noDelay: boolean;
  host = '';
  port = 0;
  /** Server side: the socket while the HTTP upgrade is read, the protocol chosen, the URL requested. */
  #raw: Socket | null = null;
  #request: Buffer | null = null;
  #accept: AcceptConfig | null = null;
  #secure = false;
  #handshakeTimer: NodeJS.Timeout | null = null;
  selectedProtocol: string | null = null;
  requestedUrl: string | undefined = undefined;
  /** Write-completion queue: payload bytes * 2 + (message end ? 1 : 0), in send order. */
  #writes: number[] = NO_WRITES;
  /** Write-completion callback, made on the first send (an idle connection holds none). */
  #onWritten: ((err?: Error | null) => void) | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #heardSinceBeat = true;
  #hearing = false;
  #missedBeats = 0;
  #closeTimer: NodeJS.Timeout | null = null;
  #readingPaused = false;

  private constructor(rt: WorkerRuntime, slot: number, inboundBufferSize: number, maxQueuedPackets: number, noDelay: boolean) {
    this.rt = rt;
    this.slot = slot;
    this.inboundBufferSize = inboundBufferSize;
    this.maxQueuedPackets = maxQueuedPackets;
    this.noDelay = noDelay;
  }

  /** Client: dial `cfg.url`. Failures end in EV_CLOSED with code -1. */
  static connect(rt: WorkerRuntime, slot: number, cfg: ConnectConfig): Connection {
    const conn = new Connection(rt, slot, cfg.inboundBufferSize, cfg.maxQueuedPackets, cfg.noDelay);
    const headers: Record<string, string> = {};
    for (const [k, v] of cfg.headers) headers[k] = v;
    const opts: WebSocket.ClientOptions = {
      headers,
      maxPayload: cfg.inboundBufferSize,
      perMessageDeflate: false,
      handshakeTimeout: rt.handshakeTimeoutMs,
      followRedirects: false,
      skipUTF8Validation: false,
      allowSynchronousEvents: true,
    };
    if (cfg.tls !== null) {
      if (cfg.tls.ca !== undefined) opts.ca = cfg.tls.ca;
      if (cfg.tls.unsafe) opts.rejectUnauthorized = false;
      else if (cfg.tls.servername) {
        const name = cfg.tls.servername;
        // @types/ws types this callback wrongly; ws passes it to tls.connect as is.
        (opts as tls.ConnectionOptions).checkServerIdentity = (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(name, cert);
      }
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(cfg.url, cfg.protocols.length === 0 ? undefined : cfg.protocols, opts);
    } catch (err) {
      conn.error = errorCode(err);
      conn.socketClosed = true;
      queueMicrotask(() => rt.closed(conn, -1, '', conn.error));
      return conn;
    }
    conn.attach(ws);
    if (cfg.heartbeatMs > 0) conn.setHeartbeat(cfg.heartbeatMs);
    return conn;
  }

  /** A connection that failed before it started (its stream was already gone). */
  static failed(rt: WorkerRuntime, slot: number, error: string): Connection {
    const conn = new Connection(rt, slot, 1, 1, true);
    conn.error = error;
    conn.socketClosed = true;
    queueMicrotask(() => rt.closed(conn, -1, '', error));
    return conn;
  }

  /**
   * Server: read and answer the HTTP upgrade on `socket` (a taken TCP stream, or its TLS layer), then
   * frame with ws. The handshake must complete within `remainingMs` (the stream's deadline).
   */
  static accept(rt: WorkerRuntime, slot: number, socket: Socket, cfg: AcceptConfig, secure: boolean, remainingMs: number): Connection {
    const conn = new Connection(rt, slot, cfg.inboundBufferSize, cfg.maxQueuedPackets, cfg.noDelay);
    conn.#raw = socket;
    conn.#accept = cfg;
    conn.#secure = secure;
    conn.host = socket.remoteAddress ?? '';
    conn.port = socket.remotePort ?? 0;
    conn.#request = Buffer.alloc(0);
    (socket as unknown as { [kConn]: Connection })[kConn] = conn;
    socket.on('data', onRequestData);
    socket.on('error', onRawError);
    socket.on('close', onRawClose);
    conn.#handshakeTimer = setTimeout(handshakeTimedOut, remainingMs, conn);
    socket.resume();
    return conn;
  }

  /** Bytes of the upgrade request arrived. */
  requestData(chunk: Buffer): void {
    const sock = this.#raw!;
    const buf = this.#request!.length === 0 ? chunk : Buffer.concat([this.#request!, chunk]);
    this.#request = buf;
    const end = findHeadEnd(buf);
    if (end === -1) return;
    const cfg = this.#accept!;
    const verdict = end === -2 ? refuse(431, 'request head too large') : answer(buf.toString('latin1', 0, end - 4), cfg.protocols, cfg.headers, this.#secure);
    this.#detachRaw();
    if (!verdict.ok) {
      sock.end(verdict.response);
      sock.destroySoon();
      this.#failEarly(verdict.error);
      return;
    }
    sock.write(verdict.response);
    this.selectedProtocol = verdict.protocol;
    this.requestedUrl = verdict.url;
    // ws's own server path: a WebSocket made with a null address is the server end of a socket.
    // closeTimeout: ws only defaults it for clients; left undefined, its server-side close timer fires
    // after 1 ms and destroys the socket before the peer's answer, so every close we start would end
    // unclean (-1). Ours (closeTimedOut, CLOSE_TIMEOUT) fires first; ws's is only a backstop.
    const ws = new WebSocket(null as unknown as string, undefined, { autoPong: true, closeTimeout: this.rt.closeTimeoutMs + 1000 } as WebSocket.ClientOptions);
    this.attach(ws);
    // setSocket emits 'open' synchronously (→ EV_OPEN) and starts reading the frames after the head.
    (ws as unknown as { setSocket(s: Socket, head: Buffer, o: object): void }).setSocket(sock, buf.subarray(end), {
      maxPayload: cfg.inboundBufferSize,
      skipUTF8Validation: false,
      allowSynchronousEvents: true,
    });
    if (cfg.heartbeatMs > 0) this.setHeartbeat(cfg.heartbeatMs);
  }

  #detachRaw(): void {
    const sock = this.#raw;
    if (sock === null) return;
    sock.removeListener('data', onRequestData);
    sock.removeListener('error', onRawError);
    sock.removeListener('close', onRawClose);
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#raw = null;
    this.#request = null;
    // Keep an error listener: a late socket error must not crash the worker.
    sock.on('error', onRawError);
  }

  /** Fail a server connection before ws took over (refused or dropped handshake). */
  #failEarly(error: string): void {
    if (this.socketClosed) return;
    this.#detachRaw();
    this.error = error;
    this.socketClosed = true;
    this.rt.closed(this, -1, '', error);
  }

  rawGone(why: string): void {
    const sock = this.#raw;
    if (sock === null) return;
    sock.destroy();
    this.#failEarly(why);
  }

  attach(ws: WebSocket): void {
    this.ws = ws;
    (ws as TaggedSocket)[kConn] = this;
    // Listeners cost memory per connection (50,000 of them): 'upgrade' only matters to a client (a server
    // knows its socket), 'ping'/'pong' only while heartbeats are on (see setHeartbeat).
    if (this.#raw === null && this.#accept === null) ws.on('upgrade', onUpgrade);
    ws.on('open', onOpen);
    ws.on('message', onMessage);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  // ---- commands from the main thread ----

  /** One record of an outbound message (whole, or a fragment of a large one). `view` is ring memory. */
  sendFragment(view: Uint8Array, binary: boolean, kindFlags: number, _aux: number): void {
    const ws = this.ws;
    const last = (kindFlags & FLAG_LAST) !== 0;
    const n = view.byteLength;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      // Closing or closed: the bytes will never be written. Count them as done so the main thread's
      // buffered amount does not stay up forever.
      this.rt.noteSent(this, n, last);
      return;
    }
    // Copy out of the ring: ws may keep the buffer until the socket writes it, after we release the space.
    const copy = Buffer.allocUnsafe(n);
    copy.set(view);
    if (this.#onWritten === null) {
      this.#writes = [];
      this.#onWritten = () => {
        const w = this.#writes.shift();
        if (w !== undefined) this.rt.noteSent(this, Math.floor(w / 2), (w & 1) === 1);
      };
    }
    this.#writes.push(n * 2 + (last ? 1 : 0));
    ws.send(copy, SEND_OPTS[(binary ? 2 : 0) + (last ? 1 : 0)]!, this.#onWritten);
  }

  close(code: number, reason: string): void {
    const ws = this.ws;
    if (this.socketClosed) return;
    if (ws === null) {
      // Server side, still reading the upgrade request: drop.
      this.dropped = true;
      this.rawGone(code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING');
      return;
    }
    if (code < 0 || ws.readyState === WebSocket.CONNECTING) {
      this.dropped = true;
      if (this.error === '') this.error = code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING';
      ws.terminate();
      return;
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.close(code, reason);
    this.#closeTimer = setTimeout(closeTimedOut, this.rt.closeTimeoutMs, this);
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    const sock = this.#socket();
    if (sock !== null) sock.setNoDelay(on);
  }

  setHeartbeat(ms: number): void {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#missedBeats = 0;
    this.#heardSinceBeat = true;
    if (ms > 0 && !this.socketClosed) {
      if (!this.#hearing && this.ws !== null) {
        this.#hearing = true;
        this.ws.on('ping', onHeard);
        this.ws.on('pong', onHeard);
      }
      this.#heartbeat = setInterval(heartbeatTick, ms, this);
    }
  }

  beat(): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    // While we paused reading (our consumer is slow), frames wait in the kernel unread: silence is
    // ours, not the peer's, so it does not count against it.
    if (this.#heardSinceBeat || this.#readingPaused) {
      this.#heardSinceBeat = false;
      this.#missedBeats = 0;
    } else if (++this.#missedBeats >= 2) {
      // Dead-peer detection: two whole intervals without a single frame from the peer (data, ping,
      // pong or close) — it is gone. Drop as not clean.
      this.error = 'HEARTBEAT_TIMEOUT';
      this.dropped = true;
      ws.terminate();
      return;
    }
    ws.ping();
  }

  heard(): void {
    this.#heardSinceBeat = true;
  }

  // ---- write batching ----

  corked = false;

  cork(): boolean {
    const sock = this.#socket();
    if (sock === null || this.socketClosed) return false;
    sock.cork();
    this.corked = true;
    return true;
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.#socket()?.uncork();
  }

  // ---- backpressure ----

  pauseReading(): void {
    if (this.#readingPaused || this.ws === null) return;
    this.#readingPaused = true;
    this.ws.pause();
  }

  resumeReading(): void {
    if (!this.#readingPaused || this.ws === null) return;
    this.#readingPaused = false;
    this.ws.resume();
  }

  #socket(): Socket | null {
    const s = (this.ws as unknown as { _socket?: Socket } | null)?._socket;
    return s ?? null;
  }

  // ---- events from ws ----

  opened(): void {
    const ws = this.ws!;
    const sock = this.#socket();
    if (sock !== null) {
      sock.setNoDelay(this.noDelay);
      if (this.host === '') {
        this.host = sock.remoteAddress ?? '';
        this.port = sock.remotePort ?? 0;
      }
    }
    const info: OpenInfo = { protocol: this.selectedProtocol ?? ws.protocol, host: this.host, port: this.port };
    if (this.requestedUrl !== undefined) info.url = this.requestedUrl;
    this.rt.deliver(this, { kind: EV_OPEN, isMessage: false, data: encodeJson(info), aux: 0, offset: 0, counted: false });
  }

  message(data: Buffer, isBinary: boolean): void {
    this.#heardSinceBeat = true;
    this.rt.deliverMessage(this, data, isBinary);
  }

  finished(code: number, reason: Buffer): void {
    this.socketClosed = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#heartbeat = null;
    this.#closeTimer = null;
    // Anything still queued in ws will never be written.
    while (this.#writes.length !== 0) this.#onWritten!();
    const clean = !this.dropped && code !== CODE_ABNORMAL && this.error === '';
    this.rt.closed(this, clean ? code : -1, clean ? reason.toString('utf8') : '', this.error);
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.message === 'string') {
    const m = /Unexpected server response: (\d+)/.exec(e.message);
    if (m) return `HTTP_${m[1]}`;
    if (e.message.includes('Opening handshake has timed out')) return 'HANDSHAKE_TIMEOUT';
    return e.message;
  }
  return String(err);
}

function onUpgrade(this: WebSocket, res: { socket: Socket }): void {
  const conn = (this as TaggedSocket)[kConn];
  conn.host = res.socket.remoteAddress ?? '';
  conn.port = res.socket.remotePort ?? 0;
}

function onOpen(this: WebSocket): void {
  (this as TaggedSocket)[kConn].opened();
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as TaggedSocket)[kConn].message(data, isBinary);
}

function onHeard(this: WebSocket): void {
  (this as TaggedSocket)[kConn].heard();
}

function onError(this: WebSocket, err: Error): void {
  const conn = (this as TaggedSocket)[kConn];
  if (conn.error === '') conn.error = errorCode(err);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as TaggedSocket)[kConn].finished(code, reason);
}

function onRequestData(this: Socket, chunk: Buffer): void {
  (this as unknown as { [kConn]: Connection })[kConn].requestData(chunk);
}

function onRawError(this: Socket): void {
  // 'close' follows.
}

function onRawClose(this: Socket): void {
  (this as unknown as { [kConn]: Connection })[kConn].rawGone('CONNECTION_LOST_DURING_HANDSHAKE');
}

function handshakeTimedOut(conn: Connection): void {
  conn.rawGone('HANDSHAKE_TIMEOUT');
}

function heartbeatTick(conn: Connection): void {
  conn.beat();
}

function closeTimedOut(conn: Connection): void {
  if (conn.socketClosed || conn.ws === null) return;
  conn.error = 'CLOSE_TIMEOUT';
  conn.dropped = true;
  conn.ws.terminate();
}
