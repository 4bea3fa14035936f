/**
 * Client members of WebSocketPeer against a real `ws` server: connectToUrl's return codes and request,
 * subprotocols, handshake headers, poll() visibility, getPacket/send edge cases, connection failures.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { openPeer, pollUntil, sleep, startEchoServer, startWsServer } from '../helpers/net.js';

let pool: PeerPool;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
/** Requests the echo server accepted, in order. */
const requests: IncomingMessage[] = [];

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  echo = await startEchoServer({
    handleProtocols: (offered) => (offered.has('beta') ? 'beta' : offered.has('gamma') ? 'gamma' : false),
  });
  echo.wss.on('connection', (_ws: WebSocket, req: IncomingMessage) => requests.push(req));
});

afterAll(async () => {
  await pool.close();
  await echo.close();
});

/** A raw TCP server; every accepted socket is destroyed on close(). */
async function rawServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitClosed(peer: WebSocketPeer, what: string, timeoutMs = 10_000): Promise<void> {
  await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, what, timeoutMs);
}

describe('connectToUrl return codes', () => {
  it('returns OK for a ws:// URL and the peer is CONNECTING until a poll shows it OPEN', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, 'open');
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close(-1);
  });

  it('returns ERR_INVALID_PARAMETER for an unparsable URL and for an http:// scheme', () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl('ws://[::1')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.connectToUrl('ws://')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.connectToUrl(`http://127.0.0.1:${echo.port}/`)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.getReadyState()).toBe(State.CLOSED);
  });

  it('returns ERR_INVALID_PARAMETER for a handshake header with CR or LF, or without a colon', () => {
    const peer = new WebSocketPeer({ pool });
    for (const line of ['X-A: a\r\nX-Injected: 1', 'X-A: a\rb', 'X-A: a\nb', 'X-No-Colon']) {
      peer.handshakeHeaders = [line];
      expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    }
    expect(peer.getReadyState()).toBe(State.CLOSED);
  });

  it('returns ERR_INVALID_PARAMETER for a subprotocol that is not a token', () => {
    const peer = new WebSocketPeer({ pool });
    for (const p of ['has space', 'a,b', '', 'x"y']) {
      peer.supportedProtocols = ['beta', p];
      expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    }
    expect(peer.getReadyState()).toBe(State.CLOSED);
  });

  it('takes a URL without a scheme as ws://', async () => {
    const peer = new WebSocketPeer({ pool });
    const before = requests.length;
    await openPeer(peer, `127.0.0.1:${echo.port}/noscheme?q=2`);
    expect(requests.length).toBe(before + 1);
    expect(requests[before]!.url).toBe('/noscheme?q=2');
    expect(peer.getRequestedUrl()).toBe(`127.0.0.1:${echo.port}/noscheme?q=2`);
    expect(peer.sendText('no scheme')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('no scheme');
    peer.close(-1);
  });

  it('returns ERR_ALREADY_IN_USE while CONNECTING and while OPEN', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.OK);
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    await pollUntil(peer, () => peer.getReadyState() === State.OPEN, 'open');
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close(-1);
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.OK);
    peer.close(-1);
  });
});

