/**
 * Every reach into a private field of Node that the workers make, in one file: when a Node update moves
 * one, this is the one place to mend, and `test/unit/internals.test.ts` (real objects, no mocks) fails
 * first. (The workers reach into no private field of `ws` any more: they use no ws object.)
 */
import type { Socket } from 'node:net';

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
