/**
 * The connections of one `ringsocket load` thread and the messages on them: opening them on the ramp,
 * polling them, sending (the rate schedule, flood refills, the backlog of refused sends), checking and
 * timing what comes back, and the close accounting. The phases that drive all this (ramp, run, drain,
 * close) and the loop are in cli/load-run.ts, which extends this class.
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
 * An echo that does not match (size, type, connection, order) is counted as a bad echo, not as a latency.
 */
import { performance } from 'node:perf_hooks';
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer } from '../src/index.js';
import { newHistogram } from './histogram.js';
import type { LoadConfig } from './load-config.js';
import { MessageCodec } from './load-message.js';
import { inc, newCounters, type Share } from './load-part.js';

export interface Conn {
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

export type Phase = 'ramp' | 'run' | 'drain' | 'close' | 'done';

/** The connections and their traffic; the phase fields are set by the subclass (cli/load-run.ts). */
export class LoadTraffic {
  readonly rtt = newHistogram();
  readonly rttRaw = newHistogram();
  readonly openTimes = newHistogram();
  readonly failures: Record<string, number> = {};
  readonly closeCodes: Record<string, number> = {};
  readonly closeFailures: Record<string, number> = {};
  readonly n = newCounters();
  readonly conns: Conn[] = [];
  readonly open: Conn[] = [];
  readonly flood: boolean;
  readonly codec: MessageCodec;
  phase: Phase = 'ramp';
  /** Next sequence number (rate mode: next scheduled message). */
  seq = 0;
  /** Connections whose connect attempt ended (open or failed). */
  settled = 0;
  rampStart = 0;
  /** The schedule's start (warm-up included). */
  t0 = 0;
  /** The first sequence number of the measured window (rate: fixed by the schedule; flood: when it starts). */
  firstSeqW = Infinity;
  totalScheduled = 0;
  nextSendAt = 0;
  /** Fan-out: the connection that publishes. */
  publisher: Conn | null = null;

  constructor(
    readonly cfg: LoadConfig,
    readonly share: Share,
    readonly pool: PeerPool,
    readonly tls: TLSOptions | null,
  ) {
    this.flood = cfg.mode === 'flood';
    this.codec = new MessageCodec(cfg.text, cfg.size, performance.now());
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
      if (cfg.deflate) peer.perMessageDeflate = true;
      const startAt = this.rampStart + (count <= 1 ? 0 : (cfg.rampMs * i) / count);
      this.conns.push({ index: i, peer, startAt, startedAt: 0, phase: 'waiting', closedEarly: false, sent: 0, received: 0, lastSeq: -1, backlogT: [], backlogSeq: [], floodOwed: 0 });
    }
  }

  /** Ramp: start the connections whose time has come. */
  protected connectDue(now: number): void {
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

  /** Poll one connection: its handshake's outcome, or its packets and its close. */
  protected pollConn(c: Conn, now: number): void {
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

  /** Send one message on `c`; false if the peer refused it for lack of room (try later). */
  sendOne(c: Conn, intended: number, s: number, now: number): boolean {
    this.codec.stamp(intended, now, s, c.index);
    const err = c.peer.send(this.codec.tpl, this.codec.writeMode);
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

  onPacket(c: Conn, p: Uint8Array, wasText: boolean, now: number): void {
    if (p.byteLength !== this.cfg.size || wasText !== this.cfg.text) {
      this.n.badEchoes++;
      return;
    }
    const [intended, actual, s, ci] = this.codec.decode(p);
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
  protected owed(c: Conn): number {
    return Math.max(0, (this.publisher ?? c).sent - c.received);
  }

  outstanding(): number {
    let n = 0;
    for (const c of this.open) if (c.phase === 'open') n += this.owed(c) + c.backlogT.length;
    return n;
  }

  /** Flood: the first `cfg.flood` messages of each connection. */
  protected startFlood(now: number): void {
    for (const c of this.open) {
      for (let k = 0; k < this.cfg.flood; k++) {
        if (!this.sendOne(c, now, this.seq, now)) {
          c.floodOwed += this.cfg.flood - k;
          break;
        }
        this.seq++;
      }
    }
  }

  /** Sends refused earlier go first (oldest first); flood: what echoes released. */
  protected sendBacklogs(now: number): void {
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
  protected sendScheduled(now: number): void {
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
}
