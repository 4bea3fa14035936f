/**
 * The doorbell: a counter in a worker's control block (CTL_DOORBELL) that says "the outbound ring has
 * news" — both halves of the handshake, so the ordering argument is written once.
 *
 * Ringing (main thread, once per burst; or the worker itself, see below): publish the ring's write
 * position first, then `Atomics.add` the counter and `Atomics.notify` it.
 *
 * Answering (the worker's one loop): read the counter *before* draining, drain, then wait on the value
 * read. A ring that lands while the worker drains changes the counter, so the wait returns 'not-equal'
 * at once and the loop drains again: no ring is ever missed, and no lock is needed.
 *
 * One loop for the worker's whole life: each run arms exactly one continuation (the `waitAsync`, or a
 * `setImmediate` when the counter already moved), and only that continuation runs the loop again. Code
 * that wants the loop to run again soon (space came back in a full inbound ring) rings the doorbell
 * itself instead of scheduling a run of its own: a second chain would run every drain twice, forever.
 */
import { CTL_DOORBELL } from './layout.js';

/** Ring `ctl`'s doorbell (after publishing what it announces). */
export function ringDoorbell(ctl: Int32Array): void {
  Atomics.add(ctl, CTL_DOORBELL, 1);
  Atomics.notify(ctl, CTL_DOORBELL);
}

/** The worker's half: one loop that runs `drain` once per ring (or per burst of rings). */
export class DoorbellLoop {
  readonly #ctl: Int32Array;
  readonly #drain: () => void;
  #seen = 0;
  /** Continuations armed and not yet run: 1 between two runs (0 only inside a run). */
  #armed = 0;
  /** Rings seen (the main thread's and the worker's own), and runs of `drain`. */
  doorbells = 0;
  wakeups = 0;

  constructor(ctl: Int32Array, drain: () => void) {
    this.#ctl = ctl;
    this.#drain = drain;
  }

  /** Start the loop (once; later calls do nothing). */
  start(): void {
    if (this.#armed === 0 && this.wakeups === 0) this.#run();
  }

  /** Continuations armed right now: 1 in a healthy worker (more means the loop multiplied). */
  get armed(): number {
    return this.#armed;
  }

  readonly #onRing = (): void => {
    this.#armed--;
    this.#run();
  };

  /**
   * Spin up to `micros` µs for a ring (the worker just published: the main thread's answer may be a
   * moment away); if one comes, drain at once instead of after a wake-up. Not a second loop: the armed
   * continuation still runs on its own later (and finds nothing new). True if it drained.
   */
  spin(micros: number): boolean {
    const end = performance.now() + micros / 1000;
    do {
      if (Atomics.load(this.#ctl, CTL_DOORBELL) !== this.#seen) {
        const seen = Atomics.load(this.#ctl, CTL_DOORBELL);
        this.doorbells += (seen - this.#seen) >>> 0;
        this.#seen = seen;
        // Not counted in `wakeups`: the armed continuation's run will be (with no new ring), so a
        // healthy worker keeps wakeups <= doorbells + 1.
        this.spinCatches++;
        this.#drain();
        return true;
      }
    } while (performance.now() < end);
    return false;
  }

  /** Rings caught by `spin` (no wake-up needed). */
  spinCatches = 0;

  #run(): void {
    const seen = Atomics.load(this.#ctl, CTL_DOORBELL);
    this.doorbells += (seen - this.#seen) >>> 0;
    this.#seen = seen;
    this.wakeups++;
    this.#drain();
    this.#armed++;
    const r = Atomics.waitAsync(this.#ctl, CTL_DOORBELL, seen);
    if (r.async) r.value.then(this.#onRing, this.#onRing);
    else setImmediate(this.#onRing); // 'not-equal': rung meanwhile; let I/O run first
  }
}
