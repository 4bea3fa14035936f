/**
 * Protocol violations after a valid handshake: a raw TCP client sends a malformed frame to
 * examples/echo-server; the server must answer with a close frame carrying the RFC 6455 code (1002,
 * 1007, 1009) and close; its peer ends CLOSED with code -1 and a WS_ERR_* failure reason; the process
 * and the workers survive, and a healthy client on the same server keeps echoing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerPool, State, type WebSocketPeer } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { closeCodeOf, frame, openWs, rawWebSocket, roundTrip, waitFor, type OpenClient, type RawClient } from '../helpers/server.js';

const INBOUND_LIMIT = 1024;

let pool: PeerPool;
let echo: EchoServer;
let healthy: OpenClient;
const byClientPort = new Map<number, WebSocketPeer>();
const dropped = new Set<WebSocketPeer>();
let threadIds: number[];

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  echo = startEchoServer({
    port: 0,
    host: '127.0.0.1',
    pool,
    tickMs: 1,
    inboundBufferSize: INBOUND_LIMIT,
    onAccept: (peer, tcp) => byClientPort.set(tcp.getConnectedPort(), peer),
    onClose: (peer) => dropped.add(peer),
  });
  healthy = await openWs(`${echo.url}/healthy`);
  threadIds = (await pool.stats()).map((w) => w.threadId);
});

afterAll(async () => {
  healthy.ws.close();
  await echo.stop();
  await pool.close();
});

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

const cases: { name: string; send: () => Buffer[]; code: number; failure: string }[] = [
  { name: 'unmasked client frame', send: () => [frame(0x1, 'hi', { mask: false })], code: 1002, failure: 'WS_ERR_EXPECTED_MASK' },
  { name: 'RSV1 set (no extension negotiated)', send: () => [frame(0x1, 'hi', { rsv: 0b100 })], code: 1002, failure: 'WS_ERR_UNEXPECTED_RSV_1' },
  { name: 'RSV2 set', send: () => [frame(0x2, 'hi', { rsv: 0b010 })], code: 1002, failure: 'WS_ERR_UNEXPECTED_RSV_2_3' },
  { name: 'RSV3 set', send: () => [frame(0x2, 'hi', { rsv: 0b001 })], code: 1002, failure: 'WS_ERR_UNEXPECTED_RSV_2_3' },
  { name: 'reserved data opcode 0x3', send: () => [frame(0x3, 'x')], code: 1002, failure: 'WS_ERR_INVALID_OPCODE' },
  { name: 'reserved control opcode 0xB', send: () => [frame(0xb, 'x')], code: 1002, failure: 'WS_ERR_INVALID_OPCODE' },
  { name: 'continuation without a start', send: () => [frame(0x0, 'orphan')], code: 1002, failure: 'WS_ERR_INVALID_OPCODE' },
  {
    name: 'new data frame while a fragmented message is open',
    send: () => [frame(0x1, 'first half', { fin: false }), frame(0x1, 'another message')],
    code: 1002,
    failure: 'WS_ERR_INVALID_OPCODE',
  },
  { name: 'control frame (ping) with a 126-byte payload', send: () => [frame(0x9, new Uint8Array(126))], code: 1002, failure: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' },
  { name: 'fragmented ping (FIN = 0)', send: () => [frame(0x9, 'p', { fin: false })], code: 1002, failure: 'WS_ERR_EXPECTED_FIN' },
  { name: 'invalid UTF-8 in a text message', send: () => [frame(0x1, bytes(0x68, 0xff, 0xfe, 0x69))], code: 1007, failure: 'WS_ERR_INVALID_UTF8' },
  {
    name: 'invalid UTF-8 across the fragments of a text message',
    send: () => [frame(0x1, bytes(0x61, 0xe2, 0x82), { fin: false }), frame(0x0, bytes(0x28))],
    code: 1007,
    failure: 'WS_ERR_INVALID_UTF8',
  },
  { name: 'invalid UTF-8 in a close reason', send: () => [frame(0x8, bytes(0x03, 0xe8, 0xc3, 0x28))], code: 1007, failure: 'WS_ERR_INVALID_UTF8' },
  { name: 'close frame with a 1-byte payload', send: () => [frame(0x8, bytes(0x03))], code: 1002, failure: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' },
  { name: 'close frame with an invalid code (1005)', send: () => [frame(0x8, bytes(0x03, 0xed))], code: 1002, failure: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: `message larger than inboundBufferSize (${INBOUND_LIMIT + 1} bytes)`, send: () => [frame(0x2, new Uint8Array(INBOUND_LIMIT + 1))], code: 1009, failure: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' },
  {
    name: 'fragmented message growing past inboundBufferSize',
    send: () => [frame(0x2, new Uint8Array(600), { fin: false }), frame(0x0, new Uint8Array(600))],
    code: 1009,
    failure: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  },
];

/** After a handshake, send `frames`; return the server's frames and its peer once both are done. */
async function violate(frames: Buffer[]): Promise<{ client: RawClient; peer: WebSocketPeer }> {
  const client = await rawWebSocket(echo.port);
  const port = client.localPort;
  await waitFor(() => byClientPort.get(port)?.getReadyState() === State.OPEN, 'server peer OPEN');
  const peer = byClientPort.get(port)!;
  for (const f of frames) client.write(f);
  await client.closedP; // the server closes after its close frame
  await waitFor(() => dropped.has(peer), 'server peer dropped as CLOSED');
  return { client, peer };
}

