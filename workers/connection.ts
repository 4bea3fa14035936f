/**
 * One WebSocket connection held by an I/O worker. RFC 6455 framing, masking, UTF-8 validation,
 * ping/pong and the closing handshake are done by a `ws` WebSocket; this class connects it to the rings.
 *
 * No closures per connection on the hot path: the sockets' event handlers are module-level functions
 * (socket-events.ts). Heartbeats: heartbeat.ts; the client's ws options: dial.ts; every reach into a
 * private field of Node or ws: internals.ts.
 *
 * Server side, the `ws` WebSocket (with its Receiver, Sender and their stream states: ~1.2 KB) is made
 * only when the connection needs it: the first bytes from the peer, the first send, a close, a
 * heartbeat. Until then an open connection is "idle": its socket is read by our own listener, and a
 * TCP close ends it as ws would have (code 1006 → -1, no error). Most of 50,000 connections are idle.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { AcceptConfig, ConnectConfig, OpenInfo, RequestInfo } from '../src/protocol/control.js';
import { answer, findHeadEnd, MAX_REQUEST_HEAD_BYTES, refuse, rejection, type HandshakeOk } from './handshake.js';
import { encodeJson } from '../src/protocol/control.js';
import { EV_OPEN, EV_REQUEST, FLAG_LAST } from '../src/protocol/records.js';
import type { ConnectionHost, InboundTarget, PendingItem } from './hosts.js';
import { Beat } from './heartbeat.js';
import { clientOptions } from './dial.js';
import { errorCode, ignoreErrors, listenForBeats, listenRaw, listenWs, unlistenRaw, type RawEvents, type WsEvents } from './socket-events.js';
import { forgetPeername, wsSetSocket, wsSocket } from './internals.js';
import { NO_PENDING } from './delivery.js';
import { CLOSED_SLOW, NOT_OPEN, SKIPPED, WROTE, type FanoutMember } from './fanout.js';

/** Send options by (binary, fin), allocated once. `mask` is left to ws (clients mask, servers do not). */
const SEND_OPTS = [
  { binary: false, fin: false, compress: false },
  { binary: false, fin: true, compress: false },
  { binary: true, fin: false, compress: false },
  { binary: true, fin: true, compress: false },
];

/** A connection's budgets, from its ConnectConfig or AcceptConfig. */
interface Limits {
  inboundBufferSize: number;
  maxQueuedPackets: number;
  outboundBufferSize: number;
  slowPeerPolicy: number;
}

const NO_LIMITS: Limits = { inboundBufferSize: 1, maxQueuedPackets: 1, outboundBufferSize: 1, slowPeerPolicy: 0 };

/** The shared empty write list: replaced by a connection's own on first use, never written to. */
const NO_WRITES: number[] = [];

/**
 * A connection's phase, derived from which of its sockets it holds (one truth, nothing to keep in step):
 * - REQUEST: server side, our own listener reads the HTTP upgrade (the raw socket, and `#opening`);
 * - OPENING: ws holds the socket and EV_OPEN is not out yet (a client dialing; a server for a moment);
 * - IDLE: server side, open, no ws yet: our listener watches the raw socket (see the module comment);
 * - FRAMING: open or closing, ws frames;
 * - GONE: no socket (closed, refused, or failed before it started).
 */
const REQUEST = 0;
const OPENING = 1;
const IDLE = 2;
const FRAMING = 3;
const GONE = 4;

/** Close codes ws reports for closes that were not clean handshakes. */
const CODE_ABNORMAL = 1006;
const NO_BYTES = Buffer.alloc(0);

/** `#flags` bits: one field for the booleans of every connection (see the accessors). */
const READING_PAUSED = 1;
/** TCP_NODELAY as last asked for (ws's setSocket turns it on: put back after it). */
const NO_DELAY = 2;
const SOCKET_CLOSED = 4;
const RETIRED = 8;
const DROPPED = 16;
const CORKED = 32;
/**
 * Our close frame is out (`close(code)` while OPEN): read on whatever the inbound budget says, until the
 * remote's close frame, and drop the data messages that arrive meanwhile (as Godot 4 does, see README
 * "Behaviour details"). Reading stays paused for nobody: the remote's answer waits behind unread data.
 */
