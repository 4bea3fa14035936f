/**
 * Client-side members and edge cases of the spec (shared/spec/godot-websocketpeer.md), one behaviour per test.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { openPeer, pollUntil, sleep, startEchoServer, startWsServer } from '../helpers/net.js';

let pool: PeerPool;
let server: Awaited<ReturnType<typeof startEchoServer>>;
let lastReq: IncomingMessage | null = null;

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  server = await startEchoServer({ handleProtocols: (protocols) => (protocols.has('second') ? 'second' : false) });
  server.wss.on('connection', (_ws: WebSocket, req: IncomingMessage) => (lastReq = req));
});

afterAll(async () => {
  await pool.close();
  await server.close();
});

async function rawServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(onSocket);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const sockets = new Set<net.Socket>();
  srv.on('connection', (s) => sockets.add(s));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

describe('connectToUrl', () => {
  it('returns ERR_INVALID_PARAMETER for bad URLs, schemes, header lines and protocol names', () => {
    const peer = new WebSocketPeer({ pool });
    for (const url of ['', 'ws://', 'http://127.0.0.1/', 'https://x/', 'ftp://x/', 'ws://[bad']) {
      expect(peer.connectToUrl(url)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    }
    for (const line of ['X-A: a\r\nX-B: b', 'X-A: a\n', 'no colon', ': empty name', 'Bad Name: x']) {
      peer.handshakeHeaders = [line];
      expect(peer.connectToUrl(server.url)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    }
    peer.handshakeHeaders = [];
    for (const protocols of [['has space'], ['a,b'], [''], ['dup', 'dup']]) {
      peer.supportedProtocols = protocols;
      expect(peer.connectToUrl(server.url)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    }
    expect(peer.getReadyState()).toBe(State.CLOSED);
  });

  it('takes a URL without a scheme as ws://, defaults the path to /, sends Host with the port', async () => {
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, `127.0.0.1:${server.port}`);
    expect(peer.getRequestedUrl()).toBe(`127.0.0.1:${server.port}`);
    expect(lastReq!.url).toBe('/');
    expect(lastReq!.headers.host).toBe(`127.0.0.1:${server.port}`);
    peer.close();
  });

  it('returns ERR_ALREADY_IN_USE while CONNECTING or OPEN', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(server.url)).toBe(ErrorCode.OK);
    expect(peer.connectToUrl(server.url)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    await pollUntil(peer, () => peer.getReadyState() === State.OPEN, 'open');
    expect(peer.connectToUrl(server.url)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    peer.close();
  });

  it('sends supportedProtocols in order and handshakeHeaders; getSelectedProtocol is the server choice', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.supportedProtocols = ['first', 'second'];
    peer.handshakeHeaders = ['X-Game: ringsocket', 'Authorization: Bearer t0k3n'];
    await openPeer(peer, `${server.url}/p?q=1`);
    expect(lastReq!.headers['sec-websocket-protocol']!.split(/\s*,\s*/)).toEqual(['first', 'second']);
    expect(lastReq!.headers['x-game']).toBe('ringsocket');
    expect(lastReq!.headers.authorization).toBe('Bearer t0k3n');
    expect(lastReq!.url).toBe('/p?q=1');
    expect(peer.getSelectedProtocol()).toBe('second');
    peer.close();
  });

  it('fails (CLOSED, -1) when the server selects a protocol that was not offered', async () => {
    const raw = await rawServer((s) => {
      s.once('data', (d: Buffer) => {
        const key = /sec-websocket-key: (\S+)/i.exec(d.toString())![1]!;
        const accept = acceptKey(key);
        s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: other\r\n\r\n`);
      });
    });
    const peer = new WebSocketPeer({ pool });
    peer.supportedProtocols = ['mine'];
    expect(peer.connectToUrl(`ws://127.0.0.1:${raw.port}/`)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'refused protocol');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).not.toBe('');
    raw.close();
  });

  it('connection refused: CLOSED, -1, ECONNREFUSED', async () => {
    const raw = await rawServer(() => undefined);
    const port = raw.port;
    raw.close();
    await sleep(20);
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(`ws://127.0.0.1:${port}/`)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'refused');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('ECONNREFUSED');
  });

  it('an HTTP 404 answer to the upgrade: CLOSED, -1, HTTP_404', async () => {
    const raw = await rawServer((s) => s.once('data', () => s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')));
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(`ws://127.0.0.1:${raw.port}/missing`)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, '404');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HTTP_404');
    raw.close();
  });

  it('a server that never answers the handshake: CLOSED, -1, HANDSHAKE_TIMEOUT after the pool timeout', async () => {
    const quick = new PeerPool({ threads: 1, handshakeTimeout: 300 });
    const raw = await rawServer(() => undefined);
    const peer = new WebSocketPeer({ pool: quick });
    const t0 = Date.now();
    expect(peer.connectToUrl(`ws://127.0.0.1:${raw.port}/`)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'handshake timeout', 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
    raw.close();
    await quick.close();
  });
});

describe('poll, packets and sends', () => {
  it('what arrives becomes visible only on poll()', async () => {
    const s = await startWsServer();
    let ws: WebSocket | null = null;
    s.wss.on('connection', (w: WebSocket) => (ws = w));
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
    await sleep(200); // the handshake is done by now, but nobody polled
    expect(ws).not.toBeNull();
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    peer.poll();
    expect(peer.getReadyState()).toBe(State.OPEN);
    ws!.send('hi');
    await sleep(100);
    expect(peer.getAvailablePacketCount()).toBe(0);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'packet after poll');
    ws!.close(4002);
    await sleep(100);
    expect(peer.getReadyState()).toBe(State.OPEN);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close after poll');
    expect(peer.getCloseCode()).toBe(4002);
    await s.close();
  });

  it('getPacket with nothing waiting: empty array and ERR_UNAVAILABLE; OK after a real one', async () => {
    const peer = new WebSocketPeer({ pool });
    const none = peer.getPacket();
    expect(none).toBeInstanceOf(Uint8Array);
    expect(none.byteLength).toBe(0);
    expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
    await openPeer(peer, server.url);
    peer.putPacket(new Uint8Array([1]));
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo');
    peer.getPacket();
    expect(peer.getPacketError()).toBe(ErrorCode.OK);
    peer.getPacket();
    expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
    peer.close();
  });

  it('send returns FAILED when CLOSED or CONNECTING, ERR_INVALID_PARAMETER for TEXT that is not UTF-8 or a bad mode', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.sendText('x')).toBe(ErrorCode.FAILED);
    expect(peer.putPacket(new Uint8Array(1))).toBe(ErrorCode.FAILED);
    expect(peer.connectToUrl(server.url)).toBe(ErrorCode.OK);
    expect(peer.sendText('x')).toBe(ErrorCode.FAILED);
    await pollUntil(peer, () => peer.getReadyState() === State.OPEN, 'open');
    expect(peer.send(new Uint8Array([0xff, 0xfe]), WriteMode.TEXT)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.send(new Uint8Array([0xc3]), WriteMode.TEXT)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.send(new Uint8Array(1), 7 as WriteMode)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(() => peer.send('text' as unknown as Uint8Array)).toThrow(TypeError);
    expect(peer.send(new Uint8Array([0xc3, 0xa9]), WriteMode.TEXT)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'only the valid one echoed');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('é');
    await sleep(50);
    peer.poll();
    expect(peer.getAvailablePacketCount()).toBe(0);
    peer.close();
  });

  it('getCurrentOutboundBufferedAmount counts accepted bytes until written, then returns to 0', async () => {
    const s = await startWsServer();
    s.wss.on('connection', (ws: WebSocket) => (ws as unknown as { _socket: net.Socket })._socket.pause());
    const peer = new WebSocketPeer({ pool });
    peer.outboundBufferSize = 64 * 1024 * 1024;
    await openPeer(peer, s.url);
    for (let i = 0; i < 16; i++) expect(peer.putPacket(new Uint8Array(1024 * 1024))).toBe(ErrorCode.OK);
    await sleep(200);
    expect(peer.getCurrentOutboundBufferedAmount()).toBeGreaterThan(0);
    expect(peer.getCurrentOutboundBufferedAmount()).toBeLessThanOrEqual(16 * 1024 * 1024);
    for (const ws of s.wss.clients) (ws as unknown as { _socket: net.Socket })._socket.resume();
    await pollUntil(peer, () => peer.getCurrentOutboundBufferedAmount() === 0, 'all written');
    peer.close(-1);
    await s.close();
  });

  it('setNoDelay can be toggled on an open peer; it keeps echoing', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.setNoDelay(false);
    await openPeer(peer, server.url);
    peer.setNoDelay(true);
    peer.setNoDelay(false);
    peer.sendText('nagle');
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo with nagle on');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('nagle');
    peer.close();
  });

  it('configuration is read at connect: a changed buffer size applies to the next connection only', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.outboundBufferSize = 100;
    await openPeer(peer, server.url);
    peer.outboundBufferSize = 10_000;
    expect(peer.putPacket(new Uint8Array(200))).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
    peer.close(-1);
    await openPeer(peer, server.url);
    expect(peer.putPacket(new Uint8Array(200))).toBe(ErrorCode.OK);
    peer.close(-1);
  });
});

function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}
