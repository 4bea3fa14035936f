/**
 * Every reach into a private field of Node or `ws` that the workers make, in one file: when a Node or
 * `ws` update moves one, this is the one place to mend, and `test/unit/internals.test.ts` (real objects,
 * no mocks) fails first. `ws` is pinned to a minor range in package.json for the same reason.
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/** The options ws's server path passes to `setSocket` (lib/websocket-server.js `completeUpgrade`). */
export interface SetSocketOptions {
  maxPayload: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
}

/**
 * Make `ws` (a WebSocket constructed with a null address: ws's own server-side path) the server end of
 * `socket`. `head`: bytes already read from the socket, given back for ws to parse. ws's private
 * `setSocket` (lib/websocket.js), as `WebSocketServer.completeUpgrade` calls it.
 */
export function wsSetSocket(ws: WebSocket, socket: Socket, head: Buffer, options: SetSocketOptions): void {
  (ws as unknown as { setSocket(s: Socket, head: Buffer, o: SetSocketOptions): void }).setSocket(socket, head, options);
}

/** The socket a `ws` WebSocket writes to (its private `_socket`), or null before it has one. */
export function wsSocket(ws: WebSocket | null): Socket | null {
  return (ws as unknown as { _socket?: Socket } | null)?._socket ?? null;
}

/**
 * Forget the peer address Node cached on `socket` when it was first read (`_peername`: an object and a
 * string, ~90 B per connection). Were it read again, Node would ask the kernel afresh.
 */
export function forgetPeername(socket: Socket): void {
  const cached = socket as unknown as { _peername?: unknown };
  if (cached._peername != null) cached._peername = null;
}

/** Whether `socket` holds a cached peer address (for the test that pins `forgetPeername`). */
export function hasCachedPeername(socket: Socket): boolean {
  return (socket as unknown as { _peername?: unknown })._peername != null;
}

/**
 * The native handle of a `node:zlib` stream, used synchronously on a stream that lives on
 * (workers/deflate.ts). `writeSync(flush, in, inOff, inLen, out, outOff, outLen)` runs one zlib call on
 * this thread and leaves [avail_out, avail_in] after it in `state` (the stream's private `_writeState`);
 * on a zlib error it calls `onerror(message, errno)` synchronously (lib/zlib.js installs one that destroys
 * the stream; we install ours). Node's own sync path (`_processChunk` without a callback,
 * `processChunkSync`) closes the stream after one call, so it cannot keep a context between messages,
 * and it gathers all the output before returning, so it cannot stop a zip bomb early.
 */
export interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

export function zlibHandle(stream: object): { handle: ZlibHandle; state: Uint32Array } {
  const s = stream as { _handle?: ZlibHandle; _writeState?: Uint32Array };
  if (s._handle == null || !(s._writeState instanceof Uint32Array)) throw new Error('node:zlib internals moved (_handle, _writeState)');
  return { handle: s._handle, state: s._writeState };
}
