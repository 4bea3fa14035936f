/**
 * The closing handshake on the client side: who closes, which codes and reasons are allowed, drops,
 * and the close timeout.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, pollUntil, sleep, startWsServer } from '../helpers/net.js';
import { within } from '../helpers/server.js';

let pool: PeerPool;
let srv: Awaited<ReturnType<typeof startWsServer>>;
/** Server-side sockets in connection order, with the close each one saw. */
const conns: { ws: WebSocket; closed: Promise<{ code: number; reason: string }> }[] = [];

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  srv = await startWsServer();
  srv.wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    conns.push({ ws, closed: new Promise((r) => ws.once('close', (code: number, reason: Buffer) => r({ code, reason: reason.toString('utf8') }))) });
  });
});

afterAll(async () => {
  await pool.close();
  await srv.close();
});

/** Open a peer on the shared server and return it with its server-side socket. */
async function open(p: PeerPool = pool): Promise<{ peer: WebSocketPeer; server: (typeof conns)[number] }> {
  const before = conns.length;
  const peer = new WebSocketPeer({ pool: p });
  await openPeer(peer, srv.url);
  await pollUntil(peer, () => conns.length > before, 'the server side of the connection');
  return { peer, server: conns[before]! };
}

const closedPeer = (peer: WebSocketPeer, what: string, timeoutMs = 10_000) =>
  pollUntil(peer, () => peer.getReadyState() === State.CLOSED, what, timeoutMs);

describe('clean closes', () => {
  it("client close(4000, 'bye'): CLOSING at once, the server sees 4000/'bye', CLOSED with the echoed code", async () => {
    const { peer, server } = await open();
    expect(peer.close(4000, 'bye')).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSING);
    expect(await within(server.closed, 5000, 'server close')).toEqual({ code: 4000, reason: 'bye' });
    await closedPeer(peer, 'the close handshake');
    expect(peer.getCloseCode()).toBe(4000);
    expect(peer.getCloseReason()).toBe('bye');
    expect(peer.getFailureReason()).toBe('');
  });

  it("server close(4001, 'srv'): the client ends CLOSED 4001 'srv'", async () => {
    const { peer, server } = await open();
    server.ws.close(4001, 'srv');
    await closedPeer(peer, 'the server close');
    expect(peer.getCloseCode()).toBe(4001);
    expect(peer.getCloseReason()).toBe('srv');
    expect(peer.getFailureReason()).toBe('');
    expect(await within(server.closed, 5000, 'server close')).toEqual({ code: 4001, reason: 'srv' });
  });

  it('a server close frame without a status code is reported as 1005', async () => {
    const { peer, server } = await open();
    server.ws.close();
    await closedPeer(peer, 'the server close');
    expect(peer.getCloseCode()).toBe(1005);
    expect(peer.getCloseReason()).toBe('');
  });

  it('close() with no arguments sends 1000 and an empty reason', async () => {
    const { peer, server } = await open();
    expect(peer.close()).toBe(ErrorCode.OK);
    expect(await within(server.closed, 5000, 'server close')).toEqual({ code: 1000, reason: '' });
    await closedPeer(peer, 'the close handshake');
    expect(peer.getCloseCode()).toBe(1000);
  });
});

describe('close arguments', () => {
  it('refuses codes a sender may not use with ERR_INVALID_PARAMETER and stays OPEN', async () => {
    const { peer, server } = await open();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5]) {
      expect(peer.close(code), `code ${code}`).toBe(ErrorCode.ERR_INVALID_PARAMETER);
      expect(peer.getReadyState()).toBe(State.OPEN);
    }
    // Nothing was sent: the connection still echoes.
    expect(peer.sendText('still open')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo after refused closes');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('still open');
    expect(server.ws.readyState).toBe(1);
    peer.close(-1);
  });

  for (const code of [1000, 1001, 3000, 4999]) {
    it(`accepts close code ${code}`, async () => {
      const { peer, server } = await open();
      expect(peer.close(code, `c${code}`)).toBe(ErrorCode.OK);
      expect(peer.getReadyState()).toBe(State.CLOSING);
      expect(await within(server.closed, 5000, 'server close')).toEqual({ code, reason: `c${code}` });
      await closedPeer(peer, 'the close handshake');
      expect(peer.getCloseCode()).toBe(code);
    });
  }

  it('refuses a reason of 124 UTF-8 bytes and accepts one of 123', async () => {
    const { peer, server } = await open();
    const long = 'é'.repeat(62); // 124 bytes, 62 characters
    const ok = `${'é'.repeat(61)}a`; // 123 bytes
    expect(Buffer.byteLength(long)).toBe(124);
    expect(Buffer.byteLength(ok)).toBe(123);
    expect(peer.close(1000, long)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.getReadyState()).toBe(State.OPEN);
    expect(peer.close(1000, ok)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSING);
    expect(await within(server.closed, 5000, 'server close')).toEqual({ code: 1000, reason: ok });
    await closedPeer(peer, 'the close handshake');
    expect(peer.getCloseReason()).toBe(ok);
  });
});

describe('drops', () => {
  it('close(-1): CLOSED at once with code -1; the server sees 1006', async () => {
    const { peer, server } = await open();
    expect(peer.close(-1)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('DROPPED');
    const seen = await within(server.closed, 5000, 'server close');
    expect(seen.code).toBe(1006);
    peer.poll();
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
  });

  it('close() while CONNECTING: CLOSED at once with code -1, and stays so', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(srv.url)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    expect(peer.close(1000, 'never mind')).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    await sleep(100);
    peer.poll();
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
  });

  it('close() on a CLOSED peer returns OK and changes nothing', async () => {
    const never = new WebSocketPeer({ pool });
    expect(never.close()).toBe(ErrorCode.OK);
    expect(never.getReadyState()).toBe(State.CLOSED);

    const { peer, server } = await open();
    server.ws.close(4003, 'gone');
    await closedPeer(peer, 'the server close');
    expect(peer.close(1000, 'late')).toBe(ErrorCode.OK);
    expect(peer.close(-1)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(4003);
    expect(peer.getCloseReason()).toBe('gone');
  });

  it('an abrupt TCP drop by the server (terminate): CLOSED with code -1', async () => {
    const { peer, server } = await open();
    server.ws.terminate();
    await closedPeer(peer, 'the drop to be noticed');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getCloseReason()).toBe('');
  });

  it('a server that never answers the close: CLOSED -1 CLOSE_TIMEOUT after closeTimeout (300 ms)', async () => {
    const quick = new PeerPool({ threads: 1, closeTimeout: 300 });
    try {
      const { peer, server } = await open(quick);
      (server.ws as unknown as { _socket: net.Socket })._socket.pause();
      const t0 = Date.now();
      expect(peer.close(1000, 'hello?')).toBe(ErrorCode.OK);
      expect(peer.getReadyState()).toBe(State.CLOSING);
      await closedPeer(peer, 'the close timeout', 5000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe('CLOSE_TIMEOUT');
    } finally {
      await quick.close();
    }
  });
});
