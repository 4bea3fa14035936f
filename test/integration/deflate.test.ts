/**
 * permessage-deflate (RFC 7692, issue 16) wired into the workers' connections, over real sockets:
 * a `ws` client with compression against a ringsocket server, a ringsocket client against a `ws` server
 * with compression, and raw TCP for what a well-behaved peer never sends (RSV1 without negotiation or on
 * a control frame, a stream that does not inflate, one that inflates past inboundBufferSize).
 */
import http from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { startEchoServer as startRsEcho, type EchoServer } from '../../dist/examples/echo-server.js';
import { acceptFor, closeCodeOf, frame, openWs, parseFrames, RawClient, roundTrip, upgradeRequest, waitFor, wsKey, type Frame } from '../helpers/server.js';
import { openPeer, pollUntil, startEchoServer as startWsEcho } from '../helpers/net.js';

const MiB = 1 << 20;
const SIZES = [0, 1, 125, 126, 1023, 1024, 65535, 65536, MiB];

let pool: PeerPool;
/** ringsocket echo servers: deflate with defaults; no context takeover; deflate off. */
let rs: EchoServer;
let rsNoCtx: EchoServer;
let rsOff: EchoServer;

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
  const big = { inboundBufferSize: 2 * MiB, outboundBufferSize: 4 * MiB, tickMs: 1, pool, port: 0, host: '127.0.0.1' };
  rs = startRsEcho({ ...big, perMessageDeflate: true });
  rsNoCtx = startRsEcho({ ...big, perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
  rsOff = startRsEcho({ ...big });
});

afterAll(async () => {
  await rs.stop();
  await rsNoCtx.stop();
  await rsOff.stop();
  await pool.close();
});

/** Compressible but not trivial content of `n` bytes (text: valid UTF-8 with multi-byte characters). */
function content(n: number, text: boolean): Buffer {
  if (text) {
    // Whole units, then ASCII up to n: never a character cut in two.
    const unit = Buffer.from('héllo wörld € 😀 abc 0123456789 ');
    const out = Buffer.alloc(n, 0x78);
    for (let i = 0; i + unit.length <= n; i += unit.length) unit.copy(out, i);
    return out;
  }
  const unit = Buffer.from(Array.from({ length: 97 }, (_, i) => (i * 31) & 0xff));
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(out, i, 0, Math.min(unit.length, n - i));
  return out;
}

