/**
 * The upgrade in the user's hands (`WebSocketPeer.handshakeApproval`, issue 14 item 5), over real sockets
 * on 127.0.0.1: the worker validates the request, the main thread sees it on `poll()` (path, headers in
 * arrival order, address) and accepts it (a `ws` client, a ringsocket client and a raw client get
 * through and echo) or refuses it (the exact HTTP response a raw client reads, `unexpected-response` for
 * `ws`); a request nobody answers gets 503 at the pool's handshake deadline; a late answer does
 * nothing; close() while pending drops it; bad arguments send nothing; bad requests never reach the
 * user; and without the opt-in nothing is shown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { RawClient, acceptFor, closeCodeOf, frame, openWs, roundTrip, upgradeRequest, waitFor, within, wsKey } from '../helpers/server.js';

/** A Godot server loop over one pool: approval on for new peers unless `approval` is turned off. */
class Server {
  readonly pool: PeerPool;
  readonly tcp: TCPServer;
  readonly port: number;
  readonly peers: WebSocketPeer[] = [];
  /** Every peer that ever showed a pending handshake. */
  readonly everPending = new Set<WebSocketPeer>();
  approval = true;
  /**
   * The loop runs (false: the test drives it; nothing of the pool is drained meanwhile, since
   * `isConnectionAvailable()` drains the rings as `poll()` does).
   */
  polling = true;
  readonly #loop: NodeJS.Timeout;

  constructor(pool: PeerPool) {
    this.pool = pool;
    this.tcp = new TCPServer({ pool });
    expect(this.tcp.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    this.port = this.tcp.getLocalPort();
    this.#loop = setInterval(() => {
      if (this.polling) this.step();
    }, 2);
  }

  step(): void {
    while (this.tcp.isConnectionAvailable()) {
      const peer = new WebSocketPeer({ pool: this.pool });
      peer.handshakeApproval = this.approval;
      peer.supportedProtocols = ['chat'];
      expect(peer.acceptStream(this.tcp.takeConnection()!)).toBe(ErrorCode.OK);
      this.peers.push(peer);
    }
    for (const peer of this.peers) {
      peer.poll();
      if (peer.hasPendingHandshake()) this.everPending.add(peer);
      while (peer.getReadyState() === State.OPEN && peer.getAvailablePacketCount() > 0) {
        const bytes = peer.getPacket();
        peer.send(bytes, peer.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY);
      }
    }
  }

  /** The peer whose request carries `X-Test-Id: id`, once its request is pending. */
  async pending(id: string): Promise<WebSocketPeer> {
    let found: WebSocketPeer | undefined;
    await waitFor(() => {
      if (!this.polling) this.step();
      found = this.peers.find((p) => p.getRequestHeaders().some(([n, v]) => n.toLowerCase() === 'x-test-id' && v === id));
      return found !== undefined;
    }, `the request of ${id} on the main thread`);
    return found!;
  }

  async stop(): Promise<void> {
    clearInterval(this.#loop);
    this.tcp.stop();
    await this.pool.close();
  }
}

/** Send `request` (and `after`, in the same write) from a raw client. */
async function rawRequest(port: number, request: string, after?: Buffer): Promise<RawClient> {
  const c = new RawClient(port);
  await c.connectedAt;
  c.write(after === undefined ? Buffer.from(request, 'latin1') : Buffer.concat([Buffer.from(request, 'latin1'), after]));
  return c;
}

/** Handshakes pending in the pool's workers (streams and requests not answered). */
const stats = async (pool: PeerPool) => (await pool.stats()).reduce((n, w) => n + w.handshakesPending, 0);