const CLOSE_SENT = 64;
/** The client end (it masks what it sends: publications are framed for it alone). */
const CLIENT = 128;
/** slowPeerPolicy 'close': a publication that finds the socket full closes it with 1008. */
const CLOSE_WHEN_SLOW = 256;

/**
 * What a connection needs only until it is open: the server side's request bytes and accept config,
 * the handshake deadline, and what EV_OPEN reports. Dropped once EV_OPEN is out, so an open connection
 * holds none of it (nor the fields for it).
 */
class Opening {
  /** Server side: the request head so far, when it came in more than one chunk. */
  request: Buffer | null = null;
  accept: AcceptConfig | null = null;
  secure = false;
  /** Server side: the stream's handshake deadline (the listener's timer, handed over with the socket). */
  deadline: NodeJS.Timeout | null = null;
  host = '';
  port = 0;
  noDelay: boolean;
  /** Server side: counted in the listener's pendingHandshakes until the request is answered or fails. */
  pending = false;
  /** Server side: the subprotocol chosen and the URL requested (client side: ws knows its own). */
  protocol: string | null = null;
  url: string | undefined = undefined;
  /**
   * Server side, approval on: the request was valid, EV_REQUEST is out, and this 101 waits for the main
   * thread's CMD_HANDSHAKE_ANSWER (or the deadline). `request` then holds the bytes that came after the
   * request head (a client should send none before the 101).
   */
  waiting: HandshakeOk | null = null;

  constructor(noDelay: boolean) {
    this.noDelay = noDelay;
  }
}

export class Connection implements InboundTarget, WsEvents, RawEvents, FanoutMember {
  readonly host: ConnectionHost;
  readonly slot: number;
  readonly inboundBufferSize: number;
  readonly maxQueuedPackets: number;
  /** Unwritten bytes past which a publication finds the socket slow. */
  readonly outboundBufferSize: number;
  /** Topic ids (workers/fanout.ts); null for most connections. */
  topics: number[] | null = null;
  ws: WebSocket | null = null;
  /** Inbound items waiting for credit or ring space; the shared empty list until the first one. */
  pending: PendingItem[] = NO_PENDING;
  deliveredBytes = 0;
  deliveredMsgs = 0;
  sentBytes = 0;
  sentMsgs = 0;
  error = '';
  /** Until EV_OPEN is out (null after). */
  #opening: Opening | null;
  /**
   * Server side: the socket while no ws owns it — the HTTP upgrade is read (#opening set), then the
   * connection is idle (see the module comment). Null once ws took it, or after it closed.
   */
  #raw: Socket | null = null;
  /** Write-completion queue: payload bytes * 2 + (message end ? 1 : 0), in send order. */
  #writes: number[] = NO_WRITES;
  /** Write-completion callback, made on the first send (an idle connection holds none). */
  #onWritten: ((err?: Error | null) => void) | null = null;
  #beat: Beat | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #flags = 0;

  private constructor(host: ConnectionHost, slot: number, limits: Limits, opening: Opening | null) {
    this.host = host;
    this.slot = slot;
    this.inboundBufferSize = limits.inboundBufferSize;
    this.maxQueuedPackets = limits.maxQueuedPackets;
    this.outboundBufferSize = limits.outboundBufferSize;
    if (limits.slowPeerPolicy === 1) this.#flags |= CLOSE_WHEN_SLOW;
    this.#opening = opening;
  }

  /** See REQUEST…GONE. */
  get #phase(): number {
    if (this.ws !== null) return this.#opening !== null ? OPENING : FRAMING;
    if (this.#raw !== null) return this.#opening !== null ? REQUEST : IDLE;
    return GONE;
  }

