/**
 * heartbeatInterval on the client: pings reach the server, the interval applies live, a silent server is
 * dropped (HEARTBEAT_TIMEOUT), and our own inbound backpressure is never taken for the server's silence.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, pollUntil, sleep, startWsServer } from '../helpers/net.js';

let pool: PeerPool;
let srv: Awaited<ReturnType<typeof startWsServer>>;
/** Server-side sockets in connection order, with the pings each one received. */
const conns: { ws: WebSocket; pings: number }[] = [];
/** What a new server-side connection does first (set per test). */
let onConnection: (ws: WebSocket) => void = () => {};

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  srv = await startWsServer();
  srv.wss.on('connection', (ws: WebSocket) => {
    const c = { ws, pings: 0 };
    conns.push(c);
    ws.on('ping', () => c.pings++);
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    onConnection(ws);
  });
});

afterAll(async () => {
  await pool.close();
  await srv.close();
});

async function open(configure: (p: WebSocketPeer) => void = () => {}): Promise<{ peer: WebSocketPeer; server: (typeof conns)[number] }> {
  const before = conns.length;
  const peer = new WebSocketPeer({ pool });
  configure(peer);
  await openPeer(peer, srv.url);
  await pollUntil(peer, () => conns.length > before, 'the server side');
  return { peer, server: conns[before]! };
}

const socketOf = (ws: WebSocket): net.Socket => (ws as unknown as { _socket: net.Socket })._socket;

describe('heartbeatInterval', () => {
  it('0.1 s: the server receives at least two pings within 1 s and the peer stays OPEN', async () => {
    const { peer, server } = await open((p) => (p.heartbeatInterval = 0.1));
    await pollUntil(peer, () => server.pings >= 2, 'two pings', 1000);
    // The server answers them: the peer is alive well past two intervals.
    await pollUntil(peer, () => server.pings >= 5, 'five pings', 2000);
    expect(peer.getReadyState()).toBe(State.OPEN);
    expect(peer.getFailureReason()).toBe('');
    peer.close(-1);
  });

  it('0 sends no pings; changing it to 0.1 on an open peer starts them, back to 0 stops them', async () => {
    const { peer, server } = await open();
    expect(peer.heartbeatInterval).toBe(0);
    const t = Date.now();
    await pollUntil(peer, () => Date.now() - t >= 300, '300 ms of no heartbeat', 1000, 5);
    expect(server.pings).toBe(0);

    peer.heartbeatInterval = 0.1;
    expect(peer.heartbeatInterval).toBe(0.1);
    await pollUntil(peer, () => server.pings >= 2, 'pings after the live change', 1000);

    peer.heartbeatInterval = 0;
    await sleep(150); // a ping already on the wire may still arrive
    peer.poll();
    const settled = server.pings;
    const t2 = Date.now();
    await pollUntil(peer, () => Date.now() - t2 >= 400, '400 ms with heartbeats off', 1500, 5);
    expect(server.pings).toBe(settled);
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close(-1);
  });

  it('a server that goes silent (no pong, no data) is dropped: CLOSED -1 HEARTBEAT_TIMEOUT', async () => {
    const { peer, server } = await open((p) => (p.heartbeatInterval = 0.1));
    await pollUntil(peer, () => server.pings >= 1, 'the first ping', 1000);
    socketOf(server.ws).pause();
    const t0 = Date.now();
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'the heartbeat timeout', 1500);
    // Two whole intervals of silence at least.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HEARTBEAT_TIMEOUT');
  });

  it('a flood the user does not read for 1 s pauses reading without counting as silence; then drains in order', async () => {
    const COUNT = 400;
    const SIZE = 500;
    onConnection = (ws) => {
      for (let i = 0; i < COUNT; i++) {
        const b = Buffer.alloc(SIZE, i & 0xff);
        b.writeUInt32BE(i, 0);
        ws.send(b, { binary: true });
      }
    };
    try {
      const { peer } = await open((p) => {
        p.heartbeatInterval = 0.1;
        p.inboundBufferSize = 1024;
      });
      // Poll for 1 s (ten heartbeat intervals) without calling getPacket.
      const t = Date.now();
      await pollUntil(peer, () => Date.now() - t >= 1000 || peer.getReadyState() !== State.OPEN, '1 s of polling', 3000, 5);
      expect(peer.getFailureReason()).toBe('');
      expect(peer.getReadyState()).toBe(State.OPEN);
      // Backpressure held the rest in the kernel: only about inboundBufferSize bytes were taken in.
      expect(peer.getAvailablePacketCount()).toBeGreaterThan(0);
      expect(peer.getAvailablePacketCount()).toBeLessThanOrEqual(3);

      let next = 0;
      await pollUntil(
        peer,
        () => {
          while (peer.getAvailablePacketCount() > 0) {
            const p = peer.getPacket();
            if (p.byteLength !== SIZE || Buffer.from(p).readUInt32BE(0) !== next) throw new Error(`message ${next} wrong`);
            next++;
          }
          return next === COUNT;
        },
        `all ${COUNT} flooded messages`,
        10_000,
      );
      expect(next).toBe(COUNT);
      expect(peer.getReadyState()).toBe(State.OPEN);
      // Still alive and talking after the flood.
      expect(peer.sendText('after')).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo after the flood');
      expect(new TextDecoder().decode(peer.getPacket())).toBe('after');
      peer.close(-1);
    } finally {
      onConnection = () => {};
    }
  });
});
