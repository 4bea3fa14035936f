/**
 * Load generator process of the side-by-side suite: raw `net` sockets, a hand-written upgrade
 * request, pre-built masked frames, a frame counter for the replies, HDR histograms for latency
 * (`ringsocket load`'s, cli/histogram.ts).
 * Forked by run.js with a JSON LoadConfig as argv[2]; driven over IPC (see protocol.ts).
 *
 * Modes:
 * - `window` (S1): each connection keeps `inflight` messages outstanding; every echo received
 *   releases one more message (the replies found in one chunk are answered with one write).
 * - `rate` (S2, S3 realistic): open loop at a constant total rate, round-robin over the connections,
 *   whatever the server does. Each payload carries its intended send time and its actual write time
 *   (float64 ms, this process's performance.now()); the RTT is taken from the intended time, which
 *   corrects for coordinated omission (a late server makes the next sends late too — their wait counts).
 * - `flood` (S3 flood, S4): each connection writes `inflight` frames at a time and writes the next
 *   batch as soon as the kernel took the previous one: as fast as the server reads (TCP backpressure).
 * - `idle` (S5, S7): connect and hold.
 * - `once` (S7 held connections): each connection sends one message after its handshake and counts as
 *   connected when the echo is back (the server's zlib streams are then made), then holds.
 * - `deflate` (S7): the upgrade offers permessage-deflate (see DeflateMode); a connection the server does
 *   not agree to it on fails. Messages are sent compressed (pre-built: the offer asks for no client context
 *   takeover, or the message is the first of its stream); an echo is a frame with RSV1, and with
 *   `no-context` one in 64 is inflated and compared with the message sent (`badEchoes`).
 * - `snapshotAge` (S6, with `rate`): the server stamps each snapshot with `process.hrtime.bigint()`
 *   (CLOCK_MONOTONIC, the same clock in every process on Linux) in its first 8 bytes; receipt minus stamp
 *   goes into an HDR histogram for the snapshots received inside the window. 4-byte binary frames are
 *   the id message of Godot 4's WebSocketMultiplayerPeer, counted as `ids`.
 *
 * Its own CPU time is reported with every mark, so a saturated load process shows in the results.
 *
 * Why not `ringsocket load` (cli/), which measures the same round trips: the suite compares ringsocket
 * with other servers (ws, uWS), so its load must not go through ringsocket (the client side would carry
 * ringsocket's own costs and faults into every server's figures), and on 2 cores it must be as cheap as
 * raw sockets with pre-built masked frames can make it. bench/e2e/load-agreement.ts checks that the two
 * generators agree on S2. What they measure the same way is shared: the latency histogram.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { LatencyHistogram, newHistogram } from '../../cli/histogram.js';
import { isMain, processCpuNs } from '../common.js';
import type { LatencySummary, LoadCommand, LoadConfig, LoadCounters, LoadNotice } from './protocol.js';
import { buildClientFrame, clientHeaderLength, deflatePayload, FrameReader, inflatePayload, jsonContent, repeatFrame, upgradeRequest, writeMasked } from './wire.js';

const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const PAYLOAD_FILL = 0xa5;
const CURVE_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100];

/**
 * The latencies (µs) in the summary the suite's results hold. The histogram is `ringsocket load`'s
 * (cli/histogram.ts: HdrHistogram, 1 µs .. 60 s, 3 significant digits; percentiles clamped to the exact
 * min and max, so max is the largest value recorded, not its bucket's upper edge).
 */
export function summarize(h: LatencyHistogram): LatencySummary {
  return {
    count: h.count,
    p50: h.percentile(50),
    p90: h.percentile(90),
    p99: h.percentile(99),
    p999: h.percentile(99.9),
    max: h.max,
    mean: h.mean,
    curve: CURVE_PERCENTILES.map((p) => [p, h.percentile(p)] as [number, number]),
    encoded: h.encodeHdr(),
  };
}

interface Conn {
  index: number;
  sock: net.Socket;
  open: boolean;
  /** Handshake bytes received so far (until the blank line). */
  head: Buffer | null;
  reader: FrameReader;
  sent: number;
  echoes: number;
  echoesAtWindowStart: number;
  /** Echoes found in the chunk being parsed (window mode answers them with one write). */
  burst: number;
  /** rate mode: corked during the current scheduler step. */
  corked: boolean;
  /** once mode: the first message's echo is awaited to count the connection as connected. */
  settleOnEcho: ((ok: boolean, why: string) => void) | null;
}

