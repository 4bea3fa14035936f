/**
 * The worker-side HTTP upgrade: raw TCP clients send each class of malformed request to
 * examples/echo-server and get the exact HTTP status line back; slow and abandoned handshakes are
 * dropped at the pool's handshakeTimeout (500 ms here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, StreamPeerTCPStatus, TCPServer, WebSocketPeer, type StreamPeerTCP } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { RawClient, acceptFor, openWs, roundTrip, upgradeRequest, waitFor, wsKey } from '../helpers/server.js';

const HANDSHAKE_TIMEOUT = 500;

let pool: PeerPool;
let echo: EchoServer;
/** Server peers by the client port of their TCP stream (known at accept time, before any OPEN). */
const byClientPort = new Map<number, WebSocketPeer>();
const dropped = new Set<WebSocketPeer>();

beforeAll(() => {
  pool = new PeerPool({ threads: 2, handshakeTimeout: HANDSHAKE_TIMEOUT });
  echo = startEchoServer({
    port: 0,
    host: '127.0.0.1',
    pool,
    tickMs: 1,
    supportedProtocols: ['chat'],
    onAccept: (peer, tcp) => byClientPort.set(tcp.getConnectedPort(), peer),
    onClose: (peer) => dropped.add(peer),
  });
});

afterAll(async () => {
  await echo.stop();
  await pool.close();
});

async function totalConnections(p: PeerPool = pool): Promise<number> {
  return (await p.stats()).reduce((n, w) => n + w.connections, 0);
}

