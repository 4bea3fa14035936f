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
