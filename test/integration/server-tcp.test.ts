/**
 * TCPServer and StreamPeerTCP members, and the codes of WebSocketPeer.acceptStream /
 * StreamPeerTLS.acceptStream, with raw `net` clients on 127.0.0.1.
 */
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCode,
  PeerPool,
  State,
  StreamPeerTCP,
  StreamPeerTCPStatus,
  StreamPeerTLS,
  TCPServer,
  TLSOptions,
  WebSocketPeer,
} from '../helpers/lib.js';
import { RawClient, openWs, roundTrip, waitFor } from '../helpers/server.js';

const fixture = (f: string): string => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), 'utf8');

let pool: PeerPool;
const servers: TCPServer[] = [];
const raws: RawClient[] = [];

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
});

afterEach(() => {
  for (const s of servers.splice(0)) s.stop();
  for (const r of raws.splice(0)) r.destroy();
});

afterAll(async () => {
  await pool.close();
});

function listening(port = 0): TCPServer {
  const s = new TCPServer({ pool });
  expect(s.listen(port, '127.0.0.1')).toBe(ErrorCode.OK);
  servers.push(s);
  return s;
}

function raw(port: number): RawClient {
  const r = new RawClient(port);
  raws.push(r);
  return r;
}

/** Wait until the server has a connection, and take it. */
async function take(server: TCPServer): Promise<StreamPeerTCP> {
  await waitFor(() => server.isConnectionAvailable(), 'a connection to take');
  const s = server.takeConnection();
  expect(s).toBeInstanceOf(StreamPeerTCP);
  return s!;
}

async function totalConnections(): Promise<number> {
  return (await pool.stats()).reduce((n, w) => n + w.connections, 0);
}