async function waitConnections(n: number, p: PeerPool = pool): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  while (Date.now() < deadline) {
    last = await totalConnections(p);
    if (last === n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pool connections stayed at ${last}, expected ${n}`);
}

/** Send `request` raw; wait for the server's answer and its close; return the answer and the server peer. */
async function refused(request: string): Promise<{ client: RawClient; res: Awaited<ReturnType<RawClient['response']>>; body: string; peer: WebSocketPeer }> {
  const client = new RawClient(echo.port);
  await client.connectedAt;
  const port = client.localPort;
  client.write(request);
  const res = await client.response();
  await client.closedP; // the server closes after a refusal
  await waitFor(() => byClientPort.has(port), 'the server to accept the stream');
  const peer = byClientPort.get(port)!;
  await waitFor(() => dropped.has(peer), 'the server peer to be dropped as CLOSED');
  const head = client.headEnd();
  return { client, res, body: client.data.subarray(head).toString('utf8'), peer };
}

const cases: { name: string; request: () => string; statusLine: string; failure: string }[] = [
  { name: 'not GET (POST)', request: () => upgradeRequest({ requestLine: 'POST /raw HTTP/1.1' }), statusLine: 'HTTP/1.1 405 Method Not Allowed', failure: 'HTTP_405_METHOD_MUST_BE_GET' },
  { name: 'HTTP/1.0', request: () => upgradeRequest({ requestLine: 'GET /raw HTTP/1.0' }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_HTTP_1_1_OR_LATER_REQUIRED' },
  { name: 'a garbage request line', request: () => upgradeRequest({ requestLine: 'HELLO' }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_BAD_REQUEST_LINE' },
  { name: 'missing Host', request: () => upgradeRequest({ over: { Host: null } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_MISSING_HOST' },
  { name: 'missing Upgrade', request: () => upgradeRequest({ over: { Upgrade: null } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_MISSING_UPGRADE_WEBSOCKET' },
  { name: 'Upgrade other than websocket', request: () => upgradeRequest({ over: { Upgrade: 'h2c' } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_MISSING_UPGRADE_WEBSOCKET' },
  { name: 'Connection without upgrade', request: () => upgradeRequest({ over: { Connection: 'keep-alive' } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_MISSING_CONNECTION_UPGRADE' },
  { name: 'missing Connection', request: () => upgradeRequest({ over: { Connection: null } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_MISSING_CONNECTION_UPGRADE' },
  { name: 'bad key (not 16 bytes of base64)', request: () => upgradeRequest({ key: 'not-a-valid-key' }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_BAD_SEC_WEBSOCKET_KEY' },
  { name: 'missing key', request: () => upgradeRequest({ over: { 'Sec-WebSocket-Key': null } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_BAD_SEC_WEBSOCKET_KEY' },
  { name: 'unsupported protocol', request: () => upgradeRequest({ over: { 'Sec-WebSocket-Protocol': 'mqtt, graphql-ws' } }), statusLine: 'HTTP/1.1 400 Bad Request', failure: 'HTTP_400_NO_SUPPORTED_SUBPROTOCOL' },
  {
    name: 'oversized head (> 8 KiB, complete)',
    request: () => upgradeRequest({ extra: [`X-Padding: ${'a'.repeat(9000)}`] }),
    statusLine: 'HTTP/1.1 431 Request Header Fields Too Large',
    failure: 'HTTP_431_REQUEST_HEAD_TOO_LARGE',
  },
  {
    name: 'oversized head (> 8 KiB, never terminated)',
    request: () => `GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'b'.repeat(9000)}`,
    statusLine: 'HTTP/1.1 431 Request Header Fields Too Large',
    failure: 'HTTP_431_REQUEST_HEAD_TOO_LARGE',
  },
];

describe('malformed upgrade requests get the exact HTTP answer and are closed', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { res, peer, body } = await refused(c.request());
      expect(res.statusLine).toBe(c.statusLine);
      expect(res.headers.get('connection')).toBe('close');
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(body));
      expect(res.headers.has('sec-websocket-accept')).toBe(false);
      expect(peer.getReadyState()).toBe(State.CLOSED);
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe(c.failure);
    });
  }

  it('version 8 -> 426 with Sec-WebSocket-Version: 13', async () => {
    const { res, peer } = await refused(upgradeRequest({ over: { 'Sec-WebSocket-Version': '8' } }));
    expect(res.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    expect(res.headers.get('sec-websocket-version')).toBe('13');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HTTP_426_UNSUPPORTED_WEBSOCKET_VERSION');
  });

  it('missing version -> 426 with Sec-WebSocket-Version: 13', async () => {
    const { res } = await refused(upgradeRequest({ over: { 'Sec-WebSocket-Version': null } }));
    expect(res.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    expect(res.headers.get('sec-websocket-version')).toBe('13');
  });

  it('a valid raw request gets 101 with the right accept key; headers are case-insensitive, split writes are fine', async () => {
    const client = new RawClient(echo.port);
    await client.connectedAt;
    const key = wsKey();
    const req = upgradeRequest({ key, over: { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' } }).replace('Host:', 'hOsT:');
    // Byte by byte for the first part: the head is reassembled across reads.
    for (const ch of req.slice(0, 40)) {
      client.write(ch);
      await new Promise((r) => setTimeout(r, 1));
    }
    client.write(req.slice(40));
    const res = await client.response();
    expect(res.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
    expect(res.headers.get('upgrade')?.toLowerCase()).toBe('websocket');
    expect(res.headers.has('sec-websocket-protocol')).toBe(false);
    const peer = byClientPort.get(client.localPort)!;
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    expect(peer.getRequestedUrl()).toBe('ws://127.0.0.1/raw');
    client.destroy();
  });

  it('the server keeps serving healthy clients after all of the above', async () => {
    const c = await openWs(`${echo.url}/ok`, ['chat']);
    expect((await roundTrip(c.ws, 'alive', false)).data.toString()).toBe('alive');
    c.ws.close();
  });
});

describe(`handshake deadline (pool handshakeTimeout ${HANDSHAKE_TIMEOUT} ms)`, () => {
  it('a slowloris client (partial head, one byte every 100 ms) is dropped at the deadline', async () => {
    const client = new RawClient(echo.port);
    const t0 = await client.connectedAt;
    const port = client.localPort;
    const head = upgradeRequest();
    let i = 0;
    const drip = setInterval(() => {
      // Never the final CRLFCRLF: the head is never complete.
      if (i < head.length - 4) client.write(head[i++]!);
    }, 100);
    try {
      await client.closedP;
    } finally {
      clearInterval(drip);
    }
    const elapsed = client.closedAt - t0;
    expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 50);
    expect(elapsed).toBeLessThan(5000);
    expect(i).toBeGreaterThan(0);
    // No HTTP answer for a timeout: just closed.
    expect(client.data.length).toBe(0);
    const peer = byClientPort.get(port)!;
    await waitFor(() => dropped.has(peer), 'server peer dropped');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
  });

  it('a client that connects and sends nothing is dropped at the deadline', async () => {
    const client = new RawClient(echo.port);
    const t0 = await client.connectedAt;
    const port = client.localPort; // gone once the socket is closed
    await client.closedP;
    expect(client.closedAt - t0).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 50);
    expect(client.closedAt - t0).toBeLessThan(5000);
    expect(client.data.length).toBe(0);
    const peer = byClientPort.get(port)!;
    await waitFor(() => dropped.has(peer), 'server peer dropped');
    expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
  });

  describe('streams outside a WebSocketPeer', () => {
    let server: TCPServer;
    beforeAll(() => {
      server = new TCPServer({ pool });
      expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    });
    afterAll(() => server.stop());

    it('a connection never taken is dropped at the deadline and never offered again', async () => {
      await waitConnections(0);
      const client = new RawClient(server.getLocalPort());
      const t0 = await client.connectedAt;
      // Nothing takes it; the worker still holds it.
      await waitFor(() => server.isConnectionAvailable(), 'the connection to be offered');
      await client.closedP;
      expect(client.closedAt - t0).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 50);
      expect(client.closedAt - t0).toBeLessThan(5000);
      await waitFor(() => !server.isConnectionAvailable(), 'the dropped connection to leave the queue');
      expect(server.takeConnection()).toBeNull();
      await waitConnections(0);
    });

    it('a connection taken but never accepted is dropped at the deadline: STATUS_ERROR after poll', async () => {
      const client = new RawClient(server.getLocalPort());
      const t0 = await client.connectedAt;
      await waitFor(() => server.isConnectionAvailable(), 'a connection to take');
      const st: StreamPeerTCP = server.takeConnection()!;
      expect(st.getStatus()).toBe(StreamPeerTCPStatus.STATUS_CONNECTED);
      client.write('GET / HTTP/1.1\r\n'); // even a started request does not extend the deadline
      await client.closedP;
      expect(client.closedAt - t0).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 50);
      expect(client.closedAt - t0).toBeLessThan(5000);
      await waitFor(() => (st.poll(), st.getStatus() !== StreamPeerTCPStatus.STATUS_CONNECTED), 'stream status change');
      expect(st.getStatus()).toBe(StreamPeerTCPStatus.STATUS_ERROR);
      await waitConnections(0);
    });

    it('the deadline counts from TCP accept: a stream accepted late has only what is left', async () => {
      // Own pool with a longer deadline, so that "from accept" (~1500 ms) and "restarted by
      // acceptStream at ~1000 ms" (>= 2500 ms) are far apart.
      const p = new PeerPool({ threads: 1, handshakeTimeout: 1500 });
      const s = new TCPServer({ pool: p });
      try {
        expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
        const client = new RawClient(s.getLocalPort());
        const t0 = await client.connectedAt;
        await waitFor(() => s.isConnectionAvailable(), 'a connection to take');
        const st = s.takeConnection()!;
        await new Promise((r) => setTimeout(r, 1000 - (Date.now() - t0)));
        const peer = new WebSocketPeer({ pool: p });
        expect(peer.acceptStream(st)).toBe(ErrorCode.OK);
        await client.closedP;
        expect(client.closedAt - t0).toBeGreaterThanOrEqual(1450);
        expect(client.closedAt - t0).toBeLessThan(2300);
        await waitFor(() => (peer.poll(), peer.getReadyState() === State.CLOSED), 'peer CLOSED');
        expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
        expect(peer.getCloseCode()).toBe(-1);
      } finally {
        s.stop();
        await p.close();
      }
    });
  });
});
