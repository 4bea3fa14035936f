/**
 * The core issue's client-side acceptance list, over real sockets on 127.0.0.1 against a real `ws` server:
 * size classes, 1,000,000 messages in order, a slow consumer of a 256 MiB stream with bounded memory,
 * 1,000 peers at once, closes from either side, an abrupt drop, wss, heartbeats, a killed worker.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { crashWorker, ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { openPeer, pollUntil, sleep, startEchoServer, startWsServer } from '../helpers/net.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

let pool: PeerPool;

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
});

afterAll(async () => {
  await pool.close();
});

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('size classes, text and binary, byte-exact through a ws echo server', () => {
  let server: Awaited<ReturnType<typeof startEchoServer>>;
  beforeAll(async () => {
    server = await startEchoServer({ maxPayload: 32 * 1024 * 1024 });
  });
  afterAll(() => server.close());

  for (const size of [0, 125, 126, 65535, 65536, 16 * 1024 * 1024]) {
    it(`${size} bytes, binary and text`, async () => {
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = 17 * 1024 * 1024;
      peer.outboundBufferSize = 17 * 1024 * 1024;
      await openPeer(peer, server.url);
      const bin = pattern(size, 7);
      const text = 'é'.repeat(Math.floor(size / 2)) + (size % 2 === 1 ? 'a' : '');
      // One at a time: two 16 MiB messages would pass both 17 MiB budgets (that outcome is tested below).
      expect(peer.putPacket(bin)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, `${size}-byte binary echo`, 30_000);
      const a = peer.getPacket();
      expect(peer.wasStringPacket()).toBe(false);
      expect(a.byteLength).toBe(size);
      expect(Buffer.compare(Buffer.from(a), Buffer.from(bin))).toBe(0);
      expect(peer.sendText(text)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, `${size}-byte text echo`, 30_000);
      const b = peer.getPacket();
      expect(peer.wasStringPacket()).toBe(true);
      expect(new TextDecoder().decode(b)).toBe(text);
      await pollUntil(peer, () => peer.getCurrentOutboundBufferedAmount() === 0, 'outbound drained');
      peer.close();
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
      expect(peer.getCloseCode()).toBe(1000);
    });
  }

  it('a received message larger than inboundBufferSize fails with 1009 at the server, -1 here', async () => {
    const s = await startWsServer();
    const seen = new Promise<number>((resolve) => {
      s.wss.on('connection', (ws: WebSocket) => {
        ws.on('close', (code) => resolve(code));
        ws.send(new Uint8Array(2000));
      });
    });
    const peer = new WebSocketPeer({ pool });
    peer.inboundBufferSize = 1024;
    expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'peer closed by the too-big message');
    expect(await seen).toBe(1009);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    await s.close();
  });

  it('a send larger than outboundBufferSize is refused whole; the connection stays usable', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.outboundBufferSize = 1000;
    await openPeer(peer, server.url);
    expect(peer.putPacket(new Uint8Array(1001))).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
    expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
    expect(peer.putPacket(new Uint8Array([9, 8]))).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'small echo');
    expect([...peer.getPacket()]).toEqual([9, 8]);
    peer.close();
  });

  it('maxQueuedPackets refuses outbound messages past the limit while the server does not read', async () => {
    const s = await startWsServer();
    s.wss.on('connection', (ws: WebSocket) => {
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    });
    const peer = new WebSocketPeer({ pool });
    peer.maxQueuedPackets = 4;
    peer.outboundBufferSize = 64 * 1024 * 1024;
    await openPeer(peer, s.url);
    const big = new Uint8Array(1024 * 1024);
    let accepted = 0;
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      const r = peer.putPacket(big);
      if (r === ErrorCode.OK) accepted++;
      else {
        expect(r).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
        refused = true;
      }
      await sleep(2);
    }
    expect(refused).toBe(true);
    expect(accepted).toBeGreaterThanOrEqual(4);
    expect(peer.getCurrentOutboundBufferedAmount()).toBeGreaterThan(0);
    peer.close(-1);
    await s.close();
  });
});

describe('flow', () => {
  it('1,000 client peers open at once, each echoes, all close cleanly', async () => {
    const server = await startEchoServer();
    const peers = Array.from({ length: 1000 }, () => new WebSocketPeer({ pool }));
    for (const p of peers) expect(p.connectToUrl(server.url)).toBe(ErrorCode.OK);
    await pollUntil(peers, () => peers.every((p) => p.getReadyState() === State.OPEN), 'all 1,000 open', 30_000);
    expect(server.wss.clients.size).toBe(1000);
    peers.forEach((p, i) => p.sendText(`peer ${i}`));
    await pollUntil(peers, () => peers.every((p) => p.getAvailablePacketCount() === 1), 'all echoes', 30_000);
    peers.forEach((p, i) => {
      expect(new TextDecoder().decode(p.getPacket())).toBe(`peer ${i}`);
      p.close(1000, 'done');
    });
    await pollUntil(peers, () => peers.every((p) => p.getReadyState() === State.CLOSED), 'all closed', 30_000);
    expect(peers.every((p) => p.getCloseCode() === 1000)).toBe(true);
    await server.close();
  }, 60_000);
});

describe('closing', () => {
  it('client-initiated: CLOSING at once, the server sees code and reason, CLOSED with the echoed code', async () => {
    const s = await startWsServer();
    const serverSaw = new Promise<[number, string]>((resolve) => {
      s.wss.on('connection', (ws: WebSocket) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
    });
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, s.url);
    expect(peer.close(4000, 'bye')).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSING);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
    expect(await serverSaw).toEqual([4000, 'bye']);
    expect(peer.getCloseCode()).toBe(4000);
    expect(peer.getFailureReason()).toBe('');
    await s.close();
  });

  it('server-initiated: CLOSED with the server code and reason; without a status code: 1005', async () => {
    const s = await startWsServer();
    let n = 0;
    s.wss.on('connection', (ws: WebSocket) => {
      if (n++ === 0) ws.close(4001, 'srv');
      else ws.close();
    });
    for (const [code, reason] of [
      [4001, 'srv'],
      [1005, ''],
    ] as const) {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed by server');
      expect(peer.getCloseCode()).toBe(code);
      expect(peer.getCloseReason()).toBe(reason);
    }
    await s.close();
  });

  it('refuses close codes a sender may not use, and long reasons; nothing is sent', async () => {
    const server = await startEchoServer();
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, server.url);
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) {
      expect(peer.close(code)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
      expect(peer.getReadyState()).toBe(State.OPEN);
    }
    expect(peer.close(1000, 'x'.repeat(124))).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.close(1000, 'é'.repeat(62))).toBe(ErrorCode.ERR_INVALID_PARAMETER); // 124 bytes
    expect(peer.getReadyState()).toBe(State.OPEN);
    expect(peer.close(3000, 'x'.repeat(123))).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
    expect(peer.getCloseCode()).toBe(3000);
    expect(peer.close(1000)).toBe(ErrorCode.OK); // already CLOSED: nothing
    expect(peer.getCloseCode()).toBe(3000);
    await server.close();
  });

  it('close(-1) drops at once (CLOSED, -1); the server sees an abnormal 1006', async () => {
    const s = await startWsServer();
    const serverSaw = new Promise<number>((resolve) => s.wss.on('connection', (ws: WebSocket) => ws.on('close', (c) => resolve(c))));
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, s.url);
    expect(peer.close(-1)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(await serverSaw).toBe(1006);
    await s.close();
  });

  it('close() while CONNECTING drops at once', async () => {
    const server = await startEchoServer();
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(server.url)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    expect(peer.close()).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    await server.close();
  });

  it('an abrupt TCP drop ends CLOSED with -1; messages received before stay readable until the next connect', async () => {
    const s = await startWsServer();
    s.wss.on('connection', (ws: WebSocket) => {
      ws.send('last words');
      setTimeout(() => ws.terminate(), 50);
    });
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'dropped');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getAvailablePacketCount()).toBe(1);
    expect(new TextDecoder().decode(peer.getPacket())).toBe('last words');
    expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
    expect(peer.getAvailablePacketCount()).toBe(0);
    peer.close(-1);
    await s.close();
  });

  it('a server that never answers our close: CLOSED -1 after the pool closeTimeout', async () => {
    const quick = new PeerPool({ threads: 1, closeTimeout: 300 });
    const s = await startWsServer();
    s.wss.on('connection', (ws: WebSocket) => {
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    });
    const peer = new WebSocketPeer({ pool: quick });
    await openPeer(peer, s.url);
    const t0 = Date.now();
    peer.close(1000);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close timeout', 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('CLOSE_TIMEOUT');
    await s.close();
    await quick.close();
  });
});

describe('wss with a self-signed CA', () => {
  let url = '';
  let port = 0;
  let httpsServer: https.Server;
  beforeAll(async () => {
    httpsServer = https.createServer({ key: fixture('server-key.pem'), cert: fixture('server-cert.pem') });
    const wss = new WebSocketServer({ server: httpsServer });
    wss.on('connection', (ws: WebSocket) => ws.on('message', (d, bin) => ws.send(d as Buffer, { binary: bin })));
    httpsServer.listen(0, '127.0.0.1');
    await once(httpsServer, 'listening');
    port = (httpsServer.address() as AddressInfo).port;
    url = `wss://127.0.0.1:${port}/`;
  });
  afterAll(async () => {
    httpsServer.closeAllConnections();
    await new Promise<void>((r) => httpsServer.close(() => r()));
  });

  it('accepted with TLSOptions.client(ca) (127.0.0.1 and localhost), echoes', async () => {
    for (const u of [url, `wss://localhost:${port}/`]) {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(u, TLSOptions.client(fixture('ca-cert.pem')))).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, 'tls open');
      expect(peer.getReadyState()).toBe(State.OPEN);
      peer.sendText('secure');
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'tls echo');
      expect(new TextDecoder().decode(peer.getPacket())).toBe('secure');
      peer.close();
    }
  });

  it('refused without the CA, and with a common name that does not match', async () => {
    for (const opts of [undefined, TLSOptions.client(fixture('other-cert.pem')), TLSOptions.client(fixture('ca-cert.pem'), 'other.invalid')]) {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(url, opts)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'tls refused');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toMatch(/CERT|SIGNATURE|ERR_TLS|ALTNAME|UNABLE/);
    }
  });

  it('accepted with TLSOptions.clientUnsafe(); TLSOptions.server is not for clients', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(url, TLSOptions.server(fixture('server-key.pem'), fixture('server-cert.pem')))).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.connectToUrl(url, TLSOptions.clientUnsafe())).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, 'unsafe open');
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close();
  });
});

describe('heartbeat', () => {
  it('pings reach the server; enabling it live on an open peer starts them', async () => {
    const s = await startWsServer();
    let pings = 0;
    s.wss.on('connection', (ws: WebSocket) => ws.on('ping', () => pings++));
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, s.url);
    await sleep(300);
    peer.poll();
    expect(pings).toBe(0);
    peer.heartbeatInterval = 0.1;
    peer.poll();
    await pollUntil(peer, () => pings >= 2, 'two pings', 3000);
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close();
    await s.close();
  });

  it('a silent server (no pong, no data) is dropped after two intervals: -1, HEARTBEAT_TIMEOUT', async () => {
    const s = await startWsServer({ autoPong: false });
    const peer = new WebSocketPeer({ pool });
    peer.heartbeatInterval = 0.1;
    await openPeer(peer, s.url);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'dropped as dead', 3000);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HEARTBEAT_TIMEOUT');
    await s.close();
  });

  it('regression: our own backpressure pause is not silence — a slow consumer with heartbeats stays OPEN', async () => {
    const s = await startWsServer();
    s.wss.on('connection', (ws: WebSocket) => {
      for (let i = 0; i < 200; i++) ws.send(new Uint8Array(512));
    });
    const peer = new WebSocketPeer({ pool });
    peer.heartbeatInterval = 0.05;
    peer.inboundBufferSize = 1024;
    await openPeer(peer, s.url);
    const until = Date.now() + 600; // twelve intervals without taking anything
    while (Date.now() < until) {
      peer.poll();
      await sleep(10);
    }
    expect(peer.getReadyState()).toBe(State.OPEN);
    let got = 0;
    await pollUntil(
      peer,
      () => {
        while (peer.getAvailablePacketCount() > 0) {
          peer.getPacket();
          got++;
        }
        return got === 200;
      },
      'all 200 after the pause',
    );
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close();
    await s.close();
  });
});

describe('a killed worker', () => {
  it('closes only its own peers (-1, WORKER_DIED); the others keep echoing; the pool replaces it', async () => {
    const own = new PeerPool({ threads: 2 });
    const server = await startEchoServer();
    const peers = Array.from({ length: 8 }, () => new WebSocketPeer({ pool: own }));
    for (const p of peers) expect(p.connectToUrl(server.url)).toBe(ErrorCode.OK);
    await pollUntil(peers, () => peers.every((p) => p.getReadyState() === State.OPEN), 'all open');
    const before = await own.stats();
    expect(before.map((w) => w.connections)).toEqual([4, 4]);
    await crashWorker(own, 0);
    await pollUntil(peers, () => peers.filter((p) => p.getReadyState() === State.CLOSED).length === 4, 'the dead worker’s peers closed');
    const dead = peers.filter((p) => p.getReadyState() === State.CLOSED);
    const alive = peers.filter((p) => p.getReadyState() === State.OPEN);
    expect(alive).toHaveLength(4);
    for (const p of dead) {
      expect(p.getCloseCode()).toBe(-1);
      expect(p.getFailureReason()).toBe('WORKER_DIED');
    }
    for (const p of alive) p.send(new TextEncoder().encode('still here'), WriteMode.TEXT);
    await pollUntil(alive, () => alive.every((p) => p.getAvailablePacketCount() === 1), 'survivors echo');
    const fresh = new WebSocketPeer({ pool: own });
    for (let i = 0; i < 200 && (await own.stats()).length !== 2; i++) await sleep(25);
    await openPeer(fresh, server.url);
    fresh.sendText('new');
    await pollUntil(fresh, () => fresh.getAvailablePacketCount() === 1, 'new peer echoes');
    expect((await own.stats()).length).toBe(2);
    await own.close();
    await server.close();
  });
});
