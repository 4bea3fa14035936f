/**
 * Message sizes on the client side: frame-length boundaries (7-bit, 16-bit, 64-bit lengths) and a 16 MiB
 * message echoed byte-exact, and the inbound/outbound limits (inboundBufferSize -> 1009,
 * outboundBufferSize and maxQueuedPackets -> ERR_OUT_OF_MEMORY with the connection still usable).
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { openPeer, pollUntil, startEchoServer, startWsServer } from '../helpers/net.js';
import { within } from '../helpers/server.js';

const MiB = 1024 * 1024;

let pool: PeerPool;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  echo = await startEchoServer({ maxPayload: 32 * MiB });
});

afterAll(async () => {
  await pool.close();
  await echo.close();
});

/** `n` bytes of valid UTF-8 mixing 1-, 2- and 3-byte characters, exactly `n` bytes long. */
function utf8OfLength(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const pieces = [Buffer.from('a'), Buffer.from('é'), Buffer.from('€'), Buffer.from('z')];
  let o = 0;
  let k = 0;
  while (o < n) {
    const p = pieces[k++ % pieces.length]!;
    if (o + p.length > n) {
      out[o++] = 0x41; // pad with ASCII
      continue;
    }
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function binaryOfLength(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

async function roundTrip(peer: WebSocketPeer, data: Uint8Array, mode: WriteMode, what: string): Promise<void> {
  expect(peer.send(data, mode)).toBe(ErrorCode.OK);
  await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, what, 30_000);
  const got = peer.getPacket();
  expect(peer.getPacketError()).toBe(ErrorCode.OK);
  expect(peer.wasStringPacket()).toBe(mode === WriteMode.TEXT);
  expect(got.byteLength).toBe(data.byteLength);
  expect(sameBytes(got, data)).toBe(true);
}

describe('frame-length boundaries', () => {
  for (const n of [0, 125, 126, 65535, 65536]) {
    it(`echoes ${n}-byte text and binary messages byte-exact`, async () => {
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = MiB;
      peer.outboundBufferSize = MiB;
      await openPeer(peer, echo.url);
      await roundTrip(peer, utf8OfLength(n), WriteMode.TEXT, `${n}-byte text echo`);
      await roundTrip(peer, binaryOfLength(n, n + 7), WriteMode.BINARY, `${n}-byte binary echo`);
      expect(peer.getReadyState()).toBe(State.OPEN);
      peer.close(-1);
    });
  }

  it('echoes a 16 MiB text and a 16 MiB binary message byte-exact', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.inboundBufferSize = 17 * MiB;
    peer.outboundBufferSize = 17 * MiB;
    await openPeer(peer, echo.url);
    await roundTrip(peer, utf8OfLength(16 * MiB), WriteMode.TEXT, '16 MiB text echo');
    await roundTrip(peer, binaryOfLength(16 * MiB, 99), WriteMode.BINARY, '16 MiB binary echo');
    expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
    peer.close(-1);
  });

  it('the default limits (65535) pass a 65535-byte message both ways', async () => {
    const peer = new WebSocketPeer({ pool });
    await openPeer(peer, echo.url);
    await roundTrip(peer, binaryOfLength(65535, 3), WriteMode.BINARY, '65535-byte echo at default limits');
    peer.close(-1);
  });
});

describe('limits', () => {
  it('a received message larger than inboundBufferSize: the server sees 1009, the peer ends CLOSED -1', async () => {
    const srv = await startWsServer();
    try {
      let serverClose: Promise<number> | null = null;
      srv.wss.on('connection', (ws: WebSocket) => {
        serverClose = new Promise((r) => ws.once('close', (code: number) => r(code)));
        ws.send(Buffer.alloc(2000, 7), { binary: true });
      });
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = 1024;
      expect(peer.connectToUrl(srv.url)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'the peer to fail the connection');
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      expect(peer.getAvailablePacketCount()).toBe(0);
      expect(serverClose).not.toBeNull();
      expect(await within(serverClose!, 5000, 'server close')).toBe(1009);
    } finally {
      await srv.close();
    }
  });

  it('a message of exactly inboundBufferSize bytes is delivered', async () => {
    const srv = await startWsServer();
    try {
      srv.wss.on('connection', (ws: WebSocket) => ws.send(Buffer.alloc(1024, 5), { binary: true }));
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = 1024;
      await openPeer(peer, srv.url);
      await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'the 1024-byte message');
      expect(sameBytes(peer.getPacket(), new Uint8Array(1024).fill(5))).toBe(true);
      expect(peer.getReadyState()).toBe(State.OPEN);
      peer.close(-1);
    } finally {
      await srv.close();
    }
  });

  it('a send larger than outboundBufferSize is refused with ERR_OUT_OF_MEMORY; the connection stays usable', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.outboundBufferSize = 1000;
    await openPeer(peer, echo.url);
    expect(peer.putPacket(new Uint8Array(1001))).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
    expect(peer.sendText('x'.repeat(1001))).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
    expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
    expect(peer.getReadyState()).toBe(State.OPEN);
    await roundTrip(peer, binaryOfLength(1000, 11), WriteMode.BINARY, 'a message of exactly the limit');
    await roundTrip(peer, new Uint8Array([1, 2, 3]), WriteMode.BINARY, 'a small echo after the refusal');
    // Only the echoes above came back: the refused messages were not sent in part.
    peer.poll();
    expect(peer.getAvailablePacketCount()).toBe(0);
    peer.close(-1);
  });

  it('maxQueuedPackets bounds the outbound queue when the server stops reading; all accepted messages arrive later', async () => {
    const srv = await startEchoServer({ maxPayload: 32 * MiB });
    try {
      let serverSock: net.Socket | null = null;
      srv.wss.on('connection', (ws: WebSocket) => {
        serverSock = (ws as unknown as { _socket: net.Socket })._socket;
        serverSock.pause();
      });
      const peer = new WebSocketPeer({ pool });
      peer.maxQueuedPackets = 4;
      peer.outboundBufferSize = 256 * MiB;
      peer.inboundBufferSize = MiB;
      await openPeer(peer, srv.url);
      await pollUntil(peer, () => serverSock !== null, 'server side');
      const msg = new Uint8Array(64 * 1024);
      const limit = 4000; // 250 MiB: far more than the kernel buffers can hold
      const deadline = Date.now() + 30_000;
      let accepted = 0;
      let refusals = 0;
      let queued = 0;
      // A refusal means 4 messages were not written yet. That lasts only once the kernel's buffers are
      // full: before, a busy worker may simply not have written them yet, and does a moment later. So
      // fill until refused, let the worker catch up, and go on until the queue stays.
      while (queued === 0 && accepted < limit && Date.now() < deadline) {
        const code = peer.putPacket(msg);
        if (code === ErrorCode.ERR_OUT_OF_MEMORY) {
          refusals++;
          await new Promise((r) => setTimeout(r, 100));
          peer.poll();
          queued = peer.getCurrentOutboundBufferedAmount();
          continue;
        }
        expect(code).toBe(ErrorCode.OK);
        accepted++;
        peer.poll();
        if (accepted % 4 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      expect(refusals).toBeGreaterThan(0);
      expect(accepted).toBeGreaterThanOrEqual(4);
      expect(accepted).toBeLessThan(limit);
      expect(queued).toBeGreaterThan(0);
      // The message limit refused it, not the byte limit: at most 4 messages' bytes are queued.
      expect(queued).toBeLessThanOrEqual(4 * msg.byteLength);
      expect(peer.getReadyState()).toBe(State.OPEN);

      // The server reads again: every accepted message is echoed, none was dropped.
      serverSock!.resume();
      let echoed = 0;
      await pollUntil(
        peer,
        () => {
          while (peer.getAvailablePacketCount() > 0) {
            const p = peer.getPacket();
            if (p.byteLength !== msg.byteLength) throw new Error(`echo of ${p.byteLength} bytes`);
            echoed++;
          }
          return echoed === accepted;
        },
        `${accepted} echoes`,
        30_000,
      );
      expect(peer.getCurrentOutboundBufferedAmount()).toBe(0);
      expect(peer.putPacket(msg)).toBe(ErrorCode.OK);
      peer.close(-1);
    } finally {
      await srv.close();
    }
  });
});
