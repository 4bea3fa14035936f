/**
 * One load-generating thread of `ringsocket load` (the main thread with --threads 1, a worker thread
 * each otherwise): its share of the connections and of the rate, through its own PeerPool, so its
 * sockets, framing and parsing run in I/O workers and this thread only schedules sends and reads
 * timestamps.
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
 *
 * Rate mode (open loop): message k is due at t0 + k / rate on connection k mod N, whatever the server
 * does. Its RTT is taken from that *intended* time, so a server (or a load generator) that falls behind
 * is charged for the wait of every message it delayed — corrected for coordinated omission. A send the
 * peer refuses (outbound buffer full) waits in a per-connection backlog and is sent late, still
 * measured from its intended time. The uncorrected RTT (from the actual send) is reported beside it.
 * Fan-out (--fanout, rate mode against a broadcast server): every message is sent by one publisher (the
 * first connection opened) on the same schedule, and every connection must receive it; each receipt is
 * one latency sample, from the publish's intended time (corrected) and its actual send.
 * Flood mode (closed loop): W messages in flight per connection; each echo releases the next.
 *
 * Every message carries its intended and actual send times, a sequence number and its connection's
 * index, the rest filled. Binary (24 bytes, little-endian): float64 intended send time, float64 actual
 * send time (both wall-clock ms: performance.timeOrigin + performance.now()), uint32 sequence number,
 * uint32 connection index. Text (32 ASCII hex digits): sequence (8), connection (6), intended and
 * actual send times in µs since the run started (9 + 9), then 'x' padding. An echo that does not match
 * (size, type, connection, order) is counted as a bad echo, not as a latency.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer, WriteMode } from '../src/index.js';
import { holdingLoop, setStage, UsageError } from './errors.js';
import { newHistogram, type LatencyHistogram } from './histogram.js';
import { ELD_RESOLUTION_MS, FILL_BINARY, FILL_TEXT, TEXT_HEADER, type LoadConfig } from './load-config.js';
import { bar, int, ms, short, StatusLine } from './term.js';

/** The share of the load one thread runs. */
export interface Share {
  index: number;
  connections: number;
  /** Rate mode: this thread's messages/s. */
  rate: number;
  /** I/O workers of this thread's pool. */
  ioThreads: number | undefined;
}

export interface Counters {
  scheduled: number;
  sent: number;
  received: number;
  sentWin: number;
  receivedWin: number;
  badEchoes: number;
  foreign: number;
  unsent: number;
  backpressured: number;
  connectFailed: number;
  opened: number;
  closedEarly: number;
  unanswered: number;
}

export interface DelaySummary {
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** What one thread measured; plain data (histograms encoded), so a worker can post it. */
export interface PartResult {
  index: number;
  connections: number;
  ioThreads: number;
  interrupted: boolean;
  counters: Counters;
  failures: Record<string, number>;
  closeCodes: Record<string, number>;
  closeFailures: Record<string, number>;
  rtt: string;
  rttRaw: string;
  openTimes: string;
  elapsedMs: number;
  rampMs: number;
  eventLoopDelayMs: DelaySummary;
  /** This thread's CPU time in the measured window (Linux), null elsewhere. */
  cpuMs: number | null;
  /** The whole process's CPU time in the same window. */
  processCpuMs: number;
}

interface Conn {
  index: number;
  peer: WebSocketPeer;
  /** performance.now() at which connectToUrl is due (ramp). */
  startAt: number;
  startedAt: number;
  phase: 'waiting' | 'connecting' | 'open' | 'closed';
  /** Opened, then closed before we closed it. */
  closedEarly: boolean;
  sent: number;
  received: number;
  lastSeq: number;
  /** Rate mode: intended times and sequence numbers refused by the outbound buffer, in order. */
  backlogT: number[];
  backlogSeq: number[];
  /** Flood mode: sends owed (an echo arrived but the send was refused). */
  floodOwed: number;
}

export function threadCpuNs(): number | null {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'latin1');
    return Number(text.slice(0, text.indexOf(' ')));
  } catch {
    return null;
  }
}

