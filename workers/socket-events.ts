/**
 * The event handlers of a connection's socket, as module-level functions (no closure per connection:
 * 50,000 connections would each hold a set). A handler finds its connection through a symbol on the
 * socket, as ws does with `kWebSocket`. The connection is seen through the small interface below, so
 * this module imports no class of ours.
 */
import type { Socket } from 'node:net';

/** What a connection's socket events are delivered to (the upgrade request, then frames). */
export interface SocketEvents {
  socketData(chunk: Buffer): void;
  socketGone(): void;
}

/**
 * A server socket's owner: the listener's stream, then the Connection that reads the upgrade on it.
 * One key for both, so that the hand-over overwrites the value and never changes the socket's shape (a
 * deleted property turns the socket's ~60 fields into a dictionary, +1.5 KB per connection).
 */
export const kOwner = Symbol('ringsocket.owner');
type OwnedSocket = Socket & { [kOwner]?: unknown };

/**
 * Read `socket` for `target` (its tag overwritten: see `kOwner`). A socket that stays half open when
 * the peer ends (a client's, from http) is ended too, as ws does ('end' costs a listener otherwise).
 */
export function listen(socket: Socket, target: SocketEvents): void {
  (socket as OwnedSocket)[kOwner] = target;
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  if (socket.allowHalfOpen) socket.on('end', onEnd);
}

/** Stop reading a socket for its owner (refused or dropped): a late 'error' must not crash the worker. */
export function unlisten(socket: Socket): void {
  socket.removeListener('data', onData);
  socket.removeListener('close', onClose);
}

/** A stable code for an error from the socket or the handshake: the errno, or the message. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.message === 'string') return e.message;
  return String(err);
}

function onData(this: Socket, chunk: Buffer): void {
  ((this as OwnedSocket)[kOwner] as SocketEvents).socketData(chunk);
}

function onError(this: Socket): void {
  // 'close' follows. An open connection's socket error is no failure reason (ws reported none either):
  // the close without a close frame is code -1.
}

function onEnd(this: Socket): void {
  this.end();
}

function onClose(this: Socket): void {
  ((this as OwnedSocket)[kOwner] as SocketEvents).socketGone();
}