describe('malformed frames: the server answers with the RFC close code and closes', () => {
  for (const c of cases) {
    it(`${c.name} -> ${c.code}`, async () => {
      const { client, peer } = await violate(c.send());
      const frames = client.frames();
      // Nothing was echoed before the close frame, and the close frame is the last thing sent.
      expect(frames.map((f) => f.opcode)).toEqual([0x8]);
      expect(frames[0]!.fin).toBe(true);
      expect(closeCodeOf(frames[0]!)).toBe(c.code);
      expect(peer.getReadyState()).toBe(State.CLOSED);
      expect(peer.getCloseCode()).toBe(-1);
      expect(peer.getFailureReason()).toMatch(/^WS_ERR_/);
      expect(peer.getFailureReason()).toBe(c.failure);
      // The main thread is fine (we are running), the workers did not die (same threads), and the
      // healthy client on the same server still gets its echo.
      expect((await pool.stats()).map((w) => w.threadId)).toEqual(threadIds);
      const r = await roundTrip(healthy.ws, `still here after ${c.name}`, false);
      expect(r.data.toString()).toBe(`still here after ${c.name}`);
    });
  }

  it('a well-formed fragmented message and a ping in between are fine (control for the cases above)', async () => {
    const client = await rawWebSocket(echo.port);
    const port = client.localPort;
    await waitFor(() => byClientPort.get(port)?.getReadyState() === State.OPEN, 'server peer OPEN');
    client.write(frame(0x1, 'hel', { fin: false }));
    client.write(frame(0x9, 'ping!'));
    client.write(frame(0x0, 'lo'));
    await waitFor(() => client.frames().length >= 2, 'pong and echo');
    const [pong, echoed] = client.frames();
    expect(pong!.opcode).toBe(0xa);
    expect(pong!.payload.toString()).toBe('ping!');
    expect(echoed!.opcode).toBe(0x1);
    expect(echoed!.payload.toString()).toBe('hello');
    // A message of exactly inboundBufferSize is accepted.
    client.write(frame(0x2, new Uint8Array(INBOUND_LIMIT).fill(7)));
    await waitFor(() => client.frames().length >= 3, 'echo of the limit-sized message');
    expect(client.frames()[2]!.payload.length).toBe(INBOUND_LIMIT);
    client.write(frame(0x8, bytes(0x03, 0xe8)));
    await client.closedP;
    const closeFrame = client.frames().at(-1)!;
    expect(closeFrame.opcode).toBe(0x8);
    expect(closeCodeOf(closeFrame)).toBe(1000);
    const peer = byClientPort.get(port)!;
    await waitFor(() => dropped.has(peer), 'server peer dropped');
    expect(peer.getCloseCode()).toBe(1000);
    expect(peer.getFailureReason()).toBe('');
  });
});
