/**
 * The cross-thread handshakes of src/protocol/ with a real worker on the other side (test/fixtures/
 * protocol-worker.mjs runs the built halves, as ring-worker does for the ring): the doorbell (no ring
 * lost, one loop for the worker's life), the wake cell (a wait ends when a worker publishes; times out
 * otherwise), inbound credit (returned credit always reaches a worker that waits for it) and the sync reply cell (the right server's answer, a stranger's skipped, a timeout).
 * Bounded in count and in time.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ringDoorbell } from '../../dist/src/protocol/doorbell.js';
import { WakeWaiter } from '../../dist/src/protocol/wake.js';
import { awaitSyncReply, syncSeq } from '../../dist/src/protocol/sync-reply.js';
import { creditReturned } from '../../dist/src/protocol/credit.js';
import { CTL_INT32S, SLOT_FIELDS, WAKE_INT32S } from '../../dist/src/protocol/layout.js';

const WORKER = new URL('../fixtures/protocol-worker.mjs', import.meta.url);
let running: Worker | null = null;

afterEach(async () => {
  await running?.terminate();
  running = null;
});

function start(data: Record<string, unknown>): Worker {
  running = new Worker(WORKER, { workerData: data });
  running.on('error', (e) => {
    throw e;
  });
  return running;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('doorbell (src/protocol/doorbell.ts)', () => {
  it('every ring is answered, in bursts and alone; the worker keeps one loop whatever comes', async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_INT32S * 4));
    const w = start({ mode: 'doorbell', ctl: ctl.buffer });
    let sent = 0;
    const deadline = Date.now() + 20_000;
    for (let round = 0; round < 400 && Date.now() < deadline; round++) {
      // A burst: several announcements, one ring (as the pool rings once per burst).
      const n = 1 + (round % 7);
      Atomics.add(ctl, 8, n);
      sent += n;
      ringDoorbell(ctl);
      if (round % 3 === 0) ringDoorbell(ctl); // extra rings are harmless
      if (round % 5 === 0) await sleep(1); // sometimes the loop is waiting, sometimes draining
    }
    // The last ring must be seen: wait for the worker to have taken everything.
    const until = Date.now() + 10_000;
    while (Atomics.load(ctl, 9) !== sent && Date.now() < until) await sleep(2);
    expect(Atomics.load(ctl, 9)).toBe(sent);
    Atomics.store(ctl, 10, 1);
    ringDoorbell(ctl);
    const report = (await new Promise((resolve) => w.once('message', resolve))) as { armed: number; doorbells: number; wakeups: number; runs: number };
    w.postMessage('stop');
    expect(report.armed).toBe(1);
    // Each run of the drain answers at least one ring (plus the first run at start).
    expect(report.wakeups).toBeLessThanOrEqual(report.doorbells + 1);
    expect(report.doorbells).toBeGreaterThan(0);
  });
});

describe('wake cell (src/protocol/wake.ts)', () => {
  it('a wait ends as soon as a worker publishes; nothing published is slept through', async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(64));
    const cell = new Int32Array(new SharedArrayBuffer(WAKE_INT32S * 4));
    const waiter = new WakeWaiter(cell);
    const COUNT = 200;
    const w = start({ mode: 'wake', ctl: ctl.buffer, cell: cell.buffer, count: COUNT, startMs: 20 });
    const done = new Promise((r) => w.once('message', r));
    let seen = 0;
    let woken = 0;
    const deadline = Date.now() + 20_000;
    while (seen < COUNT && Date.now() < deadline) {
      // "Activity" = the worker published something this side has not taken yet.
      const active = await waiter.wait(() => Atomics.load(ctl, 0) !== seen, () => false, 5_000);
      // Never a false alarm, and never a timeout while something was published (5 s is far longer
      // than the worker's pauses): each wake finds something to take.
      expect(active).toBe(true);
      woken++;
      seen = Atomics.load(ctl, 0);
    }
    await done;
    expect(seen).toBe(COUNT);
    expect(woken).toBeGreaterThan(0);
  });

  it('with nothing published the wait times out with false; calls while one is pending share it', async () => {
    const cell = new Int32Array(new SharedArrayBuffer(WAKE_INT32S * 4));
    const waiter = new WakeWaiter(cell);
    const t0 = performance.now();
    const a = waiter.wait(() => false, () => false, 50);
    const b = waiter.wait(() => false, () => false, 5_000);
    expect(b).toBe(a);
    expect(await a).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(40);
  });
});

describe('sync reply cell (src/protocol/sync-reply.ts)', () => {
  it("the waiting call gets its own server's answer; another server's late answer is skipped", async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_INT32S * 4));
    const seq = syncSeq(ctl);
    start({ mode: 'sync', ctl: ctl.buffer, serverId: 7, status: 1, port: 4321, delayMs: 30 });
    // (Atomics.wait blocks this thread; the worker runs on its own.)
    const reply = awaitSyncReply(ctl, 7, seq, 10_000);
    expect(reply).toEqual({ status: 1, port: 4321 });
  });

  it('no answer within the time: null', () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_INT32S * 4));
    const t0 = performance.now();
    expect(awaitSyncReply(ctl, 1, syncSeq(ctl), 50)).toBe(null);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });
});

describe('inbound credit (src/protocol/credit.ts)', () => {
  it('credit returned just as the worker gives up is never lost; the main thread never holds more than the budget', async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_INT32S * 4));
    const slots = new Int32Array(new SharedArrayBuffer(4 * SLOT_FIELDS * 4));
    const COUNT = 20_000;
    const MAX = 4;
    const w = start({ mode: 'credit', ctl: ctl.buffer, slots: slots.buffer, count: COUNT, maxMsgs: MAX });
    const report = new Promise((r) => w.once('message', r)) as Promise<{ delivered: number; sleeps: number; timeouts: number }>;
    let consumed = 0;
    let rings = 0;
    let maxHeld = 0;
    const deadline = Date.now() + 20_000;
    while (consumed < COUNT && Date.now() < deadline) {
      const delivered = Atomics.load(ctl, 12);
      maxHeld = Math.max(maxHeld, delivered - consumed);
      if (delivered === consumed) {
        Atomics.wait(ctl, 12, delivered, 50);
        continue;
      }
      // Take one or all of what is held (as getPacket does), then return the credit once.
      consumed = consumed % 3 === 0 ? delivered : consumed + 1;
      if (creditReturned(slots, 0, consumed * 8, consumed)) {
        rings++;
        ringDoorbell(ctl);
      }
    }
    const r = await report;
    expect(consumed).toBe(COUNT);
    expect(r.delivered).toBe(COUNT);
    expect(maxHeld).toBeLessThanOrEqual(MAX);
    expect(r.sleeps).toBeGreaterThan(0); // the worker did wait for credit…
    expect(rings).toBeGreaterThan(0);
    expect(r.timeouts).toBe(0); // …and every wait ended by a ring, none by its 2 s timeout
  });
});
