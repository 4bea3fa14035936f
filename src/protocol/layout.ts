/**
 * Shared-memory layout: every offset and index that the main thread and the I/O workers both read.
 * Numbers only; imported by `src/` and `workers/`, importing neither. A constant written in two places
 * will one day disagree, so it lives here once.
 *
 * A ring SharedArrayBuffer:
 * ```
 *  byte 0            64           128                                128 + capacity
 *  +-----------------+------------+----------------------------------+
 *  | write position  | read pos.  | data: 16-byte aligned records    |
 *  | (producer only) | (consumer) | [len|slot|kind|aux][payload][pad]|
 *  +-----------------+------------+----------------------------------+
 * ```
 * Positions are free-running uint32 byte counters (stored in an Int32Array); `pos & (capacity - 1)`
 * is the offset in the data area. Each index has one writer and sits on its own cache line.
 */

/** Int32 index of the producer's write position in a ring's control area. */
export const RING_WRITE = 0;
/** Int32 index of the consumer's read position (64 bytes further: no false sharing). */
export const RING_READ = 16;
/** Bytes before the data area. */
export const RING_HEADER_BYTES = 128;

/** Record header: four int32 = 16 bytes. */
export const REC_LEN = 0; // payload length in bytes
export const REC_SLOT = 1; // connection slot within the worker
export const REC_KIND = 2; // record kind (low byte) | fragment flags
export const REC_AUX = 3; // kind-specific: total message length on a FIRST fragment, close code, flag
export const REC_HEADER_BYTES = 16;
/** Records start on 16-byte boundaries so a padding header always fits before the end of the ring. */
export const REC_ALIGN = 16;

/** Smallest and default ring capacities (bytes, powers of two). */
export const MIN_RING_CAPACITY = 1 << 12;
export const DEFAULT_INBOUND_RING_CAPACITY = 1 << 22; // 4 MiB per worker, worker -> main
export const DEFAULT_OUTBOUND_RING_CAPACITY = 1 << 22; // 4 MiB per worker, main -> worker

/**
 * Per-worker control block (Int32Array over its own SharedArrayBuffer).
 * - CTL_DOORBELL: main -> worker wake-up counter. Main does `Atomics.add` + `Atomics.notify` once per
 *   burst; the worker `Atomics.waitAsync`s on the last value it saw.
 * - CTL_INBOUND_BLOCKED: the worker sets 1 when the inbound ring was full; the main thread, after
 *   freeing space, rings the doorbell if it reads 1.
 */
export const CTL_DOORBELL = 0;
/**
 * CTL_PUBLISHED: publications (CMD_PUBLISH_* messages: counted at their last record) the worker has
 * written to its members' sockets, stored once per command burst after it uncorks them. The main thread
 * counts those it sent; the difference is the worker's backlog (`PeerPool.getPublishBacklog`). Int32,
 * wrapping on both sides alike.
 */
export const CTL_PUBLISHED = 8;
export const CTL_INBOUND_BLOCKED = 16;
/**
 * The sync reply cell (`TCPServer.listen` and `stop` wait for a worker's answer, as Godot's do); both
 * halves and their ordering: src/protocol/sync-reply.ts. Rare control calls, never on the data path.
 * (Int32 23 held a listening fd when workers shared one; it is unused.)
 */
export const CTL_SYNC_SEQ = 20;
export const CTL_SYNC_STATUS = 21;
export const CTL_SYNC_PORT = 22;
export const CTL_SYNC_ID = 24;
export const CTL_INT32S = 32;

/**
 * The pool's wake cell (Int32Array(WAKE_INT32S) over one SharedArrayBuffer shared by all its workers), for
 * `PeerPool.waitForActivity()`:
 * - WAKE_SEQ: bumped (then `Atomics.notify`) by a worker that published inbound records while the main
 *   thread waits.
 * - WAKE_WAITING: the main thread stores 1 before it waits and then looks at the rings; a worker publishes,
 *   then loads this flag. One of the two sees the other, so no record is left unnoticed.
 */
export const WAKE_SEQ = 0;
export const WAKE_WAITING = 1;
export const WAKE_INT32S = 16;

/** CTL_SYNC_STATUS values. */
export const SYNC_OK = 1;
export const SYNC_ERR_IN_USE = 2;
export const SYNC_ERR_OTHER = 3;
/** A listen that failed with one of these errno codes answers SYNC_ERR_ERRNO_BASE + its index here. */
export const LISTEN_ERRNOS = ['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'EPERM', 'ENOTFOUND', 'EAI_AGAIN', 'EAFNOSUPPORT', 'EINVAL'] as const;
export const SYNC_ERR_ERRNO_BASE = 16;

/** The CTL_SYNC_STATUS of a failed listen with Node's error `code`. */
export function listenFailureStatus(code: string | undefined): number {
  const i = LISTEN_ERRNOS.indexOf(code as (typeof LISTEN_ERRNOS)[number]);
  return i < 0 ? SYNC_ERR_OTHER : SYNC_ERR_ERRNO_BASE + i;
}

/** Why a listen failed, from its CTL_SYNC_STATUS: an errno code, or LISTEN_FAILED. */
export function listenFailureReason(status: number): string {
  if (status === SYNC_ERR_IN_USE) return 'EADDRINUSE';
  return LISTEN_ERRNOS[status - SYNC_ERR_ERRNO_BASE] ?? 'LISTEN_FAILED';
}

/**
 * Per-slot counters (Int32Array, SLOT_FIELDS int32 per connection slot). One writer per field.
 * Counters are free-running uint32; differences are taken with `>>> 0`.
 */
export const SLOT_IN_CONSUMED_BYTES = 0; // main writes: bytes of inbound messages taken by getPacket
export const SLOT_IN_CONSUMED_MSGS = 1; // main writes: inbound messages taken by getPacket
export const SLOT_IN_WAITING = 2; // worker writes: 1 while the socket is paused waiting for credit
export const SLOT_OUT_SENT_BYTES = 3; // worker writes: outbound payload bytes written to the socket
export const SLOT_OUT_SENT_MSGS = 4; // worker writes: outbound messages written to the socket
export const SLOT_FANOUT_SKIPPED = 5; // worker writes: published messages this connection missed (slow, 'skip')
export const SLOT_FIELDS = 8; // 32 bytes per slot (padded for future fields)

/** Default most connections one worker may hold (the slot table is sized for it: 2 MiB, paged in lazily). */
export const DEFAULT_MAX_PEERS_PER_WORKER = 1 << 16;

/** Bytes needed for a ring of `capacity` data bytes. */
export function ringByteLength(capacity: number): number {
  return RING_HEADER_BYTES + capacity;
}

/** Round `n` up to the record alignment. */
export function alignRecord(n: number): number {
  return (n + (REC_ALIGN - 1)) & ~(REC_ALIGN - 1);
}
