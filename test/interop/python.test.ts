/**
 * ringsocket against python-websockets (Debian's /usr/bin/python3, test/interop/peer.py), as server and as
 * client: text and binary of 0 B, 125 B, 64 KiB and 1 MiB byte-exact both ways (each side checks what it
 * received against the shared generator), close codes both ways, the 1009 of a 64 KiB message with the
 * default inboundBufferSize, and wss with the test CA (accepted when trusted, refused when not).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer, WriteMode } from '../helpers/lib.js';
import { pollUntil } from '../helpers/net.js';
import { waitFor } from '../helpers/server.js';
import { BIG, expectCompressedOnTheWire, MESSAGES, payload, sha256, type Kind } from './payload.js';
import { fixture, pyClient, pyServer, pythonMissing, requirePeer, type PyEvent, type PyServer } from './peers.js';
import { startRsServer, type RsServer } from './rs-server.js';
import { startWireTap } from '../helpers/wire-tap.js';

const pem = (f: string): string => readFileSync(fixture(f), 'utf8');
const run = requirePeer(pythonMissing(), 'python-websockets');

let pool: PeerPool;
beforeAll(() => {
  if (run) pool = new PeerPool({ threads: 2 });
});
afterAll(async () => {
  await pool?.close();
});

/** Events of the python server after index `from`, once a 'closed' one is among them. */
async function closedEvent(py: PyServer, from: number): Promise<PyEvent> {
  await waitFor(() => py.events.slice(from).some((e) => e.event === 'closed'), 'the python server to see the close', 20_000);
  return py.events.slice(from).find((e) => e.event === 'closed')!;
}

