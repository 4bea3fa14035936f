/**
 * The sync reply cell: how `TCPServer.listen()` and `stop()` wait, synchronously as Godot's do, for a
 * worker's answer — both halves of the handshake, so the ordering argument is written once.
 *
 * The worker stores the answer's fields (CTL_SYNC_ID: the server it answers for, CTL_SYNC_STATUS,
 * CTL_SYNC_PORT), *then* bumps CTL_SYNC_SEQ and notifies it. The main thread reads CTL_SYNC_SEQ before it
 * sends the command, `Atomics.wait`s (bounded) for it to change, then loads the ID: since the fields were
 * stored before the bump, a changed SEQ means they are complete. An answer for another server id (the late
 * reply to a listen that timed out) is skipped and the wait goes on, so a reply is never taken by the
 * wrong call.
 */
import { CTL_SYNC_ID, CTL_SYNC_PORT, CTL_SYNC_SEQ, CTL_SYNC_STATUS } from './layout.js';

/** The worker's half: answer for `serverId`. */
export function syncReply(ctl: Int32Array, serverId: number, status: number, port: number): void {
  Atomics.store(ctl, CTL_SYNC_ID, serverId);
  Atomics.store(ctl, CTL_SYNC_STATUS, status);
  Atomics.store(ctl, CTL_SYNC_PORT, port);
  Atomics.add(ctl, CTL_SYNC_SEQ, 1);
  Atomics.notify(ctl, CTL_SYNC_SEQ);
}

/** The main thread's half, before sending the command: the sequence number to wait from. */
export function syncSeq(ctl: Int32Array): number {
  return Atomics.load(ctl, CTL_SYNC_SEQ);
}

/**
 * The main thread's half: block until the reply for `serverId` is in the cell, for at most `ms`. `seq`
 * is `syncSeq(ctl)` as read before the command was sent. Returns the reply, or null on timeout.
 */
export function awaitSyncReply(ctl: Int32Array, serverId: number, seq: number, ms: number): { status: number; port: number } | null {
  const deadline = performance.now() + ms;
  let seen = seq;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return null;
    if (Atomics.wait(ctl, CTL_SYNC_SEQ, seen, left) === 'timed-out') return null;
    seen = Atomics.load(ctl, CTL_SYNC_SEQ);
    if (Atomics.load(ctl, CTL_SYNC_ID) === serverId) return { status: Atomics.load(ctl, CTL_SYNC_STATUS), port: Atomics.load(ctl, CTL_SYNC_PORT) };
  }
}
