/**
 * Connections that have not finished their upgrade are bounded per worker (`maxPendingHandshakes`):
 * raw TCP clients that never send fill the budget, the ones past it are closed at once and counted,
 * a normal client still connects while under the limit, and room comes back as pending ones go (closed
 * by their client, or dropped at the handshake deadline). And the Host header is validated before it
 * reaches getRequestedUrl(): a bad one gets 400, good ones (names, IPv4, [::1]:port) work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { RawClient, acceptFor, upgradeRequest, waitFor, within, wsKey } from '../helpers/server.js';

const LIMIT = 50;
const HANDSHAKE_TIMEOUT = 2500;

let pool: PeerPool;
let server: TCPServer;
let port: number;
let loop: NodeJS.Timeout;
const peers: WebSocketPeer[] = [];
const raws: RawClient[] = [];

beforeAll(() => {
  pool = new PeerPool({ threads: 1, maxPendingHandshakes: LIMIT, handshakeTimeout: HANDSHAKE_TIMEOUT });
  server = new TCPServer({ pool });
  expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  port = server.getLocalPort();
  // The Godot server loop: take every connection, accept it into a peer, poll the peers.
  loop = setInterval(() => {
    while (server.isConnectionAvailable()) {
      const peer = new WebSocketPeer({ pool });
      peer.acceptStream(server.takeConnection()!);
      peers.push(peer);
    }
    for (const p of peers) p.poll();
    for (let i = peers.length - 1; i >= 0; i--) if (peers[i]!.getReadyState() === State.CLOSED) peers.splice(i, 1);
  }, 5);
});

afterAll(async () => {
  clearInterval(loop);
  for (const r of raws) r.destroy();
  server.stop();
  await pool.close();
});

const stats = async () => (await pool.stats())[0]!;

function raw(): RawClient {
  const r = new RawClient(port);
  raws.push(r);
  return r;
}

async function wsClient(host?: string): Promise<{ ws: WebSocket; url: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ok?x=1`, host === undefined ? {} : { headers: { Host: host } });
  ws.on('error', () => undefined);
  await within(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('close', () => reject(new Error('closed before open')));
  }), 5000, 'a ws client to open');
  // The server peer that opened last has the URL it derived from the request.
  let url = '';
  await waitFor(() => {
    const p = peers.find((x) => x.getReadyState() === State.OPEN && x.getRequestedUrl().includes('/ok?x=1'));
    if (p !== undefined) url = p.getRequestedUrl();
    return url !== '';
  }, 'the server peer to open');
  return { ws, url };
}

describe('maxPendingHandshakes', () => {
  it(`holds ${LIMIT} idle TCP connections, closes the ones past it at once, and takes new ones as room comes back`, { timeout: 30_000 }, async () => {
    const s0 = await stats();
    expect(s0.handshakesPending).toBe(0);
    const idle: RawClient[] = [];
    for (let i = 0; i < LIMIT; i++) idle.push(raw());
    await Promise.all(idle.map((r) => r.connectedAt));
    await waitFor(() => peers.length === LIMIT, `${LIMIT} streams taken and accepted (reading their request)`);
    expect((await stats()).handshakesPending).toBe(LIMIT);

    // Past the limit: closed at once, not at the deadline, and counted.
    const extra: RawClient[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) extra.push(raw());
    await within(Promise.all(extra.map((r) => r.closedP)), HANDSHAKE_TIMEOUT / 2, 'the 10 connections past the limit to be closed');
    expect(Date.now() - t0).toBeLessThan(HANDSHAKE_TIMEOUT / 2);
    let s = await stats();
    expect(s.handshakesRefused - s0.handshakesRefused).toBe(10);
    expect(s.handshakesPending).toBe(LIMIT);
    expect(idle.every((r) => !r.closed)).toBe(true);

    // Room comes back when pending ones go (their clients leave): a normal client connects.
    for (const r of idle.splice(0, 5)) r.destroy();
    await waitFor(() => peers.length === LIMIT - 5, 'the 5 closed connections to be gone');
    s = await stats();
    expect(s.handshakesPending).toBe(LIMIT - 5);
    const { ws } = await wsClient();
    s = await stats();
    expect(s.handshakesPending).toBe(LIMIT - 5); // it opened: no longer pending
    expect(s.handshakesRefused - s0.handshakesRefused).toBe(10);
    ws.close();

    // The rest go at the handshake deadline; then new connections are held again.
    await within(Promise.all(idle.map((r) => r.closedP)), HANDSHAKE_TIMEOUT + 3000, 'the idle connections dropped at the deadline');
    await waitFor(() => peers.length === 0, 'every idle peer CLOSED');
    expect((await stats()).handshakesPending).toBe(0);
    const again: RawClient[] = [];
    for (let i = 0; i < LIMIT; i++) again.push(raw());
    await waitFor(() => peers.length === LIMIT, `${LIMIT} new connections held`);
    s = await stats();
    expect(s.handshakesPending).toBe(LIMIT);
    expect(s.handshakesRefused - s0.handshakesRefused).toBe(10);
    expect(again.every((r) => !r.closed)).toBe(true);
    for (const r of again) r.destroy();
    await waitFor(() => peers.length === 0, 'the new ones gone');
  });

  it('validates the option like the others', () => {
    expect(() => new PeerPool({ maxPendingHandshakes: 0 })).toThrow(new TypeError('options.maxPendingHandshakes must be an integer >= 1, got 0'));
    expect(() => new PeerPool({ maxPendingHandshakes: 1.5 })).toThrow(TypeError);
    expect(() => new PeerPool({ maxPendingHandshakes: '8' as never })).toThrow(TypeError);
  });
});

describe('Host header', () => {
  const bad = ['exa mple.com', 'a/b', 'user@example.com', 'example.com:99999', 'example.com:8o', 'example.com:', '[::1', '[::1]x', '[zz::1]', 'ex\x01ample', 'h\u00e9te', 'a:b:c', 'x?y'];
  for (const host of bad) {
    it(`Host: ${JSON.stringify(host)} -> 400`, async () => {
      const c = raw();
      await c.connectedAt;
      c.write(upgradeRequest({ over: { Host: host } }));
      const res = await c.response();
      expect(res.status).toBe(400);
      expect(c.data.toString('latin1')).toContain('bad host');
      await within(c.closedP, 3000, 'the connection to close');
    });
  }

  it('a good Host (name, IPv4, [::1]:port) gets 101 and appears in getRequestedUrl()', async () => {
    for (const host of ['example.com', `127.0.0.1:${port}`, '[::1]:9000', 'my-host.local:80']) {
      const key = wsKey();
      const c = raw();
      await c.connectedAt;
      c.write(upgradeRequest({ key, over: { Host: host }, requestLine: `GET /ok?x=1&h=${encodeURIComponent(host)} HTTP/1.1` }));
      const res = await c.response();
      expect(res.status, host).toBe(101);
      expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
      const want = `ws://${host}/ok?x=1&h=${encodeURIComponent(host)}`;
      await waitFor(() => peers.some((p) => p.getRequestedUrl() === want), `a peer with URL ${want}`);
      c.destroy();
    }
    const { ws, url } = await wsClient();
    expect(url).toBe(`ws://127.0.0.1:${port}/ok?x=1`);
    ws.close();
  });
});