/** A compressed payload as sent (tail removed), inflated. */
function inflatePayload(p: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([p, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** One compressed message payload as a peer with no context takeover sends it (tail removed). */
function deflatePayload(data: Buffer): Buffer {
  const z = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
}

/** A raw client that completed an upgrade offering `extensions` (undefined: none); the 101's headers. */
async function rawUpgrade(port: number, extensions?: string): Promise<{ c: RawClient; ext: string | undefined }> {
  const c = new RawClient(port);
  const key = wsKey();
  await c.connectedAt;
  c.write(upgradeRequest({ key, extra: extensions === undefined ? [] : [`Sec-WebSocket-Extensions: ${extensions}`] }));
  const res = await c.response();
  expect(res.status).toBe(101);
  expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
  return { c, ext: res.headers.get('sec-websocket-extensions') };
}

/** The frames after the 101, with their first byte (RSV bits). */
function rawFrames(c: RawClient): Frame[] {
  return parseFrames(c.data.subarray(c.headEnd()));
}

async function closeFrameOf(c: RawClient): Promise<number> {
  await waitFor(() => rawFrames(c).some((f) => f.opcode === 8), 'a close frame');
  return closeCodeOf(rawFrames(c).find((f) => f.opcode === 8)!);
}

describe('ws client with permessage-deflate -> ringsocket server', () => {
  for (const opts of [{ name: 'context takeover', noCtx: false }, { name: 'no context takeover both ways', noCtx: true }]) {
    it(`${opts.name}: text and binary 0 B - 1 MiB come back byte-exact, compressed both ways`, async () => {
      const server = opts.noCtx ? rsNoCtx : rs;
      const { ws, res } = await openWs(server.url, ['chat'], { perMessageDeflate: { threshold: 0 }, maxPayload: 4 * MiB });
      const ext = res.headers['sec-websocket-extensions'] as string;
      expect(ext).toMatch(/^permessage-deflate/);
      if (opts.noCtx) {
        expect(ext).toContain('server_no_context_takeover');
        expect(ext).toContain('client_no_context_takeover');
      } else expect(ext).not.toContain('no_context_takeover');
      // The server peer shows OPEN on a later poll than the client's 'open'.
      await waitFor(() => server.peerList().some((p) => p.getSelectedExtensions() === ext), 'the server peer to show the extension');
      const sock = (ws as unknown as { _socket: Socket })._socket;
      for (const text of [false, true]) {
        for (const n of SIZES) {
          const data = content(n, text);
          const before = sock.bytesRead;
          const sentBefore = sock.bytesWritten;
          const back = await roundTrip(ws, text ? data.toString() : data, !text);
          expect(back.isBinary).toBe(!text);
          expect(back.data.equals(data)).toBe(true);
          if (n >= 65536) {
            // Compressed on the wire both ways: far fewer bytes than the payload.
            expect(sock.bytesRead - before).toBeLessThan(n / 4);
            expect(sock.bytesWritten - sentBefore).toBeLessThan(n / 4);
          }
        }
      }
      ws.close();
    });
  }

  it('a client that offers nothing gets no extension and plain frames', async () => {
    const { ws, res } = await openWs(rs.url, ['chat'], { perMessageDeflate: false });
    expect(res.headers['sec-websocket-extensions']).toBeUndefined();
    const data = content(4096, false);
    expect((await roundTrip(ws, data, true)).data.equals(data)).toBe(true);
    ws.close();
  });

  it('a server with perMessageDeflate false declines the offer', async () => {
    const { ws, res } = await openWs(rsOff.url, ['chat'], { perMessageDeflate: { threshold: 0 } });
    expect(res.headers['sec-websocket-extensions']).toBeUndefined();
    const data = content(4096, true);
    expect((await roundTrip(ws, data.toString(), false)).data.equals(data)).toBe(true);
    ws.close();
  });
});

describe('raw frames against a ringsocket server with deflate', () => {
  it('RSV1 is set on the server compressed echo, and the payload is smaller and inflates to the message', async () => {
    const { c, ext } = await rawUpgrade(rs.port, 'permessage-deflate; client_max_window_bits');
    expect(ext).toBe('permessage-deflate');
    const data = content(100_000, true);
    c.write(frame(1, deflatePayload(data), { rsv: 4 }));
    // A short one: under the 1024 threshold, sent back plain.
    c.write(frame(2, deflatePayload(Buffer.from('tiny')), { rsv: 4 }));
    await waitFor(() => rawFrames(c).length >= 2, 'two echoes');
    const [big, tiny] = rawFrames(c);
    expect(big!.b0 & 0x40).toBe(0x40);
    expect(big!.opcode).toBe(1);
    expect(big!.payload.length).toBeLessThan(data.length / 4);
    const inflated = inflatePayload(big!.payload);
    expect(inflated.equals(data)).toBe(true);
    expect(tiny!.b0 & 0x40).toBe(0);
    expect(tiny!.payload.toString()).toBe('tiny');
    c.destroy();
  });

  it('a compressed message sent in fragments (RSV1 on the first only) is inflated whole', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    const data = content(50_000, false);
    const z = deflatePayload(data);
    const third = Math.floor(z.length / 3);
    c.write(frame(2, z.subarray(0, third), { rsv: 4, fin: false }));
    c.write(frame(9, 'ping in between'));
    c.write(frame(0, z.subarray(third, 2 * third), { fin: false }));
    c.write(frame(0, z.subarray(2 * third)));
    await waitFor(() => rawFrames(c).some((f) => f.opcode === 2), 'the echo');
    const echo = rawFrames(c).find((f) => f.opcode === 2)!;
    expect(inflatePayload(echo.payload).equals(data)).toBe(true);
    c.destroy();
  });

  it('a message that inflates past inboundBufferSize fails with 1009 (zip bomb)', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    const bomb = deflatePayload(Buffer.alloc(64 * MiB)); // ~64 KiB on the wire, 64 MiB inflated; limit 2 MiB
    expect(bomb.length).toBeLessThan(2 * MiB);
    c.write(frame(2, bomb, { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1009);
    await c.closedP;
  });

  it('RSV1 without negotiation fails with 1002', async () => {
    const { c, ext } = await rawUpgrade(rs.port);
    expect(ext).toBeUndefined();
    c.write(frame(2, deflatePayload(content(2000, false)), { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1002);
    await c.closedP;
  });

  it('RSV1 on a control frame fails with 1002', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    c.write(frame(9, 'x', { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1002);
    await c.closedP;
  });

  it('RSV1 on a continuation frame fails with 1002', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    const z = deflatePayload(content(3000, false));
    c.write(frame(2, z.subarray(0, 10), { rsv: 4, fin: false }));
    c.write(frame(0, z.subarray(10), { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1002);
    await c.closedP;
  });

  it('a compressed stream zlib rejects fails with 1007', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    c.write(frame(2, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x12, 0x34]), { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1007);
    await c.closedP;
  });

  it('a compressed message cut short fails with 1007 where the client keeps no context (cut by 1 byte, by 7, to half)', async () => {
    const whole = deflatePayload(content(3000, false));
    for (const cut of [1, 7, whole.length >> 1]) {
      const { c, ext } = await rawUpgrade(rsNoCtx.port, 'permessage-deflate');
      expect(ext).toContain('client_no_context_takeover');
      c.write(frame(2, whole, { rsv: 4 })); // the whole one is echoed
      await waitFor(() => rawFrames(c).length === 1, 'the echo');
      c.write(frame(2, whole.subarray(0, whole.length - cut), { rsv: 4 }));
      expect(await closeFrameOf(c)).toBe(1007);
      expect(rawFrames(c).filter((f) => f.opcode === 2)).toHaveLength(1); // the cut one was not delivered
      await c.closedP;
    }
  });

  it('compressed text that inflates to invalid UTF-8 fails with 1007', async () => {
    const { c } = await rawUpgrade(rs.port, 'permessage-deflate');
    c.write(frame(1, deflatePayload(Buffer.from([0x61, 0xc3, 0x28, 0x62])), { rsv: 4 }));
    expect(await closeFrameOf(c)).toBe(1007);
    await c.closedP;
  });

  it('a malformed Sec-WebSocket-Extensions header is refused with 400', async () => {
    const c = new RawClient(rs.port);
    await c.connectedAt;
    c.write(upgradeRequest({ extra: ['Sec-WebSocket-Extensions: permessage-deflate; =bad'] }));
    expect((await c.response()).status).toBe(400);
    c.destroy();
  });
});

describe('ringsocket client with perMessageDeflate -> ws server', () => {
  let server: Awaited<ReturnType<typeof startWsEcho>>;
  let serverNoCtx: Awaited<ReturnType<typeof startWsEcho>>;
  beforeAll(async () => {
    server = await startWsEcho({ perMessageDeflate: { threshold: 0 }, maxPayload: 4 * MiB });
    serverNoCtx = await startWsEcho({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }, maxPayload: 4 * MiB });
  });
  afterAll(async () => {
    await server.close();
    await serverNoCtx.close();
  });

  /** A ringsocket client with compression on, OPEN to `s`, and the ws server's socket of it (for byte counts). */
  async function compressedPeer(s: typeof server, inbound: number): Promise<{ peer: WebSocketPeer; sock: Socket }> {
    let serverSock: Socket | null = null;
    s.wss.once('connection', (ws: WebSocket) => {
      serverSock = (ws as unknown as { _socket: Socket })._socket;
    });
    const peer = new WebSocketPeer({ pool });
    peer.inboundBufferSize = inbound;
    peer.outboundBufferSize = 4 * MiB;
    peer.perMessageDeflate = true;
    await openPeer(peer, s.url);
    await waitFor(() => serverSock !== null, 'the server socket');
    return { peer, sock: serverSock! as Socket };
  }

  for (const opts of [{ name: 'context takeover', noCtx: false }, { name: 'no context takeover both ways', noCtx: true }]) {
    it(`${opts.name}: text and binary 0 B - 1 MiB come back byte-exact, compressed both ways`, async () => {
      const { peer, sock } = await compressedPeer(opts.noCtx ? serverNoCtx : server, 2 * MiB);
      expect(peer.getSelectedExtensions()).toMatch(/^permessage-deflate/);
      if (opts.noCtx) expect(peer.getSelectedExtensions()).toContain('client_no_context_takeover');
      for (const text of [false, true]) {
        for (const n of SIZES) {
          const data = content(n, text);
          const read0 = sock.bytesRead;
          const written0 = sock.bytesWritten;
          expect(peer.send(data, text ? WriteMode.TEXT : WriteMode.BINARY)).toBe(ErrorCode.OK);
          await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, `echo of ${n}`);
          const back = peer.getPacket();
          expect(peer.wasStringPacket()).toBe(text);
          expect(Buffer.from(back).equals(data)).toBe(true);
          if (n >= 65536) {
            expect(sock.bytesRead - read0).toBeLessThan(n / 4);
            expect(sock.bytesWritten - written0).toBeLessThan(n / 4);
          }
        }
      }
      peer.close(1000, '');
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
    });
  }

  it('a message larger than a ring record (sent in several records) is gathered, compressed whole and comes back byte-exact', async () => {
    const { peer, sock } = await compressedPeer(server, 4 * MiB);
    for (const text of [false, true]) {
      // The default outbound ring's records hold at most 1 MiB: 3 MiB goes as FIRST..LAST fragments.
      const data = content(3 * MiB + 7, text);
      const read0 = sock.bytesRead;
      expect(peer.send(data, text ? WriteMode.TEXT : WriteMode.BINARY)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, 'the echo');
      expect(Buffer.from(peer.getPacket()).equals(data)).toBe(true);
      expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
      expect(sock.bytesRead - read0).toBeLessThan(data.length / 4);
    }
    peer.close(1000, '');
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
  });

  it('perMessageDeflate false offers nothing (no extension, as before)', async () => {
    let offered: string | undefined = 'unset';
    server.wss.once('headers', (_h: string[], req: http.IncomingMessage) => {
      offered = req.headers['sec-websocket-extensions'] as string | undefined;
    });
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, server.url);
    expect(offered).toBeUndefined();
    expect(peer.getSelectedExtensions()).toBe('');
    peer.close(1000, '');
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
  });

  // The answers a client must refuse (unknown parameter, bad value, another extension, bad grammar):
  // test/integration/deflate-negotiation.test.ts, every client case over a raw server.
});

describe('ringsocket client <-> ringsocket server', () => {
  it('compressed both ways, byte-exact, the same extension seen on both ends', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.perMessageDeflate = { clientNoContextTakeover: true, threshold: 16 };
    peer.inboundBufferSize = 2 * MiB;
    peer.outboundBufferSize = 4 * MiB;
    peer.supportedProtocols = ['chat'];
    await openPeer(peer, rs.url);
    expect(peer.getSelectedExtensions()).toBe('permessage-deflate; client_no_context_takeover');
    for (const n of SIZES) {
      const data = content(n, n % 2 === 1);
      peer.send(data, n % 2 === 1 ? WriteMode.TEXT : WriteMode.BINARY);
      await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, `echo of ${n}`);
      expect(Buffer.from(peer.getPacket()).equals(data)).toBe(true);
    }
    peer.close(1000, '');
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
  });
});

describe('perMessageDeflate option', () => {
  it('takes false, true or an options object; anything else is a TypeError', () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.perMessageDeflate).toBe(false);
    peer.perMessageDeflate = true;
    expect(peer.perMessageDeflate).toBe(true);
    peer.perMessageDeflate = { serverMaxWindowBits: 10, threshold: 0, level: 1, memLevel: 9 };
    expect(peer.perMessageDeflate).toEqual({ serverMaxWindowBits: 10, threshold: 0, level: 1, memLevel: 9 });
    for (const bad of [1, 'yes', null, { serverMaxWindowBits: 16 }, { clientMaxWindowBits: 7 }, { level: 10 }, { memLevel: 0 }, { threshold: -1 }, { serverNoContextTakeover: 1 }, { unknown: true }]) {
      expect(() => {
        peer.perMessageDeflate = bad as never;
      }).toThrow(TypeError);
    }
    expect(peer.perMessageDeflate).toEqual({ serverMaxWindowBits: 10, threshold: 0, level: 1, memLevel: 9 });
  });
});

