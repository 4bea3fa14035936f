/**
 * One WebSocket connection held by an I/O worker, with no `ws` object: the server side reads and
 * answers the HTTP upgrade itself (handshake.ts), the client side dials with Node's http (dial.ts);
 * once open, frames are read by our own reader (framing.ts, frame-reader.ts) and written by our own
 * writer (frame-writer.ts). This class holds the socket, the closing handshake, ping/pong and
 * heartbeats, and the outbound side.
 *
 * No closures per connection on the hot path: the socket's event handlers are module-level functions
 * (socket-events.ts). An open connection that has not read a byte yet holds no reader ("idle": most of
 * 50,000 connections): its state is this object and its socket.
 */
import type { Socket } from 'node:net';
import type { AcceptConfig, ConnectConfig, RequestInfo } from '../src/protocol/control.js';
import { encodeJson } from '../src/protocol/control.js';
import { EV_OPEN, EV_REQUEST, FLAG_LAST } from '../src/protocol/records.js';
import type { ConnectionHost, PendingItem } from './hosts.js';
import { MAX_REQUEST_HEAD_BYTES, rejection, type HandshakeOk } from './handshake.js';
import { Beat } from './heartbeat.js';
import { abortDial, dial, type DialEvents } from './dial.js';
import { errorCode, listen, unlisten, type SocketEvents } from './socket-events.js';
import { forgetPeername } from './internals.js';
import { NO_PENDING } from './delivery.js';
import { CLOSED_SLOW, NOT_OPEN, SKIPPED, WROTE, type FanoutMember } from './fanout.js';
import { Framing, type FramingConn } from './framing.js';
import { closeFrame, frameMessage, OP_BINARY, OP_PING, OP_PONG, OP_TEXT } from './frame-writer.js';
import { Opening } from './opening.js';
import { Outbound } from './outbound.js';
import { DEFAULT_HIBERNATE_MS, MAX_HEADROOM, PerMessageDeflate, zlibCounters } from './deflate.js';
import type { DeflateParams } from './deflate-negotiation.js';
import { frameCompressed } from './frame-writer.js';

/** A connection's budgets, from its ConnectConfig or AcceptConfig. */
type Limits = Pick<AcceptConfig, 'inboundBufferSize' | 'maxQueuedPackets' | 'outboundBufferSize' | 'slowPeerPolicy'>;

const NO_LIMITS: Limits = { inboundBufferSize: 1, maxQueuedPackets: 1, outboundBufferSize: 1, slowPeerPolicy: 0 };

/** The close code of a connection that ended without a close frame from the peer. */
const CODE_ABNORMAL = 1006;
const CODE_NONE = 1005;
const NO_BYTES = new Uint8Array(0);
const EMPTY_CHUNK = Buffer.alloc(0);

/** `#flags` bits: one field for the booleans of every connection. */
const READING_PAUSED = 1;
/** The socket is gone (nothing more can arrive). */
const SOCKET_CLOSED = 4;
/** EV_CLOSED is out: the slot is the main thread's again (set by delivery). */
const RETIRED = 8;
/** The main thread dropped us (negative close) or a local timer gave up: close code -1. */
const DROPPED = 16;
/** The socket is corked for the current command burst (see `cork`). */
const CORKED = 32;
/**
 * Our close frame is out: read on whatever the inbound budget says, until the remote's close frame, and
 * drop the data messages that arrive meanwhile (as Godot 4 does, see README "Behaviour details").
 * Reading stays paused for nobody: the remote's answer waits behind unread data.
 */
const CLOSE_SENT = 64;
/** The client end (it masks what it sends: publications are framed for it alone). */
const CLIENT = 128;
/** slowPeerPolicy 'close': a publication that finds the socket full closes it with 1008. */
const CLOSE_WHEN_SLOW = 256;
/** The peer's close frame came (its code and reason are in `#closing`). */
const CLOSE_RECEIVED = 512;
/** A resume of reading is scheduled (process.nextTick). */
const RESUMING = 1024;

/** What a connection needs only once its closing handshake started: the timer, the peer's code and reason. */
class Closing {
  timer: NodeJS.Timeout | null = null;
  code = CODE_ABNORMAL;
  reason = '';
}

