/**
 * The slot table's counters (one row of SLOT_FIELDS int32 per connection slot): inbound credit and
 * outbound progress — both halves of each handshake, so the ordering argument is written once.
 * Counters are free-running uint32, one writer per field; differences are taken with `>>> 0`.
 *
 * Inbound credit. The worker holds back a connection's messages while the main thread holds
 * `inboundBufferSize` bytes or `maxQueuedPackets` messages of it (held = delivered − consumed):
 * - main (`getPacket`, once per burst): store CONSUMED_BYTES and CONSUMED_MSGS, *then* load WAITING; if set,
 *   ring the worker's doorbell (`creditReturned`);
 * - worker (its budget is full): store WAITING = 1, *then* re-check the consumed counters (`hasCredit`, on
 *   the next microtask) before it sleeps on the doorbell (`setWaiting`).
 * Each side stores, then loads what the other stores: at least one sees the other, so credit returned just
 * as the worker gave up is never lost.
 *
 * Outbound progress. The worker's socket write callbacks store SENT_BYTES / SENT_MSGS (`noteSent`); the main
 * thread loads them to know what is still buffered (`getCurrentOutboundBufferedAmount`, the outbound budget).
 */
import { SLOT_FIELDS, SLOT_IN_CONSUMED_BYTES, SLOT_IN_CONSUMED_MSGS, SLOT_IN_WAITING, SLOT_OUT_SENT_BYTES, SLOT_OUT_SENT_MSGS } from './layout.js';

// ---- main thread ----

/** Return inbound credit for `slot`; true when the worker waits for it (ring its doorbell then). */
export function creditReturned(slots: Int32Array, slot: number, consumedBytes: number, consumedMsgs: number): boolean {
  const base = slot * SLOT_FIELDS;
  Atomics.store(slots, base + SLOT_IN_CONSUMED_BYTES, consumedBytes | 0);
  Atomics.store(slots, base + SLOT_IN_CONSUMED_MSGS, consumedMsgs | 0);
  // Stored our counters, now look at the flag; the worker stores the flag, then looks at ours.
  return Atomics.load(slots, base + SLOT_IN_WAITING) !== 0;
}

/** Outbound payload bytes of `slot` written to its socket so far (free-running). */
export function sentBytes(slots: Int32Array, slot: number): number {
  return Atomics.load(slots, slot * SLOT_FIELDS + SLOT_OUT_SENT_BYTES);
}

/** Outbound messages of `slot` written to its socket so far (free-running). */
export function sentMsgs(slots: Int32Array, slot: number): number {
  return Atomics.load(slots, slot * SLOT_FIELDS + SLOT_OUT_SENT_MSGS);
}

/** A slot the worker retired is zeroed before its next connection (nobody else writes it then). */
export function clearSlot(slots: Int32Array, slot: number): void {
  const base = slot * SLOT_FIELDS;
  for (let i = 0; i < SLOT_FIELDS; i++) Atomics.store(slots, base + i, 0);
}

// ---- worker ----

/** May the main thread be handed `len` more bytes (one more message) of `slot` within its budget? */
export function hasCredit(slots: Int32Array, slot: number, deliveredMsgs: number, deliveredBytes: number, maxMsgs: number, maxBytes: number, len: number): boolean {
  const base = slot * SLOT_FIELDS;
  const heldMsgs = (deliveredMsgs - Atomics.load(slots, base + SLOT_IN_CONSUMED_MSGS)) >>> 0;
  if (heldMsgs >= maxMsgs) return false;
  const heldBytes = (deliveredBytes - Atomics.load(slots, base + SLOT_IN_CONSUMED_BYTES)) >>> 0;
  return heldBytes === 0 || heldBytes + len <= maxBytes;
}

/** Is `slot`'s budget full (no message may follow until the main thread takes some)? */
export function budgetFull(slots: Int32Array, slot: number, deliveredMsgs: number, deliveredBytes: number, maxMsgs: number, maxBytes: number): boolean {
  const base = slot * SLOT_FIELDS;
  const heldMsgs = (deliveredMsgs - Atomics.load(slots, base + SLOT_IN_CONSUMED_MSGS)) >>> 0;
  const heldBytes = (deliveredBytes - Atomics.load(slots, base + SLOT_IN_CONSUMED_BYTES)) >>> 0;
  return heldMsgs >= maxMsgs || heldBytes >= maxBytes;
}

/** The worker waits for `slot`'s credit (1) or no longer does (0). Re-check the credit after setting it. */
export function setWaiting(slots: Int32Array, slot: number, waiting: boolean): void {
  Atomics.store(slots, slot * SLOT_FIELDS + SLOT_IN_WAITING, waiting ? 1 : 0);
}

/** Publish `slot`'s outbound progress (socket write callbacks). */
export function noteSent(slots: Int32Array, slot: number, bytes: number, msgs: number, msgEnd: boolean): void {
  const base = slot * SLOT_FIELDS;
  Atomics.store(slots, base + SLOT_OUT_SENT_BYTES, bytes | 0);
  if (msgEnd) Atomics.store(slots, base + SLOT_OUT_SENT_MSGS, msgs | 0);
}
