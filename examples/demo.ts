/**
 * ringsocket demo (`npm start`): a 60 Hz game loop on the main thread, with simulated work, talking to
 * a local echo server through ringsocket peers — then the same loop with `ws` clients on the main
 * thread, side by side.
 *
 * ```
 *  echo server (child process: its CPU is not ours)  ◄── N connections ──►  this process
 *                                                                          main thread, every 16.7 ms:
 *                                                                            poll + drain echoes
 *                                                                            busy-wait 8 ms ("game work")
 *                                                                            send one 64 B message per peer
 * ```
 * Measured per loop: tick lateness (actual start - scheduled start; a timer that fires early counts
 * as on time) and the main thread's busy time besides the simulated work (event-loop utilization:
 * time not spent waiting for I/O or timers, minus the busy-wait): what networking costs the game.
 * With ringsocket, socket reads, framing and masking happen in an I/O worker; with `ws`, in the
 * main thread's event loop between ticks.
 *
 * Usage: npm start [-- --clients N] [--seconds S] [--work MS] [--hz HZ] [--size B] [--per-tick K]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import WebSocket, { WebSocketServer } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer } from '../src/index.js';
import { argInt, argValue } from './argv.js';
import { isMain } from './listen.js';

const PAYLOAD_BYTES = 64;
/** Lateness and RTT samples start after this much of each run. */
/** Left out of the latency figures: the first second of a run, or its first quarter if shorter. */
const WARMUP_MS = 1000;
const warmupFor = (seconds: number): number => Math.min(WARMUP_MS, seconds * 250);
const discard: number[] = [];

// ---- echo server (child process) -------------------------------------------------------------------

function echoServer(): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  wss.on('listening', () => process.send!({ port: (wss.address() as AddressInfo).port }));
  // The parent went away (finished, crashed or killed): so do we.
  process.on('disconnect', () => process.exit(0));
}

async function startEchoServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--echo-server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [m] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`echo server exited (code ${String(code)}) before listening`);
    }),
  ])) as [{ port: number }];
  return { child, url: `ws://127.0.0.1:${m.port}/echo` };
}

// ---- the two ways of talking to it ----------------------------------------------------------------

interface Driver {
  readonly name: string;
  connect(url: string, clients: number): Promise<void>;
  /**
   * Once per tick, before the game work: take what arrived; push each echo's round trip (send → this
   * tick, when the game can act on it) to `rtt`. Returns packets received.
   */
  receive(now: number, rtt: number[]): number;
  /** Once per tick, after the game work: one message per client. Returns packets sent. */
  send(payload: Uint8Array): number;
  close(): Promise<void>;
}

async function until(cond: () => boolean, what: string, timeoutMs: number, step: () => void = () => undefined): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
    step();
  }
}

class RingsocketDriver implements Driver {
  readonly name = 'ringsocket';
  readonly pool = new PeerPool();
  peers: WebSocketPeer[] = [];

  async connect(url: string, clients: number): Promise<void> {
    for (let i = 0; i < clients; i++) {
      const p = new WebSocketPeer({ pool: this.pool });
      const err = p.connectToUrl(url);
      if (err !== ErrorCode.OK) throw new Error(`connectToUrl returned ${err}`);
      this.peers.push(p);
    }
    const poll = () => this.peers.forEach((p) => p.poll());
    await until(() => this.peers.every((p) => p.getReadyState() !== State.CONNECTING), 'ringsocket peers to connect', 10_000, poll);
    const bad = this.peers.find((p) => p.getReadyState() !== State.OPEN);
    if (bad !== undefined) throw new Error(`a ringsocket peer failed to connect: ${bad.getFailureReason()}`);
  }

  receive(now: number, rtt: number[]): number {
    let n = 0;
    for (const p of this.peers) {
      p.poll();
      for (let k = p.getAvailablePacketCount(); k > 0; k--) {
        rtt.push(now - sentAt(p.getPacket()));
        n++;
      }
    }
    return n;
  }

  send(payload: Uint8Array): number {
    let n = 0;
    for (const p of this.peers) if (p.send(payload) === ErrorCode.OK) n++;
    return n;
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.close(1000, 'demo over');
    const poll = () => this.peers.forEach((p) => p.poll());
    await until(() => this.peers.every((p) => p.getReadyState() === State.CLOSED), 'ringsocket peers to close', 5000, poll).catch((e: Error) =>
      console.log(`  (${e.message})`),
    );
    await this.pool.close();
  }
}

class WsDriver implements Driver {
  readonly name = 'ws';
  sockets: WebSocket[] = [];
  /** Send times of the echoes that arrived since the last tick (the 'message' handler runs between ticks). */
  #arrived: number[] = [];

  async connect(url: string, clients: number): Promise<void> {
    const opened: Promise<unknown>[] = [];
    for (let i = 0; i < clients; i++) {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      // Runs in the event loop, between ticks, on the main thread.
      ws.on('message', (data: Buffer) => {
        this.#arrived.push(sentAt(data));
      });
      ws.on('error', (err) => console.log(`  ws client error: ${err.message}`));
      this.sockets.push(ws);
      opened.push(once(ws, 'open'));
    }
    await Promise.all(opened);
  }