/** What the load offers in S7 (protocol.ts DeflateMode). */
const OFFERS = {
  '': '',
  'no-context': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
  takeover: 'permessage-deflate; client_max_window_bits',
} as const;
/** S7 no-context: one compressed echo in this many is inflated and checked. */
const CHECK_EVERY = 64;

function main(): void {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
  const send = (m: LoadNotice) => process.send!(m);
  const counters: LoadCounters = { sent: 0, echoes: 0, compressed: 0, badEchoes: 0, snapshots: 0, otherFrames: 0, closes: 0, socketErrors: 0, disconnects: 0, ids: 0 };
  const conns: Conn[] = [];
  let running = false;
  let stopping = false;

  // Pre-built frames: the payload is PAYLOAD_FILL bytes (or JSON-like text); rate mode rewrites 16 of them
  // per message. With deflate the frames carry the compressed payload, RSV1 set.
  const payload: Uint8Array = cfg.content === 'json' ? jsonContent(cfg.size) : new Uint8Array(cfg.size).fill(PAYLOAD_FILL);
  const deflate = cfg.deflate !== '';
  // Stamps change the payload per message: a pre-built compressed one cannot carry them.
  if (deflate && cfg.mode === 'rate' && cfg.expectEcho) throw new Error('load: deflate with rate mode and echoes (stamped payloads) is not supported');
  const wire: Uint8Array = deflate ? deflatePayload(payload) : payload;
  const headerLen = clientHeaderLength(wire.byteLength);
  const frameLen = headerLen + wire.byteLength;
  const connMask = (): Buffer => randomBytes(4);
  const clientFrame = (): Buffer => buildClientFrame(wire, connMask(), deflate);
  let checkCountdown = CHECK_EVERY;

  // rate-mode histograms (µs) and the window they cover, in this process's clock.
  const rtt = newHistogram();
  const rttRaw = newHistogram();
  const lag = newHistogram();
  let windowStart = Infinity;
  let windowEnd = Infinity;
  const snapAge = newHistogram();
  let inWindow = false;
  const stamp = new Float64Array(2);
  const stampBytes = new Uint8Array(stamp.buffer);

  const onFrame = (c: Conn, opcode: number, buf: Buffer, off: number, len: number, compressed: boolean): void => {
    if (compressed) {
      counters.compressed++;
      if (cfg.deflate === 'no-context' && opcode === OP_BINARY && --checkCountdown === 0) {
        checkCountdown = CHECK_EVERY;
        let ok: boolean;
        try {
          ok = inflatePayload(buf.subarray(off, off + len)).equals(payload);
        } catch {
          ok = false;
        }
        if (!ok) counters.badEchoes++;
      }
    }
    if (opcode === OP_BINARY && (len === cfg.size || (compressed && deflate))) {
      if (c.settleOnEcho !== null) {
        const settle = c.settleOnEcho;
        c.settleOnEcho = null;
        settle(true, '');
        return;
      }
      c.echoes++;
      counters.echoes++;
      c.burst++;
      if (cfg.mode === 'rate' && len >= 16) {
        const intended = buf.readDoubleLE(off);
        if (intended >= windowStart && intended < windowEnd) {
          const now = performance.now();
          const actual = buf.readDoubleLE(off + 8);
          rtt.record((now - intended) * 1000);
          rttRaw.record((now - actual) * 1000);
          lag.record((actual - intended) * 1000);
        }
      }
    } else if (opcode === OP_BINARY && len === cfg.snapshotBytes) {
      counters.snapshots++;
      if (cfg.snapshotAge && inWindow && len >= 8) {
        const ageNs = process.hrtime.bigint() - buf.readBigInt64LE(off);
        snapAge.record(Number(ageNs) / 1000);
      }
    } else if (cfg.snapshotAge && opcode === OP_BINARY && len === 4) {
      counters.ids++;
    } else if (opcode === OP_CLOSE) {
      counters.closes++;
    } else {
      counters.otherFrames++;
    }
  };

  // ---- window mode: one frame batch per connection, answered echo for echo ----
  const windowBatch = cfg.mode === 'window' ? repeatFrame(clientFrame(), Math.max(1, cfg.inflight)) : null;
  const afterChunk = (c: Conn): void => {
    const k = c.burst;
    c.burst = 0;
    if (k === 0 || cfg.mode !== 'window' || !running || !c.open) return;
    // k ≤ inflight unless the server sent more echoes than messages (then `unanswered` goes negative).
    for (let left = k; left > 0; left -= cfg.inflight) c.sock.write(windowBatch!.subarray(0, Math.min(left, cfg.inflight) * frameLen));
    c.sent += k;
    counters.sent += k;
  };

  // ---- flood mode: next batch when the kernel took the previous one ----
  // The next write waits for setImmediate: a write the kernel takes at once calls back on the
  // nextTick queue, and chaining there would never return to the event loop (no IPC, no reads).
  const floodBatch = cfg.mode === 'flood' ? repeatFrame(clientFrame(), Math.max(1, cfg.inflight)) : null;
  const flood = (c: Conn): void => {
    if (!running || !c.open) return;
    c.sock.write(floodBatch!, (err) => {
      if (err) return;
      c.sent += cfg.inflight;
      counters.sent += cfg.inflight;
      setImmediate(flood, c);
    });
  };

  // ---- rate mode: an open-loop scheduler on a 1 ms timer ----
  const rateTemplate = cfg.mode === 'rate' ? clientFrame() : null;
  let rateT0 = 0;
  let rateSeq = 0;
  let rateTimer: NodeJS.Timeout | null = null;
  const rateStep = (): void => {
    if (!running) return;
    const now = performance.now();
    const due = Math.floor(((now - rateT0) * cfg.rate) / 1000);
    const n = conns.length;
    const corked: Conn[] = [];
    while (rateSeq < due) {
      const c = conns[rateSeq % n]!;
      const intended = rateT0 + (rateSeq * 1000) / cfg.rate;
      rateSeq++;
      if (!c.open) continue;
      let f = rateTemplate!;
      if (!deflate) {
        f = Buffer.allocUnsafe(frameLen);
        rateTemplate!.copy(f);
        stamp[0] = intended;
        stamp[1] = now;
        writeMasked(f, headerLen, 0, stampBytes);
      }
      if (!c.corked) {
        c.corked = true;
        c.sock.cork();
        corked.push(c);
      }
      c.sock.write(f);
      c.sent++;
      counters.sent++;
    }
    for (const c of corked) {
      c.corked = false;
      c.sock.uncork();
    }
    rateTimer = setTimeout(rateStep, 1);
  };

  // ---- connecting ----
  const connectAll = (): void => {
    const t0 = performance.now();
    let next = 0;
    let done = 0;
    let failed = 0;
    let firstError = '';
    const host = cfg.host;
    const finish = (): void => {
      if (done !== cfg.conns) return;
      send({ t: 'connected', conns: conns.filter((c) => c.open).length, failed, ms: performance.now() - t0, firstError });
    };
    const startOne = (): void => {
      if (next >= cfg.conns) return;
      const index = next++;
      const sock = net.connect({ host, port: cfg.port, ...(cfg.localAddress !== '' ? { localAddress: cfg.localAddress } : {}) });
      sock.setNoDelay(true);
      const c: Conn = {
        index,
        sock,
        open: false,
        head: Buffer.alloc(0),
        reader: new FrameReader((op, buf, off, len, z) => onFrame(c, op, buf, off, len, z)),
        sent: 0,
        echoes: 0,
        echoesAtWindowStart: 0,
        burst: 0,
        corked: false,
        settleOnEcho: null,
      };
      let settled = false;
      const settle = (ok: boolean, why: string): void => {
        if (settled) return;
        settled = true;
        done++;
        if (ok) conns.push(c);
        else {
          failed++;
          if (firstError === '') firstError = why;
        }
        startOne();
        finish();
      };
      sock.on('connect', () => sock.write(upgradeRequest(host, cfg.port, OFFERS[cfg.deflate])));
      sock.on('data', (chunk: Buffer) => {
        if (c.head !== null) {
          const all = Buffer.concat([c.head, chunk]);
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) {
            c.head = all;
            return;
          }
          c.head = null;
          const status = all.subarray(0, all.indexOf('\r\n')).toString('latin1');
          if (!status.startsWith('HTTP/1.1 101')) {
            sock.destroy();
            settle(false, status);
            return;
          }
          if (deflate) {
            const ext = /\r\nsec-websocket-extensions:([^\r]*)/i.exec(all.subarray(0, end + 2).toString('latin1'))?.[1]?.trim() ?? '';
            const agreed = ext.startsWith('permessage-deflate') && (cfg.deflate !== 'no-context' || ext.includes('server_no_context_takeover'));
            if (!agreed) {
              sock.destroy();
              settle(false, `permessage-deflate (${cfg.deflate}) not agreed: "${ext}"`);
              return;
            }
          }
          c.open = true;
          if (cfg.mode === 'once') {
            c.settleOnEcho = settle;
            sock.write(clientFrame());
          } else settle(true, '');
          if (end + 4 < all.length) c.reader.push(all.subarray(end + 4));
          afterChunk(c);
          return;
        }
        c.reader.push(chunk);
        afterChunk(c);
      });
      sock.on('error', (err) => {
        counters.socketErrors++;
        settle(false, (err as NodeJS.ErrnoException).code ?? err.message);
      });
      sock.on('close', () => {
        if (c.open && !stopping) counters.disconnects++;
        c.open = false;
        settle(false, 'closed during handshake');
      });
    };
    if (cfg.conns === 0) {
      send({ t: 'connected', conns: 0, failed: 0, ms: 0, firstError: '' });
      return;
    }
    for (let i = 0; i < Math.min(cfg.connectConcurrency, cfg.conns); i++) startOne();
  };

  const mark = (): void => {
    send({ t: 'mark', now: performance.now(), cpuNs: processCpuNs(), counters: { ...counters } });
  };

  const unanswered = (): number => {
    let n = 0;
    for (const c of conns) n += c.sent - c.echoes;
    return n;
  };

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    running = false;
    if (rateTimer !== null) clearTimeout(rateTimer);
    let stalledConns = 0;
    if (cfg.mode === 'window') for (const c of conns) if (c.echoes === c.echoesAtWindowStart) stalledConns++;
    const expectEcho = cfg.mode === 'window' || (cfg.mode === 'rate' && cfg.expectEcho);
    if (expectEcho) {
      const deadline = performance.now() + cfg.drainMs;
      while (unanswered() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    }
    const fin: LoadNotice = {
      t: 'final',
      now: performance.now(),
      cpuNs: processCpuNs(),
      counters: { ...counters },
      unanswered: expectEcho ? unanswered() : 0,
      stalledConns,
    };
    if (cfg.mode === 'rate' && cfg.expectEcho) {
      fin.rtt = summarize(rtt);
      fin.rttUncorrected = summarize(rttRaw);
      fin.sendLag = summarize(lag);
    }
    if (cfg.snapshotAge) fin.snapshotAge = snapAge.encode();
    send(fin);
  };

  const quit = (): void => {
    for (const c of conns) c.sock.destroy();
    process.exit(0);
  };

  process.on('message', (m: LoadCommand) => {
    if (m.t === 'go') {
      running = true;
      if (cfg.mode === 'window') {
        for (const c of conns) {
          c.burst = cfg.inflight;
          afterChunk(c);
        }
      } else if (cfg.mode === 'flood') {
        for (const c of conns) flood(c);
      } else if (cfg.mode === 'rate') {
        rateT0 = performance.now();
        rateSeq = 0;
        rateStep();
      }
    } else if (m.t === 'mark') {
      if (m.window === 'start') {
        inWindow = true;
        windowStart = performance.now();
        for (const c of conns) c.echoesAtWindowStart = c.echoes;
      } else {
        inWindow = false;
        windowEnd = performance.now();
      }
      mark();
    } else if (m.t === 'stop') {
      void stop();
    } else if (m.t === 'exit') {
      quit();
    }
  });
  process.on('disconnect', quit);
  connectAll();
}

if (isMain(import.meta.url) && process.send !== undefined) main();