  #setFlag(bit: number, on: boolean): void {
    this.#flags = on ? this.#flags | bit : this.#flags & ~bit;
  }

  /** The socket is gone (nothing more can arrive). */
  get socketClosed(): boolean {
    return (this.#flags & SOCKET_CLOSED) !== 0;
  }
  set socketClosed(on: boolean) {
    this.#setFlag(SOCKET_CLOSED, on);
  }

  /** EV_CLOSED is out: the slot is the main thread's again (set by the runtime). */
  get retired(): boolean {
    return (this.#flags & RETIRED) !== 0;
  }
  set retired(on: boolean) {
    this.#setFlag(RETIRED, on);
  }

  /** Set when the main thread dropped us (negative close) or a local timer gave up: close code -1. */
  get dropped(): boolean {
    return (this.#flags & DROPPED) !== 0;
  }
  set dropped(on: boolean) {
    this.#setFlag(DROPPED, on);
  }

  /** The socket is corked for the current command burst (see `cork`). */
  get corked(): boolean {
    return (this.#flags & CORKED) !== 0;
  }

  /** Client: dial `cfg.url`. Failures end in EV_CLOSED with code -1. */
  static connect(host: ConnectionHost, slot: number, cfg: ConnectConfig): Connection {
    const conn = new Connection(host, slot, cfg, new Opening(cfg.noDelay));
    conn.#flags |= CLIENT;
    const opts = clientOptions(cfg, host.handshakeTimeoutMs);
    let ws: WebSocket;
    try {
      ws = new WebSocket(cfg.url, cfg.protocols.length === 0 ? undefined : cfg.protocols, opts);
    } catch (err) {
      conn.error = errorCode(err);
      conn.socketClosed = true;
      conn.#opening = null;
      queueMicrotask(() => host.closed(conn, -1, '', conn.error));
      return conn;
    }
    conn.attach(ws, true);
    if (cfg.heartbeatMs > 0) conn.setHeartbeat(cfg.heartbeatMs);
    return conn;
  }

  /** A connection that failed before it started (its stream was already gone). */
  static failed(host: ConnectionHost, slot: number, error: string): Connection {
    const conn = new Connection(host, slot, NO_LIMITS, null);
    conn.error = error;
    conn.socketClosed = true;
    queueMicrotask(() => host.closed(conn, -1, '', error));
    return conn;
  }

  /**
   * Server: read and answer the HTTP upgrade on `socket` (a taken TCP stream, or its TLS layer), then
   * frame with ws. `deadline` is the stream's handshake timer, now ours: when it fires, the listener
   * calls `rawGone('HANDSHAKE_TIMEOUT')`; we clear it once the request is answered.
   */
  static accept(host: ConnectionHost, slot: number, socket: Socket, cfg: AcceptConfig, secure: boolean, deadline: NodeJS.Timeout): Connection {
    const op = new Opening(cfg.noDelay);
    op.accept = cfg;
    op.pending = true; // the stream's count goes over to us
    op.secure = secure;
    op.deadline = deadline;
    op.host = socket.remoteAddress ?? '';
    op.port = socket.remotePort ?? 0;
    const conn = new Connection(host, slot, cfg, op);
    conn.#raw = socket;
    // Kept until ws takes the socket: they read the request, then watch the idle connection. (The
    // listener tagged the socket with its stream under the same key: overwritten, see kOwner.)
    listenRaw(socket, conn);
    socket.resume();
    return conn;
  }

  /** Bytes on a socket we read ourselves: the upgrade request, or the first frames of an idle connection. */
  rawData(chunk: Buffer): void {
    if (this.#phase === REQUEST) this.requestData(chunk);
    else this.#materialize(chunk);
  }

  /** Our socket closed: during the handshake a failure; idle, the end ws would have reported. */
  rawClosed(): void {
    if (this.#phase === REQUEST) {
      this.rawGone('CONNECTION_LOST_DURING_HANDSHAKE');
      return;
    }
    if (this.#phase !== IDLE || this.socketClosed) return;
    this.#raw = null;
    this.finished(CODE_ABNORMAL, NO_BYTES);
  }

  /** Bytes of the upgrade request arrived. */
  requestData(chunk: Buffer): void {
    const op = this.#opening!;
    const sock = this.#raw!;
    const buf = op.request === null ? chunk : Buffer.concat([op.request, chunk]);
    if (op.waiting !== null) {
      // Bytes after the request, before our answer: kept for ws; past a request head's worth, stop reading.
      op.request = buf;
      if (buf.length > MAX_REQUEST_HEAD_BYTES) sock.pause();
      return;
    }
    const end = findHeadEnd(buf);
    if (end === -1) {
      op.request = buf;
      return;
    }
    const cfg = op.accept!;
    const head = end === -2 ? '' : buf.toString('latin1', 0, end - 4);
    const verdict = end === -2 ? refuse(431, 'request head too large') : answer(head, cfg.protocols, cfg.headers, op.secure);
    if (!verdict.ok) {
      this.#handshakeEnded();
      this.#detachRaw();
      sock.end(verdict.response);
      sock.destroySoon();
      this.#failEarly(verdict.error);
      return;
    }
    if (cfg.approval === true) {
      // Valid: the main thread decides (CMD_HANDSHAKE_ANSWER → answerHandshake). Still a pending
      // handshake, under the same deadline.
      op.waiting = verdict;
      op.request = end < buf.length ? buf.subarray(end) : null;
      const lines = head.indexOf('\r\n');
      const info: RequestInfo = { path: verdict.path, head: lines < 0 ? '' : head.slice(lines + 2), host: op.host, port: op.port, url: verdict.url, protocol: verdict.protocol };
      const data = encodeJson(info);
      this.host.deliver(this, { kind: EV_REQUEST, isMessage: false, data, aux: data.byteLength, offset: 0, counted: false });
      if (this.pending.length === 0) this.pending = NO_PENDING;
      return;
    }
    this.#upgrade(verdict, buf.subarray(end));
  }

  /**
   * The main thread's answer to EV_REQUEST: `status` 0 accepts (the 101, as without approval), 400-599
   * refuses with that status and `reason` as the body, then closes. Ignored when no request waits
   * (answered already, or the deadline passed: the connection is gone).
   */
  answerHandshake(status: number, reason: string): void {
    const op = this.#opening;
    const sock = this.#raw;
    if (op === null || op.waiting === null || sock === null || this.socketClosed) return;
    const verdict = op.waiting;
    op.waiting = null;
    if (status === 0) {
      const early = op.request ?? NO_BYTES;
      op.request = null;
      if (sock.isPaused()) sock.resume();
      this.#upgrade(verdict, early);
      return;
    }
    this.#detachRaw();
    sock.end(rejection(status, reason));
    sock.destroySoon();
    this.#failEarly('HANDSHAKE_REJECTED');
  }

  /** Write the 101 for a valid request and open; `head`: bytes that came after the request. */
  #upgrade(verdict: HandshakeOk, head: Buffer): void {
    const op = this.#opening!;
    const sock = this.#raw!;
    const cfg = op.accept!;
    this.#handshakeEnded();
    // Answered: the deadline no longer applies (and with the timer goes the listener's Stream).
    if (op.deadline !== null) clearTimeout(op.deadline);
    op.deadline = null;
    op.request = null;
    op.accept = null;
    sock.write(verdict.response);
    op.protocol = verdict.protocol;
    op.url = verdict.url;
    // Frames right behind the request, or a heartbeat (it pings through ws), need ws now. A heartbeat set
    // while the request was read (CMD_HEARTBEAT) wins over the one in the config.
    const beating = this.#beat !== null ? this.#beat.timer !== null : cfg.heartbeatMs > 0;
    if (head.length !== 0 || beating) this.#materialize(head);
    if (this.#beat === null && cfg.heartbeatMs > 0) this.setHeartbeat(cfg.heartbeatMs);
    this.opened();
  }

  /**
   * Server side: hand the socket to a new ws WebSocket (ws's own server path: a WebSocket made with a
   * null address is the server end of a socket). `head`: bytes already read from the socket, given
   * back to it for ws to parse. EV_OPEN is not ws's business here (opened() sends it).
   */
  #materialize(head: Buffer): void {
    const sock = this.#raw;
    if (sock === null || this.ws !== null) return;
    this.#raw = null;
    // ws attaches its own listeners (an 'error' one among them) before any event can be emitted.
    unlistenRaw(sock);
    // closeTimeout: ws only defaults it for clients; left undefined, its server-side close timer fires
    // after 1 ms and destroys the socket before the peer's answer, so every close we start would end
    // unclean (-1). Ours (closeTimedOut, CLOSE_TIMEOUT) fires first; ws's is only a backstop.
    const ws = new WebSocket(null as unknown as string, undefined, { autoPong: true, closeTimeout: this.host.closeTimeoutMs + 1000 } as WebSocket.ClientOptions);
    this.attach(ws, false);
    // setSocket gives `head` back to the socket and starts reading (asynchronously: nothing is parsed
    // before this returns). It emits 'open' synchronously at its end; nobody listens on this side.
    wsSetSocket(ws, sock, head, {
      maxPayload: this.inboundBufferSize,
      skipUTF8Validation: false,
      allowSynchronousEvents: true,
    });
    if (this.#opening === null && (this.#flags & NO_DELAY) === 0) sock.setNoDelay(false); // setSocket turned it on
    if ((this.#flags & READING_PAUSED) !== 0) ws.pause(); // we paused the socket; let ws know
    this.#listenForBeats();
  }

  /** Stop reading the request (refused or dropped): our listeners off, a no-op 'error' one kept. */
  #detachRaw(): void {
    const sock = this.#raw;
    if (sock === null) return;
    this.#raw = null;
    unlistenRaw(sock);
    const op = this.#opening;
    if (op !== null) {
      if (op.deadline !== null) clearTimeout(op.deadline);
      op.deadline = null;
      op.request = null;
    }
    // A late socket error must not crash the worker.
    ignoreErrors(sock);
  }

  /** Server side: no longer a pending handshake (answered, refused or dropped). */
  #handshakeEnded(): void {
    const op = this.#opening;
    if (op === null || !op.pending) return;
    op.pending = false;
    this.host.handshakeEnded();
  }

  /** Fail a server connection before ws took over (refused or dropped handshake). */
  #failEarly(error: string): void {
    this.#handshakeEnded();
    if (this.socketClosed) return;
    this.#detachRaw();
    this.#opening = null;
    this.error = error;
    this.socketClosed = true;
    this.host.closed(this, -1, '', error);
  }

  /** Drop a server connection whose handshake is not done (deadline, lost socket, close while connecting). */
  rawGone(why: string): void {
    const sock = this.#raw;
    if (sock === null || this.#opening === null) return;
    if (why === 'HANDSHAKE_TIMEOUT' && this.#opening.waiting !== null) {
      // A valid request the main thread did not answer in time: the client is told so (503), then closed.
      this.#opening.waiting = null;
      this.#detachRaw();
      sock.end(rejection(503, 'the server did not answer the upgrade request in time'));
      sock.destroySoon();
      this.#failEarly(why);
      return;
    }
    sock.destroy();
    this.#failEarly(why);
  }

  attach(ws: WebSocket, client: boolean): void {
    this.ws = ws;
    listenWs(ws, this, client);
  }

  // ---- commands from the main thread ----

  /** One record of an outbound message (whole, or a fragment of a large one). `view` is ring memory. */
  sendFragment(view: Uint8Array, binary: boolean, kindFlags: number): void {
    if (this.#phase === IDLE) this.#materialize(NO_BYTES);
    const ws = this.ws;
    const last = (kindFlags & FLAG_LAST) !== 0;
    const n = view.byteLength;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      // Closing or closed: the bytes will never be written. Count them as done so the main thread's
      // buffered amount does not stay up forever.
      this.host.noteSent(this, n, last);
      return;
    }
    // Copy out of the ring: ws may keep the buffer until the socket writes it, after we release the space.
    const copy = Buffer.allocUnsafe(n);
    copy.set(view);
    if (this.#onWritten === null) {
      this.#writes = [];
      this.#onWritten = () => {
        const w = this.#writes.shift();
        if (w !== undefined) this.host.noteSent(this, Math.floor(w / 2), (w & 1) === 1);
      };
    }
    this.#writes.push(n * 2 + (last ? 1 : 0));
    ws.send(copy, SEND_OPTS[(binary ? 2 : 0) + (last ? 1 : 0)]!, this.#onWritten);
  }

  /**
   * One publication of a topic this connection is a member of (workers/fanout.ts): `frame` is the
   * unmasked frame every server-side member gets, written as it is; the client side masks its own.
   */
  publish(frame: Buffer, payload: Buffer, binary: boolean): number {
    if (this.socketClosed || (this.#flags & CLOSE_SENT) !== 0) return NOT_OPEN;
    const phase = this.#phase;
    if (phase !== IDLE && (phase !== FRAMING || this.ws!.readyState !== WebSocket.OPEN)) return NOT_OPEN;
    const sock = this.#socket();
    if (sock === null) return NOT_OPEN;
    // Slow: what it holds unwritten already passed its budget (a message larger than the budget still
    // goes to a socket that keeps up, as uWebSockets.js's maxBackpressure check does).
    if (sock.writableLength > this.outboundBufferSize) {
      if ((this.#flags & CLOSE_WHEN_SLOW) === 0) return SKIPPED;
      this.close(1008, 'slow consumer');
      return CLOSED_SLOW;
    }
    if ((this.#flags & CLIENT) !== 0) {
      // ws masks in place: give it a copy of its own.
      this.ws!.send(Buffer.from(payload), SEND_OPTS[(binary ? 2 : 0) + 1]!);
    } else {
      // Behind whatever ws wrote before: its sender writes to the socket synchronously (no compression).
      sock.write(frame);
    }
    return WROTE;
  }

  close(code: number, reason: string): void {
    if (this.socketClosed) return;
    const phase = this.#phase;
    if (phase === REQUEST) {
      // Server side, still reading the upgrade request: drop.
      this.dropped = true;
      this.rawGone(code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING');
      return;
    }
    if (phase === IDLE && code < 0) {
      // An idle server connection dropped: destroying its socket needs no ws ('close' then ends it as
      // ws would have, with DROPPED).
      this.dropped = true;
      if (this.error === '') this.error = 'DROPPED';
      this.#raw!.destroy();
      return;
    }
    // An idle server connection: ws does the closing handshake as for any other.
    this.#materialize(NO_BYTES);
    const ws = this.ws;
    if (ws === null) return;
    if (code < 0 || ws.readyState === WebSocket.CONNECTING) {
      this.dropped = true;
      if (this.error === '') this.error = code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING';
      ws.terminate();
      return;
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.close(code, reason);
    this.#closeTimer = setTimeout(closeTimedOut, this.host.closeTimeoutMs, this);
    // Keep reading until the remote's close frame, even if the budget had paused the socket: it waits
    // behind the data we have not read. What arrives meanwhile is dropped (message()), so this reads
    // into no memory.
    this.#flags |= CLOSE_SENT;
    if ((this.#flags & READING_PAUSED) !== 0) {
      this.#flags &= ~READING_PAUSED;
      ws.resume();
    }
  }

  setNoDelay(on: boolean): void {
    // Before 'open' the choice is kept for it (the socket may not exist yet; ws sets its own on open).
    if (this.#opening !== null) this.#opening.noDelay = on;
    this.#setFlag(NO_DELAY, on);
    const sock = this.#socket();
    if (sock !== null) sock.setNoDelay(on);
  }

  setHeartbeat(ms: number): void {
    let b = this.#beat;
    if (b === null) {
      // Nothing on, nothing to turn off. While a server reads the request (no ws yet) the choice is
      // kept all the same: it overrides the config's when the connection opens.
      if (ms <= 0 && this.#phase !== REQUEST) return;
      b = this.#beat = new Beat();
    }
    b.reset();
    if (ms > 0 && !this.socketClosed) {
      // Pings go through ws: an idle server connection gets its WebSocket now.
      if (this.#phase === IDLE) this.#materialize(NO_BYTES);
      this.#listenForBeats();
      b.timer = setInterval(heartbeatTick, ms, this);
    }
  }

  #listenForBeats(): void {
    const b = this.#beat;
    if (b === null || b.listening || this.ws === null) return;
    b.listening = true;
    listenForBeats(this.ws);
  }

  beat(): void {
    const ws = this.ws;
    const b = this.#beat;
    if (ws === null || b === null || ws.readyState !== WebSocket.OPEN) return;
    if (b.due((this.#flags & READING_PAUSED) !== 0)) {
      // Two whole intervals without a frame from the peer: gone (heartbeat.ts). Drop as not clean.
      this.error = 'HEARTBEAT_TIMEOUT';
      this.dropped = true;
      ws.terminate();
      return;
    }
    ws.ping();
  }

  heard(): void {
    const b = this.#beat;
    if (b !== null) b.heard = true;
  }

  // ---- write batching ----

  /** Cork the socket for a burst of sends (the runtime uncorks after the burst). */
  cork(): boolean {
    const sock = this.#socket();
    if (sock === null || this.socketClosed) return false;
    sock.cork();
    this.#flags |= CORKED;
    return true;
  }

  uncork(): void {
    if ((this.#flags & CORKED) === 0) return;
    this.#flags &= ~CORKED;
    this.#socket()?.uncork();
  }

  // ---- backpressure ----

  pauseReading(): void {
    if ((this.#flags & (READING_PAUSED | CLOSE_SENT)) !== 0) return;
    const phase = this.#phase;
    if (phase === OPENING || phase === FRAMING) this.ws!.pause();
    else if (phase === IDLE) this.#raw!.pause();
    else return;
    this.#flags |= READING_PAUSED;
  }

  resumeReading(): void {
    if ((this.#flags & READING_PAUSED) === 0) return;
    const phase = this.#phase;
    if (phase === OPENING || phase === FRAMING) this.ws!.resume();
    else if (phase === IDLE) this.#raw!.resume();
    else return;
    this.#flags &= ~READING_PAUSED;
  }

  /** The socket once open: ws's, or ours while the connection is idle (null while the request is read). */
  #socket(): Socket | null {
    const s = wsSocket(this.ws);
    if (s !== null) return s;
    return this.#phase === IDLE ? this.#raw : null;
  }

  // ---- events from ws ----

  /** Client: the server answered 101 on `sock`. */
  upgraded(sock: Socket): void {
    const op = this.#opening;
    if (op === null) return;
    op.host = sock.remoteAddress ?? '';
    op.port = sock.remotePort ?? 0;
  }

  opened(): void {
    const ws = this.ws!;
    const op = this.#opening;
    if (op === null) return;
    this.#opening = null;
    const sock = this.#socket();
    this.#setFlag(NO_DELAY, op.noDelay);
    if (sock !== null) {
      sock.setNoDelay(op.noDelay);
      if (op.host === '') {
        op.host = sock.remoteAddress ?? '';
        op.port = sock.remotePort ?? 0;
      }
      // EV_OPEN carries the peer's address and nothing reads it again: drop Node's cached copy (~90 B).
      forgetPeername(sock);
    }
    const info: OpenInfo = { protocol: op.protocol ?? ws.protocol, host: op.host, port: op.port };
    if (op.url !== undefined) info.url = op.url;
    this.host.deliver(this, { kind: EV_OPEN, isMessage: false, data: encodeJson(info), aux: 0, offset: 0, counted: false });
    // Pushed at once (the usual case): give back the list deliver() made for it.
    if (this.pending.length === 0) this.pending = NO_PENDING;
  }

  message(data: Buffer, isBinary: boolean): void {
    const b = this.#beat;
    if (b !== null) b.heard = true;
    if ((this.#flags & CLOSE_SENT) !== 0) {
      // After our close(): the main thread will not read it (see CLOSE_SENT). Counted, not delivered.
      this.host.droppedAfterClose();
      return;
    }
    this.host.deliverMessage(this, data, isBinary);
  }

  finished(code: number, reason: Buffer): void {
    this.socketClosed = true;
    this.#handshakeEnded();
    this.#opening = null;
    this.#beat?.reset();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    // Anything still queued in ws will never be written.
    while (this.#writes.length !== 0) this.#onWritten!();
    const clean = !this.dropped && code !== CODE_ABNORMAL && this.error === '';
    this.host.closed(this, clean ? code : -1, clean ? reason.toString('utf8') : '', this.error);
  }
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
