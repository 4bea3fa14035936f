/**
 * examples/echo-server (the Godot server loop) against real `ws` clients: every frame-size class for
 * text and binary, byte-exact; subprotocol selection; handshake headers in the 101; what the server-side
 * peer reports (requested URL, remote host and port, close code).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PeerPool, State, type WebSocketPeer } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { closed, openWs, roundTrip, waitFor } from '../helpers/server.js';

const MiB = 1 << 20;
const BIG = 16 * MiB;

let pool: PeerPool;
let echo: EchoServer;
/** Every peer the server accepted, in order, and those it dropped as CLOSED. */
const accepted: WebSocketPeer[] = [];
const closedPeers = new Set<WebSocketPeer>();

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
  echo = startEchoServer({
    port: 0,
    host: '127.0.0.1',
    pool,
    tickMs: 1,
    supportedProtocols: ['chat', 'superchat'],
    handshakeHeaders: ['X-Served-By: ringsocket-echo', 'Set-Cookie: session=abc'],
    // Room for the 16 MiB class in both directions.
    inboundBufferSize: BIG + 1024,
    outboundBufferSize: BIG + 1024,
    onAccept: (peer) => accepted.push(peer),
    onClose: (peer) => closedPeers.add(peer),
  });
});

afterAll(async () => {
  await echo.stop();
  await pool.close();
});

/** UTF-8 text of exactly `n` bytes, with 2-, 3- and 4-byte characters in it. */
function makeText(n: number): string {
  const parts = ['héllo ', 'wörld ', '€ ', '😀 ', 'abc '];
  let s = '';
  let bytes = 0;
  for (let i = 0; ; i++) {
    const p = parts[i % parts.length]!;
    const b = Buffer.byteLength(p);
    if (bytes + b > n) break;
    s += p;
    bytes += b;
  }
  // Fill up with ASCII; bulk when far from n (the 16 MiB class).
  return s + 'x'.repeat(n - bytes);
}

/**
 * The server-side peer whose remote port is `port` (the client's local port). The client sees 'open'
 * when the 101 arrives; the server peer shows OPEN (and its remote port) on a later poll: wait for it.
 */
async function serverPeerFor(port: number): Promise<WebSocketPeer> {
  let found: WebSocketPeer | undefined;
  await waitFor(() => (found = accepted.find((p) => p.getConnectedPort() === port)) !== undefined, `the server peer of client port ${port}`);
  return found!;
}

describe('echo server: size classes', () => {
  const sizes = [0, 125, 126, 65535, 65536, BIG];
  let client: Awaited<ReturnType<typeof openWs>>;

  beforeAll(async () => {
    client = await openWs(`${echo.url}/sizes`, [], { maxPayload: 64 * MiB });
  });
  afterAll(() => client.ws.close());

  for (const n of sizes) {
    it(`binary ${n} bytes comes back byte-exact as binary`, async () => {
      const data = randomBytes(n);
      const r = await roundTrip(client.ws, data, true, 30_000);
      expect(r.isBinary).toBe(true);
      expect(r.data.length).toBe(n);
      expect(r.data.equals(data)).toBe(true);
    });

    it(`text ${n} bytes comes back byte-exact as text`, async () => {
      const text = makeText(n);
      const bytes = Buffer.from(text, 'utf8');
      expect(bytes.length).toBe(n);
      const r = await roundTrip(client.ws, text, false, 30_000);
      expect(r.isBinary).toBe(false);
      expect(r.data.length).toBe(n);
      expect(r.data.equals(bytes)).toBe(true);
    });
  }

  it('keeps order across a burst of mixed sizes and types', async () => {
    const msgs = sizes.slice(0, 5).flatMap((n, i) => [
      { data: randomBytes(n), binary: true },
      { data: Buffer.from(makeText(n + i)), binary: false },
    ]);
    const got: { data: Buffer; isBinary: boolean }[] = [];
    const done = new Promise<void>((resolve) => {
      const on = (d: Buffer, isBinary: boolean): void => {
        got.push({ data: d, isBinary });
        if (got.length === msgs.length) {
          client.ws.off('message', on);
          resolve();
        }
      };
      client.ws.on('message', on);
    });
    for (const m of msgs) client.ws.send(m.data, { binary: m.binary });
    await done;
    got.forEach((g, i) => {
      expect(g.isBinary).toBe(msgs[i]!.binary);
      expect(g.data.equals(msgs[i]!.data)).toBe(true);
    });
  });
});