export class Connection implements SocketEvents, DialEvents, FanoutMember, FramingConn {
  readonly host: ConnectionHost;
  readonly slot: number;
  readonly inboundBufferSize: number;
  readonly maxQueuedPackets: number;
  /** Unwritten bytes past which a publication finds the socket slow. */
  readonly outboundBufferSize: number;
  /** Topic ids (workers/fanout.ts); null for most connections. */
  topics: number[] | null = null;
  /** Inbound items waiting for credit or ring space; the shared empty list until the first one. */
  pending: PendingItem[] = NO_PENDING;
  deliveredBytes = 0;
  deliveredMsgs = 0;
  sentBytes = 0;
  sentMsgs = 0;
  error = '';
  /** Until EV_OPEN is out (null after). */
  #opening: Opening | null;
  /** The socket: the server's from accept, the client's from the upgrade; null once closed or before. */
  #sock: Socket | null = null;
  /** Bytes the socket held unwritten when it was corked for this burst (publications' slow check). */
  #heldAtCork = 0;
  /** The frame reader and its sink, from the first bytes after the handshake. */
  #framing: Framing | null = null;
  /** The outbound side, from the first send (an idle connection holds none). */
  #out: Outbound | null = null;
  #beat: Beat | null = null;
  #closing: Closing | null = null;
  /** permessage-deflate, when the handshake negotiated it (null otherwise). */
  #pmd: PerMessageDeflate | null = null;
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

