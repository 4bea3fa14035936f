/**
 * Events larger than one ring record cross in fragments and are put together on the main thread: with a
 * 4 KiB inbound ring (records of at most 1 KiB), a 3 KB request path makes EV_OPEN (its URL) span three
 * records. Before, the drain parsed each fragment as JSON and threw on the main thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { sleep } from '../helpers/net.js';

let pool: PeerPool;

beforeAll(() => {
  pool = new PeerPool({ threads: 1, inboundRingSize: 4096 });
});

afterAll(async () => {
  await pool.close();
});

describe('an EV_OPEN larger than a ring record', () => {
  it('opens the peer with the whole URL (3 KB path through 1 KiB records), and messages follow', async () => {
    const srv = new TCPServer({ pool });
    expect(srv.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    const path = `/${'p'.repeat(3000)}?q=${'x'.repeat(200)}`;
    const ws = new WebSocket(`ws://127.0.0.1:${srv.getLocalPort()}${path}`);
    ws.on('open', () => ws.send('after the open'));
    let peer: WebSocketPeer | null = null;
    const deadline = Date.now() + 10_000;
    while ((peer === null || peer.getAvailablePacketCount() === 0) && Date.now() < deadline) {
      if (peer === null && srv.isConnectionAvailable()) {
        peer = new WebSocketPeer({ pool });
        expect(peer.acceptStream(srv.takeConnection()!)).toBe(ErrorCode.OK);
      }
      peer?.poll();
      await sleep(2);
    }
    expect(peer!.getReadyState()).toBe(State.OPEN);
    expect(peer!.getRequestedUrl()).toBe(`ws://127.0.0.1:${srv.getLocalPort()}${path}`);
    expect(new TextDecoder().decode(peer!.getPacket())).toBe('after the open');
    ws.terminate();
    srv.stop();
  });
});