describe('the upgrade request', () => {
  it("sends path '/' by default and a Host header with the port", async () => {
    const peer = new WebSocketPeer({ pool });
    const before = requests.length;
    await openPeer(peer, `ws://127.0.0.1:${echo.port}`);
    const req = requests[before]!;
    expect(req.url).toBe('/');
    expect(req.headers.host).toBe(`127.0.0.1:${echo.port}`);
    expect(req.headers['sec-websocket-protocol']).toBeUndefined();
    expect(peer.getSelectedProtocol()).toBe('');
    peer.close(-1);
  });

  it('sends Sec-WebSocket-Protocol in order and reports the one the server picked', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.supportedProtocols = ['alpha', 'beta', 'gamma'];
    const before = requests.length;
    await openPeer(peer, `${echo.url}/proto`);
    expect(requests[before]!.headers['sec-websocket-protocol']).toBe('alpha,beta,gamma');
    expect(peer.getSelectedProtocol()).toBe('beta');

    const other = new WebSocketPeer({ pool });
    other.supportedProtocols = ['gamma', 'alpha'];
    await openPeer(other, `${echo.url}/proto`);
    expect(requests[before + 1]!.headers['sec-websocket-protocol']).toBe('gamma,alpha');
    expect(other.getSelectedProtocol()).toBe('gamma');
    peer.close(-1);
    other.close(-1);
  });

  it('fails (CLOSED, -1) when the server selects a protocol that was not offered', async () => {
    const srv = await startWsServer({ handleProtocols: () => 'zeta' });
    try {
      const peer = new WebSocketPeer({ pool });
      peer.supportedProtocols = ['alpha', 'beta'];
      expect(peer.connectToUrl(srv.url)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'the handshake to fail');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getSelectedProtocol()).toBe('');
      expect(peer.getFailureReason()).toMatch(/subprotocol/i);
    } finally {
      await srv.close();
    }
  });

  it('fails (CLOSED, -1) when a raw server answers 101 with a protocol that was not offered', async () => {
    const { createHash } = await import('node:crypto');
    const srv = await rawServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        const key = /sec-websocket-key:\s*(\S+)/i.exec(buf)![1]!;
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        s.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: omega\r\n\r\n`,
        );
      });
    });
    try {
      const peer = new WebSocketPeer({ pool });
      peer.supportedProtocols = ['alpha'];
      expect(peer.connectToUrl(`ws://127.0.0.1:${srv.port}/`)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'the handshake to fail');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getSelectedProtocol()).toBe('');
      expect(peer.getFailureReason()).toMatch(/subprotocol/i);
    } finally {
      await srv.close();
    }
  });

  /** A raw server that answers the upgrade with `accept(key)` (null: the right one) as Sec-WebSocket-Accept, then `after`. */
  async function answering(accept: ((key: string) => string) | null, after: Buffer = Buffer.alloc(0)) {
    const { createHash } = await import('node:crypto');
    const right = (key: string): string => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    return rawServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        const key = /sec-websocket-key:\s*(\S+)/i.exec(buf)![1]!;
        s.write(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept === null ? right(key) : accept(key)}\r\n\r\n`), after]));
      });
    });
  }

  it('fails (CLOSED, -1) when a raw server answers 101 with a wrong Sec-WebSocket-Accept', async () => {
    const srv = await answering(() => 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    try {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(`ws://127.0.0.1:${srv.port}/`)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'the handshake to fail');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe('Invalid Sec-WebSocket-Accept header');
    } finally {
      await srv.close();
    }
  });

  it('reads frames that came in the same TCP segment as the 101 (the upgrade head)', async () => {
    // An unmasked server text frame "early" and a binary one [1, 2, 3], right behind the answer.
    const early = Buffer.from([0x81, 5, ...Buffer.from('early'), 0x82, 3, 1, 2, 3]);
    const srv = await answering(null, early);
    try {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(`ws://127.0.0.1:${srv.port}/`)).toBe(ErrorCode.OK);
      const deadline = Date.now() + 5000;
      while (peer.getAvailablePacketCount() < 2 && Date.now() < deadline) {
        peer.poll();
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(peer.getReadyState()).toBe(State.OPEN);
      expect(Buffer.from(peer.getPacket()).toString()).toBe('early');
      expect(peer.wasStringPacket()).toBe(true);
      expect([...peer.getPacket()]).toEqual([1, 2, 3]);
      expect(peer.wasStringPacket()).toBe(false);
      peer.close(-1);
    } finally {
      await srv.close();
    }
  });

  it('adds handshakeHeaders to the request', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.handshakeHeaders = ['X-Game-Token: abc123', 'X-Empty-Ish:  spaced value  '];
    const before = requests.length;
    await openPeer(peer, echo.url);
    const req = requests[before]!;
    expect(req.headers['x-game-token']).toBe('abc123');
    expect(req.headers['x-empty-ish']).toBe('spaced value');
    peer.close(-1);
  });
});

describe('poll() visibility', () => {
  it('shows a received message, and the peer closing, only after poll()', async () => {
    const srv = await startWsServer();
    try {
      let serverWs: WebSocket | null = null;
      srv.wss.on('connection', (ws: WebSocket) => (serverWs = ws));
      const peer = new WebSocketPeer({ pool });
      await openPeer(peer, srv.url);
      await pollUntil(peer, () => serverWs !== null, 'server side');
      const delivered = new Promise<void>((r) => serverWs!.send('pushed', () => r()));
      await delivered;
      // Give the worker ample time to take it in; without a poll, nothing may become visible.
      await sleep(200);
      expect(peer.getAvailablePacketCount()).toBe(0);
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'the pushed message after poll');

      serverWs!.close(4002, 'later');
      await once(serverWs!, 'close');
      await sleep(200);
      expect(peer.getReadyState()).toBe(State.OPEN);
      peer.poll();
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close seen after poll');
      expect(peer.getCloseCode()).toBe(4002);
      expect(new TextDecoder().decode(peer.getPacket())).toBe('pushed');
    } finally {
      await srv.close();
    }
  });
});

