/**
 * Every permessage-deflate negotiation case (test/helpers/deflate-cases.ts, RFC 7692 §5 and §7.1) over
 * real sockets (issue 16): a raw TCP client offers each header to a ringsocket server configured as the
 * case says and reads the 101 (or the 400); a raw HTTP server answers a ringsocket client's offer with each
 * response. Where the answer is an agreement, one message goes each way compressed as agreed (RSV1 on the
 * wire, inflated by the other end), so the agreement is what the connection then does, not only a header.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode, type PerMessageDeflateOptions } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { acceptFor, closeCodeOf, frame, parseFrames, RawClient, upgradeRequest, waitFor, wsKey } from '../helpers/server.js';
import { pollUntil } from '../helpers/net.js';
import { BAD_OFFERS, CLIENT_CASES, MALFORMED, SERVER_CASES } from '../helpers/deflate-cases.js';
import type { DeflateConfig } from '../../dist/workers/deflate-negotiation.js';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Short enough that its back-references stay inside the smallest window (2^8). */
const MESSAGE = Buffer.from('ringsocket ringsocket ringsocket permessage-deflate permessage-deflate 0123456789 0123456789');

/** One message as a peer without context sends it (raw DEFLATE, sync-flushed, tail removed). */
function deflatePayload(data: Buffer): Buffer {
  const z = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
}
const inflatePayload = (p: Buffer): Buffer => zlib.inflateRawSync(Buffer.concat([p, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });

let pool: PeerPool;
/** One ringsocket echo server per server configuration the cases use (threshold 0: every echo compressed). */
const servers = new Map<string, EchoServer>();

beforeAll(() => {
  pool = new PeerPool({ threads: 1 });
});

afterAll(async () => {
  for (const s of servers.values()) await s.stop();
  await pool.close();
});

function serverFor(config: DeflateConfig = {}): EchoServer {
  const key = JSON.stringify(config);
  let s = servers.get(key);
  if (s === undefined) {
    const opts = { ...config, threshold: 0 } as PerMessageDeflateOptions;
    s = startEchoServer({ pool, port: 0, host: '127.0.0.1', tickMs: 1, perMessageDeflate: opts });
    servers.set(key, s);
  }
  return s;
}

/** Offer `header` to `server` from a raw socket: the status and the extension answered. */
async function offer(server: EchoServer, header: string): Promise<{ c: RawClient; status: number; ext: string | undefined }> {
  const c = new RawClient(server.port);
  const key = wsKey();
  await c.connectedAt;
  c.write(upgradeRequest({ key, extra: [`Sec-WebSocket-Extensions: ${header}`] }));
  const res = await c.response();
  if (res.status === 101) expect(res.headers.get('sec-websocket-accept')).toBe(acceptFor(key));
  return { c, status: res.status, ext: res.headers.get('sec-websocket-extensions') };
}

/** After the 101: one binary message to the echo server, compressed or not; the echo's frame. */
async function echoOnce(c: RawClient, compressed: boolean): Promise<{ rsv1: boolean; payload: Buffer }> {
  c.write(compressed ? frame(0x2, deflatePayload(MESSAGE), { rsv: 4 }) : frame(0x2, MESSAGE));
  const frames = () => parseFrames(c.data.subarray(c.headEnd()));
  await waitFor(() => frames().some((f) => f.opcode === 0x2 || f.opcode === 0x8), 'the echo');
  const f = frames()[0]!;
  expect(f.opcode, f.opcode === 0x8 ? `closed with ${closeCodeOf(f)}` : '').toBe(0x2);
  return { rsv1: (f.b0 & 0x40) !== 0, payload: Buffer.from(f.payload) };
}

describe('server side: each offer against a ringsocket server, over a raw socket', () => {
  for (const c of SERVER_CASES) {
    it(`${c.what}: ${c.expect === 'refuse' ? '400' : c.expect === 'none' ? 'declined, opens uncompressed' : JSON.stringify(c.expect.response)}`, async () => {
      const got = await offer(serverFor(c.config), c.header);
      try {
        if (c.expect === 'refuse') {
          expect(got.status).toBe(400);
          return;
        }
        expect(got.status).toBe(101);
        if (c.expect === 'none') {
          expect(got.ext).toBeUndefined();
          const e = await echoOnce(got.c, false);
          expect(e.rsv1).toBe(false);
          expect(e.payload.equals(MESSAGE)).toBe(true);
          return;
        }
        expect(got.ext).toBe(c.expect.response);
        const e = await echoOnce(got.c, true);
        expect(e.rsv1).toBe(true);
        expect(inflatePayload(e.payload).equals(MESSAGE)).toBe(true);
      } finally {
        got.c.destroy();
      }
    });
  }

  for (const [param] of BAD_OFFERS) {
    it(`declines "permessage-deflate; ${param}" (opens uncompressed); takes a valid offer after it`, async () => {
      const alone = await offer(serverFor(), `permessage-deflate; ${param}`);
      expect(alone.status).toBe(101);
      expect(alone.ext).toBeUndefined();
      expect((await echoOnce(alone.c, false)).payload.equals(MESSAGE)).toBe(true);
      alone.c.destroy();
      const next = await offer(serverFor(), `permessage-deflate; ${param}, permessage-deflate; server_no_context_takeover`);
      expect(next.status).toBe(101);
      expect(next.ext).toBe('permessage-deflate; server_no_context_takeover');
      const e = await echoOnce(next.c, true);
      expect(e.rsv1).toBe(true);
      expect(inflatePayload(e.payload).equals(MESSAGE)).toBe(true);
      next.c.destroy();
    });
  }

  for (const header of MALFORMED) {
    it(`refuses the malformed header ${JSON.stringify(header)} with 400`, async () => {
      const got = await offer(serverFor(), header);
      expect(got.status).toBe(400);
      got.c.destroy();
    });
  }
});

/** A raw HTTP server answering every upgrade with 101 and `ext` (undefined: no extension header). */
async function answering(ext: string | undefined): Promise<{ url: string; offered: () => string | undefined; sock: () => Socket | null; close: () => Promise<void> }> {
  const srv = http.createServer();
  let offered: string | undefined;
  let sock: Socket | null = null;
  srv.on('upgrade', (req: http.IncomingMessage, s: Socket) => {
    sock = s;
    offered = req.headers['sec-websocket-extensions'] as string | undefined;
    const key = req.headers['sec-websocket-key'] as string;
    const extLine = ext === undefined ? '' : `Sec-WebSocket-Extensions: ${ext}\r\n`;
    s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${extLine}\r\n`);
    s.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    url: `ws://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    offered: () => offered,
    sock: () => sock,
    close: () => {
      (sock as Socket | null)?.destroy();
      srv.closeAllConnections();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

describe('client side: a ringsocket client against each answer, from a raw server', () => {
  for (const c of CLIENT_CASES) {
    // The public options cannot leave client_max_window_bits out of an offer (the unit test covers that case).
    if (c.config !== undefined && c.config !== null && c.config.clientMaxWindowBits === false) continue;
    const outcome = typeof c.expect === 'string' ? `fails before OPEN with ${c.expect}` : c.expect === null ? 'opens uncompressed' : 'opens compressed both ways';
    it(`${c.what}: ${outcome}`, async () => {
      const s = await answering(c.response);
      const peer = new WebSocketPeer({ pool });
      peer.perMessageDeflate = c.config === null ? false : { ...(c.config ?? {}), threshold: 0 } as PerMessageDeflateOptions;
      try {
        expect(peer.connectToUrl(s.url)).toBe(ErrorCode.OK);
        let sawOpen = false;
        await pollUntil(
          peer,
          () => {
            if (peer.getReadyState() === State.OPEN) sawOpen = true;
            return peer.getReadyState() === State.OPEN || peer.getReadyState() === State.CLOSED;
          },
          'open or closed',
        );
        // What it offered: the extension unless off.
        if (c.config === null) expect(s.offered()).toBeUndefined();
        else expect(s.offered()).toMatch(/^permessage-deflate/);
        if (typeof c.expect === 'string') {
          await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'the failure');
          expect(sawOpen).toBe(false);
          expect(peer.getFailureReason()).toBe(c.expect);
          return;
        }
        expect(peer.getReadyState()).toBe(State.OPEN);
        expect(peer.getSelectedExtensions()).toBe(c.expect === null ? '' : (c.response ?? ''));
        const sock = s.sock()!;
        const compressed = c.expect !== null;
        // Server → client: a compressed frame (RSV1) where agreed, a plain one otherwise.
        sock.write(compressed ? frame(0x2, deflatePayload(MESSAGE), { rsv: 4, mask: false }) : frame(0x2, MESSAGE, { mask: false }));
        await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, 'the message');
        expect(Buffer.from(peer.getPacket()).equals(MESSAGE)).toBe(true);
        // Client → server: compressed with what was agreed.
        let got = Buffer.alloc(0);
        sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
        expect(peer.send(MESSAGE, WriteMode.BINARY)).toBe(ErrorCode.OK);
        await pollUntil(peer, () => parseFrames(got).length > 0, 'the client frame');
        const f = parseFrames(got)[0]!;
        expect((f.b0 & 0x40) !== 0).toBe(compressed);
        expect((compressed ? inflatePayload(f.payload) : f.payload).equals(MESSAGE)).toBe(true);
      } finally {
        // The raw server never answers a close frame: drop its end, and the peer is CLOSED at once.
        peer.close(1000, '');
        await s.close();
        await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'closed');
      }
    });
  }
});