describe('topics with permessage-deflate', () => {
  it('a publication reaches members with and without compression, with and without context takeover, byte-exact and compressed on the wire', async () => {
    const clients = await Promise.all([
      openWs(rs.url, ['chat'], { perMessageDeflate: { threshold: 0 } }), // server context takeover
      openWs(rsNoCtx.url, ['chat'], { perMessageDeflate: { threshold: 0 } }), // no context takeover
      openWs(rs.url, ['chat'], { perMessageDeflate: false }), // uncompressed
      // The same shape as the second: these share one compressed payload per worker.
      ...Array.from({ length: 5 }, () => openWs(rsNoCtx.url, ['chat'], { perMessageDeflate: { threshold: 0 } })),
    ]);
    const compressions = async (): Promise<number> => (await pool.stats()).reduce((a, w) => a + w.deflate.fanoutCompressions, 0);
    const ports = clients.map((c) => c.localPort);
    const all = [...rs.peerList(), ...rsNoCtx.peerList()];
    await waitFor(() => ports.every((p) => all.some((x) => x.getConnectedPort() === p && x.getReadyState() === State.OPEN)), 'server peers OPEN');
    for (const p of ports) expect(pool.subscribe(all.find((x) => x.getConnectedPort() === p)!, 'deflate-room')).toBe(ErrorCode.OK);
    const socks = clients.map((c) => (c.ws as unknown as { _socket: Socket })._socket);
    for (const [i, n] of [10, 5000, 200_000, 5000].entries()) {
      const data = content(n, i % 2 === 1);
      const read0 = socks.map((s) => s.bytesRead);
      const got = clients.map((c) => new Promise<{ data: Buffer; isBinary: boolean }>((r) => c.ws.once('message', (d: Buffer, isBinary: boolean) => r({ data: d, isBinary }))));
      const c0 = await compressions();
      expect(pool.publish('deflate-room', data, i % 2 === 1 ? WriteMode.TEXT : WriteMode.BINARY)).toBe(clients.length);
      for (const g of await Promise.all(got)) {
        expect(g.isBinary).toBe(i % 2 === 0);
        expect(g.data.equals(data)).toBe(true);
      }
      // Below the server's threshold (1024) nothing is compressed; above it, one compression for the member
      // with context takeover and one per worker for the six no-context members (one per member would be 7).
      const done = (await compressions()) - c0;
      if (n < 1024) expect(done).toBe(0);
      else {
        expect(done).toBeGreaterThanOrEqual(2);
        expect(done).toBeLessThanOrEqual(1 + (await pool.stats()).length);
      }
      if (n === 200_000) {
        for (const k of [0, 1, 3, 4, 5, 6, 7]) expect(socks[k]!.bytesRead - read0[k]!).toBeLessThan(n / 4);
        expect(socks[2]!.bytesRead - read0[2]!).toBeGreaterThan(n);
      }
    }
    for (const c of clients) c.ws.close();
  });
});