export function inc(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** An event-loop delay histogram (ns, 10 ms timer) as ms late. */
export function delaySummary(h: IntervalHistogram): DelaySummary {
  // The histogram holds the time between two runs of its 10 ms timer: the delay is what exceeds 10 ms.
  const toMs = (v: number) => (Number.isFinite(v) ? Math.round(Math.max(0, v / 1e6 - ELD_RESOLUTION_MS) * 1000) / 1000 : 0);
  if (h.count === 0) return { min: 0, mean: 0, p50: 0, p99: 0, max: 0 };
  return { min: toMs(h.min), mean: toMs(h.mean), p50: toMs(h.percentile(50)), p99: toMs(h.percentile(99)), max: toMs(h.max) };
}

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

/** The state and the passes of one thread's run. */
class LoadPart {
  readonly eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  readonly rtt = newHistogram();
  readonly rttRaw = newHistogram();
  readonly openTimes = newHistogram();
  readonly failures: Record<string, number> = {};
  readonly closeCodes: Record<string, number> = {};
  readonly closeFailures: Record<string, number> = {};
  readonly n: Counters = { scheduled: 0, sent: 0, received: 0, sentWin: 0, receivedWin: 0, badEchoes: 0, foreign: 0, unsent: 0, backpressured: 0, connectFailed: 0, opened: 0, closedEarly: 0, unanswered: 0 };
  readonly conns: Conn[] = [];
  readonly open: Conn[] = [];
  readonly epoch = performance.now();
  readonly origin = performance.timeOrigin;
  readonly flood: boolean;
  readonly tpl: Uint8Array;
  readonly tplView: DataView;
  readonly writeMode: WriteMode;
  phase: 'ramp' | 'run' | 'drain' | 'close' | 'done' = 'ramp';
  /** Next sequence number (rate mode: next scheduled message). */
  seq = 0;
  settled = 0;
  rampStart = 0;
  /** The schedule's start (warm-up included), the measured window's start, the end of sending. */
  t0 = 0;
  tW = Infinity;
  tEnd = 0;
  measuring = false;
  /** The first sequence number of the measured window (rate: fixed by the schedule; flood: when it starts). */
  firstSeqW = Infinity;
  totalScheduled = 0;
  nextSendAt = 0;
  drainDeadline = 0;
  closeDeadline = 0;
  interrupted = false;
  /** Fan-out: the connection that publishes. */
  publisher: Conn | null = null;
  cpu0 = process.cpuUsage();
  thread0 = threadCpuNs();
  processCpuMs = 0;
  threadCpuMs: number | null = null;

  constructor(
    readonly cfg: LoadConfig,
    readonly share: Share,
    readonly pool: PeerPool,
    readonly tls: TLSOptions | null,
    readonly status: StatusLine,
    readonly isInterrupted: () => boolean,
  ) {
    this.flood = cfg.mode === 'flood';
    this.tpl = new Uint8Array(cfg.size).fill(cfg.text ? FILL_TEXT : FILL_BINARY);
    this.tplView = new DataView(this.tpl.buffer);
    this.writeMode = cfg.text ? WriteMode.TEXT : WriteMode.BINARY;
  }

  makeConnections(): void {
    const { cfg } = this;
    this.rampStart = performance.now();
    const count = this.share.connections;
    const room = Math.min(0x7fffffff, Math.max(65535, cfg.size, this.flood ? cfg.flood * cfg.size : 0));
    for (let i = 0; i < count; i++) {
      const peer = new WebSocketPeer({ pool: this.pool });
      peer.inboundBufferSize = room;
      peer.outboundBufferSize = room;
      peer.maxQueuedPackets = Math.max(4096, this.flood ? cfg.flood : 0);
      if (cfg.protocols.length !== 0) peer.supportedProtocols = cfg.protocols;
      const startAt = this.rampStart + (count <= 1 ? 0 : (cfg.rampMs * i) / count);
      this.conns.push({ index: i, peer, startAt, startedAt: 0, phase: 'waiting', closedEarly: false, sent: 0, received: 0, lastSeq: -1, backlogT: [], backlogSeq: [], floodOwed: 0 });
    }
  }

  // ---- messages ----

  #hex(v: number, digits: number): string {
    return Math.max(0, Math.floor(v)).toString(16).padStart(digits, '0').slice(-digits);
  }

  #stamp(intended: number, actual: number, seq: number, conn: number): void {
    if (!this.cfg.text) {
      // Wall-clock milliseconds (performance.timeOrigin + performance.now()): readable by any echo server.
      this.tplView.setFloat64(0, this.origin + intended, true);
      this.tplView.setFloat64(8, this.origin + actual, true);
      this.tplView.setUint32(16, seq >>> 0, true);
      this.tplView.setUint32(20, conn >>> 0, true);
    } else {
      const s = this.#hex(seq, 8) + this.#hex(conn, 6) + this.#hex((intended - this.epoch) * 1000, 9) + this.#hex((actual - this.epoch) * 1000, 9);
      for (let i = 0; i < TEXT_HEADER; i++) this.tpl[i] = s.charCodeAt(i);
    }
  }

  /** Send one message on `c`; false if the peer refused it for lack of room (try later). */
  sendOne(c: Conn, intended: number, s: number, now: number): boolean {
    this.#stamp(intended, now, s, c.index);
    const err = c.peer.send(this.tpl, this.writeMode);
    if (err === ErrorCode.OK) {
      c.sent++;
      this.n.sent++;
      if (s >= this.firstSeqW) this.n.sentWin++;
      return true;
    }
    if (err === ErrorCode.ERR_OUT_OF_MEMORY) {
      this.n.backpressured++;
      return false;
    }
    // FAILED: the connection is closing; poll() will show it.
    this.n.unsent++;
    return true;
  }

  /** The header of a received message: [intended, actual, seq, conn index]. */
  #decode(p: Uint8Array): [number, number, number, number] {
    if (!this.cfg.text) {
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      return [v.getFloat64(0, true) - this.origin, v.getFloat64(8, true) - this.origin, v.getUint32(16, true), v.getUint32(20, true)];
    }
    const t = String.fromCharCode(...p.subarray(0, TEXT_HEADER));
    return [this.epoch + parseInt(t.slice(14, 23), 16) / 1000, this.epoch + parseInt(t.slice(23, 32), 16) / 1000, parseInt(t.slice(0, 8), 16), parseInt(t.slice(8, 14), 16)];
  }

  onPacket(c: Conn, p: Uint8Array, wasText: boolean, now: number): void {
    if (p.byteLength !== this.cfg.size || wasText !== this.cfg.text) {
      this.n.badEchoes++;
      return;
    }
    const [intended, actual, s, ci] = this.#decode(p);
    if (this.publisher === null && ci !== c.index && ci < this.conns.length && s < this.seq && intended <= now) {
      // Another of our connections' message (a broadcast server sends everyone's messages to all).
      this.n.foreign++;
      return;
    }
    const from = this.publisher ?? c;
    const valid = ci === from.index && s > c.lastSeq && s < this.seq && intended <= now && (this.publisher !== null || c.received < c.sent);
    if (!valid) {
      this.n.badEchoes++;
      return;
    }
    c.lastSeq = s;
    c.received++;
    this.n.received++;
    if (s >= this.firstSeqW) {
      this.n.receivedWin++;
      this.rtt.record((now - intended) * 1000);
      this.rttRaw.record((now - actual) * 1000);
    }
    if (this.flood && this.phase === 'run') {
      if (c.floodOwed > 0 || !this.sendOne(c, now, this.seq, now)) c.floodOwed++;
      else this.seq++;
    }
  }

  onClosed(c: Conn): void {
    const code = c.peer.getCloseCode();
    inc(this.closeCodes, String(code));
    if (code === -1) inc(this.closeFailures, c.peer.getFailureReason() || 'UNKNOWN');
    if (this.phase === 'ramp' || this.phase === 'run' || this.phase === 'drain') c.closedEarly = true;
    c.phase = 'closed';
    // Its backlog will never go out.
    this.n.unsent += c.backlogT.length;
    c.backlogT.length = 0;
    c.backlogSeq.length = 0;
  }

  /** Messages still expected back on `c`: its own echoes, or (fan-out) the publisher's messages. */
  #owed(c: Conn): number {
    return Math.max(0, (this.publisher ?? c).sent - c.received);
  }

  outstanding(): number {
    let n = 0;
    for (const c of this.open) if (c.phase === 'open') n += this.#owed(c) + c.backlogT.length;
    return n;
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
    if (!this.flood) return;
    for (const c of this.open) {
      for (let k = 0; k < cfg.flood; k++) {
        if (!this.sendOne(c, now, this.seq, now)) {
          c.floodOwed += cfg.flood - k;
          break;
        }
        this.seq++;
      }
    }
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
    if (this.phase === 'ramp') this.#connectDue(now);
    for (const c of this.conns) if (c.phase === 'connecting' || c.phase === 'open') this.#pollConn(c, now);
    if (this.phase === 'ramp') this.#rampProgress(now);
    if (this.phase === 'run' && !this.measuring && now >= this.tW) this.startMeasuring(now);
    if (this.phase === 'run' || this.phase === 'drain') {
      this.#sendBacklogs(now);
      if (!this.flood && this.phase === 'run' && (now >= this.nextSendAt || now >= this.tEnd)) this.#sendScheduled(now);
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

  #connectDue(now: number): void {
    for (const c of this.conns) {
      if (c.phase !== 'waiting' || c.startAt > now) continue;
      c.phase = 'connecting';
      c.startedAt = now;
      const err = c.peer.connectToUrl(this.cfg.url, this.tls);
      if (err !== ErrorCode.OK) {
        c.phase = 'closed';
        this.n.connectFailed++;
        this.settled++;
        inc(this.failures, c.peer.getFailureReason() || ErrorCode[err] || String(err));
      }
    }
  }

  #pollConn(c: Conn, now: number): void {
    const peer = c.peer;
    peer.poll();
    const st = peer.getReadyState();
    if (c.phase === 'connecting') {
      if (st === State.OPEN) {
        c.phase = 'open';
        this.open.push(c);
        this.settled++;
        this.openTimes.record((now - c.startedAt) * 1000);
      } else if (st === State.CLOSED) {
        c.phase = 'closed';
        this.n.connectFailed++;
        this.settled++;
        inc(this.failures, peer.getFailureReason() || `CLOSE_${peer.getCloseCode()}`);
      }
      return;
    }
    let k = peer.getAvailablePacketCount();
    while (k-- > 0) {
      const p = peer.getPacket();
      this.onPacket(c, p, peer.wasStringPacket(), now);
    }
    if (st === State.CLOSED) this.onClosed(c);
  }

  #rampProgress(now: number): void {
    const total = this.share.connections;
    this.status.update(() => `connecting ${bar(this.settled, total)} ${this.open.length}/${total} open, ${this.n.connectFailed} failed`);
    if (this.settled !== total) return;
    this.status.done(`connected: ${this.open.length}/${total} open, ${this.n.connectFailed} failed, in ${((now - this.rampStart) / 1000).toFixed(2)} s`);
    if (this.open.length === 0) this.phase = 'done';
    else this.startRun(now);
  }

  /** Sends refused earlier go first (oldest first); flood: what echoes released. */
  #sendBacklogs(now: number): void {
    for (const c of this.open) {
      if (c.phase !== 'open') continue;
      if (c.backlogT.length !== 0) {
        let k = 0;
        while (k < c.backlogT.length && this.sendOne(c, c.backlogT[k]!, c.backlogSeq[k]!, now)) k++;
        if (k !== 0) {
          c.backlogT.splice(0, k);
          c.backlogSeq.splice(0, k);
        }
      }
      while (this.flood && this.phase === 'run' && c.floodOwed > 0 && this.sendOne(c, now, this.seq, now)) {
        c.floodOwed--;
        this.seq++;
      }
    }
  }

  /** Rate mode: what the schedule says is due now (at the end of the window, everything scheduled). */
  #sendScheduled(now: number): void {
    this.nextSendAt = now + this.cfg.sendTickUs / 1000;
    const due = Math.min(this.totalScheduled, Math.floor(((now - this.t0) * this.share.rate) / 1000) + 1);
    const n = this.open.length;
    while (this.seq < due) {
      const s = this.seq++;
      const c = this.publisher ?? this.open[s % n]!;
      if (c.phase !== 'open') {
        this.n.unsent++;
        continue;
      }
      const intended = this.t0 + (s * 1000) / this.share.rate;
      if (c.backlogT.length !== 0 || !this.sendOne(c, intended, s, now)) {
        c.backlogT.push(intended);
        c.backlogSeq.push(s);
      }
    }
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
      n.unanswered += this.#owed(c);
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

export type { LatencyHistogram };