describe('echo server: handshake as the client sees it', () => {
  it('selects the first protocol of the client list that the server supports', async () => {
    const c = await openWs(`${echo.url}/p`, ['nope', 'superchat', 'chat']);
    expect(c.ws.protocol).toBe('superchat');
    const peer = await serverPeerFor(c.localPort);
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    expect(peer.getSelectedProtocol()).toBe('superchat');
    c.ws.close();
  });

  it('selects "" when the client asks for no protocol', async () => {
    const c = await openWs(`${echo.url}/none`);
    expect(c.ws.protocol).toBe('');
    expect(c.res.headers['sec-websocket-protocol']).toBeUndefined();
    const peer = await serverPeerFor(c.localPort);
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    expect(peer.getSelectedProtocol()).toBe('');
    expect((await roundTrip(c.ws, 'still echoes', false)).data.toString()).toBe('still echoes');
    c.ws.close();
  });

  it('refuses with 400 when the client asks only for unsupported protocols; the ws client fails', async () => {
    const before = accepted.length;
    const ws = new WebSocket(`${echo.url}/bad`, ['graphql-ws', 'mqtt']);
    const failure = await new Promise<string>((resolve, reject) => {
      ws.once('error', (e: Error) => resolve(e.message));
      ws.once('open', () => reject(new Error('opened with an unsupported protocol')));
    });
    expect(failure).toBe('Unexpected server response: 400');
    expect(ws.readyState).not.toBe(WebSocket.OPEN);
    await waitFor(() => accepted.length > before, 'the server to accept the stream');
    const peer = accepted[accepted.length - 1]!;
    await waitFor(() => closedPeers.has(peer), 'server peer dropped');
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HTTP_400_NO_SUPPORTED_SUBPROTOCOL');
  });

  it('adds the peer handshakeHeaders to the 101 response', async () => {
    const c = await openWs(`${echo.url}/h`, ['chat']);
    expect(c.res.statusCode).toBe(101);
    expect(c.res.headers['x-served-by']).toBe('ringsocket-echo');
    expect(c.res.headers['set-cookie']).toEqual(['session=abc']);
    expect(c.res.headers['sec-websocket-protocol']).toBe('chat');
    c.ws.close();
  });
});

describe('echo server: the server-side peer', () => {
  it('reports the requested URL (ws:// + Host + path and query) and the remote host and port', async () => {
    const c = await openWs(`${echo.url}/room/7?name=ann&x=%20y`, ['chat']);
    const peer = await serverPeerFor(c.localPort);
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    expect(peer.getRequestedUrl()).toBe(`ws://127.0.0.1:${echo.port}/room/7?name=ann&x=%20y`);
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    expect(peer.getConnectedPort()).toBe(c.localPort);
    c.ws.close();
  });

  it('ends CLOSED with the client close code and reason, and leaves the list', async () => {
    const c = await openWs(`${echo.url}/bye`);
    const peer = await serverPeerFor(c.localPort);
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    const seen = closed(c.ws);
    c.ws.close(4321, 'see you');
    expect((await seen).code).toBe(4321);
    await waitFor(() => closedPeers.has(peer), 'server peer dropped');
    expect(peer.getCloseCode()).toBe(4321);
    expect(peer.getCloseReason()).toBe('see you');
    expect(peer.getFailureReason()).toBe('');
    expect(echo.peerList()).not.toContain(peer);
  });

  it('a server-initiated close completes cleanly: the client sees the code, the peer gets its answer', async () => {
    const c = await openWs(`${echo.url}/kick`);
    const peer = await serverPeerFor(c.localPort);
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    const seen = closed(c.ws);
    // The example's tick polls; close() is ours to call from the test between ticks.
    expect(peer.close(4000, 'kicked')).toBe(0);
    expect(peer.getReadyState()).toBe(State.CLOSING);
    const r = await seen;
    expect(r).toEqual({ code: 4000, reason: 'kicked' });
    await waitFor(() => closedPeers.has(peer), 'server peer dropped');
    // The client echoed our close frame: a clean close, its code is the one we sent.
    expect(peer.getFailureReason()).toBe('');
    expect(peer.getCloseCode()).toBe(4000);
  });

  // Regression: ws leaves closeTimeout undefined for server-side sockets, so its close timer fired after
  // 1 ms and destroyed the socket before the client's answer: every server-initiated close ended -1.
  it('issue: 100 server-initiated closes at once all end clean (not -1 from a 1 ms close timer)', async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, (_, i) => openWs(`${echo.url}/many?i=${i}`)));
    const peers = await Promise.all(clients.map((c) => serverPeerFor(c.localPort)));
    await waitFor(() => peers.every((p) => p.getReadyState() === State.OPEN), 'all server peers OPEN');
    const seen = Promise.all(clients.map((c) => closed(c.ws)));
    for (const p of peers) expect(p.close(1000, 'bye')).toBe(0);
    for (const r of await seen) expect(r.code).toBe(1000);
    await waitFor(() => peers.every((p) => closedPeers.has(p)), 'all server peers dropped');
    const outcomes = new Set(peers.map((p) => `${p.getCloseCode()}/${p.getFailureReason()}`));
    expect([...outcomes]).toEqual(['1000/']);
  });
});