async function untilPending(pool: PeerPool, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await stats(pool)) !== n) {
    if (Date.now() > deadline) throw new Error(`handshakesPending stayed at ${await stats(pool)}, expected ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let srv: Server;
beforeAll(() => {
  srv = new Server(new PeerPool({ threads: 1 }));
});
afterAll(async () => {
  await srv.stop();
});

describe('accepted', () => {
  it('a ws client: the request is shown (CONNECTING), accepted, echoes; path and headers stay readable after OPEN', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/chat/room?id=7&x=%20y`, ['chat'], {
      headers: { Origin: 'https://good.example', 'X-Test-Id': 'ws-accept', Cookie: 'a=1; b=2' },
    });
    ws.on('error', () => undefined);
    let opened = false;
    ws.once('open', () => (opened = true));
    const peer = await srv.pending('ws-accept');
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    expect(peer.hasPendingHandshake()).toBe(true);
    expect(peer.getRequestPath()).toBe('/chat/room?id=7&x=%20y');
    const headers = peer.getRequestHeaders();
    expect(headers).toContainEqual(['Origin', 'https://good.example']);
    expect(headers).toContainEqual(['Cookie', 'a=1; b=2']);
    expect(headers).toContainEqual(['X-Test-Id', 'ws-accept']);
    expect(headers.find(([n]) => n.toLowerCase() === 'sec-websocket-protocol')?.[1]).toBe('chat');
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    const sock = (ws as unknown as { _req: { socket: { localPort: number } } })._req.socket;
    expect(peer.getConnectedPort()).toBe(sock.localPort);
    expect(peer.getRequestedUrl()).toBe(`ws://127.0.0.1:${srv.port}/chat/room?id=7&x=%20y`);
    // Nothing is answered while the user has not decided.
    await new Promise((r) => setTimeout(r, 50));
    expect(opened).toBe(false);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    expect(await stats(srv.pool)).toBe(1); // still a pending handshake in the worker

    expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
    expect(peer.hasPendingHandshake()).toBe(false);
    expect(peer.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE); // answered already
    await within(new Promise<void>((resolve) => (opened ? resolve() : ws.once('open', () => resolve()))), 5000, 'the ws client to open');
    expect(ws.protocol).toBe('chat');
    await waitFor(() => peer.getReadyState() === State.OPEN, 'the server peer OPEN');
    expect(peer.getSelectedProtocol()).toBe('chat');
    expect(await stats(srv.pool)).toBe(0);
    const echo = await roundTrip(ws, 'hello', false);
    expect(echo.data.toString()).toBe('hello');
    expect(echo.isBinary).toBe(false);
    const bin = await roundTrip(ws, Buffer.from([1, 2, 3]), true);
    expect([...bin.data]).toEqual([1, 2, 3]);
    // Still readable once OPEN.
    expect(peer.getRequestPath()).toBe('/chat/room?id=7&x=%20y');
    expect(peer.getRequestHeaders()).toEqual(headers);
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    // The copy is the caller's.
    peer.getRequestHeaders()[0]![1] = 'changed';
    expect(peer.getRequestHeaders()).toEqual(headers);
    ws.close(1000);
    await waitFor(() => peer.getReadyState() === State.CLOSED, 'the server peer CLOSED');
    expect(peer.getCloseCode()).toBe(1000);
    expect(peer.getRequestPath()).toBe('/chat/room?id=7&x=%20y');
  });

  it('a ringsocket client gets through and echoes', async () => {
    const client = new WebSocketPeer({ pool: srv.pool });
    client.handshakeHeaders = ['X-Test-Id: rs-accept', 'Origin: https://good.example'];
    expect(client.connectToUrl(`ws://127.0.0.1:${srv.port}/rs`)).toBe(ErrorCode.OK);
    const peer = await srv.pending('rs-accept');
    expect(peer.getRequestPath()).toBe('/rs');
    expect(peer.getRequestHeaders()).toContainEqual(['Origin', 'https://good.example']);
    client.poll();
    expect(client.getReadyState()).toBe(State.CONNECTING);
    expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
    await waitFor(() => (client.poll(), client.getReadyState() === State.OPEN), 'the ringsocket client OPEN');
    expect(client.sendText('ping')).toBe(ErrorCode.OK);
    await waitFor(() => (client.poll(), client.getAvailablePacketCount() > 0), 'the echo');
    expect(new TextDecoder().decode(client.getPacket())).toBe('ping');
    expect(client.wasStringPacket()).toBe(true);
    client.close();
    await waitFor(() => (client.poll(), client.getReadyState() === State.CLOSED), 'the client CLOSED');
    expect(client.getCloseCode()).toBe(1000);
  });

  it('a raw client: headers in arrival order, names as sent, duplicates kept; a frame sent right behind the request is echoed after the 101', async () => {
    const key = wsKey();
    const request =
      'GET /raw/path?q=1&q=2 HTTP/1.1\r\n' +
      'host: 127.0.0.1\r\n' +
      'X-Test-Id: raw-order\r\n' +
      'UPGRADE: websocket\r\n' +
      'x-dup: first\r\n' +
      'Connection: Upgrade\r\n' +
      'X-Dup:   second  \r\n' +
      `Sec-WebSocket-Key: ${key}\r\n` +
      'Sec-WebSocket-Version: 13\r\n' +
      'Cookie: session=abc\r\n' +
      'Cookie: theme=dark\r\n' +
      'X-Empty:\r\n' +
      'X-Tab:\tvalue \t\r\n' +
      'X-Latin1: caf\u00e9\u00a0\r\n' + // the bytes 0xE9 0xA0: a byte per character; 0xA0 (NBSP) is not OWS
      '\r\n';
    const c = await rawRequest(srv.port, request, frame(0x1, 'early'));
    const peer = await srv.pending('raw-order');
    expect(peer.getRequestPath()).toBe('/raw/path?q=1&q=2');
    const expected: [string, string][] = [
      ['host', '127.0.0.1'],
      ['X-Test-Id', 'raw-order'],
      ['UPGRADE', 'websocket'],
      ['x-dup', 'first'],
      ['Connection', 'Upgrade'],
      ['X-Dup', 'second'],
      ['Sec-WebSocket-Key', key],
      ['Sec-WebSocket-Version', '13'],
      ['Cookie', 'session=abc'],
      ['Cookie', 'theme=dark'],
      ['X-Empty', ''],
      ['X-Tab', 'value'],
      ['X-Latin1', 'caf\u00e9\u00a0'],
    ];
    expect(peer.getRequestHeaders()).toEqual(expected);
    expect(peer.getConnectedPort()).toBe(c.localPort);
    await new Promise((r) => setTimeout(r, 30));
    expect(c.data.length).toBe(0); // no answer yet
    expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
    const res = await c.response();
    expect(res.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
    await waitFor(() => c.frames().length >= 1, 'the echo of the early frame');
    expect(c.frames()[0]!.payload.toString()).toBe('early');
    await waitFor(() => peer.getReadyState() === State.OPEN, 'OPEN');
    expect(peer.getRequestHeaders()).toEqual(expected);
    c.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    await waitFor(() => c.frames().some((f) => f.opcode === 0x8), 'the close frame back');
    expect(closeCodeOf(c.frames().find((f) => f.opcode === 0x8)!)).toBe(1000);
    c.destroy();
  });

  it('a large request (headers near the 8 KiB bound) crosses a 4 KiB inbound ring in fragments', async () => {
    const small = new Server(new PeerPool({ threads: 1, inboundRingSize: 4096 }));
    try {
      const big: string[] = [];
      for (let i = 0; i < 60; i++) big.push(`X-Big-${i}: ${String(i).padStart(3, '0')}${'v'.repeat(100)}\u00e9`);
      const req = upgradeRequest({ extra: ['X-Test-Id: big', ...big] });
      expect(req.length).toBeGreaterThan(6500);
      expect(req.length).toBeLessThan(8192);
      const c = await rawRequest(small.port, req);
      const peer = await small.pending('big');
      const h = peer.getRequestHeaders();
      expect(h.filter(([n]) => n.startsWith('X-Big-'))).toEqual(big.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
      expect((await c.response()).status).toBe(101);
      c.destroy();
    } finally {
      await small.stop();
    }
  });
});

