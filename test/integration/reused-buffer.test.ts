/**
 * The caller owns what it passed to `send` / `publish` once the call returned: a Buffer reused for the
 * next message must not change a message queued behind a full ring (WorkerHandle's overflow list keeps a
 * copy; `Buffer.prototype.slice` would have kept a view: 288 of 2,000 arrived wrong before the fix).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { sleep } from '../helpers/net.js';

let pool: PeerPool;

beforeAll(() => {
  // Small rings: 8 KiB messages fill the outbound ring after a few, so most go through the overflow list.
  pool = new PeerPool({ threads: 1, outboundRingSize: 64 * 1024 });
});

afterAll(async () => {
  await pool.close();
});

async function pair(): Promise<{ peer: WebSocketPeer; ws: WebSocket; got: number[] }> {
  const srv = new TCPServer({ pool });
  expect(srv.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  const ws = new WebSocket(`ws://127.0.0.1:${srv.getLocalPort()}/`);
  const got: number[] = [];
  ws.on('message', (d: Buffer) => got.push(d.readUInt32LE(0)));
  let peer: WebSocketPeer | null = null;
  const deadline = Date.now() + 10_000;
  while ((peer === null || peer.getReadyState() !== State.OPEN) && Date.now() < deadline) {
    if (peer === null && srv.isConnectionAvailable()) {
      peer = new WebSocketPeer({ pool });
      peer.outboundBufferSize = 1 << 30;
      peer.maxQueuedPackets = 1 << 20;
      expect(peer.acceptStream(srv.takeConnection()!)).toBe(ErrorCode.OK);
    }
    peer?.poll();
    await sleep(2);
  }
  srv.stop();
  expect(peer?.getReadyState()).toBe(State.OPEN);
  return { peer: peer!, ws, got };
}

async function drain(peer: WebSocketPeer, got: number[], n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (got.length < n && Date.now() < deadline) {
    peer.poll();
    await sleep(5);
  }
}

describe('a reused Buffer', () => {
  for (const via of ['send', 'publish'] as const) {
    it(`${via}: every message arrives with the bytes the Buffer had at the call`, async () => {
      const { peer, ws, got } = await pair();
      if (via === 'publish') expect(pool.subscribe(peer, 'reuse')).toBe(ErrorCode.OK);
      const msg = Buffer.alloc(8192);
      const N = 1000;
      for (let i = 0; i < N; i++) {
        msg.writeUInt32LE(i, 0);
        if (via === 'send') expect(peer.send(msg)).toBe(ErrorCode.OK);
        else expect(pool.publish('reuse', msg)).toBe(1);
        if (i % 100 === 99) {
          peer.poll();
          await sleep(2);
        }
      }
      await drain(peer, got, N);
      expect(got.length).toBe(N);
      expect(got.filter((v, i) => v !== i)).toEqual([]);
      ws.terminate();
    }, 60_000);
  }
});
