/**
 * WebSocketPeer.getPacketInto / peekPacketLength over a real connection: every size class of the queue
 * (slab packets, packets with a buffer of their own, fragments put together), aligned and unaligned
 * offsets (the word copy and the byte copy), a buffer too small (the packet stays), then large enough.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, pollUntil, startWsServer } from '../helpers/net.js';
import { byteAt } from '../helpers/prng.js';

let pool: PeerPool;
let server: Awaited<ReturnType<typeof startWsServer>>;

beforeAll(async () => {
  // 64 KiB inbound ring: records of at most 16 KiB, so the 100 kB message arrives in fragments.
  pool = new PeerPool({ threads: 1, inboundRingSize: 64 * 1024 });
  server = await startWsServer();
});

afterAll(async () => {
  await server.close();
  await pool.close();
});

/** Binary messages any byte; text ones printable ASCII (valid UTF-8). */
const val = (seq: number, i: number) => (seq % 2 === 0 ? byteAt(seq, i) : 0x20 + (byteAt(seq, i) & 0x3f));

const SIZES = [0, 1, 3, 4, 63, 64, 65, 67, 1000, 16 * 1024, 16 * 1024 + 1, 100_000];

describe('getPacketInto', () => {
  it('copies each packet whole at any offset; a buffer too small returns minus the length and keeps it', async () => {
    server.wss.once('connection', (ws) => {
      SIZES.forEach((n, seq) => {
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) b[i] = val(seq, i);
        ws.send(b, { binary: seq % 2 === 0 });
      });
    });
    const peer = new WebSocketPeer({ pool });
    peer.inboundBufferSize = 1 << 20;
    await openPeer(peer, server.url);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === SIZES.length, 'every message');
    const target = new Uint8Array(200_000);
    SIZES.forEach((n, seq) => {
      expect(peer.peekPacketLength()).toBe(n);
      if (n > 0) {
        expect(peer.getPacketInto(new Uint8Array(n - 1))).toBe(-n);
        expect(peer.getPacketError()).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
        expect(peer.getPacketInto(target, target.length - n + 1)).toBe(-n);
        expect(peer.getAvailablePacketCount()).toBe(SIZES.length - seq);
      }
      const offset = [0, 1, 2, 3, 4, 7][seq % 6]!;
      target.fill(0xee);
      expect(peer.getPacketInto(target, offset)).toBe(n);
      expect(peer.getPacketError()).toBe(ErrorCode.OK);
      expect(peer.wasStringPacket()).toBe(seq % 2 === 1);
      for (let i = 0; i < n; i++) if (target[offset + i] !== val(seq, i)) throw new Error(`message ${seq} (${n} B) byte ${i} differs`);
      expect(target[offset + n]).toBe(0xee);
      if (offset > 0) expect(target[offset - 1]).toBe(0xee);
    });
    expect(peer.peekPacketLength()).toBe(-1);
    expect(peer.getPacketInto(target)).toBe(0);
    expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
    expect(() => peer.getPacketInto(target, target.length + 1)).toThrow(RangeError);
    expect(() => peer.getPacketInto([] as unknown as Uint8Array)).toThrow(TypeError);
    peer.close();
  });
});