async function waitConnections(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  while (Date.now() < deadline) {
    last = await totalConnections();
    if (last === n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pool connections stayed at ${last}, expected ${n}`);
}

describe('TCPServer', () => {
  it('listen on port 0 picks a port; isListening / getLocalPort follow listen and stop', () => {
    const s = new TCPServer({ pool });
    expect(s.isListening()).toBe(false);
    expect(s.getLocalPort()).toBe(0);
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    servers.push(s);
    expect(s.isListening()).toBe(true);
    expect(s.getLocalPort()).toBeGreaterThan(0);
    s.stop();
    expect(s.isListening()).toBe(false);
    expect(s.getLocalPort()).toBe(0);
  });

  it('listen while listening -> ERR_ALREADY_IN_USE (and keeps listening on the same port)', () => {
    const s = listening();
    const port = s.getLocalPort();
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    expect(s.isListening()).toBe(true);
    expect(s.getLocalPort()).toBe(port);
  });

  it('a port taken by another TCPServer -> ERR_CANT_CREATE', () => {
    const a = listening();
    const b = new TCPServer({ pool });
    expect(b.listen(a.getLocalPort(), '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
    expect(b.isListening()).toBe(false);
    expect(b.getLocalPort()).toBe(0);
    expect(b.isConnectionAvailable()).toBe(false);
    expect(b.takeConnection()).toBeNull();
  });

  it('a port taken by a plain node server -> ERR_CANT_CREATE', async () => {
    const other = net.createServer();
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    try {
      const s = new TCPServer({ pool });
      expect(s.listen((other.address() as net.AddressInfo).port, '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
      expect(s.isListening()).toBe(false);
    } finally {
      other.close();
    }
  });

  it('bad port or address -> ERR_INVALID_PARAMETER', () => {
    const s = new TCPServer({ pool });
    expect(s.listen(-1)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(s.listen(65536)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(s.listen(1.5)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(s.listen(0, '')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(s.isListening()).toBe(false);
  });

  // Regression: listen() waited for the binding worker only handshakeTimeout ms; right after
  // new PeerPool() the worker is still booting (300-500 ms here), so a short handshakeTimeout made
  // listen fail with ERR_CANT_CREATE.
  it('issue: listen right after new PeerPool({ handshakeTimeout: 50 }) succeeds (waits for the worker to boot)', async () => {
    const p = new PeerPool({ threads: 1, handshakeTimeout: 50 });
    try {
      const s = new TCPServer({ pool: p });
      expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      expect(s.getLocalPort()).toBeGreaterThan(0);
      s.stop();
    } finally {
      await p.close();
    }
  });

  it('a closed pool -> ERR_CANT_CREATE', async () => {
    const p = new PeerPool({ threads: 1 });
    await p.close();
    expect(new TCPServer({ pool: p }).listen(0, '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
  });

  it('isConnectionAvailable false / takeConnection null when nothing connected', () => {
    const s = listening();
    expect(s.isConnectionAvailable()).toBe(false);
    expect(s.takeConnection()).toBeNull();
    const idle = new TCPServer({ pool });
    expect(idle.isConnectionAvailable()).toBe(false);
    expect(idle.takeConnection()).toBeNull();
  });

  it('stop: new connections are refused, and the port can be listened on again', async () => {
    const s = listening();
    const port = s.getLocalPort();
    s.stop();
    // stop() returns before the workers have closed the listening socket: a connection in that short
    // window is accepted and dropped (reset, or closed), never offered. Soon after, connections are refused.
    const deadline = Date.now() + 5000;
    let code: string | undefined;
    do {
      const r = raw(port);
      await r.closedP;
      code = r.error?.code;
      expect(['ECONNREFUSED', 'ECONNRESET', undefined]).toContain(code);
    } while (code !== 'ECONNREFUSED' && Date.now() < deadline);
    expect(code).toBe('ECONNREFUSED');
    expect(s.isConnectionAvailable()).toBe(false);
    const again = new TCPServer({ pool });
    expect(again.listen(port, '127.0.0.1')).toBe(ErrorCode.OK);
    servers.push(again);
    expect(again.getLocalPort()).toBe(port);
    const r2 = raw(port);
    await r2.connectedAt;
    await take(again);
  });

  it('stop drops connections not taken yet and taken ones not handed to a peer', async () => {
    const s = listening();
    const a = raw(s.getLocalPort());
    const taken = await take(s);
    const b = raw(s.getLocalPort());
    await b.connectedAt;
    await waitFor(() => s.isConnectionAvailable(), 'second connection accepted');
    s.stop();
    await Promise.all([a.closedP, b.closedP]);
    // What the worker did becomes visible on the stream's poll (Godot: StreamPeerTCP.poll()).
    await waitFor(() => (taken.poll(), taken.getStatus() !== StreamPeerTCPStatus.STATUS_CONNECTED), 'taken stream status change');
    expect(taken.getStatus()).toBe(StreamPeerTCPStatus.STATUS_NONE);
    expect(new WebSocketPeer({ pool }).acceptStream(taken)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(s.takeConnection()).toBeNull();
    await waitConnections(0);
  });

  it('stop leaves peers already accepted open (Godot semantics)', async () => {
    const s = listening();
    const client = openWs(`ws://127.0.0.1:${s.getLocalPort()}/stay`);
    const peer = new WebSocketPeer({ pool });
    expect(peer.acceptStream(await take(s))).toBe(ErrorCode.OK);
    const tick = setInterval(() => {
      peer.poll();
      while (peer.getAvailablePacketCount() > 0) peer.send(peer.getPacket(), peer.wasStringPacket() ? 0 : 1);
    }, 1);
    try {
      const c = await client;
      s.stop();
      expect((await roundTrip(c.ws, 'after stop', false)).data.toString()).toBe('after stop');
      c.ws.close();
      await waitFor(() => peer.getReadyState() === State.CLOSED, 'peer CLOSED');
    } finally {
      clearInterval(tick);
    }
  });
});

