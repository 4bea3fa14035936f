/**
 * Flow control of a client peer against a real `ws` server in this process: a million small messages in
 * order, a slow consumer of a 256 MiB stream (the worker pauses reading: TCP backpressure, nothing
 * dropped, the main thread never holds more than inboundBufferSize), and a burst of sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, pollUntil, startWsServer } from '../helpers/net.js';

let pool: PeerPool;

beforeAll(() => {
  // An inbound ring larger than the 8 MiB budget of the slow-consumer test, so the budget (not the
  // ring) is what limits what the main thread holds.
  pool = new PeerPool({ threads: 2, inboundRingSize: 32 * 1024 * 1024 });
});

afterAll(async () => {
  await pool.close();
});

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

interface SendReport {
  /** Highest ws.bufferedAmount seen right after a send. */
  maxBuffered: number;
  /** Times the sender stopped at the high-water mark and waited for a write callback. */
  waits: number;
}

/**
 * Send `count` binary messages made by `make(k)` on `ws` as fast as backpressure allows: keep
 * ws.bufferedAmount under `high`; the send that would cross it carries a callback and the loop resumes
 * when that message was written to the socket.
 */
function sendAll(ws: WebSocket, count: number, make: (k: number) => Uint8Array, high: number): Promise<SendReport> {
  return new Promise((resolve, reject) => {
    const report: SendReport = { maxBuffered: 0, waits: 0 };
    let k = 0;
    const step = (err?: Error | null): void => {
      if (err) {
        reject(err);
        return;
      }
      while (k < count) {
        if (ws.readyState !== WebSocket.OPEN) {
          reject(new Error(`server socket not open (state ${ws.readyState}) after ${k} messages`));
          return;
        }
        const data = make(k);
        const crossing = ws.bufferedAmount + data.byteLength >= high;
        const last = k === count - 1;
        k++;
        if (crossing || last) {
          if (crossing) report.waits++;
          ws.send(data, { binary: true }, last ? (e) => (e ? reject(e) : resolve(report)) : step);
        } else {
          ws.send(data, { binary: true });
        }
        if (ws.bufferedAmount > report.maxBuffered) report.maxBuffered = ws.bufferedAmount;
        if (crossing || last) return;
      }
    };
    step();
  });
}

/** The peer's first connection on `server` (the server side `ws`). */
function nextConnection(server: Awaited<ReturnType<typeof startWsServer>>): Promise<WebSocket> {
  return new Promise((resolve) => server.wss.once('connection', (ws: WebSocket) => resolve(ws)));
}

