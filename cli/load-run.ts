/**
 * One load-generating thread of `ringsocket load` (the main thread with --threads 1, a worker thread
 * each otherwise): its share of the connections and of the rate, through its own PeerPool, so its
 * sockets, framing and parsing run in I/O workers and this thread only schedules sends and reads
 * timestamps. This file holds the phases (ramp, run with its warm-up, drain, close) and the loop; the
 * connections and their messages are in cli/load-traffic.ts, the message format in cli/load-message.ts,
 * what a thread is given and posts back in cli/load-part.ts.
 *
 * ```
 *  this thread                                      PeerPool workers            echo server
 *  ───────────                                      ────────────────            ───────────
 *  pass(): poll every peer, take the echoes,  ───►  mask, frame, write   ───►   echo
 *          record now - intended send time    ◄───  read, unframe        ◄───
 *          send what the schedule says is due
 *  (one pass per turn of the event loop, after sleeping --poll (200 µs) in Atomics.wait)
 * ```
 * The workers do not wake this thread, so it polls: a short Atomics.wait sleep before each pass keeps
 * its CPU low (~15 % at 20,000 msg/s) while receive times stay within ~0.2 ms of arrival; the event loop
 * turns between passes, so its delay stays well under a millisecond. `--poll spin` polls back to back;
 * `--poll 1ms` uses a timer. `--send-tick 1ms` batches the sends per millisecond as the bench suite's
 * generator does.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { PeerPool, TLSOptions } from '../src/index.js';
import { holdingLoop, setStage, UsageError } from './errors.js';
import { ELD_RESOLUTION_MS, type LoadConfig } from './load-config.js';
import { delaySummary, threadCpuNs, type PartResult, type Share } from './load-part.js';
import { LoadTraffic } from './load-traffic.js';
import { bar, int, ms, short, StatusLine } from './term.js';

function tlsOptionsOf(cfg: LoadConfig): TLSOptions | null {
  if (cfg.ca === undefined && !cfg.insecure) return null;
  let caPem: string | undefined;
  if (cfg.ca !== undefined) {
    try {
      caPem = readFileSync(cfg.ca, 'utf8');
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${cfg.ca}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return cfg.insecure ? TLSOptions.clientUnsafe(caPem) : TLSOptions.client(caPem);
}

/** Run one thread's share of the load; resolves with what it measured. */
export async function runPart(cfg: LoadConfig, share: Share, interrupted: () => boolean, quiet = cfg.quiet): Promise<PartResult> {
  const tls = tlsOptionsOf(cfg);
  const pool = new PeerPool({
    ...(share.ioThreads !== undefined ? { threads: share.ioThreads } : {}),
    handshakeTimeout: Math.round(cfg.connectTimeoutMs),
    closeTimeout: 2000,
  });
  const part = new LoadPart(cfg, share, pool, tls, new StatusLine(process.stderr, { quiet }), interrupted);
  try {
    // Wait for the workers to boot (a control call answers once a worker runs), so that the connection
    // times are the network's, not the workers' start-up.
    setStage('waiting for the I/O workers to start');
    await pool.stats().catch(() => undefined);
    setStage('connecting');
    part.makeConnections();
    await part.loop();
  } finally {
    part.eld.disable();
    setStage('closing the worker pool');
    await holdingLoop(pool.close(500));
    setStage('reporting');
  }
  return part.result();
}

/** The phases and the passes of one thread's run. */
class LoadPart extends LoadTraffic {
  readonly eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  /** The measured window's start, the end of sending. */
  tW = Infinity;
  tEnd = 0;
  measuring = false;
  drainDeadline = 0;
  closeDeadline = 0;
  interrupted = false;
  cpu0 = process.cpuUsage();
  thread0 = threadCpuNs();
  processCpuMs = 0;
  threadCpuMs: number | null = null;

  constructor(
    cfg: LoadConfig,
    share: Share,
    pool: PeerPool,
    tls: TLSOptions | null,
    readonly status: StatusLine,
    readonly isInterrupted: () => boolean,
  ) {
    super(cfg, share, pool, tls);
  }

  // ---- phases ----

  startMeasuring(now: number): void {
    this.measuring = true;
    this.tW = Math.min(this.tW, now);
    if (this.flood) this.firstSeqW = this.seq;
    this.eld.enable();
    this.cpu0 = process.cpuUsage();
    this.thread0 = threadCpuNs();
  }

  startRun(now: number): void {
    const { cfg } = this;
    this.phase = 'run';
    setStage('sending');
    this.t0 = now;
    this.tW = now + cfg.warmupMs;
    this.tEnd = this.tW + cfg.durationMs;
    if (cfg.fanout) this.publisher = this.open[0]!;
    if (!this.flood) {
      this.totalScheduled = Math.floor(((cfg.warmupMs + cfg.durationMs) * this.share.rate) / 1000);
      this.firstSeqW = Math.ceil((cfg.warmupMs * this.share.rate) / 1000);
    }
    if (cfg.warmupMs === 0) this.startMeasuring(now);
    if (this.flood) this.startFlood(now);
  }

  endRun(now: number): void {
    if (!this.measuring) this.startMeasuring(now);
    this.eld.disable();
    const cpu = process.cpuUsage(this.cpu0);
    this.processCpuMs = (cpu.user + cpu.system) / 1000;
    const th = threadCpuNs();
    this.threadCpuMs = th !== null && this.thread0 !== null ? (th - this.thread0) / 1e6 : null;
    this.tEnd = Math.min(this.tEnd, now);
    this.phase = 'drain';
    setStage('waiting for the last echoes');
    this.drainDeadline = now + this.cfg.drainMs;
    // Flood: what is owed will not be sent.
    for (const c of this.open) c.floodOwed = 0;
  }