describe('refused', () => {
  it('a raw client reads the exact status line, headers and body, then the close; the peer is CLOSED at once with HANDSHAKE_REJECTED', async () => {
    const c = await rawRequest(srv.port, upgradeRequest({ extra: ['X-Test-Id: raw-refuse', 'Origin: https://evil.example'] }));
    const peer = await srv.pending('raw-refuse');
    expect(peer.rejectHandshake(403, 'origin not allowed')).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HANDSHAKE_REJECTED');
    expect(peer.hasPendingHandshake()).toBe(false);
    expect(peer.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
    await within(c.closedP, 5000, 'the server to close after its refusal');
    expect(c.data.toString('latin1')).toBe(
      'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 18\r\n\r\norigin not allowed',
    );
    // What was read stays readable; later polls change nothing.
    peer.poll();
    expect(peer.getFailureReason()).toBe('HANDSHAKE_REJECTED');
    expect(peer.getRequestHeaders()).toContainEqual(['Origin', 'https://evil.example']);
    await untilPending(srv.pool, 0);
  });

  for (const [args, head, body] of [
    [[], 'HTTP/1.1 403 Forbidden', ''],
    [[429, 'slow down'], 'HTTP/1.1 429 Too Many Requests', 'slow down'],
    [[599, 'é ✓'], 'HTTP/1.1 599 Server Error', 'é ✓'],
    [[499, 'line1\r\nline2'], 'HTTP/1.1 499 Client Error', 'line1\r\nline2'],
  ] as [[number?, string?], string, string][]) {
    it(`rejectHandshake(${args.map((a) => JSON.stringify(a)).join(', ')}) → ${head}`, async () => {
      const id = `status-${args[0] ?? 'default'}`;
      const c = await rawRequest(srv.port, upgradeRequest({ extra: [`X-Test-Id: ${id}`] }));
      const peer = await srv.pending(id);
      expect(peer.rejectHandshake(...args)).toBe(ErrorCode.OK);
      await within(c.closedP, 5000, 'the close');
      const bytes = Buffer.from(body, 'utf8');
      expect(c.data.toString('latin1')).toBe(
        `${head}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes.length}\r\n\r\n${bytes.toString('latin1')}`,
      );
    });
  }

  it('a ws client sees unexpected-response with the status', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`, { headers: { 'X-Test-Id': 'ws-refuse' } });
    const res = new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.once('open', () => reject(new Error('opened')));
      ws.once('unexpected-response', (_req, r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      ws.once('error', () => undefined);
    });
    const peer = await srv.pending('ws-refuse');
    expect(peer.rejectHandshake(401, 'token required')).toBe(ErrorCode.OK);
    expect(await within(res, 5000, 'unexpected-response')).toEqual({ status: 401, body: 'token required' });
    ws.terminate();
  });

  it('a ringsocket client sees CLOSED with HTTP_403', async () => {
    const client = new WebSocketPeer({ pool: srv.pool });
    client.handshakeHeaders = ['X-Test-Id: rs-refuse'];
    client.connectToUrl(`ws://127.0.0.1:${srv.port}/`);
    const peer = await srv.pending('rs-refuse');
    expect(peer.rejectHandshake()).toBe(ErrorCode.OK);
    await waitFor(() => (client.poll(), client.getReadyState() === State.CLOSED), 'the client CLOSED');
    expect(client.getCloseCode()).toBe(-1);
    expect(client.getFailureReason()).toBe('HTTP_403');
  });
});