describe('WebSocketMultiplayerPeer with perMessageDeflate', () => {
  it('its peers accept compression: a ws client gets the extension, the id message and a compressed echo path', async () => {
    const { WebSocketMultiplayerPeer } = await import('../helpers/lib.js');
    const mp = new WebSocketMultiplayerPeer({ pool });
    mp.perMessageDeflate = { serverNoContextTakeover: true };
    mp.inboundBufferSize = 2 * MiB;
    mp.outboundBufferSize = 2 * MiB;
    expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.OK);
    try {
      const msgs: Buffer[] = [];
      const ws = new WebSocket(`ws://127.0.0.1:${mp.getLocalPort()}/`, { perMessageDeflate: { threshold: 0 } });
      ws.on('message', (d: Buffer) => msgs.push(d));
      let err: Error | null = null;
      ws.on('error', (e) => (err = e));
      let ext: string | undefined;
      ws.once('upgrade', (res: http.IncomingMessage) => (ext = res.headers['sec-websocket-extensions'] as string));
      await pollUntil(mp, () => ext !== undefined || err !== null, 'the upgrade');
      expect(err).toBeNull();
      expect(ext).toBe('permessage-deflate; server_no_context_takeover');
      await pollUntil(mp, () => msgs.length >= 1, 'the id message');
      const data = content(100_000, false);
      ws.send(data);
      await pollUntil(mp, () => mp.getAvailablePacketCount() > 0, 'the message');
      expect(Buffer.from(mp.getPacket()).equals(data)).toBe(true);
      expect(mp.putPacket(data)).toBe(ErrorCode.OK);
      await pollUntil(mp, () => msgs.length >= 2, 'the broadcast');
      expect(msgs[1]!.equals(data)).toBe(true);
      ws.close();
    } finally {
      mp.close();
    }
  });
});

