import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { openPeer, pollUntil, startEchoServer } from '../helpers/net.js';

let pool: PeerPool;
let server: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  server = await startEchoServer();
});

afterAll(async () => {
  await pool.close();
  await server.close();
});

describe('client peer against a ws echo server', () => {
  it('opens, echoes text and binary in order, and closes cleanly', async () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.getReadyState()).toBe(State.CLOSED);
    await openPeer(peer, `${server.url}/echo?x=1`);
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    expect(peer.getConnectedPort()).toBe(server.port);
    expect(peer.getRequestedUrl()).toBe(`${server.url}/echo?x=1`);
    expect(peer.sendText('héllo')).toBe(ErrorCode.OK);
    expect(peer.putPacket(new Uint8Array([1, 2, 3]))).toBe(ErrorCode.OK);
    expect(peer.send(new TextEncoder().encode('as text'), WriteMode.TEXT)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() === 3, 'three echoes');
    const a = peer.getPacket();
    expect(peer.getPacketError()).toBe(ErrorCode.OK);
    expect(peer.wasStringPacket()).toBe(true);
    expect(new TextDecoder().decode(a)).toBe('héllo');
    const b = peer.getPacket();
    expect(peer.wasStringPacket()).toBe(false);
    expect([...b]).toEqual([1, 2, 3]);
    const c = peer.getPacket();
    expect(peer.wasStringPacket()).toBe(true);
    expect(new TextDecoder().decode(c)).toBe('as text');
    const none = peer.getPacket();
    expect(none.byteLength).toBe(0);
    expect(peer.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);

    expect(peer.close(1000, 'bye')).toBe(ErrorCode.OK);
    expect(peer.getReadyState()).toBe(State.CLOSING);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close handshake');
    expect(peer.getCloseCode()).toBe(1000);
    expect(peer.getCloseReason()).toBe('bye');
  });
});
