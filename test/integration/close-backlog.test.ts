/**
 * A peer whose inbound budget is full (the main thread does not call getPacket, so the worker paused its
 * socket) calls close(1000) and keeps polling without draining: the close completes clean, code 1000 on
 * both sides, long before closeTimeout. The worker reads on after close() until the remote's close frame
 * (which waits behind the unread data) and drops the data messages that arrive meanwhile, as Godot 4
 * does: nothing is lost silently (stats().droppedAfterClose counts them; delivered + dropped = sent) and
 * nothing piles up (the main thread never holds more than the budget).
 * Before: reading stayed paused after close(), and the peer ended -1 CLOSE_TIMEOUT while the remote saw 1000.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, pollUntil, startWsServer } from '../helpers/net.js';
import { waitFor } from '../helpers/server.js';

const COUNT = 2000;
const SIZE = 4096; // 8 MiB in all: far more than the budget (64 KiB) and the socket buffers
const CLOSE_TIMEOUT = 5000;

let pool: PeerPool;

beforeAll(() => {
  pool = new PeerPool({ threads: 1, closeTimeout: CLOSE_TIMEOUT });
});

afterAll(async () => {
  await pool.close();
});

/** Poll `peer` (never taking a packet) until its worker paused the socket for lack of budget. */
async function untilPaused(peer: WebSocketPeer): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    peer.poll();
    if ((await pool.stats())[0]!.paused === 1) return;
    if (Date.now() > deadline) throw new Error('the socket was never paused');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** close(1000) on a backlogged peer, keep polling without getPacket; what it ends with. */
async function closeBacklogged(peer: WebSocketPeer): Promise<{ ms: number; held: number; dropped: number }> {
  const dropped0 = (await pool.stats())[0]!.droppedAfterClose;
  const t0 = performance.now();
  expect(peer.close(1000)).toBe(ErrorCode.OK);
  expect(peer.getReadyState()).toBe(State.CLOSING);
  await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'CLOSED', CLOSE_TIMEOUT + 2000, 2);
  const ms = performance.now() - t0;
  const dropped = (await pool.stats())[0]!.droppedAfterClose - dropped0;
  return { ms, held: peer.getAvailablePacketCount(), dropped };
}

describe('close() during an inbound backlog', () => {
  it('client peer against a ws server that floods then answers the close: 1000 on both sides, fast', { timeout: 30_000 }, async () => {
    const server = await startWsServer();
    try {
      const serverClose = new Promise<number>((resolve) => {
        server.wss.on('connection', (ws: WebSocket) => {
          ws.on('close', (code) => resolve(code));
          const msg = Buffer.alloc(SIZE, 1);
          for (let i = 0; i < COUNT; i++) ws.send(msg, { binary: true });
        });
      });
      const peer = new WebSocketPeer({ pool });
      await openPeer(peer, server.url);
      await untilPaused(peer);
      const before = peer.getAvailablePacketCount();
      expect(before * SIZE).toBeLessThanOrEqual(peer.inboundBufferSize + SIZE);
      const r = await closeBacklogged(peer);
      expect(peer.getCloseCode(), peer.getFailureReason()).toBe(1000);
      expect(await serverClose).toBe(1000);
      expect(r.ms).toBeLessThan(CLOSE_TIMEOUT / 2);
      // Messages received before close() stay readable; those after it were dropped, and counted.
      expect(r.held).toBeGreaterThanOrEqual(before);
      expect(r.held * SIZE).toBeLessThanOrEqual(peer.inboundBufferSize + 64 * SIZE);
      expect(r.dropped).toBeGreaterThan(0);
      expect(r.held + r.dropped).toBe(COUNT);
      for (let i = 0; i < r.held; i++) expect(peer.getPacket().byteLength).toBe(SIZE);
      console.log(`client: CLOSED 1000 after ${r.ms.toFixed(0)} ms; ${r.held} messages held, ${r.dropped} dropped after close()`);
    } finally {
      await server.close();
    }
  });

  it('server peer with a flooding ws client: 1000 on both sides, fast', { timeout: 30_000 }, async () => {
    const tcp = new TCPServer({ pool });
    expect(tcp.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    try {
      const client = new WebSocket(`ws://127.0.0.1:${tcp.getLocalPort()}/flood`);
      client.on('error', () => undefined);
      const clientClose = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
      client.on('open', () => {
        const msg = Buffer.alloc(SIZE, 2);
        for (let i = 0; i < COUNT; i++) client.send(msg, { binary: true });
      });
      await waitFor(() => tcp.isConnectionAvailable(), 'a connection');
      const peer = new WebSocketPeer({ pool });
      expect(peer.acceptStream(tcp.takeConnection()!)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.OPEN, 'OPEN');
      await untilPaused(peer);
      const before = peer.getAvailablePacketCount();
      const r = await closeBacklogged(peer);
      expect(peer.getCloseCode(), peer.getFailureReason()).toBe(1000);
      expect(await clientClose).toBe(1000);
      expect(r.ms).toBeLessThan(CLOSE_TIMEOUT / 2);
      expect(r.held).toBeGreaterThanOrEqual(before);
      expect(r.held * SIZE).toBeLessThanOrEqual(peer.inboundBufferSize + 64 * SIZE);
      expect(r.dropped).toBeGreaterThan(0);
      expect(r.held + r.dropped).toBe(COUNT);
      console.log(`server: CLOSED 1000 after ${r.ms.toFixed(0)} ms; ${r.held} messages held, ${r.dropped} dropped after close()`);
      if (client.readyState !== WebSocket.CLOSED) await once(client, 'close');
    } finally {
      tcp.stop();
    }
  });
});