  get socketClosed(): boolean {
    return (this.#flags & SOCKET_CLOSED) !== 0;
  }
  get retired(): boolean {
    return (this.#flags & RETIRED) !== 0;
  }
  set retired(on: boolean) {
    this.#flags = on ? this.#flags | RETIRED : this.#flags & ~RETIRED;
  }
  get corked(): boolean {
    return (this.#flags & CORKED) !== 0;
  }
  get readingPaused(): boolean {
    return (this.#flags & READING_PAUSED) !== 0;
  }
  get closeSent(): boolean {
    return (this.#flags & CLOSE_SENT) !== 0;
  }

  /** Open, and neither close frame exchanged: data and pings may be sent. */
  get #open(): boolean {
    return this.#opening === null && this.#sock !== null && (this.#flags & (SOCKET_CLOSED | CLOSE_SENT | CLOSE_RECEIVED)) === 0;
  }

  /** Client: dial `cfg.url`. Failures end in EV_CLOSED with code -1. */
  static connect(host: ConnectionHost, slot: number, cfg: ConnectConfig): Connection {
    const op = new Opening(cfg.noDelay);
    op.deflate = cfg.deflate;
    const conn = new Connection(host, slot, cfg, op);
    conn.#flags |= CLIENT;
    try {
      op.dial = dial(cfg, host.handshakeTimeoutMs, conn);
    } catch (err) {
      conn.error = errorCode(err);
      conn.#flags |= SOCKET_CLOSED;
      conn.#opening = null;
      queueMicrotask(() => host.closed(conn, -1, '', conn.error));
      return conn;
    }
    if (cfg.heartbeatMs > 0) conn.setHeartbeat(cfg.heartbeatMs);
    return conn;
  }

  /** A connection that failed before it started (its stream was already gone). */
  static failed(host: ConnectionHost, slot: number, error: string): Connection {
    const conn = new Connection(host, slot, NO_LIMITS, null);
    conn.error = error;
    conn.#flags |= SOCKET_CLOSED;
    queueMicrotask(() => host.closed(conn, -1, '', error));
    return conn;
  }

  /**
   * Server: read and answer the HTTP upgrade on `socket` (a taken TCP stream, or its TLS layer).
   * `deadline` is the stream's handshake timer, now ours: when it fires, the listener calls
   * `rawGone('HANDSHAKE_TIMEOUT')`; we clear it once the request is answered.
   */
  static accept(host: ConnectionHost, slot: number, socket: Socket, cfg: AcceptConfig, secure: boolean, deadline: NodeJS.Timeout): Connection {
    const conn = new Connection(host, slot, cfg, Opening.accepting(cfg, socket, secure, deadline));
    conn.#sock = socket;
    // (The listener tagged the socket with its stream under the same key: overwritten, see kOwner.)
    listen(socket, conn);
    socket.resume();
    return conn;
  }

  // ---- the socket's events ----

  socketData(chunk: Buffer): void {
    if (this.#opening !== null) {
      this.#requestData(chunk);
      return;
    }
    const b = this.#beat;
    if (b !== null) b.heard = true;
    (this.#framing ??= new Framing(this, (this.#flags & CLIENT) === 0, this.inboundBufferSize, this.#pmd)).data(chunk);
  }

  /** The socket closed: during the handshake a failure; else the end of the connection. */
  socketGone(): void {
    if (this.#opening !== null) {
      this.rawGone('CONNECTION_LOST_DURING_HANDSHAKE');
      return;
    }
    if (this.socketClosed) return;
    this.#flags |= SOCKET_CLOSED;
    if ((this.#flags & READING_PAUSED) !== 0) {
      this.#flags &= ~READING_PAUSED;
      this.#framing?.drain(this.#sock!);
    }
    this.#finished();
  }

  /** Server side: bytes of the upgrade request arrived. */
  #requestData(chunk: Buffer): void {
    const op = this.#opening!;
    const sock = this.#sock!;
    if (op.waiting !== null) {
      // Bytes after the request, before our answer: kept for the reader; past a request head's worth,
      // stop reading (the client should send nothing before the 101).
      op.request = op.request === null ? chunk : Buffer.concat([op.request, chunk]);
      if (op.request.length > MAX_REQUEST_HEAD_BYTES) sock.pause();
      return;
    }
    const r = op.readRequest(chunk);
    if (r === null) return;
    if (!r.ok) {
      this.#handshakeEnded();
      this.#detach();
      sock.end(r.response);
      sock.destroySoon();
      this.#failEarly(r.error);
      return;
    }
    if (op.accept!.approval === true) {
      // Valid: the main thread decides (CMD_HANDSHAKE_ANSWER → answerHandshake). Still a pending
      // handshake, under the same deadline.
      op.waiting = r.verdict;
      op.request = r.rest.length !== 0 ? r.rest : null;
      const lines = r.head.indexOf('\r\n');
      const v = r.verdict;
      const info: RequestInfo = { path: v.path, head: lines < 0 ? '' : r.head.slice(lines + 2), host: op.host, port: op.port, url: v.url, protocol: v.protocol };
      const data = encodeJson(info);
      this.host.deliver(this, { kind: EV_REQUEST, isMessage: false, data, aux: data.byteLength, offset: 0, counted: false });
      if (this.pending.length === 0) this.pending = NO_PENDING;
      return;
    }
    this.#upgrade(r.verdict, r.rest);
  }

  /**
   * The main thread's answer to EV_REQUEST: `status` 0 accepts (the 101, as without approval), 400-599
   * refuses with that status and `reason` as the body, then closes. Ignored when no request waits
   * (answered already, or the deadline passed: the connection is gone).
   */
  answerHandshake(status: number, reason: string): void {
    const op = this.#opening;
    const sock = this.#sock;
    if (op === null || op.waiting === null || sock === null || this.socketClosed) return;
    const verdict = op.waiting;
    op.waiting = null;
    if (status === 0) {
      const early = op.request ?? EMPTY_CHUNK;
      op.request = null;
      if (sock.isPaused()) sock.resume();
      this.#upgrade(verdict, early);
      return;
    }
    this.#detach();
    sock.end(rejection(status, reason));
    sock.destroySoon();
    this.#failEarly('HANDSHAKE_REJECTED');
  }

  /** Write the 101 for a valid request and open; `rest`: bytes that came after the request head. */
  #upgrade(verdict: HandshakeOk, rest: Buffer): void {
    const op = this.#opening!;
    const sock = this.#sock!;
    const cfg = op.accept!;
    this.#handshakeEnded();
    op.upgrading(verdict);
    if (verdict.deflate !== null) this.#startDeflate(verdict.deflate, false);
    sock.write(verdict.response);
    // A heartbeat set while the request was read (CMD_HEARTBEAT) wins over the one in the config.
    if (this.#beat === null && cfg.heartbeatMs > 0) this.setHeartbeat(cfg.heartbeatMs);
    this.#opened();
    // Frames right behind the request.
    if (rest.length !== 0 && !this.socketClosed) this.socketData(rest);
  }

  /** Client: the server's 101 passed ws's checks (dial.ts): the socket is ours. */
  dialed(sock: Socket, protocol: string, head: Buffer, deflate: DeflateParams | null, extensions: string): void {
    const op = this.#opening;
    if (op === null) return;
    op.dialed(sock, protocol, extensions);
    if (deflate !== null) this.#startDeflate(deflate, true);
    this.#sock = sock;
    listen(sock, this);
    this.#opened();
    if (head.length !== 0) this.socketData(head);
    if (this.#sock !== null && (this.#flags & READING_PAUSED) === 0) sock.resume();
  }

  /** permessage-deflate was agreed: its state, with the config's threshold and zlib settings. */
  #startDeflate(params: DeflateParams, client: boolean): void {
    const o = this.#opening!.deflate ?? {};
    this.#pmd = new PerMessageDeflate(params, !client, {
      maxPayload: this.inboundBufferSize,
      ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
      ...(o.level !== undefined ? { level: o.level } : {}),
      ...(o.memLevel !== undefined ? { memLevel: o.memLevel } : {}),
      // Idle connections put their streams to sleep (context kept as bytes): README "Compression".
      ...((o.hibernateAfterMs ?? DEFAULT_HIBERNATE_MS) > 0 ? { hibernate: true, idleMs: o.hibernateAfterMs ?? DEFAULT_HIBERNATE_MS } : {}),
    });
  }

  dialFailed(error: string): void {
    if (this.#opening === null) return;
    this.#opening.dial = null;
    this.#failEarly(error);
  }

  /** Stop reading the request (refused or dropped). */
  #detach(): void {
    const sock = this.#sock;
    if (sock === null) return;
    this.#sock = null;
    unlisten(sock);
    this.#opening?.stopDeadline();
  }

  /** Server side: no longer a pending handshake (answered, refused or dropped). */
  #handshakeEnded(): void {
    const op = this.#opening;
    if (op === null || !op.pending) return;
    op.pending = false;
    this.host.handshakeEnded();
  }

  /** Fail a connection before it opened (refused, dropped or failed handshake). */
  #failEarly(error: string): void {
    this.#handshakeEnded();
    if (this.socketClosed) return;
    this.#detach();
    this.#opening = null;
    this.#beat?.reset();
    if (this.error === '') this.error = error;
    this.#flags |= SOCKET_CLOSED;
    this.host.closed(this, -1, '', this.error);
  }

  /** Drop a connection whose handshake is not done (deadline, lost socket, close while connecting). */
  rawGone(why: string): void {
    const op = this.#opening;
    if (op === null) return;
    const sock = this.#sock;
    if (why === 'HANDSHAKE_TIMEOUT' && op.waiting !== null && sock !== null) {
      // A valid request the main thread did not answer in time: the client is told so (503), then closed.
      op.waiting = null;
      this.#detach();
      sock.end(rejection(503, 'the server did not answer the upgrade request in time'));
      sock.destroySoon();
      this.#failEarly(why);
      return;
    }
    if (op.dial !== null) abortDial(op.dial);
    op.dial = null;
    sock?.destroy();
    this.#failEarly(why);
  }

  #opened(): void {
    const op = this.#opening!;
    const sock = this.#sock!;
    this.#opening = null;
    sock.setNoDelay(op.noDelay);
    // EV_OPEN carries the peer's address and nothing reads it again: drop Node's cached copy (~90 B).
    forgetPeername(sock);
    this.host.deliver(this, { kind: EV_OPEN, isMessage: false, data: encodeJson(op.info()), aux: 0, offset: 0, counted: false });
    // Pushed at once (the usual case): give back the list deliver() made for it.
    if (this.pending.length === 0) this.pending = NO_PENDING;
  }