describe('idle connections put their zlib streams to sleep (hibernateAfterMs)', () => {
  /** The pool's zlib figures, summed over its workers. */
  async function zlibOf(p: PeerPool): Promise<{ streams: number; hibernatedStreams: number; swept: number; awake: number }> {
    const all = await p.stats();
    const sum = { streams: 0, hibernatedStreams: 0, swept: 0, awake: 0 };
    for (const w of all) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += w.deflate[k];
    return sum;
  }

  async function until(p: PeerPool, what: string, ok: (z: Awaited<ReturnType<typeof zlibOf>>) => boolean): Promise<Awaited<ReturnType<typeof zlibOf>>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const z = await zlibOf(p);
      if (ok(z)) return z;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(z)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('with context takeover both ways: streams closed after the idle time, made again with their context (repeats stay tiny on the wire, byte-exact)', async () => {
    const own = new PeerPool({ threads: 1 });
    const server = startRsEcho({ pool: own, port: 0, host: '127.0.0.1', tickMs: 1, perMessageDeflate: { hibernateAfterMs: 300 } });
    try {
      const { ws } = await openWs(server.url, ['chat'], { perMessageDeflate: { threshold: 0 } });
      const sock = (ws as unknown as { _socket: Socket })._socket;
      // Random bytes: incompressible alone, a few back-references when the context holds them.
      const msgs = [randomBytes(8000), content(3000, true), Buffer.from('a different one, 𝄞 and all '.repeat(100))];
      for (const m of msgs) expect((await roundTrip(ws, m, true)).data.equals(m)).toBe(true);
      // Awake: its compressor and decompressor (context takeover), watched by the sweep.
      const awake = await zlibOf(own);
      expect(awake.streams).toBe(2);
      expect(awake.awake).toBe(1);
      // Asleep once idle: both closed, nothing watched.
      const asleep = await until(own, 'the sweep', (z) => z.streams === 0);
      expect(asleep).toMatchObject({ hibernatedStreams: 2, swept: 1, awake: 0 });
      // Woken by the next message each way, the contexts intact: the client's repeat of an earlier message is
      // a back-reference into the server's restored decompressor (a 1007 otherwise), the echo one into the
      // client's window (a few bytes on the wire instead of the message).
      for (const m of msgs) {
        const before = sock.bytesRead;
        const back = await roundTrip(ws, m, true);
        expect(back.data.equals(m)).toBe(true);
        expect(sock.bytesRead - before).toBeLessThan(Math.max(100, m.length / 20));
      }
      expect((await zlibOf(own)).streams).toBe(2);
      // And again: asleep, then closed for good with the connection.
      await until(own, 'the second sleep', (z) => z.streams === 0 && z.swept === 2);
      ws.close();
      await once(ws, 'close');
      const end = await zlibOf(own);
      expect(end).toMatchObject({ streams: 0, hibernatedStreams: 4, awake: 0 });
    } finally {
      await server.stop();
      await own.close();
    }
  });

  it('hibernateAfterMs 0 keeps the streams for the life of the connection; no context takeover holds none between messages', async () => {
    const own = new PeerPool({ threads: 1 });
    const kept = startRsEcho({ pool: own, port: 0, host: '127.0.0.1', tickMs: 1, perMessageDeflate: { hibernateAfterMs: 0 } });
    const none = startRsEcho({ pool: own, port: 0, host: '127.0.0.1', tickMs: 1, perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, hibernateAfterMs: 50 } });
    try {
      const a = (await openWs(kept.url, ['chat'], { perMessageDeflate: { threshold: 0 } })).ws;
      const b = (await openWs(none.url, ['chat'], { perMessageDeflate: { threshold: 0 } })).ws;
      const m = content(5000, false);
      expect((await roundTrip(a, m, true)).data.equals(m)).toBe(true);
      const shared = (await zlibOf(own)).streams - 2;
      expect((await roundTrip(b, m, true)).data.equals(m)).toBe(true);
      await new Promise((r) => setTimeout(r, 400));
      const z = await zlibOf(own);
      // a's two own streams; b borrowed the worker's shared ones (a compressor and an idle decompressor), holds none.
      expect(z.streams).toBe(2 + Math.max(shared, 0) + 2);
      expect(z).toMatchObject({ hibernatedStreams: 0, swept: 0, awake: 0 });
      a.close();
      b.close();
      await Promise.all([once(a, 'close'), once(b, 'close')]);
    } finally {
      await kept.stop();
      await none.stop();
      await own.close();
    }
  });

  it('hibernateAfterMs must be a non-negative integer', () => {
    const peer = new WebSocketPeer();
    peer.perMessageDeflate = { hibernateAfterMs: 0 };
    peer.perMessageDeflate = { hibernateAfterMs: 60_000 };
    expect(peer.perMessageDeflate).toEqual({ hibernateAfterMs: 60_000 });
    for (const bad of [-1, 1.5, '10', Number.NaN]) expect(() => (peer.perMessageDeflate = { hibernateAfterMs: bad as number })).toThrow(TypeError);
  });
});
