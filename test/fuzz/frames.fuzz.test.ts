/**
 * Property-based fuzzing of the frame path: a raw TCP client (masked frames, as clients must) sends random
 * valid and invalid frame sequences to a ringsocket server (TCPServer + WebSocketPeer, echoing in a
 * Godot-style loop here) whose pool has 4 KiB rings, so messages over 1 KiB also cross the rings as
 * fragments. The byte stream is chopped at random points into separate TCP writes (with pauses), messages
 * are fragmented at random points (also inside UTF-8 sequences), pings and pongs with random payloads are
 * interleaved between the fragments.
 *
 * Reference model:
 * - valid sequence: the peer receives exactly the messages sent (bytes, text/binary, order), the raw client
 *   gets them echoed in order and a pong per ping with its payload, and the closing handshake ends clean
 *   with the client's code and reason on both sides;
 * - invalid sequence (valid messages, maybe an open fragmented message, then one violation of RFC 6455 or
 *   of the size limit, then maybe junk): the raw client receives a close frame with the right code (1002
 *   protocol error, 1007 invalid UTF-8, 1009 too big) and the connection closes; the peer received exactly
 *   the complete messages sent before the violation and ends CLOSED with -1 and a WS_ERR_* reason; echoes
 *   that made it out before the close are a prefix of those messages;
 * - always: the workers are the same threads (none died), `pool.stats()` answers, and a healthy `ws`
 *   client on the same server still gets its echo.
 *
 * Run counts: test/helpers/fuzz.ts (FUZZ_RUNS, FUZZ_SEED).
 */
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode, type StreamPeerTCP } from '../helpers/lib.js';
import { closeCodeOf, frame, openWs, rawWebSocket, roundTrip, waitFor, type Frame, type OpenClient, type RawClient } from '../helpers/server.js';
import { fuzzParams, fuzzTimeout } from '../helpers/fuzz.js';

/** The peers' inboundBufferSize: larger messages fail with 1009. Over a ring record (1 KiB) on purpose. */
const LIMIT = 3000;

interface Received {
  bytes: Buffer;
  text: boolean;
}

interface ServerPeer {
  peer: WebSocketPeer;
  received: Received[];
}

let pool: PeerPool;
let server: TCPServer;
let port: number;
let timer: NodeJS.Timeout;
let healthy: OpenClient;
let threadIds: number[];
const live: ServerPeer[] = [];
/** Server peers by the raw client's port (the peer's connected port). */
const byPort = new Map<number, ServerPeer>();

beforeAll(async () => {
  pool = new PeerPool({ threads: 2, inboundRingSize: 4096, outboundRingSize: 4096 });
  server = new TCPServer({ pool });
  expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  port = server.getLocalPort();
  // The Godot server loop: accept, poll, record and echo every packet with its type.
  timer = setInterval(() => {
    while (server.isConnectionAvailable()) {
      const tcp: StreamPeerTCP = server.takeConnection()!;
      const peer = new WebSocketPeer({ pool });
      peer.inboundBufferSize = LIMIT;
      if (peer.acceptStream(tcp) !== ErrorCode.OK) continue;
      const sp = { peer, received: [] };
      live.push(sp);
      byPort.set(tcp.getConnectedPort(), sp);
    }
    for (let i = live.length - 1; i >= 0; i--) {
      const sp = live[i]!;
      sp.peer.poll();
      // Packets that arrived before a close stay readable after it.
      while (sp.peer.getAvailablePacketCount() > 0) {
        const b = sp.peer.getPacket();
        const text = sp.peer.wasStringPacket();
        sp.received.push({ bytes: Buffer.from(b), text });
        if (sp.peer.getReadyState() === State.OPEN) sp.peer.send(b, text ? WriteMode.TEXT : WriteMode.BINARY);
      }
      if (sp.peer.getReadyState() === State.CLOSED) live.splice(i, 1);
    }
  }, 1);
  healthy = await openWs(`ws://127.0.0.1:${port}/healthy`);
  threadIds = (await pool.stats()).map((w) => w.threadId);
});

afterAll(async () => {
  healthy?.ws.close();
  clearInterval(timer);
  server?.stop();
  for (const sp of live) sp.peer.close(-1);
  await pool?.close();
});

