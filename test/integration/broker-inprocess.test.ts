/**
 * `useBroker` as the issue writes it — `pool.useBroker(createRedisBroker(url))`, the promise itself — and
 * as `await createRedisBroker(url)` first: two pools in one process, each a node with its own broker,
 * a real redis-server. A publication on one reaches the other's subscriber, once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode, createRedisBroker } from '../helpers/lib.js';
import { eventually, startRedis, stopAllProcs, track } from '../helpers/redis.js';
import { sleep } from '../helpers/net.js';

afterAll(async () => {
  await stopAllProcs();
});

/** One server-side peer of `pool` with a ws client that records what it gets. */
async function member(pool: PeerPool): Promise<{ peer: WebSocketPeer; got: string[]; ws: WebSocket; srv: TCPServer }> {
  const srv = new TCPServer({ pool });
  expect(srv.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  const ws = new WebSocket(`ws://127.0.0.1:${srv.getLocalPort()}/`);
  const got: string[] = [];
  ws.on('message', (d: Buffer) => got.push(d.toString()));
  let peer: WebSocketPeer | null = null;
  const deadline = Date.now() + 10_000;
  while ((peer === null || peer.getReadyState() !== State.OPEN) && Date.now() < deadline) {
    if (peer === null && srv.isConnectionAvailable()) {
      peer = new WebSocketPeer({ pool });
      peer.acceptStream(srv.takeConnection()!);
    }
    peer?.poll();
    await sleep(2);
  }
  expect(peer?.getReadyState()).toBe(State.OPEN);
  return { peer: peer!, got, ws, srv };
}

describe('useBroker with the promise of createRedisBroker', () => {
  it('both forms attach; a publication on one node reaches the other node once', async () => {
    const redis = await track(startRedis());
    const a = new PeerPool({ threads: 1 });
    const b = new PeerPool({ threads: 1 });
    const brokerB = await createRedisBroker(redis.url);
    const pendingA = createRedisBroker(redis.url);
    const attachedA = a.useBroker(pendingA); // the form: the promise itself
    await b.useBroker(brokerB);
    await attachedA;
    try {
      const mb = await member(b);
      expect(b.subscribe(mb.peer, 'room')).toBe(ErrorCode.OK);
      await sleep(200); // the node's SSUBSCRIBE reaches Redis
      const ma = await member(a);
      expect(a.publish('room', new TextEncoder().encode('hello from a'), WriteMode.TEXT)).toBe(0); // no local subscriber
      await eventually(() => mb.got.length === 1, 'the remote delivery');
      await sleep(100);
      expect(mb.got).toEqual(['hello from a']);
      expect(ma.got).toEqual([]);
      for (const m of [ma, mb]) {
        m.ws.terminate();
        m.srv.stop();
      }
    } finally {
      await a.close();
      await b.close();
      await brokerB.close();
      await (await pendingA).close();
    }
  }, 30_000);
});