  receive(now: number, rtt: number[]): number {
    const a = this.#arrived;
    for (let i = 0; i < a.length; i++) rtt.push(now - a[i]!);
    this.#arrived = [];
    return a.length;
  }

  send(payload: Uint8Array): number {
    for (const ws of this.sockets) ws.send(payload);
    return this.sockets.length;
  }

  async close(): Promise<void> {
    const closed = this.sockets.map((ws) => (ws.readyState === WebSocket.CLOSED ? Promise.resolve() : once(ws, 'close')));
    for (const ws of this.sockets) ws.close(1000, 'demo over');
    const timer = setTimeout(() => this.sockets.forEach((ws) => ws.terminate()), 3000);
    await Promise.all(closed);
    clearTimeout(timer);
  }
}

// ---- the game loop ---------------------------------------------------------------------------------

interface LoopResult {
  name: string;
  clients: number;
  seconds: number;
  ticks: number;
  /** Tick slots skipped because the loop was more than one period behind (a stall). */
  missed: number;
  packetsIn: number;
  packetsOut: number;
  lateness: { p50: number; p99: number; max: number };
  /** Round trip from send to the tick that handles the echo, ms. */
  rtt: { p50: number; p99: number; max: number };
  /** Main-thread busy time besides the simulated work, ms per second of loop. */
  netBusyMsPerSec: number;
}

/** The send time (performance.now(), float64 LE) carried in the first 8 bytes of every demo message. */
function sentAt(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function latenessOf(samples: number[]): LoopResult['lateness'] {
  const s = samples.slice().sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] ?? NaN };
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // simulated game work
  }
}

async function runLoop(driver: Driver, url: string, clients: number, seconds: number, hz: number, workPerTick: number, size: number, perTick: number): Promise<LoopResult> {
  await driver.connect(url, clients);
  const payload = new Uint8Array(size).fill(0x2a);
  const period = 1000 / hz;
  const late: number[] = [];
  const rtt: number[] = [];
  const stamp = new DataView(payload.buffer, payload.byteOffset, 8);
  let ticks = 0;
  /** Index of the tick slot being run: its scheduled start is start + slot * period. */
  let slot = 0;
  let missed = 0;
  let totalIn = 0;
  let totalOut = 0;
  let secIn = 0;
  let secOut = 0;
  let workMs = 0;
  const start = performance.now();
  const elu0 = performance.eventLoopUtilization();
  let nextStatus = start + 1000;

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // libuv timers run on a millisecond clock and can fire up to 1 ms early: early is on time.
      // The first second warms up (JIT, first connections' buffers): not in the latency figures.
      const warm = now - start >= warmupFor(seconds);
      if (warm) late.push(Math.max(0, now - (start + slot * period)));
      const got = driver.receive(now, warm ? rtt : discard);
      discard.length = 0;
      const w0 = performance.now();
      busyWait(workPerTick);
      workMs += performance.now() - w0;
      stamp.setFloat64(0, performance.now(), true);
      let sent = 0;
      for (let k = 0; k < perTick; k++) sent += driver.send(payload);
      totalIn += got;
      secIn += got;
      totalOut += sent;
      secOut += sent;
      ticks++;
      const after = performance.now();
      if (after >= nextStatus) {
        const l = latenessOf(late);
        // No lateness sample before the warm-up ends: say so rather than print NaN.
        const lateness = late.length === 0 ? 'tick lateness: warming up, not counted yet' : `tick lateness p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  max ${l.max.toFixed(2)} ms`;
        console.log(
          `  [${driver.name.padEnd(10)}] ${Math.round((after - start) / 1000)
            .toString()
            .padStart(3)} s  in ${String(secIn).padStart(5)}/s  out ${String(secOut).padStart(5)}/s  ` +
            `${lateness}  missed ${missed}`,
        );
        secIn = 0;
        secOut = 0;
        nextStatus += 1000;
      }
      if (after - start >= seconds * 1000) {
        resolve();
        return;
      }
      // Fixed time step; after a stall longer than a period, skip the lost slots instead of running
      // them late back to back (as a game would), so one stall is one late tick, not a late streak.
      slot++;
      const behind = Math.floor((performance.now() - start) / period) - slot;
      if (behind > 0) {
        slot += behind;
        missed += behind;
      }
      setTimeout(tick, Math.max(0, start + slot * period - performance.now()));
    };
    setTimeout(tick, 0);
  });

  const elapsed = (performance.now() - start) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  // Echoes still in flight arrive during close; they are not counted.
  await driver.close();
  return {
    name: driver.name,
    clients,
    seconds: elapsed,
    ticks,
    missed,
    packetsIn: totalIn,
    packetsOut: totalOut,
    lateness: latenessOf(late),
    rtt: latenessOf(rtt),
    netBusyMsPerSec: (elu.active - workMs) / elapsed,
  };
}