describe('timed out and answered late', () => {
  const TIMEOUT = 400;
  let slow: Server;
  beforeAll(() => {
    slow = new Server(new PeerPool({ threads: 1, handshakeTimeout: TIMEOUT }));
  });
  afterAll(async () => {
    await slow.stop();
  });

  it('nobody answers: the client gets 503 at the handshake deadline, then the close; the peer ends HANDSHAKE_TIMEOUT', async () => {
    const c = await rawRequest(slow.port, upgradeRequest({ extra: ['X-Test-Id: timeout'] }));
    const t0 = await c.connectedAt;
    const peer = await slow.pending('timeout');
    expect(peer.hasPendingHandshake()).toBe(true);
    await within(c.closedP, TIMEOUT + 3000, 'the server to close at the deadline');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT - 20);
    const body = 'the server did not answer the upgrade request in time';
    expect(c.data.toString('latin1')).toBe(
      `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await waitFor(() => peer.getReadyState() === State.CLOSED, 'the peer CLOSED');
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
    expect(peer.hasPendingHandshake()).toBe(false);
    expect(peer.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
    expect(await stats(slow.pool)).toBe(0);
  });

  it('an answer after the deadline does nothing (no crash, no 101); the worker serves the next client', async () => {
    slow.polling = false; // the test polls: nothing drains the worker's EV_CLOSED before the late answer
    try {
      const c = await rawRequest(slow.port, upgradeRequest({ extra: ['X-Test-Id: late'] }));
      const peer = await slow.pending('late');
      expect(peer.hasPendingHandshake()).toBe(true);
      await within(c.closedP, TIMEOUT + 3000, 'the 503 and the close');
      expect(c.data.toString('latin1')).toMatch(/^HTTP\/1\.1 503 /);
      // The peer has not polled since: the request still looks pending, and the answer goes to the worker.
      expect(peer.hasPendingHandshake()).toBe(true);
      expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
      await waitFor(() => (peer.poll(), peer.getReadyState() === State.CLOSED), 'the peer CLOSED');
      expect(peer.getFailureReason()).toBe('HANDSHAKE_TIMEOUT');
      expect(peer.rejectHandshake(403)).toBe(ErrorCode.ERR_UNAVAILABLE);
    } finally {
      slow.polling = true;
    }
    // The worker is alive and well.
    const ws = new WebSocket(`ws://127.0.0.1:${slow.port}/`, { headers: { 'X-Test-Id': 'after-late' } });
    ws.on('error', () => undefined);
    const peer2 = await slow.pending('after-late');
    expect(peer2.acceptHandshake()).toBe(ErrorCode.OK);
    await within(new Promise((r) => ws.once('open', r)), 3000, 'the next client to open');
    expect((await roundTrip(ws, 'ok', false)).data.toString()).toBe('ok');
    ws.close();
  });

  it('an answer in the same tick as the deadline: rejected late, the peer still shows CLOSED once', async () => {
    slow.polling = false;
    try {
      const c = await rawRequest(slow.port, upgradeRequest({ extra: ['X-Test-Id: late-reject'] }));
      const peer = await slow.pending('late-reject');
      await within(c.closedP, TIMEOUT + 3000, 'the 503 and the close');
      expect(peer.rejectHandshake(403, 'late')).toBe(ErrorCode.OK); // the user's own action: CLOSED at once
      expect(peer.getFailureReason()).toBe('HANDSHAKE_REJECTED');
      expect(c.data.toString('latin1')).toMatch(/^HTTP\/1\.1 503 /); // but the client got the 503, not the 403
      peer.poll();
      expect(peer.getReadyState()).toBe(State.CLOSED);
      expect(peer.getFailureReason()).toBe('HANDSHAKE_REJECTED');
      await untilPending(slow.pool, 0);
    } finally {
      slow.polling = true;
    }
  });
});