describe('getPacket and send', () => {
  it('getPacket with nothing waiting returns an empty array and ERR_UNAVAILABLE', async () => {
    const fresh = new WebSocketPeer({ pool });
    expect(fresh.getPacket().byteLength).toBe(0);
    expect(fresh.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);

    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, echo.url);
    expect(peer.putPacket(new Uint8Array([9]))).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo');
    expect([...peer.getPacket()]).toEqual([9]);
    expect(peer.getPacketError()).toBe(ErrorCode.OK);
    const empty = peer.getPacket();
    expect(empty).toBeInstanceOf(Uint8Array);
    expect(empty.byteLength).toBe(0);
    expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
    peer.close(-1);
  });

  it('send returns FAILED when CLOSED and when CONNECTING', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.send(new Uint8Array([1]))).toBe(ErrorCode.FAILED);
    expect(peer.sendText('x')).toBe(ErrorCode.FAILED);
    expect(peer.putPacket(new Uint8Array([1]))).toBe(ErrorCode.FAILED);
    expect(peer.connectToUrl(echo.url)).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    expect(peer.send(new Uint8Array([1]))).toBe(ErrorCode.FAILED);
    expect(peer.sendText('x')).toBe(ErrorCode.FAILED);
    await pollUntil(peer, () => peer.getReadyState() === State.OPEN, 'open');
    expect(peer.sendText('x')).toBe(ErrorCode.OK);
    peer.close(-1);
    expect(peer.sendText('x')).toBe(ErrorCode.FAILED);
  });

  it('send TEXT with invalid UTF-8 returns ERR_INVALID_PARAMETER and sends nothing', async () => {
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, echo.url);
    expect(peer.send(new Uint8Array([0x61, 0xff, 0x62]), WriteMode.TEXT)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.send(new Uint8Array([0xed, 0xa0, 0x80]), WriteMode.TEXT)).toBe(ErrorCode.ERR_INVALID_PARAMETER); // a surrogate
    expect(peer.send(new Uint8Array([0x61, 0xff, 0x62]), WriteMode.BINARY)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'the binary echo');
    expect([...peer.getPacket()]).toEqual([0x61, 0xff, 0x62]);
    expect(peer.wasStringPacket()).toBe(false);
    await sleep(100);
    peer.poll();
    expect(peer.getAvailablePacketCount()).toBe(0);
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close(-1);
  });

  it('getCurrentOutboundBufferedAmount is back to 0 once the echo arrived', async () => {
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, echo.url);
    expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
    const data = new Uint8Array(40_000).map((_, i) => i & 0xff);
    expect(peer.putPacket(data)).toBe(ErrorCode.OK);
    expect(peer.getCurrentOutboundBufferedAmount()).toBeLessThanOrEqual(40_000);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo');
    expect(peer.getPacket()).toEqual(data);
    expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
    peer.close(-1);
  });

  it('setNoDelay(false) and setNoDelay(true) on an open peer keep it working', async () => {
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, echo.url);
    peer.setNoDelay(false);
    expect(peer.sendText('nagle on')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo with Nagle');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('nagle on');
    peer.setNoDelay(true);
    expect(peer.sendText('nagle off')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'echo without Nagle');
    expect(new TextDecoder().decode(peer.getPacket())).toBe('nagle off');
    expect(peer.getReadyState()).toBe(State.OPEN);
    peer.close(-1);
  });

  it('keeps messages received before the close readable after CLOSED; the next connectToUrl clears them', async () => {
    const srv = await startWsServer();
    try {
      srv.wss.on('connection', (ws: WebSocket) => {
        ws.send('one');
        ws.send(Buffer.from([2, 2]), { binary: true });
        ws.close(1000, 'done');
      });
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(srv.url)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'server close');
      expect(peer.getCloseCode()).toBe(1000);
      expect(peer.getCloseReason()).toBe('done');
      expect(peer.getAvailablePacketCount()).toBe(2);
      expect(new TextDecoder().decode(peer.getPacket())).toBe('one');
      expect(peer.wasStringPacket()).toBe(true);
      expect(peer.getAvailablePacketCount()).toBe(1);

      expect(peer.connectToUrl(srv.url)).toBe(ErrorCode.OK);
      expect(peer.getAvailablePacketCount()).toBe(0);
      expect(peer.getPacket().byteLength).toBe(0);
      expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
      await waitClosed(peer, 'second server close');
      expect(peer.getAvailablePacketCount()).toBe(2);
    } finally {
      await srv.close();
    }
  });
});

describe('connection failures', () => {
  it('connection refused: CLOSED, -1, ECONNREFUSED', async () => {
    const port = await deadPort();
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(`ws://127.0.0.1:${port}/`)).toBe(ErrorCode.OK);
    await waitClosed(peer, 'refusal');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('ECONNREFUSED');
  });

  it('HTTP 404 on the upgrade: CLOSED, -1, HTTP_404', async () => {
    const srv = await startWsServer({ verifyClient: (_info, cb) => cb(false, 404, 'Not Found') });
    try {
      const peer = new WebSocketPeer({ pool });
      expect(peer.connectToUrl(`${srv.url}/missing`)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'the 404');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe('HTTP_404');
      expect(peer.getFailureReason().startsWith('HTTP_')).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('a server that accepts TCP and never answers: CLOSED, -1, HANDSHAKE_TIMEOUT (handshakeTimeout 300 ms)', async () => {
    const srv = await rawServer(() => {});
    const slow = new PeerPool({ threads: 1, handshakeTimeout: 300 });
    try {
      const peer = new WebSocketPeer({ pool: slow });
      const t0 = Date.now();
      expect(peer.connectToUrl(`ws://127.0.0.1:${srv.port}/`)).toBe(ErrorCode.OK);
      await waitClosed(peer, 'the handshake timeout', 5000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
    } finally {
      await slow.close();
      await srv.close();
    }
  });
});