// ---- generators ----

interface Msg {
  text: boolean;
  payload: Buffer;
}

interface Control {
  opcode: 0x9 | 0xa;
  payload: Buffer;
}

/** A message and how it is sent: fragment boundaries, control frames between fragments. */
interface Sent {
  msg: Msg;
  frames: Buffer[];
  pings: Buffer[];
}

const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 900, maxLength: LIMIT }),
  fc.string({ unit: 'binary', minLength: 200, maxLength: 700 }), // up to 2.8 KB of 1-4 byte sequences
);
const binaryArb = fc.oneof(
  fc.uint8Array({ maxLength: 130 }),
  fc.integer({ min: 0, max: LIMIT }).map((n) => randomBytes(n)),
  fc.constantFrom(0, 1, 125, 126, 1023, 1024, 1025, 2048, LIMIT).map((n) => randomBytes(n)),
);
const msgArb: fc.Arbitrary<Msg> = fc.oneof(
  textArb.map((s) => ({ text: true, payload: Buffer.from(s, 'utf8') })).filter((m) => m.payload.length <= LIMIT),
  binaryArb.map((b) => ({ text: false, payload: Buffer.from(b) })),
);
const controlArb: fc.Arbitrary<Control> = fc.record({
  opcode: fc.constantFrom(0x9 as const, 0xa as const),
  payload: fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 125 })).map((b) => Buffer.from(b)),
});

/** Encode `msg` in fragments cut at `cuts` (fractions), with `controls` after fragment `at`. */
function encode(msg: Msg, cuts: number[], controls: { at: number; c: Control }[]): Sent {
  const n = msg.payload.length;
  const points = [...new Set(cuts.map((f) => Math.floor(f * (n + 1))))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p >= n) continue;
    parts.push(msg.payload.subarray(prev, p));
    prev = p;
  }
  parts.push(msg.payload.subarray(prev));
  const frames: Buffer[] = [];
  const pings: Buffer[] = [];
  parts.forEach((part, i) => {
    frames.push(frame(i === 0 ? (msg.text ? 0x1 : 0x2) : 0x0, part, { fin: i === parts.length - 1 }));
    for (const ctl of controls) {
      if (ctl.at % parts.length !== i) continue;
      frames.push(frame(ctl.c.opcode, ctl.c.payload));
      if (ctl.c.opcode === 0x9) pings.push(ctl.c.payload);
    }
  });
  return { msg, frames, pings };
}

const sentArb: fc.Arbitrary<Sent> = fc
  .tuple(
    msgArb,
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
    fc.array(fc.record({ at: fc.nat({ max: 4 }), c: controlArb }), { maxLength: 3 }),
  )
  .map(([m, cuts, controls]) => encode(m, cuts, controls));

/** How the byte stream is cut into TCP writes: chunk sizes used in turn, and a pause every `pauseEvery` writes. */
const chopArb = fc.record({
  sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 6 }),
  pauseEvery: fc.integer({ min: 0, max: 4 }),
});
type Chop = { sizes: number[]; pauseEvery: number };

/** Write `bytes` in chunks; stop early once the server closed or sent its close frame. */
async function writeChopped(c: RawClient, bytes: Buffer, chop: Chop): Promise<void> {
  let off = 0;
  let k = 0;
  while (off < bytes.length) {
    if (c.closed || c.frames().some((f) => f.opcode === 0x8)) return;
    const n = Math.min(chop.sizes[k % chop.sizes.length]!, bytes.length - off);
    await new Promise<void>((resolve) => c.socket.write(bytes.subarray(off, off + n), () => resolve()));
    off += n;
    k++;
    if (chop.pauseEvery > 0 && k % chop.pauseEvery === 0) await new Promise((r) => setTimeout(r, 1));
  }
}