function printSideBySide(results: LoopResult[]): void {
  const rows: [string, (r: LoopResult) => string][] = [
    ['clients', (r) => String(r.clients)],
    ['ticks', (r) => `${r.ticks} in ${r.seconds.toFixed(1)} s`],
    ['tick slots missed (stalls)', (r) => String(r.missed)],
    ['packets out/s', (r) => (r.packetsOut / r.seconds).toFixed(0)],
    ['packets in/s', (r) => (r.packetsIn / r.seconds).toFixed(0)],
    ['tick lateness p50', (r) => `${r.lateness.p50.toFixed(2)} ms`],
    ['tick lateness p99', (r) => `${r.lateness.p99.toFixed(2)} ms`],
    ['tick lateness max', (r) => `${r.lateness.max.toFixed(2)} ms`],
    ['RTT p50 (send → tick that handles it)', (r) => `${r.rtt.p50.toFixed(2)} ms`],
    ['RTT p99', (r) => `${r.rtt.p99.toFixed(2)} ms`],
    ['main-thread busy, besides game work', (r) => `${r.netBusyMsPerSec.toFixed(1)} ms/s`],
  ];
  const w0 = Math.max(...rows.map(([k]) => k.length)) + 2;
  const cols = results.map((r) => Math.max(r.name.length, ...rows.map(([, f]) => f(r).length)) + 2);
  console.log(''.padEnd(w0) + results.map((r, i) => r.name.padStart(cols[i]!)).join(''));
  for (const [k, f] of rows) console.log(k.padEnd(w0) + results.map((r, i) => f(r).padStart(cols[i]!)).join(''));
}

/** The demo's last line: one plain sentence saying what the user just saw. */
export function whatYouSaw(results: LoopResult[], clients: number, workMs: number, totalSeconds: number): string {
  const [rs, ws] = results as [LoopResult, LoopResult];
  const ratio = rs.netBusyMsPerSec > 0 ? ws.netBusyMsPerSec / rs.netBusyMsPerSec : NaN;
  const cmp = !Number.isFinite(ratio) ? '' : ratio >= 1 ? ` (${ratio.toFixed(1)}× less)` : ` (${(1 / ratio).toFixed(1)}× more)`;
  return (
    `What you saw (${totalSeconds.toFixed(0)} s): with ${clients} clients and ${workMs} ms of game work per tick, networking took ` +
    `${rs.netBusyMsPerSec.toFixed(0)} ms of each second of the main thread with ringsocket against ${ws.netBusyMsPerSec.toFixed(0)} ms with ws${cmp}, ` +
    `and the ticks ran late by ${rs.lateness.p99.toFixed(1)} ms at p99 with ringsocket against ${ws.lateness.p99.toFixed(1)} ms with ws ` +
    `(${rs.missed} against ${ws.missed} tick slots missed).`
  );
}

/** Run the demo (what `npm start` and `ringsocket demo` do). Flags: --clients --seconds --work --hz --size --per-tick. */
export async function runDemo(argv: string[] = process.argv.slice(2)): Promise<void> {
  const clients = argInt(argv, 'clients', 400);
  const seconds = argInt(argv, 'seconds', 10);
  const workMs = argInt(argv, 'work', 8);
  const hz = argInt(argv, 'hz', 60);
  const size = Math.max(8, argInt(argv, 'size', PAYLOAD_BYTES)); // 8 bytes carry the send time
  const perTick = argInt(argv, 'per-tick', 1);
  console.log(
    `ringsocket demo: ${clients} clients, ${perTick} × ${size} B message(s) each per tick, ${hz} Hz loop with ${workMs} ms of simulated work per tick, ` +
      `${seconds} s per implementation; echo server in a child process; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const t0 = performance.now();
  const { child, url } = await startEchoServer();
  const results: LoopResult[] = [];
  try {
    for (const driver of [new RingsocketDriver(), new WsDriver()] as Driver[]) {
      console.log(`\n${driver.name}:`);
      results.push(await runLoop(driver, url, clients, seconds, hz, workMs, size, perTick));
    }
  } finally {
    child.kill();
  }
  console.log(
    `\nsummary (first ${warmupFor(seconds) / 1000} s of each run not in the latency figures; tick lateness = actual - scheduled tick start; busy = event-loop active time minus the simulated work; ` +
      `load average ${loadavg()[0]!.toFixed(2)}):`,
  );
  printSideBySide(results);
  console.log(`\n${whatYouSaw(results, clients, workMs, (performance.now() - t0) / 1000)}`);
  // If anything still held the event loop, say so instead of hanging (this timer does not hold it).
  setTimeout(() => {
    console.log('demo: something still holds the event loop after cleanup; exiting');
    process.exit(1);
  }, 5000).unref();
}

if (argValue(process.argv.slice(2), 'echo-server') !== undefined) echoServer();
else if (isMain(import.meta.url)) await runDemo();
