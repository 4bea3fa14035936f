/**
 * The S3 game loop, the same code in every server: a fixed-rate schedule driven by setTimeout.
 *
 * ```
 *  slot k is due at T_k = t0 + k·P (P = 1000/hz ms)
 *  a tick starts at `now` ≈ T_k          lateness = max(0, now − T_k)
 *  body(): ingest (ringsocket polls here) · busy work · snapshot to every client
 *  next slot: k+1, unless its successor's time has passed too (we are a whole period behind): then the
 *  latest slot already due, and the ones skipped count as missed.
 * ```
 * A game server drops frames it cannot run on time rather than running them back to back; "missed"
 * counts those dropped slots. Lateness is measured for the ticks that ran.
 */
import type { TickSample } from './protocol.js';

export class TickLoop {
  readonly #period: number;
  readonly #body: () => number;
  #t0 = 0;
  #k = 0;
  #timer: NodeJS.Timeout | null = null;
  #windowStart = 0;
  #run = 0;
  #missed = 0;
  #samples: TickSample[] = [];

  /** `body` runs each tick and returns how long its ingest step took (ms). */
  constructor(hz: number, body: () => number) {
    this.#period = 1000 / hz;
    this.#body = body;
  }

  start(): void {
    this.#t0 = performance.now() + this.#period;
    this.#windowStart = performance.now();
    this.#k = 0;
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** What happened since the previous call; starts a new window. */
  take(): { run: number; missed: number; samples: TickSample[] } {
    const r = { run: this.#run, missed: this.#missed, samples: this.#samples };
    this.#run = 0;
    this.#missed = 0;
    this.#samples = [];
    this.#windowStart = performance.now();
    return r;
  }

  #schedule(): void {
    const due = this.#t0 + this.#k * this.#period;
    this.#timer = setTimeout(this.#fire, Math.max(0, due - performance.now()));
  }

  readonly #fire = (): void => {
    const now = performance.now();
    const due = this.#t0 + this.#k * this.#period;
    this.#run++;
    // Node's timers run on the loop's cached millisecond clock and may fire up to ~1 ms before `due`:
    // a tick that starts early is on time (lateness 0).
    const ingest = this.#body();
    const end = performance.now();
    // Microsecond resolution is plenty and keeps the result files small.
    const us = (ms: number) => Math.round(ms * 1000) / 1000;
    this.#samples.push({ at: us(now - this.#windowStart), lateness: us(Math.max(0, now - due)), ingest: us(ingest), body: us(end - now) });
    let next = this.#k + 1;
    // Behind by more than a period for slot `next`: skip to the latest slot already due.
    if (this.#t0 + (next + 1) * this.#period <= end) {
      const latest = Math.floor((end - this.#t0) / this.#period);
      this.#missed += latest - next;
      next = latest;
    }
    this.#k = next;
    this.#schedule();
  };
}