describe('close() while pending, and bad arguments', () => {
  it('close() drops the pending request: no HTTP answer, the socket closed; CLOSED_WHILE_CONNECTING', async () => {
    const c = await rawRequest(srv.port, upgradeRequest({ extra: ['X-Test-Id: close-pending'] }));
    const peer = await srv.pending('close-pending');
    expect(peer.close()).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('CLOSED_WHILE_CONNECTING');
    expect(peer.hasPendingHandshake()).toBe(false);
    expect(peer.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
    expect(peer.rejectHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
    await within(c.closedP, 3000, 'the socket closed');
    expect(c.data.length).toBe(0);
    await untilPending(srv.pool, 0);
  });

  it('bad arguments return ERR_INVALID_PARAMETER and send nothing; the request stays pending and can still be accepted', async () => {
    const c = await rawRequest(srv.port, upgradeRequest({ extra: ['X-Test-Id: bad-args'] }));
    const peer = await srv.pending('bad-args');
    const bad: unknown[][] = [[399], [600], [200], [101], [403.5], [Number.NaN], ['403'], [null], [403, 5], [403, null], [403, 'x'.repeat(1025)], [403, '\u00e9'.repeat(513)]];
    for (const args of bad) expect(peer.rejectHandshake(...(args as [number, string])), JSON.stringify(args)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.hasPendingHandshake()).toBe(true);
    expect(peer.getReadyState()).toBe(State.CONNECTING);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.data.length).toBe(0);
    expect(c.closed).toBe(false);
    expect(peer.acceptHandshake()).toBe(ErrorCode.OK);
    expect((await c.response()).status).toBe(101);
    c.destroy();
  });

  it('a reason of exactly 1,024 UTF-8 bytes is accepted', async () => {
    const c = await rawRequest(srv.port, upgradeRequest({ extra: ['X-Test-Id: max-reason'] }));
    const peer = await srv.pending('max-reason');
    expect(peer.rejectHandshake(400, '\u00e9'.repeat(512))).toBe(ErrorCode.OK);
    await within(c.closedP, 3000, 'the close');
    expect(c.data.toString('latin1')).toContain('Content-Length: 1024\r\n\r\n');
    expect(c.data.subarray(c.headEnd()).toString('utf8')).toBe('\u00e9'.repeat(512));
  });

  it('the property is a boolean; accept/reject without a pending request: ERR_UNAVAILABLE', () => {
    const p = new WebSocketPeer({ pool: srv.pool });
    expect(p.handshakeApproval).toBe(false);
    expect(() => (p.handshakeApproval = 'yes' as unknown as boolean)).toThrow(TypeError);
    expect(() => (p.handshakeApproval = 1 as unknown as boolean)).toThrow(TypeError);
    p.handshakeApproval = true;
    expect(p.handshakeApproval).toBe(true);
    expect(p.hasPendingHandshake()).toBe(false);
    expect(p.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
    expect(p.rejectHandshake(403)).toBe(ErrorCode.ERR_UNAVAILABLE);
    expect(p.getRequestPath()).toBe('');
    expect(p.getRequestHeaders()).toEqual([]);
  });
});

describe('bad requests never reach the user', () => {
  for (const [name, request, status] of [
    ['missing key', upgradeRequest({ over: { 'Sec-WebSocket-Key': null }, extra: ['X-Test-Id: bad-1'] }), 'HTTP/1.1 400 Bad Request'],
    ['a malformed header line', upgradeRequest({ extra: ['X-Test-Id: bad-2', 'no colon here'] }), 'HTTP/1.1 400 Bad Request'],
    ['POST', upgradeRequest({ requestLine: 'POST /x HTTP/1.1', extra: ['X-Test-Id: bad-3'] }), 'HTTP/1.1 405 Method Not Allowed'],
    ['version 8', upgradeRequest({ over: { 'Sec-WebSocket-Version': '8' }, extra: ['X-Test-Id: bad-4'] }), 'HTTP/1.1 426 Upgrade Required'],
  ] as [string, string, string][]) {
    it(`${name}: the worker answers ${status}; no pending handshake is ever shown`, async () => {
      const before = srv.peers.length;
      const c = await rawRequest(srv.port, request);
      const res = await c.response();
      expect(res.statusLine).toBe(status);
      await within(c.closedP, 3000, 'the close');
      await waitFor(() => srv.peers.length === before + 1 && srv.peers[before]!.getReadyState() === State.CLOSED, 'the peer CLOSED');
      const peer = srv.peers[before]!;
      expect(srv.everPending.has(peer)).toBe(false);
      expect(peer.getFailureReason()).toMatch(/^HTTP_4\d\d_/);
      expect(peer.getRequestHeaders()).toEqual([]);
    });
  }
});

describe('without the opt-in', () => {
  it('no request is shown, the 101 comes at once, path and headers stay empty', async () => {
    srv.approval = false;
    try {
      const before = srv.peers.length;
      const { ws, res } = await within(openWs(`ws://127.0.0.1:${srv.port}/plain?a=1`, undefined, { headers: { 'X-Test-Id': 'plain' } }), 5000, 'open');
      expect(res.statusCode).toBe(101);
      await waitFor(() => srv.peers.slice(before).some((p) => p.getReadyState() === State.OPEN), 'the server peer OPEN');
      const peer = srv.peers.slice(before).find((p) => p.getReadyState() === State.OPEN)!;
      expect(srv.everPending.has(peer)).toBe(false);
      expect(peer.handshakeApproval).toBe(false);
      expect(peer.getRequestPath()).toBe('');
      expect(peer.getRequestHeaders()).toEqual([]);
      expect(peer.getRequestedUrl()).toBe(`ws://127.0.0.1:${srv.port}/plain?a=1`);
      expect(peer.acceptHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
      expect(peer.rejectHandshake()).toBe(ErrorCode.ERR_UNAVAILABLE);
      expect(peer.getReadyState()).toBe(State.OPEN);
      expect((await roundTrip(ws, 'x', false)).data.toString()).toBe('x');
      ws.close();
    } finally {
      srv.approval = true;
    }
  });
});