  #progress(now: number): () => string {
    return () => {
      const { cfg, n } = this;
      const head = now < this.tW ? `warm-up ${((now - this.t0) / 1000).toFixed(1)}/${(cfg.warmupMs / 1000).toFixed(1)} s` : `${(Math.min(cfg.durationMs, now - this.tW) / 1000).toFixed(1)}/${(cfg.durationMs / 1000).toFixed(1)} s`;
      return (
        `${head}  sent ${short(n.sent)}  received ${short(n.received)}  ` +
        `p50 ${ms(this.rtt.percentile(50) / 1000)} ms  p99 ${ms(this.rtt.percentile(99) / 1000)} ms  max ${ms(this.rtt.max / 1000)} ms  errors ${int(n.badEchoes + n.unsent + n.connectFailed)}`
      );
    };
  }

  // ---- one pass ----

  /** One pass of the loop: connect what is due, poll, send, move through the phases. */
  pass(): void {
    const now = performance.now();
    this.#checkInterrupt(now);
    if (this.phase === 'ramp') this.connectDue(now);
    for (const c of this.conns) if (c.phase === 'connecting' || c.phase === 'open') this.pollConn(c, now);
    if (this.phase === 'ramp') this.#rampProgress(now);
    if (this.phase === 'run' && !this.measuring && now >= this.tW) this.startMeasuring(now);
    if (this.phase === 'run' || this.phase === 'drain') {
      this.sendBacklogs(now);
      if (!this.flood && this.phase === 'run' && (now >= this.nextSendAt || now >= this.tEnd)) this.sendScheduled(now);
    }
    if (this.phase === 'run') {
      this.status.update(this.#progress(now));
      if (now >= this.tEnd) {
        this.status.done(this.#progress(now)());
        this.endRun(now);
      }
    }
    if (this.phase === 'drain' && (this.outstanding() === 0 || now >= this.drainDeadline)) this.#startClosing(now);
    if (this.phase === 'close') this.#closeStep(now);
  }

  #checkInterrupt(now: number): void {
    if (!this.isInterrupted() || this.interrupted || (this.phase !== 'ramp' && this.phase !== 'run')) return;
    this.interrupted = true;
    if (this.phase === 'ramp') {
      this.status.done(`interrupted while connecting: ${this.open.length}/${this.share.connections} open`);
      this.t0 = now;
      this.tW = now;
      this.tEnd = now;
    }
    this.endRun(now);
  }

  #rampProgress(now: number): void {
    const total = this.share.connections;
    this.status.update(() => `connecting ${bar(this.settled, total)} ${this.open.length}/${total} open, ${this.n.connectFailed} failed`);
    if (this.settled !== total) return;
    this.status.done(`connected: ${this.open.length}/${total} open, ${this.n.connectFailed} failed, in ${((now - this.rampStart) / 1000).toFixed(2)} s`);
    if (this.open.length === 0) this.phase = 'done';
    else this.startRun(now);
  }

  #startClosing(now: number): void {
    this.phase = 'close';
    setStage('closing the connections');
    this.closeDeadline = now + 2000;
    for (const c of this.open) if (c.phase === 'open') c.peer.close(1000, 'load done');
  }

  #closeStep(now: number): void {
    let left = 0;
    for (const c of this.open) if (c.phase === 'open') left++;
    if (left !== 0 && now < this.closeDeadline) return;
    for (const c of this.open) {
      if (c.phase !== 'open') continue;
      c.peer.close(-1);
      this.onClosed(c);
    }
    this.phase = 'done';
  }

  /**
   * The loop: one pass per turn of the event loop. Sends queued in a pass reach the workers from a
   * microtask after it, so a short sleep goes at the start of the next turn, never after a pass.
   */
  loop(): Promise<void> {
    const sleepCell = new Int32Array(new SharedArrayBuffer(4));
    const { pollUs } = this.cfg;
    const pollMs = pollUs / 1000;
    return new Promise<void>((resolve, reject) => {
      const turn = (): void => {
        try {
          if (pollUs > 0 && pollUs < 1000) Atomics.wait(sleepCell, 0, 0, pollMs);
          this.pass();
        } catch (err) {
          reject(err);
          return;
        }
        if (this.phase === 'done') resolve();
        else if (pollUs >= 1000) setTimeout(turn, pollMs);
        else setImmediate(turn);
      };
      turn();
    });
  }

  result(): PartResult {
    if (this.t0 === 0) {
      // Nothing opened: no run.
      this.t0 = performance.now();
      this.tW = this.t0;
      this.tEnd = this.t0;
    }
    const n = { ...this.n, opened: this.open.length, scheduled: this.flood ? this.n.sent : this.seq };
    for (const c of this.open) {
      n.unanswered += this.owed(c);
      n.unsent += c.backlogT.length;
      if (c.closedEarly) n.closedEarly++;
    }
    return {
      index: this.share.index,
      connections: this.share.connections,
      ioThreads: this.pool.threads,
      interrupted: this.interrupted,
      counters: n,
      failures: this.failures,
      closeCodes: this.closeCodes,
      closeFailures: this.closeFailures,
      rtt: this.rtt.encode(),
      rttRaw: this.rttRaw.encode(),
      openTimes: this.openTimes.encode(),
      elapsedMs: Math.max(0, this.tEnd - this.tW),
      rampMs: this.t0 - this.rampStart,
      eventLoopDelayMs: delaySummary(this.eld),
      cpuMs: this.threadCpuMs,
      processCpuMs: this.processCpuMs,
    };
  }
}