/** Data messages (reassembled) and pongs among the frames a client received, and the close frame if any. */
function split(frames: Frame[]): { data: Msg[]; pongs: Buffer[]; close: Frame | null; afterClose: number } {
  const data: Msg[] = [];
  const pongs: Buffer[] = [];
  let close: Frame | null = null;
  let afterClose = 0;
  let open: { text: boolean; parts: Buffer[] } | null = null;
  for (const f of frames) {
    if (close !== null) {
      afterClose++;
      continue;
    }
    if (f.opcode === 0x8) close = f;
    else if (f.opcode === 0xa) pongs.push(f.payload);
    else if (f.opcode === 0x1 || f.opcode === 0x2 || f.opcode === 0x0) {
      if (f.opcode !== 0x0) open = { text: f.opcode === 0x1, parts: [] };
      open!.parts.push(f.payload);
      if (f.fin) {
        data.push({ text: open!.text, payload: Buffer.concat(open!.parts) });
        open = null;
      }
    }
  }
  return { data, pongs, close, afterClose };
}

const same = (a: Msg, b: Received | Msg): boolean => a.text === ('text' in b ? b.text : false) && a.payload.equals('bytes' in b ? b.bytes : b.payload);

async function connect(): Promise<{ c: RawClient; sp: ServerPeer }> {
  const c = await rawWebSocket(port);
  c.socket.setNoDelay(true);
  const p = c.localPort;
  await waitFor(() => byPort.get(p)?.peer.getReadyState() === State.OPEN, 'server peer OPEN');
  return { c, sp: byPort.get(p)! };
}

async function stillHealthy(what: string): Promise<void> {
  expect((await pool.stats()).map((w) => w.threadId)).toEqual(threadIds);
  const r = await roundTrip(healthy.ws, `still here after ${what}`, false);
  expect(r.data.toString()).toBe(`still here after ${what}`);
}

// ---- violations ----

interface Violation {
  name: string;
  frames: Buffer[];
  code: 1002 | 1007 | 1009;
  /** Whether it may come inside an open fragmented message (and still be this violation). */
  inFragment: boolean;
}

const BAD_UTF8: number[][] = [[0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98]];
const INVALID_CLOSE_CODES = fc.oneof(
  fc.integer({ min: 0, max: 999 }),
  fc.constantFrom(1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999),
  fc.integer({ min: 5000, max: 65535 }),
);
const code2 = (code: number): Buffer => Buffer.from([code >> 8, code & 0xff]);

/** A masked frame header declaring a 64-bit payload length `len` (no payload follows). */
function hugeHeader(opcode: number, len: bigint): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0x80 | opcode;
  b[1] = 0x80 | 127;
  b.writeBigUInt64BE(len, 2);
  randomBytes(4).copy(b, 10);
  return b;
}