describe.runIf(run)('ringsocket server, python-websockets client', () => {
  let rs: RsServer;
  beforeAll(() => {
    rs = startRsServer({ pool, inboundBufferSize: BIG, outboundBufferSize: BIG });
  });
  afterAll(async () => rs?.stop());

  it('text and binary of 0 B, 125 B, 64 KiB, 1 MiB arrive byte-exact both ways; python closes with 4000 + reason and ringsocket sees it', async () => {
    const before = rs.peers.length;
    const out = await pyClient(`ws://127.0.0.1:${rs.port}/py`, MESSAGES, ['--close', '4000', 'py bye']);
    expect(out.error).toBeNull();
    expect(out.opened).toBe(true);
    // python's view of the echoes
    expect(out.replies.map((r) => [r.type, r.len, r.equal])).toEqual(MESSAGES.map(([k, n]) => [k, n, true]));
    expect(out.replies.map((r) => r.sha256)).toEqual(MESSAGES.map(([k, n]) => sha256(payload(k, n))));
    // ringsocket's view of what python sent
    const e = rs.peers[before]!;
    expect(e.received.map((p) => [p.text ? 'text' : 'binary', p.bytes.byteLength])).toEqual(MESSAGES);
    for (const [i, [k, n]] of MESSAGES.entries()) expect(Buffer.from(e.received[i]!.bytes).equals(Buffer.from(payload(k, n)))).toBe(true);
    await waitFor(() => e.closed !== undefined, 'the ringsocket peer to close');
    expect(e.closed).toMatchObject({ code: 4000, reason: 'py bye' });
    expect(out.close_code).toBe(4000);
  });

  it('ringsocket closes with 4001 + reason and the python client sees it', async () => {
    const before = rs.peers.length;
    const done = pyClient(`ws://127.0.0.1:${rs.port}/wait`, [], ['--await-close']);
    await waitFor(() => rs.peers[before]?.peer.getReadyState() === State.OPEN, 'the python client to connect', 20_000);
    expect(rs.peers[before]!.peer.close(4001, 'rs bye')).toBe(ErrorCode.OK);
    const out = await done;
    expect(out.error).toBeNull();
    expect([out.close_code, out.close_reason]).toEqual([4001, 'rs bye']);
    await waitFor(() => rs.peers[before]!.closed !== undefined, 'the ringsocket peer CLOSED');
    expect(rs.peers[before]!.closed!.code).toBe(4001);
  });

  it('with the default inboundBufferSize (65535): 65535 B echoes, a 64 KiB message gets 1009', async () => {
    const small = startRsServer({ pool });
    try {
      const out = await pyClient(`ws://127.0.0.1:${small.port}/limit`, [['binary', 65535], ['binary', 65536]], ['--await-close']);
      expect(out.replies.map((r) => [r.len, r.equal])).toEqual([[65535, true]]);
      expect(out.close_code).toBe(1009);
      await waitFor(() => small.peers[0]?.closed !== undefined, 'the ringsocket peer CLOSED');
      expect(small.peers[0]!.closed!.code).toBe(-1);
      expect(small.peers[0]!.closed!.failure).toMatch(/WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
    } finally {
      await small.stop();
    }
  });

  it('wss: accepted when python trusts the test CA (byte-exact echo), refused with the system store alone', async () => {
    const tls = startRsServer({ pool, tls: { key: pem('server-key.pem'), cert: pem('server-cert.pem') }, inboundBufferSize: BIG, outboundBufferSize: BIG });
    try {
      const msgs: Array<[Kind, number]> = [['text', 125], ['binary', 64 * 1024]];
      const ok = await pyClient(`wss://127.0.0.1:${tls.port}/secure`, msgs, ['--ca', fixture('ca-cert.pem'), '--close', '4000', 'tls bye']);
      expect(ok.error).toBeNull();
      expect(ok.replies.map((r) => [r.type, r.len, r.equal])).toEqual([['text', 125, true], ['binary', 65536, true]]);
      await waitFor(() => tls.peers[0]?.closed !== undefined, 'the wss peer CLOSED');
      expect(tls.peers[0]!.closed).toMatchObject({ code: 4000, reason: 'tls bye' });

      const refused = await pyClient(`wss://127.0.0.1:${tls.port}/secure`, msgs, ['--close', '4000', 'x']);
      expect(refused.opened).toBe(false);
      expect(refused.error).toMatch(/CERTIFICATE_VERIFY_FAILED/);
      const wrong = await pyClient(`wss://127.0.0.1:${tls.port}/secure`, msgs, ['--ca', fixture('other-cert.pem'), '--close', '4000', 'x']);
      expect(wrong.opened).toBe(false);
      expect(wrong.error).toMatch(/CERTIFICATE_VERIFY_FAILED/);
      await waitFor(() => tls.tlsFailures === 2, 'two refused TLS handshakes on the server');
      expect(tls.peers).toHaveLength(1);
    } finally {
      await tls.stop();
    }
  });
});

describe.runIf(run)('ringsocket client, python-websockets server', () => {
  let py: PyServer;
  beforeAll(async () => {
    py = await pyServer();
  });
  afterAll(async () => py?.stop());

  async function open(url: string, tls?: TLSOptions, big = true): Promise<WebSocketPeer> {
    const peer = new WebSocketPeer({ pool });
    if (big) {
      peer.inboundBufferSize = BIG;
      peer.outboundBufferSize = BIG;
    }
    expect(peer.connectToUrl(url, tls)).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, `${url} to open`, 20_000);
    return peer;
  }

  it('text and binary of 0 B, 125 B, 64 KiB, 1 MiB arrive byte-exact both ways; ringsocket closes with 4001 + reason and python sees it', async () => {
    const from = py.events.length;
    const peer = await open(`ws://127.0.0.1:${py.port}/rs`);
    expect(peer.getReadyState()).toBe(State.OPEN);
    for (const [k, n] of MESSAGES) {
      const bytes = payload(k, n);
      expect(peer.send(bytes, k === 'text' ? WriteMode.TEXT : WriteMode.BINARY)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, `the echo of ${k} ${n} B`, 20_000);
      const got = peer.getPacket();
      expect([peer.wasStringPacket(), got.byteLength]).toEqual([k === 'text', n]);
      expect(Buffer.from(got).equals(Buffer.from(bytes))).toBe(true);
    }
    // python's view of what ringsocket sent
    const msgs = py.events.slice(from).filter((e) => e.event === 'message');
    expect(msgs.map((e) => [e.type, e.len, e.expected, e.sha256])).toEqual(MESSAGES.map(([k, n]) => [k, n, true, sha256(payload(k, n))]));
    expect(peer.close(4001, 'rs bye')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close', 20_000);
    expect(peer.getCloseCode()).toBe(4001);
    expect(await closedEvent(py, from)).toMatchObject({ code: 4001, reason: 'rs bye' });
  });

  it('python closes with 4000 + reason and ringsocket sees it', async () => {
    const from = py.events.length;
    const peer = await open(`ws://127.0.0.1:${py.port}/close`);
    expect(peer.sendText('cmd:close:4000:py bye')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'the server close', 20_000);
    expect([peer.getCloseCode(), peer.getCloseReason()]).toEqual([4000, 'py bye']);
    expect((await closedEvent(py, from)).code).toBe(4000);
  });

  it('with the default inboundBufferSize (65535): a 64 KiB message from python gets 1009', async () => {
    const from = py.events.length;
    const peer = await open(`ws://127.0.0.1:${py.port}/limit`, undefined, false);
    expect(peer.sendText('cmd:send:binary:65535')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, 'the 65535 B message', 20_000);
    expect(Buffer.from(peer.getPacket()).equals(Buffer.from(payload('binary', 65535)))).toBe(true);
    expect(peer.sendText('cmd:send:binary:65536')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'the 1009 close', 20_000);
    expect(peer.getCloseCode()).toBe(-1);
    expect(peer.getFailureReason()).toMatch(/WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
    expect((await closedEvent(py, from)).code).toBe(1009);
  });

  it('wss: accepted with TLSOptions.client(test CA), refused without it or with another CA', async () => {
    const tlsPy = await pyServer(['--cert', fixture('server-cert.pem'), '--key', fixture('server-key.pem')]);
    try {
      const url = `wss://127.0.0.1:${tlsPy.port}/secure`;
      const peer = await open(url, TLSOptions.client(pem('ca-cert.pem')));
      expect(peer.getReadyState()).toBe(State.OPEN);
      const bytes = payload('binary', 64 * 1024);
      expect(peer.send(bytes)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, 'the wss echo', 20_000);
      expect(Buffer.from(peer.getPacket()).equals(Buffer.from(bytes))).toBe(true);
      expect(peer.close(4001, 'wss bye')).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'wss close', 20_000);
      expect(peer.getCloseCode()).toBe(4001);
      expect(await closedEvent(tlsPy, 0)).toMatchObject({ code: 4001, reason: 'wss bye' });

      for (const tls of [TLSOptions.client(), TLSOptions.client(pem('other-cert.pem'))]) {
        const refused = await open(url, tls);
        expect(refused.getReadyState()).toBe(State.CLOSED);
        expect(refused.getCloseCode()).toBe(-1);
        expect(refused.getFailureReason()).toMatch(/CERT|SELF_SIGNED|ISSUER|verify/i);
      }
      expect(tlsPy.events.filter((e) => e.event === 'open')).toHaveLength(1);
    } finally {
      await tlsPy.stop();
    }
  });
});

describe.runIf(run)('permessage-deflate with python-websockets (issue 16)', () => {
  it('python client with compression -> ringsocket server with perMessageDeflate: negotiated, 0 B - 1 MiB byte-exact both ways', async () => {
    const rs = startRsServer({ pool, inboundBufferSize: BIG, outboundBufferSize: BIG, perMessageDeflate: true });
    const tap = await startWireTap(rs.port);
    try {
      const out = await pyClient(`ws://127.0.0.1:${tap.port}/deflate`, MESSAGES, ['--deflate', '--close', '1000', 'bye']);
      expect(out.error).toBeNull();
      expect(out.extensions).toMatch(/^permessage-deflate/);
      expect(out.replies.map((r) => [r.type, r.len, r.equal])).toEqual(MESSAGES.map(([k, n]) => [k, n, true]));
      const e = rs.peers[0]!;
      expect(e.peer.getSelectedExtensions()).toBe(out.extensions);
      for (const [i, [k, n]] of MESSAGES.entries()) expect(Buffer.from(e.received[i]!.bytes).equals(Buffer.from(payload(k, n)))).toBe(true);
      expect(out.close_code).toBe(1000);
      expectCompressedOnTheWire(tap);
    } finally {
      await tap.close();
      await rs.stop();
    }
  });

  it('ringsocket client with perMessageDeflate -> python server with compression: negotiated, 0 B - 1 MiB byte-exact both ways', async () => {
    const py = await pyServer(['--deflate']);
    const tap = await startWireTap(py.port);
    try {
      const from = py.events.length;
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = BIG;
      peer.outboundBufferSize = BIG;
      peer.perMessageDeflate = true;
      expect(peer.connectToUrl(`ws://127.0.0.1:${tap.port}/deflate`)).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, 'open', 20_000);
      expect(peer.getReadyState()).toBe(State.OPEN);
      expect(peer.getSelectedExtensions()).toMatch(/^permessage-deflate/);
      for (const [k, n] of MESSAGES) {
        const bytes = payload(k, n);
        expect(peer.send(bytes, k === 'text' ? WriteMode.TEXT : WriteMode.BINARY)).toBe(ErrorCode.OK);
        await pollUntil(peer, () => peer.getAvailablePacketCount() > 0, `the echo of ${k} ${n} B`, 20_000);
        expect(Buffer.from(peer.getPacket()).equals(Buffer.from(bytes))).toBe(true);
      }
      const msgs = py.events.slice(from).filter((e) => e.event === 'message');
      expect(msgs.map((e) => [e.type, e.len, e.expected])).toEqual(MESSAGES.map(([k, n]) => [k, n, true]));
      expect(peer.close(1000, '')).toBe(ErrorCode.OK);
      await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close', 20_000);
      expect(peer.getCloseCode()).toBe(1000);
      expectCompressedOnTheWire(tap, 'toServer');
    } finally {
      await tap.close();
      await py.stop();
    }
  });
});