describe('client flow control', () => {
  it('receives 1,000,000 messages of 64 B in order with none lost', { timeout: 90_000 }, async () => {
    const COUNT = 1_000_000;
    const SIZE = 64;
    const server = await startWsServer();
    try {
      const peer = new WebSocketPeer({ pool });
      expect(peer.inboundBufferSize).toBe(65535);
      const conn = nextConnection(server);
      await openPeer(peer, server.url);
      const ws = await conn;
      // Messages are cut from slabs (ws does not copy unmasked payloads, so nothing is reused).
      const SLAB = 4096;
      let slab = Buffer.alloc(0);
      const make = (k: number): Uint8Array => {
        const j = k % SLAB;
        if (j === 0) {
          slab = Buffer.allocUnsafe(SLAB * SIZE);
          for (let m = 0; m < SLAB; m++) {
            const seq = k + m;
            const o = m * SIZE;
            slab.writeUInt32LE(seq, o);
            for (let i = 4; i < SIZE; i++) slab[o + i] = (seq + i) & 0xff;
          }
        }
        return slab.subarray(j * SIZE, j * SIZE + SIZE);
      };
      const sending = sendAll(ws, COUNT, make, 4 * 1024 * 1024);
      let failure: unknown = null;
      sending.catch((e: unknown) => (failure = e));

      let received = 0;
      let firstBad = '';
      const deadline = Date.now() + 80_000;
      while (received < COUNT && firstBad === '') {
        peer.poll();
        for (let n = peer.getAvailablePacketCount(); n > 0; n--) {
          const p = peer.getPacket();
          if (p.byteLength !== SIZE) {
            firstBad = `message ${received}: ${p.byteLength} bytes`;
            break;
          }
          const seq = (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
          if (seq !== received) {
            firstBad = `message ${received}: sequence number ${seq}`;
            break;
          }
          for (let i = 4; i < SIZE; i++) {
            if (p[i] !== ((seq + i) & 0xff)) {
              firstBad = `message ${received}: byte ${i} is ${p[i]}`;
              break;
            }
          }
          received++;
        }
        if (failure !== null) throw failure;
        if (peer.getReadyState() !== State.OPEN) throw new Error(`peer left OPEN after ${received} messages: ${peer.getFailureReason()}`);
        if (Date.now() > deadline) throw new Error(`timed out with ${received} of ${COUNT} messages`);
        await nextTurn();
      }
      expect(firstBad).toBe('');
      expect(received).toBe(COUNT);
      await sending;
      // Nothing more than what was sent.
      peer.poll();
      expect(peer.getAvailablePacketCount()).toBe(0);
      expect(peer.close(1000)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close handshake');
      expect(peer.getCloseCode()).toBe(1000);
    } finally {
      await server.close();
    }
  });

  it('gives a consumer that polls every 50 ms all of a 256 MiB stream, holding at most inboundBufferSize', { timeout: 90_000 }, async () => {
    const MSG = 64 * 1024;
    const COUNT = 4096; // 256 MiB
    const INBOUND = 8 * 1024 * 1024;
    const HIGH = 4 * 1024 * 1024;
    // The stream's byte at offset o is table[o % P]: P (prime) does not divide MSG, so every message
    // differs from its neighbours and a lost, repeated or reordered message breaks the pattern.
    const P = 65521;
    const table = Buffer.allocUnsafe(2 * P + MSG);
    let s = 0x2545f491;
    for (let i = 0; i < P; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      table[i] = s & 0xff;
    }
    for (let i = P; i < table.length; i++) table[i] = table[i - P]!;
    const expected = (k: number): Buffer => {
      const off = (k * MSG) % P;
      return table.subarray(off, off + MSG);
    };

    const server = await startWsServer();
    try {
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = INBOUND;
      const conn = nextConnection(server);
      await openPeer(peer, server.url);
      const ws = await conn;
      const sending = sendAll(ws, COUNT, expected, HIGH);
      let failure: unknown = null;
      sending.catch((e: unknown) => (failure = e));

      let received = 0;
      let firstBad = '';
      let maxHeld = 0;
      let polls = 0;
      let sawPaused = false;
      let statsPending = false;
      const deadline = Date.now() + 80_000;
      while (received < COUNT && firstBad === '') {
        peer.poll();
        polls++;
        const held = peer.getAvailablePacketCount() * MSG;
        if (held > maxHeld) maxHeld = held;
        for (let n = peer.getAvailablePacketCount(); n > 0; n--) {
          const p = peer.getPacket();
          if (Buffer.compare(p, expected(received)) !== 0) {
            firstBad = `message ${received} (${p.byteLength} bytes) does not match the stream`;
            break;
          }
          received++;
        }
        if (!sawPaused && !statsPending) {
          statsPending = true;
          void pool.stats().then(
            (st) => {
              statsPending = false;
              if (st.some((w) => w.paused > 0)) sawPaused = true;
            },
            () => (statsPending = false),
          );
        }
        if (failure !== null) throw failure;
        if (peer.getReadyState() !== State.OPEN) throw new Error(`peer left OPEN after ${received} messages: ${peer.getFailureReason()}`);
        if (Date.now() > deadline) throw new Error(`timed out with ${received} of ${COUNT} messages`);
        await new Promise<void>((r) => setTimeout(r, 50));
      }
      expect(firstBad).toBe('');
      expect(received).toBe(COUNT);
      const report = await sending;
      // The main thread never held more than the budget (plus the one message that may cross it), and
      // the budget, not the 32 MiB ring, is what limited it: it was reached.
      expect(maxHeld).toBeLessThanOrEqual(INBOUND + MSG);
      expect(maxHeld).toBeGreaterThanOrEqual(INBOUND - MSG);
      // 256 MiB through an 8 MiB budget takes at least 32 polls.
      expect(polls).toBeGreaterThanOrEqual(32);
      // Backpressure reached the server: its buffer filled to the high-water mark and it had to wait,
      // and the client's worker paused its socket at least once.
      expect(report.maxBuffered).toBeGreaterThanOrEqual(HIGH - MSG);
      expect(report.waits).toBeGreaterThan(0);
      expect(sawPaused).toBe(true);
      peer.poll();
      expect(peer.getAvailablePacketCount()).toBe(0);
      expect(peer.close(1000)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close handshake');
      expect(peer.getCloseCode()).toBe(1000);
    } finally {
      await server.close();
    }
  });

  it('delivers a synchronous burst of 10,000 sends of 64 B to the server in order', async () => {
    const COUNT = 10_000;
    const SIZE = 64;
    const server = await startWsServer();
    try {
      const got: Buffer[] = [];
      const closed = new Promise<number>((resolve) => {
        server.wss.once('connection', (ws: WebSocket) => {
          ws.on('message', (d) => got.push(d as Buffer));
          ws.on('close', (code) => resolve(code));
        });
      });
      const peer = new WebSocketPeer({ pool });
      peer.outboundBufferSize = COUNT * SIZE;
      peer.maxQueuedPackets = COUNT;
      await openPeer(peer, server.url);
      const buf = new Uint8Array(SIZE);
      const dv = new DataView(buf.buffer);
      let refused = 0;
      for (let k = 0; k < COUNT; k++) {
        dv.setUint32(0, k, true);
        buf.fill(k & 0xff, 4);
        // The peer copies: reusing `buf` must not change what was sent.
        if (peer.putPacket(buf) !== ErrorCode.OK) refused++;
      }
      expect(refused).toBe(0);
      // One more would pass maxQueuedPackets (nothing can have been written yet: no await since).
      expect(peer.getCurrentOutboundBufferedAmount()).toBe(COUNT * SIZE);
      expect(peer.putPacket(buf)).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
      await pollUntil(peer, () => got.length >= COUNT && peer.getCurrentOutboundBufferedAmount() === 0, 'all messages at the server', 30_000);
      expect(got.length).toBe(COUNT);
      let firstBad = '';
      for (let k = 0; k < COUNT && firstBad === ''; k++) {
        const d = got[k]!;
        if (d.byteLength !== SIZE || d.readUInt32LE(0) !== k) firstBad = `message ${k}: ${d.byteLength} bytes, seq ${d.byteLength >= 4 ? d.readUInt32LE(0) : -1}`;
        else if (d.subarray(4).some((b) => b !== (k & 0xff))) firstBad = `message ${k}: wrong filler`;
      }
      expect(firstBad).toBe('');
      expect(peer.close(1000)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close handshake');
      expect(peer.getCloseCode()).toBe(1000);
      expect(await closed).toBe(1000);
    } finally {
      await server.close();
    }
  });
});