const violationArb: fc.Arbitrary<Violation> = fc.oneof(
  fc.record({ op: fc.constantFrom(0x1, 0x2, 0x9), p: fc.string({ maxLength: 40 }) }).map(({ op, p }) => ({ name: `unmasked opcode ${op}`, frames: [frame(op, p, { mask: false })], code: 1002 as const, inFragment: true })),
  fc.record({ op: fc.constantFrom(0x1, 0x2, 0x9, 0xa), rsv: fc.integer({ min: 1, max: 7 }) }).map(({ op, rsv }) => ({ name: `RSV ${rsv} on opcode ${op}`, frames: [frame(op, 'x', { rsv })], code: 1002 as const, inFragment: op >= 0x8 })),
  fc.constantFrom(3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf).map((op) => ({ name: `reserved opcode ${op}`, frames: [frame(op, 'x')], code: 1002 as const, inFragment: true })),
  fc.boolean().map((fin) => ({ name: `continuation without a start (fin ${fin})`, frames: [frame(0x0, 'orphan', { fin })], code: 1002 as const, inFragment: false })),
  fc.record({ first: fc.constantFrom(0x1, 0x2), next: fc.constantFrom(0x1, 0x2), fin: fc.boolean() }).map(({ first, next, fin }) => ({
    name: 'new data frame inside a fragmented message',
    frames: [frame(first, 'half', { fin: false }), frame(next, 'other', { fin })],
    code: 1002 as const,
    inFragment: false,
  })),
  fc.record({ op: fc.constantFrom(0x8, 0x9, 0xa), n: fc.integer({ min: 126, max: 300 }) }).map(({ op, n }) => ({
    name: `control opcode ${op} with ${n} bytes`,
    frames: [frame(op, op === 0x8 ? Buffer.concat([code2(1000), Buffer.alloc(n - 2, 0x61)]) : randomBytes(n))],
    code: 1002 as const,
    inFragment: true,
  })),
  fc.constantFrom(0x8, 0x9, 0xa).map((op) => ({ name: `fragmented control opcode ${op}`, frames: [frame(op, op === 0x8 ? code2(1000) : 'p', { fin: false })], code: 1002 as const, inFragment: true })),
  fc
    .record({ pre: fc.string({ unit: 'binary', maxLength: 60 }), bad: fc.constantFrom(...BAD_UTF8), post: fc.string({ unit: 'binary', maxLength: 60 }), cut: fc.double({ min: 0, max: 1, noNaN: true }), frag: fc.boolean() })
    .map(({ pre, bad, post, cut, frag }) => {
      const payload = Buffer.concat([Buffer.from(pre), Buffer.from(bad), Buffer.from(post)]);
      const at = Math.floor(cut * payload.length);
      const frames = frag ? [frame(0x1, payload.subarray(0, at), { fin: false }), frame(0x0, payload.subarray(at))] : [frame(0x1, payload)];
      return { name: `invalid UTF-8 ${bad.map((b) => b.toString(16)).join(' ')} in a text message${frag ? ' (fragmented)' : ''}`, frames, code: 1007 as const, inFragment: false, payload };
    })
    .filter((v) => !isUtf8(v.payload))
    .map(({ payload: _p, ...v }) => v),
  fc.record({ bad: fc.constantFrom(...BAD_UTF8), pre: fc.string({ maxLength: 20 }) }).map(({ bad, pre }) => ({
    name: 'invalid UTF-8 in a close reason',
    frames: [frame(0x8, Buffer.concat([code2(1000), Buffer.from(pre), Buffer.from(bad)]))],
    code: 1007 as const,
    inFragment: true,
  })),
  fc.integer({ min: 0, max: 255 }).map((b) => ({ name: 'close frame with a 1-byte payload', frames: [frame(0x8, Buffer.from([b]))], code: 1002 as const, inFragment: true })),
  INVALID_CLOSE_CODES.map((code) => ({ name: `close code ${code}`, frames: [frame(0x8, code2(code))], code: 1002 as const, inFragment: true })),
  fc.record({ n: fc.integer({ min: LIMIT + 1, max: 3 * LIMIT }), text: fc.boolean() }).map(({ n, text }) => ({
    name: `${n}-byte message`,
    frames: [frame(text ? 0x1 : 0x2, Buffer.alloc(n, 0x61))],
    code: 1009 as const,
    inFragment: false,
  })),
  fc.array(fc.integer({ min: 1, max: LIMIT }), { minLength: 2, maxLength: 5 })
    .filter((parts) => parts.reduce((a, b) => a + b, 0) > LIMIT)
    .map((parts) => ({
      name: `fragmented message of ${parts.join('+')} bytes`,
      frames: parts.map((n, i) => frame(i === 0 ? 0x2 : 0x0, Buffer.alloc(n, 0x62), { fin: i === parts.length - 1 })),
      code: 1009 as const,
      inFragment: false,
    })),
  fc.bigInt({ min: 1n << 16n, max: (1n << 64n) - 1n }).map((len) => ({ name: `declared length ${len}`, frames: [hugeHeader(0x2, len)], code: 1009 as const, inFragment: false })),
);

// ---- properties ----

