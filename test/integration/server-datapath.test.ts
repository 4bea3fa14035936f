/**
 * The worker's own data path (workers/framing.ts): a raw TCP client writes frames in chosen chunks to a
 * server peer the test polls itself, so that each path of the sink is taken on purpose — a whole message
 * unmasked straight into its ring reservation, a message gathered across chunks and fragments, a frame
 * the reader stops before while the peer is over its budget (the socket paused, the chunk's rest kept),
 * and a text message found invalid halfway after its reservation was made (taken back, never delivered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { sleep } from '../helpers/net.js';
import { frame, rawWebSocket, waitFor, type RawClient } from '../helpers/server.js';

let pool: PeerPool;

beforeAll(() => {
  pool = new PeerPool({ threads: 1 });
});

afterAll(async () => {
  await pool.close();
});

/** A raw client and the server peer it is connected to (budget: `maxQueuedPackets` messages). */
async function pair(maxQueuedPackets: number): Promise<{ peer: WebSocketPeer; client: RawClient }> {
  const srv = new TCPServer({ pool });
  expect(srv.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  const clientP = rawWebSocket(srv.getLocalPort());
  let peer: WebSocketPeer | null = null;
  const deadline = Date.now() + 10_000;
  while ((peer === null || peer.getReadyState() !== State.OPEN) && Date.now() < deadline) {
    if (peer === null && srv.isConnectionAvailable()) {
      peer = new WebSocketPeer({ pool });
      peer.maxQueuedPackets = maxQueuedPackets;
      expect(peer.acceptStream(srv.takeConnection()!)).toBe(ErrorCode.OK);
    }
    peer?.poll();
    await sleep(2);
  }
  srv.stop();
  expect(peer?.getReadyState()).toBe(State.OPEN);
  return { peer: peer!, client: await clientP };
}

/** Poll `peer` and take its packets until `n` arrived (or it closed and nothing is left). */
async function take(peer: WebSocketPeer, n: number, timeoutMs = 10_000): Promise<{ data: Buffer; text: boolean }[]> {
  const out: { data: Buffer; text: boolean }[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < deadline) {
    peer.poll();
    while (peer.getAvailablePacketCount() > 0) {
      const data = Buffer.from(peer.getPacket());
      out.push({ data, text: peer.wasStringPacket() });
    }
    if (peer.getReadyState() === State.CLOSED && peer.getAvailablePacketCount() === 0) break;
    await sleep(2);
  }
  return out;
}

const concat = (...b: Buffer[]): Buffer => Buffer.concat(b);

describe('the worker frame reader on a live socket', () => {
  it('invalid UTF-8 found halfway through a message already reserved in the ring: the message never reaches the main thread, the one before it does', async () => {
    const { peer, client } = await pair(1 << 20);
    // One chunk: a valid text message, then a whole text message that breaks after 2 valid bytes.
    client.write(concat(frame(0x1, 'ok'), frame(0x1, Buffer.from([0x68, 0x69, 0xff, 0x69, 0x6a]))));
    await client.closedP;
    const got = await take(peer, 2, 3000);
    expect(got.map((p) => p.data.toString())).toEqual(['ok']);
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toBe('WS_ERR_INVALID_UTF8');
    const frames = client.frames();
    expect(frames.map((f) => f.opcode)).toEqual([0x8]);
    expect(frames[0]!.payload.readUInt16BE(0)).toBe(1007);
  });

  it('over its budget with a frame whose header ends the chunk (an empty message): delivered once the main thread reads', async () => {
    const { peer, client } = await pair(1);
    // The first message fills the budget (1 packet): the reader stops at the second one's header, which
    // is the chunk's last byte. Nothing more comes from the socket: only the kept (empty) rest brings it.
    client.write(concat(frame(0x2, Buffer.from([1])), frame(0x2, Buffer.alloc(0))));
    await sleep(200);
    const got = await take(peer, 2, 5000);
    expect(got.map((p) => [...p.data])).toEqual([[1], []]);
    expect(peer.getReadyState()).toBe(State.OPEN);
    client.destroy();
  });

  it('a peer over its budget whose client resets the connection: what the worker had read still arrives, then CLOSED -1', async () => {
    const { peer, client } = await pair(1);
    // 50 messages in one write: the first fills the budget, the other 49 wait in the chunk the worker read.
    client.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => frame(0x2, Buffer.from([i])))));
    await sleep(200);
    client.socket.resetAndDestroy();
    await sleep(200);
    const got = await take(peer, 51, 5000);
    expect(got.map((p) => p.data[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(-1);
  });

  it('a peer over its budget pauses its socket; whole, split and fragmented messages all arrive later, in order, none lost', async () => {
    const { peer, client } = await pair(4);
    const expected: { data: Buffer; text: boolean }[] = [];
    const chunks: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const size = i % 7 === 0 ? 3000 + i : i % 3 === 0 ? 130 + i : i % 50;
      const data = Buffer.alloc(size, i & 0xff);
      if (size >= 4) data.writeUInt32LE(i, 0);
      const text = i % 5 === 0;
      const payload = text ? Buffer.from(`m${i}:`.padEnd(size, 'é').slice(0, Math.max(1, size >> 1))) : data;
      expected.push({ data: payload, text });
      if (i % 11 === 0 && payload.length > 2) {
        // Fragmented, with a ping between the fragments.
        const half = payload.length >> 1;
        chunks.push(frame(text ? 0x1 : 0x2, payload.subarray(0, half), { fin: false }), frame(0x9, 'p'), frame(0x0, payload.subarray(half)));
      } else {
        chunks.push(frame(text ? 0x1 : 0x2, payload));
      }
    }
    const all = Buffer.concat(chunks);
    // Written in odd-sized pieces so that frames and headers are split across chunks.
    for (let at = 0; at < all.length; at += 997) {
      client.write(all.subarray(at, Math.min(all.length, at + 997)));
      if (at % (997 * 8) === 0) await sleep(1);
    }
    // Unread by the main thread: the worker holds the rest back (its socket paused).
    await sleep(300);
    const stats = await pool.stats();
    expect(stats.reduce((n, w) => n + w.paused, 0)).toBe(1);
    const got = await take(peer, expected.length, 20_000);
    expect(got.length).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      expect(got[i]!.text, `message ${i} kind`).toBe(expected[i]!.text);
      expect(got[i]!.data.equals(expected[i]!.data), `message ${i} bytes`).toBe(true);
    }
    // The pings between fragments were answered (autoPong), as many as there were.
    await waitFor(() => client.frames().filter((f) => f.opcode === 0xa).length === chunks.filter((c) => (c[0]! & 0x0f) === 0x9).length, 'pongs');
    expect(peer.getReadyState()).toBe(State.OPEN);
    client.destroy();
  }, 30_000);
});
