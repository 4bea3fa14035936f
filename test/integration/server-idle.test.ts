/**
 * Server connections that are open but idle hold no `ws` WebSocket in the worker: their socket is read by
 * ringsocket's own listener until the first frame, send, close or heartbeat gives it to `ws` (see
 * workers/connection.ts). Each way out of that state, over real sockets: the peer hangs up, the server
 * closes or drops, a ping or data frame arrives, frames come in the same write as the upgrade request.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { RawClient, acceptFor, closed, frame, openWs, rawWebSocket, upgradeRequest, waitFor, wsKey } from '../helpers/server.js';

let pool: PeerPool;
let server: TCPServer;
let port: number;
let timer: NodeJS.Timeout;
const peers: WebSocketPeer[] = [];

beforeAll(() => {
  pool = new PeerPool({ threads: 1 });
  server = new TCPServer({ pool });
  expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  port = server.getLocalPort();
  // The Godot server loop, every millisecond: take connections, poll every peer.
  timer = setInterval(() => {
    while (server.isConnectionAvailable()) {
      const peer = new WebSocketPeer({ pool });
      expect(peer.acceptStream(server.takeConnection()!)).toBe(ErrorCode.OK);
      peers.push(peer);
    }
    for (const p of peers) p.poll();
  }, 1);
});

afterAll(async () => {
  clearInterval(timer);
  server.stop();
  await pool.close();
});

/** The server-side peer of the next connection, once OPEN. */
async function nextPeer(before: number): Promise<WebSocketPeer> {
  await waitFor(() => peers.length > before && peers[before]!.getReadyState() === State.OPEN, 'the server peer to open');
  return peers[before]!;
}

/** The packets the peer has received, as strings, once `n` have arrived. */
async function packets(peer: WebSocketPeer, n: number): Promise<string[]> {
  const got: string[] = [];
  await waitFor(() => {
    while (peer.getAvailablePacketCount() > 0) got.push(Buffer.from(peer.getPacket()).toString());
    return got.length >= n;
  }, `${n} packet(s) at the server peer`);
  return got;
}

describe('idle server connections (no ws WebSocket yet)', () => {
  it('the client ends its TCP connection without a close frame: the peer is CLOSED with -1', async () => {
    const n = peers.length;
    const c = await rawWebSocket(port);
    const peer = await nextPeer(n);
    c.socket.end();
    await waitFor(() => peer.getReadyState() === State.CLOSED, 'the peer to close');
    expect(peer.getCloseCode()).toBe(-1);
    await c.closedP;
  });

  it('close(1000, reason) on an idle connection runs the closing handshake', async () => {
    const n = peers.length;
    const { ws } = await openWs(`ws://127.0.0.1:${port}/idle`);
    const peer = await nextPeer(n);
    const seen = closed(ws);
    peer.close(1000, 'bye');
    expect(await seen).toEqual({ code: 1000, reason: 'bye' });
    await waitFor(() => peer.getReadyState() === State.CLOSED, 'the peer to close');
    expect(peer.getCloseCode()).toBe(1000);
    expect(peer.getCloseReason()).toBe('bye');
  });

  it('close(-1) drops an idle connection at once: no close frame, the client sees 1006', async () => {
    const n = peers.length;
    const { ws } = await openWs(`ws://127.0.0.1:${port}/idle`);
    const peer = await nextPeer(n);
    const seen = closed(ws);
    peer.close(-1);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect((await seen).code).toBe(1006);
  });

  it('a ping wakes it: the pong comes back, then data flows both ways', async () => {
    const n = peers.length;
    const c = await rawWebSocket(port);
    const peer = await nextPeer(n);
    c.write(frame(0x9, 'are you there'));
    await waitFor(() => c.frames().some((f) => f.opcode === 0xa), 'a pong');
    expect(c.frames().find((f) => f.opcode === 0xa)!.payload.toString()).toBe('are you there');
    c.write(frame(0x2, 'after the ping'));
    expect(await packets(peer, 1)).toEqual(['after the ping']);
    expect(peer.sendText('to the client')).toBe(ErrorCode.OK);
    await waitFor(() => c.frames().some((f) => f.opcode === 0x1), 'a text frame');
    expect(c.frames().find((f) => f.opcode === 0x1)!.payload.toString()).toBe('to the client');
    c.destroy();
  });

  it('frames sent in the same write as the upgrade request arrive, in order', async () => {
    const n = peers.length;
    const c = new RawClient(port);
    await c.connectedAt;
    const key = wsKey();
    c.write(Buffer.concat([Buffer.from(upgradeRequest({ key }), 'latin1'), frame(0x2, 'one'), frame(0x1, 'two')]));
    const res = await c.response();
    expect(res.status).toBe(101);
    expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
    const peer = await nextPeer(n);
    expect(await packets(peer, 2)).toEqual(['one', 'two']);
    c.destroy();
  });

  it('the server speaks first on an idle connection', async () => {
    const n = peers.length;
    const got: string[] = [];
    const { ws } = await openWs(`ws://127.0.0.1:${port}/idle`, undefined, {}, (d) => got.push(d.toString()));
    const peer = await nextPeer(n);
    expect(peer.sendText('hello first')).toBe(ErrorCode.OK);
    await waitFor(() => got.length === 1, 'the message at the client');
    expect(got).toEqual(['hello first']);
    ws.send('reply');
    expect(await packets(peer, 1)).toEqual(['reply']);
    ws.close();
    await once(ws, 'close');
    expect(WebSocket.CLOSED).toBe(ws.readyState);
  });
});