describe('frame path against a reference model (fast-check, raw TCP client)', () => {
  it(
    'valid sequences (chopped writes, fragments, pings/pongs between fragments): every message arrives and is echoed, in order, byte-exact; clean close',
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(sentArb, { minLength: 0, maxLength: 6 }),
          chopArb,
          fc.constantFrom(1000, 1001, 3000, 4999),
          fc.string({ maxLength: 30 }),
          async (sent, chop, code, reasonStr) => {
            const reason = Buffer.from(reasonStr).subarray(0, 123).toString();
            if (Buffer.byteLength(reason) > 123 || !isUtf8(Buffer.from(reason))) return;
            const { c, sp } = await connect();
            try {
              await writeChopped(c, Buffer.concat(sent.flatMap((s) => s.frames)), chop);
              const pings = sent.flatMap((s) => s.pings);
              await waitFor(() => {
                const s = split(c.frames());
                return c.closed || s.close !== null || (s.data.length >= sent.length && s.pongs.length >= pings.length);
              }, `${sent.length} echoes and ${pings.length} pongs`);
              const got = split(c.frames());
              expect(got.close, 'no close frame before the client closes').toBeNull();
              // The peer received exactly the messages, in order, with their type.
              expect(sp.received.length).toBe(sent.length);
              sent.forEach((s, i) => expect(same(s.msg, sp.received[i]!), `message ${i} at the peer`).toBe(true));
              // Echoed back in order, byte-exact; one pong per ping with its payload, in order.
              expect(got.data.length).toBe(sent.length);
              sent.forEach((s, i) => expect(same(s.msg, got.data[i]!), `echo ${i}`).toBe(true));
              expect(got.pongs.map((b) => b.toString('hex'))).toEqual(pings.map((b) => b.toString('hex')));
              // Clean close with the client's code and reason.
              c.write(frame(0x8, Buffer.concat([code2(code), Buffer.from(reason)])));
              await c.closedP;
              const fin = split(c.frames());
              expect(fin.close).not.toBeNull();
              expect(closeCodeOf(fin.close!)).toBe(code);
              await waitFor(() => sp.peer.getReadyState() === State.CLOSED, 'server peer CLOSED');
              expect(sp.peer.getCloseCode()).toBe(code);
              expect(sp.peer.getCloseReason()).toBe(reason);
            } finally {
              c.destroy();
              byPort.delete(c.localPort);
            }
            if (++n % 10 === 0) await stillHealthy(`valid run ${n}`);
          },
        ),
        fuzzParams(40),
      );
      await stillHealthy('the valid sequences');
    },
    fuzzTimeout(40, 300),
  );

  it(
    'invalid sequences: the right close code (1002/1007/1009), messages before the violation delivered exactly, the worker alive',
    async () => {
      const seen = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.array(sentArb, { maxLength: 3 }),
          violationArb,
          fc.option(fc.record({ text: fc.boolean(), part: fc.string({ maxLength: 50 }) }), { nil: null }),
          fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: null }),
          chopArb,
          async (sent, v, openFragment, junk, chop) => {
            const frames = [...sent.flatMap((s) => s.frames)];
            if (openFragment !== null && v.inFragment) frames.push(frame(openFragment.text ? 0x1 : 0x2, openFragment.part, { fin: false }));
            frames.push(...v.frames);
            if (junk !== null) frames.push(Buffer.from(junk));
            const { c, sp } = await connect();
            try {
              await writeChopped(c, Buffer.concat(frames), chop);
              await c.closedP; // the server closes after its close frame
              const got = split(c.frames());
              expect(got.close, `${v.name}: a close frame`).not.toBeNull();
              expect(closeCodeOf(got.close!), v.name).toBe(v.code);
              expect(got.afterClose, 'nothing after the close frame').toBe(0);
              // Echoes that made it out before the close: a prefix of the messages, in order.
              expect(got.data.length).toBeLessThanOrEqual(sent.length);
              got.data.forEach((m, i) => expect(same(sent[i]!.msg, m), `echo ${i}`).toBe(true));
              // The peer: every complete message before the violation, then CLOSED -1 with a WS_ERR_ reason.
              await waitFor(() => sp.peer.getReadyState() === State.CLOSED, 'server peer CLOSED');
              await waitFor(() => sp.received.length >= sent.length, 'messages before the violation at the peer', 2000).catch(() => undefined);
              expect(sp.received.length, `${v.name}: messages at the peer`).toBe(sent.length);
              sent.forEach((s, i) => expect(same(s.msg, sp.received[i]!), `message ${i} at the peer`).toBe(true));
              expect(sp.peer.getCloseCode()).toBe(-1);
              expect(sp.peer.getFailureReason()).toMatch(/^WS_ERR_/);
            } finally {
              c.destroy();
              byPort.delete(c.localPort);
            }
            seen.set(v.code, (seen.get(v.code) ?? 0) + 1);
            await stillHealthy(v.name);
          },
        ),
        fuzzParams(80),
      );
      // Each close code was exercised.
      expect([...seen.keys()].sort()).toEqual([1002, 1007, 1009]);
    },
    fuzzTimeout(80, 300),
  );
});