describe('StreamPeerTCP', () => {
  it('reports the remote host and port, CONNECTED; disconnectFromHost closes it (NONE)', async () => {
    const s = listening();
    const r = raw(s.getLocalPort());
    await r.connectedAt;
    const st = await take(s);
    expect(st.getStatus()).toBe(StreamPeerTCPStatus.STATUS_CONNECTED);
    expect(st.getConnectedHost()).toBe('127.0.0.1');
    expect(st.getConnectedPort()).toBe(r.localPort);
    st.setNoDelay(false);
    st.setNoDelay(true);
    expect(st.poll()).toBe(ErrorCode.OK);
    expect(st.getStatus()).toBe(StreamPeerTCPStatus.STATUS_CONNECTED);
    await waitConnections(1);
    st.disconnectFromHost();
    expect(st.getStatus()).toBe(StreamPeerTCPStatus.STATUS_NONE);
    await r.closedP;
    await waitConnections(0);
    // A disconnected stream cannot be handed to a peer.
    expect(new WebSocketPeer({ pool }).acceptStream(st)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
  });
});

describe('acceptStream codes', () => {
  it('WebSocketPeer.acceptStream: not a stream -> ERR_INVALID_PARAMETER, peer stays CLOSED', () => {
    const peer = new WebSocketPeer({ pool });
    const lookalike = { getStatus: () => StreamPeerTCPStatus.STATUS_CONNECTED, getConnectedHost: () => '127.0.0.1', getConnectedPort: () => 1 };
    for (const bad of [lookalike, {}, null, undefined, 42, 'tcp', new TCPServer({ pool })]) {
      expect(peer.acceptStream(bad as unknown as StreamPeerTCP)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
      expect(peer.getReadyState()).toBe(State.CLOSED);
    }
  });

  it('a stream already handed to a peer -> ERR_INVALID_PARAMETER; a peer not CLOSED -> ERR_ALREADY_IN_USE', async () => {
    const s = listening();
    raw(s.getLocalPort());
    raw(s.getLocalPort());
    const first = await take(s);
    const second = await take(s);
    const a = new WebSocketPeer({ pool });
    expect(a.acceptStream(first)).toBe(ErrorCode.OK);
    expect(a.getReadyState()).toBe(State.CONNECTING);
    // The same stream again, to another peer.
    const b = new WebSocketPeer({ pool });
    expect(b.acceptStream(first)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(b.getReadyState()).toBe(State.CLOSED);
    // A peer that is CONNECTING takes no second stream; the stream stays usable.
    expect(a.acceptStream(second)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    expect(b.acceptStream(second)).toBe(ErrorCode.OK);
    // A stream handed to a peer cannot be wrapped in TLS either.
    expect(new StreamPeerTLS().acceptStream(first, TLSOptions.server(fixture('server-key.pem'), fixture('server-cert.pem')))).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    a.close(-1);
    b.close(-1);
    await waitConnections(0);
  });

  it('a stream from another pool -> ERR_INVALID_PARAMETER for a peer bound to this pool', async () => {
    const other = new PeerPool({ threads: 1 });
    try {
      const s = new TCPServer({ pool: other });
      expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      try {
        raw(s.getLocalPort());
        const st = await take(s);
        expect(new WebSocketPeer({ pool }).acceptStream(st)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
        // Still usable by a peer of its own pool.
        const mine = new WebSocketPeer({ pool: other });
        expect(mine.acceptStream(st)).toBe(ErrorCode.OK);
        mine.close(-1);
      } finally {
        s.stop();
      }
    } finally {
      await other.close();
    }
  });

  it('StreamPeerTLS.acceptStream: not a stream or client TLS options -> ERR_INVALID_PARAMETER; twice -> ERR_ALREADY_IN_USE', async () => {
    const s = listening();
    raw(s.getLocalPort());
    const st = await take(s);
    const serverOpts = TLSOptions.server(fixture('server-key.pem'), fixture('server-cert.pem'));
    const tls = new StreamPeerTLS();
    expect(tls.acceptStream({}, serverOpts)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(tls.acceptStream(st, TLSOptions.client())).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(tls.acceptStream(st, {} as unknown as TLSOptions)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(tls.acceptStream(st, serverOpts)).toBe(ErrorCode.OK);
    expect(tls.acceptStream(st, serverOpts)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    // The TCP stream now belongs to the TLS layer: not usable directly, and not by another TLS layer.
    expect(new WebSocketPeer({ pool }).acceptStream(st)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(new StreamPeerTLS().acceptStream(st, serverOpts)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    // Still handshaking (the raw client never speaks TLS): a peer cannot take it yet.
    expect(new WebSocketPeer({ pool }).acceptStream(tls)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    tls.disconnectFromStream();
    await waitConnections(0);
  });
});
