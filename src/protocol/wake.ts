/**
 * The wake cell: one per pool (Int32Array(WAKE_INT32S) shared by the main thread and every worker), so
 * that `PeerPool.waitForActivity()` sleeps on one address until any worker publishes — both halves of
 * the handshake, so the ordering argument is written once.
 *
 * Main thread (waiting): store WAKE_WAITING = 1, *then* look at every inbound ring; if nothing is there,
 * `Atomics.waitAsync` on WAKE_SEQ as read before the flag.
 * Worker (after it published inbound records): load WAKE_WAITING; if set, clear it, bump WAKE_SEQ and
 * notify. The main thread stores the flag then loads the rings' write positions; the worker stores a
 * write position then loads the flag: one of the two sees the other, so no publish is slept through.
 * While nobody waits a worker pays one `Atomics.load` per publish.
 */
import { WAKE_SEQ, WAKE_WAITING } from './layout.js';

/** The worker's half: after publishing, wake the main thread if it waits. */
export function wakeIfWaiting(cell: Int32Array): void {
  if (Atomics.load(cell, WAKE_WAITING) === 0) return;
  Atomics.store(cell, WAKE_WAITING, 0);
  Atomics.add(cell, WAKE_SEQ, 1);
  Atomics.notify(cell, WAKE_SEQ);
}

/** The main thread's half. */
export class WakeWaiter {
  readonly #cell: Int32Array;
  #waiting: Promise<boolean> | null = null;

  constructor(cell: Int32Array) {
    this.#cell = cell;
  }

  /**
   * Resolve true as soon as `hasActivity()` holds (checked after the flag is up) or a worker notifies;
   * false after `timeoutMs` with nothing, or when `stopped()` holds on waking. Calls while one is pending
   * share it. Our own timer, not waitAsync's: it holds the process (waitAsync does not), and it ends the
   * wait by notifying the cell, so no waiter is left behind.
   */
  wait(hasActivity: () => boolean, stopped: () => boolean, timeoutMs: number, spinMicros = 0): Promise<boolean> {
    if (this.#waiting !== null) return this.#waiting;
    if (spinMicros > 0 && spin(hasActivity, spinMicros)) return Promise.resolve(true);
    const w = this.#cell;
    const seq = Atomics.load(w, WAKE_SEQ);
    Atomics.store(w, WAKE_WAITING, 1);
    if (hasActivity()) {
      Atomics.store(w, WAKE_WAITING, 0);
      return Promise.resolve(true);
    }
    const r = Atomics.waitAsync(w, WAKE_SEQ, seq);
    if (!r.async) {
      Atomics.store(w, WAKE_WAITING, 0);
      return Promise.resolve(true);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      Atomics.notify(w, WAKE_SEQ);
    }, timeoutMs);
    const p = r.value.then(() => {
      clearTimeout(timer);
      this.#waiting = null;
      Atomics.store(w, WAKE_WAITING, 0);
      return !stopped() && (!timedOut || hasActivity());
    });
    this.#waiting = p;
    return p;
  }

  /** End a pending wait now (a worker died, the pool closes). */
  interrupt(): void {
    if (this.#waiting !== null) Atomics.notify(this.#cell, WAKE_SEQ);
  }
}

/** Check `hasActivity` for up to `micros` µs of wall time; true as soon as it holds. */
function spin(hasActivity: () => boolean, micros: number): boolean {
  const end = performance.now() + micros / 1000;
  do {
    if (hasActivity()) return true;
  } while (performance.now() < end);
  return false;
}
