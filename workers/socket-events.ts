/**
 * The event handlers of a connection's sockets, as module-level functions (no closure per connection:
 * 50,000 connections would each hold a set). A handler finds its connection through a symbol on the
 * emitter, as ws does with `kWebSocket`: `kConn` on a `ws` WebSocket, `kOwner` on a raw server socket.
 * The connection is seen through the two small interfaces below, so this module imports no class of ours.
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/** What a `ws` WebSocket's events are delivered to. */
export interface WsEvents {
  /** The first error's stable code (see `errorCode`); "" until one. */
  error: string;
  /** Client: the server answered 101 on `sock`. */
  upgraded(sock: Socket): void;
  opened(): void;
  message(data: Buffer, isBinary: boolean): void;
  /** A ping or pong arrived (only listened to while heartbeats are on). */
  heard(): void;
  finished(code: number, reason: Buffer): void;
}

/** What a raw server socket's events are delivered to while no ws owns it (the upgrade, then idle). */
export interface RawEvents {
  rawData(chunk: Buffer): void;
  rawClosed(): void;
}

const kConn = Symbol('ringsocket.connection');
type TaggedWs = WebSocket & { [kConn]: WsEvents };

/**
 * A raw server socket's owner: the listener's stream, then the Connection that reads the upgrade on it.
 * One key for both, so that the hand-over overwrites the value and never changes the socket's shape (a
 * deleted property turns the socket's ~60 fields into a dictionary, +1.5 KB per connection).
 */
export const kOwner = Symbol('ringsocket.owner');
type OwnedSocket = Socket & { [kOwner]?: unknown };

/**
 * Deliver `ws`'s events to `target`. Listeners cost memory per connection: 'upgrade' and 'open' only
 * matter to a client (a server knows its socket and reports EV_OPEN itself), 'ping'/'pong' only while
 * heartbeats are on (`listenForBeats`).
 */
export function listenWs(ws: WebSocket, target: WsEvents, client: boolean): void {
  (ws as TaggedWs)[kConn] = target;
  if (client) {
    ws.on('upgrade', onUpgrade);
    ws.on('open', onOpen);
  }
  ws.on('message', onMessage);
  ws.on('error', onError);
  ws.on('close', onClose);
}

/** Pings and pongs count as hearing from the peer (heartbeats on). */
export function listenForBeats(ws: WebSocket): void {
  ws.on('ping', onHeard);
  ws.on('pong', onHeard);
}

/** Read a raw server socket for `target` (its tag overwritten: see `kOwner`). */
export function listenRaw(socket: Socket, target: RawEvents): void {
  (socket as OwnedSocket)[kOwner] = target;
  socket.on('data', onRawData);
  socket.on('error', onRawError);
  socket.on('close', onRawClose);
}

/** Stop reading a raw socket for its owner (ws takes it, or it was refused or dropped). */
export function unlistenRaw(socket: Socket): void {
  socket.removeListener('data', onRawData);
  socket.removeListener('error', onRawError);
  socket.removeListener('close', onRawClose);
}

/** A socket nobody reads any more: a late 'error' must not crash the worker. */
export function ignoreErrors(socket: Socket): void {
  socket.on('error', onRawError);
}

/** A stable code for an error from ws or the socket: the errno, `HTTP_<status>`, `HANDSHAKE_TIMEOUT`… */
export function errorCode(err: unknown): string {
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
  (this as TaggedWs)[kConn].upgraded(res.socket);
}

function onOpen(this: WebSocket): void {
  (this as TaggedWs)[kConn].opened();
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as TaggedWs)[kConn].message(data, isBinary);
}

function onHeard(this: WebSocket): void {
  (this as TaggedWs)[kConn].heard();
}

function onError(this: WebSocket, err: Error): void {
  const conn = (this as TaggedWs)[kConn];
  if (conn.error === '') conn.error = errorCode(err);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as TaggedWs)[kConn].finished(code, reason);
}

function onRawData(this: Socket, chunk: Buffer): void {
  ((this as OwnedSocket)[kOwner] as RawEvents).rawData(chunk);
}

function onRawError(this: Socket): void {
  // 'close' follows.
}

function onRawClose(this: Socket): void {
  ((this as OwnedSocket)[kOwner] as RawEvents).rawClosed();
}