  #finished(): void {
    this.#flags |= SOCKET_CLOSED;
    this.#sock = null;
    this.#framing = null;
    this.#beat?.reset();
    const c = this.#closing;
    if (c !== null && c.timer !== null) clearTimeout(c.timer);
    this.#out?.abandon();
    this.#pmd?.close();
    const code = c !== null && (this.#flags & CLOSE_RECEIVED) !== 0 ? c.code : CODE_ABNORMAL;
    const clean = (this.#flags & DROPPED) === 0 && code !== CODE_ABNORMAL && this.error === '';
    this.host.closed(this, clean ? code : -1, clean ? c!.reason : '', this.error);
  }

  // ---- frames from the peer (framing.ts) ----

  pingReceived(bytes: Uint8Array, start: number, end: number): void {
    if (this.#open) this.#sock!.write(frameMessage(OP_PONG, bytes.subarray(start, end), true, (this.#flags & CLIENT) !== 0));
  }

  closeReceived(code: number, reason: string): void {
    const c = (this.#closing ??= new Closing());
    c.code = code;
    c.reason = reason;
    this.#flags |= CLOSE_RECEIVED;
    // Echo its code and reason (none for 1005) unless ours is out already, then end (as ws does).
    if ((this.#flags & CLOSE_SENT) === 0) this.#sendClose(code === CODE_NONE ? undefined : code, reason);
    this.#endSocket();
  }

  protocolError(closeCode: number, errorCode: string): void {
    if (this.error === '') this.error = errorCode;
    if ((this.#flags & CLOSE_SENT) === 0) this.#sendClose(closeCode, '');
    this.#endSocket();
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#flags |= CLOSE_SENT;
    this.#sock!.write(closeFrame(code, reason, (this.#flags & CLIENT) !== 0));
    const c = (this.#closing ??= new Closing());
    if (c.timer === null) c.timer = setTimeout(closeTimedOut, this.host.closeTimeoutMs, this);
  }

  /** Both close frames are out (or the stream is bad): end our side; the socket's 'close' ends us. */
  #endSocket(): void {
    const sock = this.#sock!;
    sock.end();
    if ((this.#flags & READING_PAUSED) !== 0) this.#resumeNow();
  }

  // ---- commands from the main thread ----

  /** One record of an outbound message (whole, or a fragment of a large one). `view` is ring memory. */
  sendFragment(view: Uint8Array, binary: boolean, kindFlags: number): void {
    if (this.#open) (this.#out ??= new Outbound(this.host, this, this.#pmd)).send(this.#sock!, view, binary, kindFlags, (this.#flags & CLIENT) !== 0);
    // Closing or closed: the bytes will never be written. Count them as done so the main thread's
    // buffered amount does not stay up forever.
    else this.host.noteSent(this, view.byteLength, (kindFlags & FLAG_LAST) !== 0);
  }

  /**
   * One publication of a topic this connection is a member of (workers/fanout.ts): `frame` is the
   * unmasked frame every server-side member gets, written as it is; the client side masks its own.
   */
  publish(frame: Buffer, payload: Buffer, binary: boolean): number {
    if (!this.#open) return NOT_OPEN;
    const sock = this.#sock!;
    // Slow: what it held unwritten before this command burst already passed its budget (a message larger
    // than the budget still goes to a socket that keeps up, as uWebSockets.js's maxBackpressure check
    // does; and what this burst wrote into the cork does not count, or a burst of publications would find
    // every member slow).
    const held = (this.#flags & CORKED) !== 0 ? this.#heldAtCork : sock.writableLength;
    if (held > this.outboundBufferSize) {
      if ((this.#flags & CLOSE_WHEN_SLOW) === 0) return SKIPPED;
      this.close(1008, 'slow consumer');
      return CLOSED_SLOW;
    }
    const pmd = this.#pmd;
    if (pmd !== null) {
      sock.write(deflatedPublication(pmd, frame, payload, binary, (this.#flags & CLIENT) !== 0));
      return WROTE;
    }
    sock.write((this.#flags & CLIENT) !== 0 ? frameMessage(binary ? OP_BINARY : OP_TEXT, payload, true, true) : frame);
    return WROTE;
  }

  close(code: number, reason: string): void {
    if (this.socketClosed) return;
    if (this.#opening !== null) {
      // Still opening (a server reading the upgrade, a client dialing): drop.
      this.#flags |= DROPPED;
      this.rawGone(code < 0 ? 'DROPPED' : 'CLOSED_WHILE_CONNECTING');
      return;
    }
    if (code < 0) {
      this.#flags |= DROPPED;
      if (this.error === '') this.error = 'DROPPED';
      this.#sock!.destroy();
      return;
    }
    if (!this.#open) return;
    this.#sendClose(code, reason);
    // Keep reading until the remote's close frame, even if the budget had paused the socket: it waits
    // behind the data we have not read. What arrives meanwhile is dropped (framing.ts).
    if ((this.#flags & READING_PAUSED) !== 0) this.#resumeNow();
  }

  setNoDelay(on: boolean): void {
    // Before EV_OPEN the choice is kept for it.
    if (this.#opening !== null) this.#opening.noDelay = on;
    else this.#sock?.setNoDelay(on);
  }

  setHeartbeat(ms: number): void {
    let b = this.#beat;
    if (b === null) {
      // Nothing on, nothing to turn off. While a server reads the request the choice is kept all the
      // same: it overrides the config's when the connection opens.
      if (ms <= 0 && this.#opening === null) return;
      b = this.#beat = new Beat();
    }
    b.reset();
    if (ms > 0 && !this.socketClosed) b.timer = setInterval(heartbeatTick, ms, this);
  }

  beat(): void {
    const b = this.#beat;
    if (b === null || !this.#open) return;
    if (b.due((this.#flags & READING_PAUSED) !== 0)) {
      // Two whole intervals without a byte from the peer: gone (heartbeat.ts). Drop as not clean.
      this.error = 'HEARTBEAT_TIMEOUT';
      this.#flags |= DROPPED;
      this.#sock!.destroy();
      return;
    }
    this.#sock!.write(frameMessage(OP_PING, NO_BYTES, true, (this.#flags & CLIENT) !== 0));
  }

  /** The close timer fired: the peer never ended the stream. */
  closeTimedOut(): void {
    if (this.socketClosed || this.#sock === null) return;
    // After the peer's close frame the close stays clean (ws reports its code); else it is a failure.
    if ((this.#flags & CLOSE_RECEIVED) === 0) {
      if (this.error === '') this.error = 'CLOSE_TIMEOUT';
      this.#flags |= DROPPED;
    }
    this.#sock.destroy();
  }

  // ---- write batching ----

  /** Cork the socket for a burst of sends (the runtime uncorks after the burst). */
  cork(): boolean {
    if (this.#opening !== null || this.#sock === null || this.socketClosed) return false;
    this.#heldAtCork = this.#sock.writableLength;
    this.#sock.cork();
    this.#flags |= CORKED;
    return true;
  }

  uncork(): void {
    if ((this.#flags & CORKED) === 0) return;
    this.#flags &= ~CORKED;
    this.#sock?.uncork();
  }

  // ---- backpressure ----

  pauseReading(): void {
    if ((this.#flags & (READING_PAUSED | CLOSE_SENT | SOCKET_CLOSED)) !== 0 || this.#sock === null) return;
    this.#flags |= READING_PAUSED;
    this.#sock.pause();
  }

  /** Read on: first the rest of the chunk the reader stopped in (next tick: not inside delivery's loop). */
  resumeReading(): void {
    if ((this.#flags & READING_PAUSED) === 0) return;
    this.#flags &= ~READING_PAUSED;
    if ((this.#flags & RESUMING) !== 0) return;
    this.#flags |= RESUMING;
    process.nextTick(resumeTick, this);
  }

  #resumeNow(): void {
    this.#flags &= ~READING_PAUSED;
    this.resumed();
  }

  /** (resumeTick) Push the kept rest; read the socket on unless that paused us again. */
  resumed(): void {
    this.#flags &= ~RESUMING;
    if ((this.#flags & READING_PAUSED) !== 0 || this.#sock === null) return;
    if ((this.#framing === null || this.#framing.resume()) && (this.#flags & READING_PAUSED) === 0) this.#sock?.resume();
  }
}

/**
 * Fan-out with permessage-deflate: the publication's frame for one member. Members whose compressor keeps
 * no context and has the same shape (`shareKey`) share one compressed frame per publication (compressed
 * once, on the first such member; kept until the next publication); a member with context takeover
 * compresses it with its own compressor, in its send order; a client end masks its own.
 */
let sharedFor: Buffer | null = null;
const sharedFrames = new Map<string, Buffer | null>();

function deflatedPublication(pmd: PerMessageDeflate, frame: Buffer, payload: Buffer, binary: boolean, client: boolean): Buffer {
  const opcode = binary ? OP_BINARY : OP_TEXT;
  const key = pmd.shareKey;
  if (key === null || client) {
    const z = pmd.compress(payload, MAX_HEADROOM);
    if (z !== null) zlibCounters.fanoutCompressions++;
    if (z === null) return client ? frameMessage(opcode, payload, true, true) : frame;
    return frameCompressed(opcode, z, MAX_HEADROOM, client);
  }
  if (sharedFor !== payload) {
    sharedFor = payload;
    sharedFrames.clear();
  }
  let f = sharedFrames.get(key);
  if (f === undefined) {
    const z = pmd.compress(payload, MAX_HEADROOM);
    if (z !== null) zlibCounters.fanoutCompressions++;
    f = z === null ? null : frameCompressed(opcode, z, MAX_HEADROOM, false);
    sharedFrames.set(key, f);
  }
  return f ?? frame;
}

function heartbeatTick(conn: Connection): void {
  conn.beat();
}

function resumeTick(conn: Connection): void {
  conn.resumed();
}

function closeTimedOut(conn: Connection): void {
  conn.closeTimedOut();
}
