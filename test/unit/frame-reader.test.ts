/**
 * workers/frame-reader.ts, driven directly with Buffers (a pure parser; its real-socket tests come with
 * its use in connection.ts). ws's own Receiver is the reference: same bytes, same chunks → the same
 * messages, pings, pongs, close, and the same close code and error code for every violation.
 */
import { describe, expect, it } from 'vitest';
import { COPY, FrameReader, WAIT, isValidStatusCode } from '../../dist/workers/frame-reader.js';
import { buildFrame, readerReceive, RecordingSink, splitAt, wsReceive, type FrameEvent, type ReaderOpts, type SinkPolicy } from '../helpers/frames.js';
import { mulberry32 } from '../helpers/prng.js';

const SERVER: ReaderOpts = { server: true, maxPayload: 1 << 20 };
const CLIENT: ReaderOpts = { server: false, maxPayload: 1 << 20 };
const KEY = 0x12345678 | 0;
const b = (...xs: number[]): Buffer => Buffer.from(xs);
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Client frames (masked with KEY) or server frames (unmasked). */
function f(server: boolean, opcode: number, payload: Uint8Array | string, opts: { fin?: boolean; rsv?: number; len?: number; mask?: number | null } = {}): Buffer {
  const data = typeof payload === 'string' ? utf8(payload) : payload;
  return buildFrame(opcode, data, { mask: server ? KEY : null, ...opts });
}

/** A stream exercising every valid feature: text, binary, lengths 0/125/126/200, fragments, controls in between, close. */
function validStream(server: boolean): Buffer {
  const big = Buffer.alloc(300, 0x5a).fill(0x41, 0, 10);
  return Buffer.concat([
    f(server, 1, 'héllo €'),
    f(server, 2, b(0, 1, 2, 3, 4, 5, 6, 7, 8)),
    f(server, 2, Buffer.alloc(0)),
    f(server, 1, ''),
    // "€" (E2 82 AC) cut between fragments, a ping and a pong between them.
    f(server, 1, b(0x61, 0xe2), { fin: false }),
    f(server, 9, 'p1'),
    f(server, 0, b(0x82), { fin: false }),
    f(server, 10, ''),
    f(server, 0, b(0xac, 0x62)),
    f(server, 2, Buffer.alloc(125, 7)),
    f(server, 2, Buffer.alloc(126, 8)),
    f(server, 1, big, { fin: false }),
    f(server, 0, Buffer.alloc(0), { fin: false }),
    f(server, 0, utf8('😀 ok')),
    f(server, 8, Buffer.concat([b(0x03, 0xe8), utf8('bye ✓')])),
  ]);
}

const POLICIES: [string, (seed: number) => SinkPolicy][] = [
  ['target memory (SharedArrayBuffer)', () => ({ place: 'target', waitP: 0, stopP: 0, rand: Math.random, shared: true })],
  ['slices (COPY)', () => ({ place: 'copy', waitP: 0, stopP: 0, rand: Math.random, shared: false })],
  ['mixed, with WAIT and stops', (seed) => ({ place: 'mixed', waitP: 0.4, stopP: 0.4, rand: mulberry32(seed), shared: false })],
];

describe('FrameReader agrees with ws Receiver on valid streams', () => {
  for (const side of [SERVER, CLIENT]) {
    const name = side.server ? 'server side (masked frames)' : 'client side (unmasked frames)';
    const bytes = validStream(side.server);
    const expected = wsReceive([bytes], side);

    it(`${name}: the reference itself reads the stream (sanity)`, () => {
      expect(expected.filter((e) => e.type === 'message')).toHaveLength(8);
      expect(expected.at(-1)).toEqual({ type: 'close', code: 1000, reason: utf8('bye ✓').toString('hex') });
    });

    for (const [label, policy] of POLICIES) {
      it(`${name}, ${label}: every split into two chunks`, () => {
        for (let i = 1; i < bytes.length; i++) {
          const got = readerReceive(splitAt(bytes, [i]), side, policy(i)).events;
          if (JSON.stringify(got) !== JSON.stringify(expected)) expect({ split: i, got }).toEqual({ split: i, got: expected });
        }
      });
    }

    it(`${name}: one byte per chunk`, () => {
      const chunks = [...bytes].map((x) => b(x));
      expect(readerReceive(chunks, side).events).toEqual(expected);
      expect(readerReceive(chunks, side, POLICIES[2]![1](7)).events).toEqual(expected);
    });

    it(`${name}: every split into three chunks of a shorter stream`, () => {
      const short = Buffer.concat([f(side.server, 1, 'a€', { fin: false }), f(side.server, 9, 'x'), f(side.server, 0, 'b'), f(side.server, 2, b(1, 2, 3, 4, 5))]);
      const want = wsReceive([short], side);
      for (let i = 1; i < short.length; i++) {
        for (let j = i + 1; j < short.length; j++) {
          const got = readerReceive(splitAt(short, [i, j]), side, POLICIES[2]![1](i * 100 + j)).events;
          if (JSON.stringify(got) !== JSON.stringify(want)) expect({ i, j, got }).toEqual({ i, j, got: want });
        }
      }
    });
  }

  it('after the close frame the reader is done and ignores what follows (as ws)', () => {
    const bytes = Buffer.concat([f(true, 8, b(0x03, 0xe8)), f(true, 1, 'late'), b(0xff, 0xff)]);
    const { events, reader } = readerReceive([bytes], SERVER);
    expect(events).toEqual(wsReceive([bytes], SERVER));
    expect(events).toEqual([{ type: 'close', code: 1000, reason: '' }]);
    expect(reader.done).toBe(true);
  });

  it('an empty close frame reports 1005; a zero mask key works', () => {
    const bytes = Buffer.concat([buildFrame(1, utf8('zero key'), { mask: 0 }), f(true, 8, Buffer.alloc(0))]);
    expect(readerReceive([bytes], SERVER).events).toEqual(wsReceive([bytes], SERVER));
    expect(readerReceive([bytes], SERVER).events.at(-1)).toEqual({ type: 'close', code: 1005, reason: '' });
  });

  it('large payloads: 70,000 B (64-bit length) and 65,535 B, in target memory and as slices, in uneven chunks', () => {
    const rand = mulberry32(3);
    const p1 = Buffer.from(Array.from({ length: 70000 }, () => (rand() * 256) | 0));
    const p2 = Buffer.from(Array.from({ length: 65535 }, () => (rand() * 256) | 0));
    const bytes = Buffer.concat([f(true, 2, p1), f(true, 2, p2, { fin: false }), f(true, 0, p1.subarray(0, 3))]);
    const cuts = [1, 5, 9, 1000, 1001, 40000, 70013, 70020, 100000];
    const want = wsReceive(splitAt(bytes, cuts), SERVER);
    expect(want).toHaveLength(2);
    for (const [, policy] of POLICIES) expect(readerReceive(splitAt(bytes, cuts), SERVER, policy(5)).events).toEqual(want);
  });
});

/** Violations: bytes, the close code and ws's error code. */
const VIOLATIONS: { name: string; server: boolean; bytes: () => Buffer; status: number; code: string; maxPayload?: number }[] = [
  { name: 'unmasked client frame (server side)', server: true, bytes: () => f(false, 1, 'hi'), status: 1002, code: 'WS_ERR_EXPECTED_MASK' },
  { name: 'masked server frame (client side)', server: false, bytes: () => f(true, 1, 'hi'), status: 1002, code: 'WS_ERR_UNEXPECTED_MASK' },
  { name: 'RSV1 without an extension', server: true, bytes: () => f(true, 1, 'hi', { rsv: 0b100 }), status: 1002, code: 'WS_ERR_UNEXPECTED_RSV_1' },
  { name: 'RSV2', server: true, bytes: () => f(true, 2, 'hi', { rsv: 0b010 }), status: 1002, code: 'WS_ERR_UNEXPECTED_RSV_2_3' },
  { name: 'RSV3', server: false, bytes: () => f(false, 2, 'hi', { rsv: 0b001 }), status: 1002, code: 'WS_ERR_UNEXPECTED_RSV_2_3' },
  { name: 'RSV1 on a continuation', server: true, bytes: () => Buffer.concat([f(true, 1, 'a', { fin: false }), f(true, 0, 'b', { rsv: 0b100 })]), status: 1002, code: 'WS_ERR_UNEXPECTED_RSV_1' },
  { name: 'RSV1 on a ping', server: true, bytes: () => f(true, 9, 'p', { rsv: 0b100 }), status: 1002, code: 'WS_ERR_UNEXPECTED_RSV_1' },
  { name: 'reserved data opcode 0x3', server: true, bytes: () => f(true, 3, 'x'), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'reserved data opcode 0x7', server: false, bytes: () => f(false, 7, 'x'), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'reserved control opcode 0xB', server: true, bytes: () => f(true, 0xb, 'x'), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'reserved control opcode 0xF', server: true, bytes: () => f(true, 0xf, ''), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'continuation without a start', server: true, bytes: () => f(true, 0, 'orphan'), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'continuation after a finished message', server: true, bytes: () => Buffer.concat([f(true, 1, 'done'), f(true, 0, 'more')]), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'new text frame inside a fragmented message', server: true, bytes: () => Buffer.concat([f(true, 2, 'a', { fin: false }), f(true, 1, 'b')]), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'new binary frame inside a fragmented message', server: false, bytes: () => Buffer.concat([f(false, 1, 'a', { fin: false }), f(false, 2, 'b')]), status: 1002, code: 'WS_ERR_INVALID_OPCODE' },
  { name: 'ping of 126 bytes', server: true, bytes: () => f(true, 9, Buffer.alloc(126)), status: 1002, code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' },
  { name: 'pong with a 16-bit length of 125 declared as 126', server: true, bytes: () => f(true, 10, Buffer.alloc(200)), status: 1002, code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' },
  { name: 'fragmented ping (FIN = 0)', server: true, bytes: () => f(true, 9, 'p', { fin: false }), status: 1002, code: 'WS_ERR_EXPECTED_FIN' },
  { name: 'fragmented close (FIN = 0)', server: false, bytes: () => f(false, 8, b(3, 0xe8), { fin: false }), status: 1002, code: 'WS_ERR_EXPECTED_FIN' },
  { name: 'close with a 1-byte payload', server: true, bytes: () => f(true, 8, b(0x03)), status: 1002, code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' },
  { name: 'close code 1005', server: true, bytes: () => f(true, 8, b(0x03, 0xed)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 1006', server: true, bytes: () => f(true, 8, b(0x03, 0xee)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 1004', server: false, bytes: () => f(false, 8, b(0x03, 0xec)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 1015', server: true, bytes: () => f(true, 8, b(0x03, 0xf7)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 999', server: true, bytes: () => f(true, 8, b(0x03, 0xe7)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 2999', server: true, bytes: () => f(true, 8, b(0x0b, 0xb7)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close code 5000', server: true, bytes: () => f(true, 8, b(0x13, 0x88)), status: 1002, code: 'WS_ERR_INVALID_CLOSE_CODE' },
  { name: 'close reason not UTF-8', server: true, bytes: () => f(true, 8, b(0x03, 0xe8, 0xc3, 0x28)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'close reason cut inside a sequence', server: false, bytes: () => f(false, 8, b(0x03, 0xe8, 0x61, 0xe2, 0x82)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: invalid byte 0xFF', server: true, bytes: () => f(true, 1, b(0x68, 0xff, 0x69)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: overlong 2-byte (C0 80)', server: true, bytes: () => f(true, 1, b(0xc0, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: overlong 2-byte (C1 BF)', server: true, bytes: () => f(true, 1, b(0xc1, 0xbf)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: overlong 3-byte (E0 80 80)', server: true, bytes: () => f(true, 1, b(0xe0, 0x80, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: overlong 3-byte (E0 9F BF)', server: false, bytes: () => f(false, 1, b(0xe0, 0x9f, 0xbf)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: overlong 4-byte (F0 8F BF BF)', server: true, bytes: () => f(true, 1, b(0xf0, 0x8f, 0xbf, 0xbf)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: surrogate U+D800 (ED A0 80)', server: true, bytes: () => f(true, 1, b(0x61, 0xed, 0xa0, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: surrogate U+DFFF (ED BF BF)', server: true, bytes: () => f(true, 1, b(0xed, 0xbf, 0xbf)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: above U+10FFFF (F4 90 80 80)', server: true, bytes: () => f(true, 1, b(0xf4, 0x90, 0x80, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: lead F5', server: true, bytes: () => f(true, 1, b(0xf5, 0x80, 0x80, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: lone continuation byte', server: true, bytes: () => f(true, 1, b(0x61, 0x80)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: sequence cut by a non-continuation', server: true, bytes: () => f(true, 1, b(0xe2, 0x82, 0x61)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: truncated sequence at the message end', server: true, bytes: () => f(true, 1, b(0x61, 0xe2, 0x82)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  {
    name: 'text: truncated sequence at the end of a fragmented message',
    server: true,
    bytes: () => Buffer.concat([f(true, 1, b(0x61, 0xf0, 0x9f), { fin: false }), f(true, 0, b(0x98), { fin: true })]),
    status: 1007,
    code: 'WS_ERR_INVALID_UTF8',
  },
  { name: 'text: long (native check) with an invalid byte at 700', server: true, bytes: () => f(true, 1, Buffer.alloc(1000, 0x61).fill(0xff, 700, 701)), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'text: long, a surrogate at the very end', server: true, bytes: () => f(true, 1, Buffer.concat([Buffer.alloc(600, 0x61), b(0xed, 0xa0, 0x80)])), status: 1007, code: 'WS_ERR_INVALID_UTF8' },
  { name: 'message over maxPayload (one frame)', server: true, bytes: () => f(true, 2, Buffer.alloc(101)), status: 1009, code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', maxPayload: 100 },
  { name: 'message exactly at maxPayload, then one over', server: true, bytes: () => Buffer.concat([f(true, 2, Buffer.alloc(100)), f(true, 1, Buffer.alloc(101, 0x61))]), status: 1009, code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', maxPayload: 100 },
  {
    name: 'fragments summing over maxPayload',
    server: true,
    bytes: () => Buffer.concat([f(true, 2, Buffer.alloc(60), { fin: false }), f(true, 9, ''), f(true, 0, Buffer.alloc(41))]),
    status: 1009,
    code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    maxPayload: 100,
  },
  { name: '64-bit length above 2^53 - 1', server: true, bytes: () => f(true, 2, Buffer.alloc(0), { len: 2 ** 53 }), status: 1009, code: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' },
  { name: '64-bit length 2^63 (high bit)', server: false, bytes: () => Buffer.concat([b(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0)]), status: 1009, code: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' },
  { name: '64-bit length 2^53 - 1 over maxPayload', server: true, bytes: () => f(true, 2, Buffer.alloc(0), { len: 2 ** 53 - 1 }), status: 1009, code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' },
];

describe('FrameReader violations: the close code and ws error code, as ws Receiver', () => {
  for (const v of VIOLATIONS) {
    it(`${v.name} → ${v.status} ${v.code}, at every split point`, () => {
      const opts: ReaderOpts = { server: v.server, maxPayload: v.maxPayload ?? 1 << 20 };
      // A valid message first: it is delivered before the failure.
      const bytes = Buffer.concat([f(v.server, 2, b(1, 2, 3)), v.bytes()]);
      const want = wsReceive([bytes], opts);
      expect(want.at(-1)).toEqual({ type: 'fail', status: v.status, code: v.code });
      const splits = bytes.length > 300 ? [1, 5, 12, 100, 300, 700, bytes.length - 1] : Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      for (const i of splits) {
        for (const [, policy] of POLICIES) {
          const { events, reader } = readerReceive(splitAt(bytes, [i]), opts, policy(i));
          if (JSON.stringify(events) !== JSON.stringify(want)) expect({ split: i, events }).toEqual({ split: i, events: want });
          expect(reader.done).toBe(true);
        }
      }
    });
  }

  it('after a violation nothing more is reported (junk after it is ignored)', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    const chunk = Buffer.concat([f(true, 3, 'x'), f(true, 1, 'never'), b(0xff, 0xff, 0xff)]);
    expect(r.push(chunk)).toBe(chunk.length);
    expect(r.push(f(true, 1, 'later'))).toBe(f(true, 1, 'later').length);
    expect(sink.events).toEqual([{ type: 'fail', status: 1002, code: 'WS_ERR_INVALID_OPCODE' }]);
  });

  it('1009 comes from the header alone: the payload is never read (nor asked for)', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, { server: true, maxPayload: 1000 });
    // Only the header of a 1 MiB frame: the reader must fail now, not wait for a megabyte.
    const head = f(true, 2, Buffer.alloc(0), { len: 1 << 20 });
    expect(r.push(head)).toBe(head.length);
    expect(sink.events).toEqual([{ type: 'fail', status: 1009, code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }]);
    expect(sink.calls).toEqual([]);
  });

  it('64-bit length above 2^53 - 1 fails after its high word, before the rest of the header arrives', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    r.push(b(0x82, 0xff, 0x00, 0x20, 0x00, 0x00)); // high word 0x00200000 = 2^21: length ≥ 2^53
    expect(sink.events).toEqual([{ type: 'fail', status: 1009, code: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' }]);
  });

  it('isValidStatusCode matches RFC 6455 §7.4 as ws reads it', () => {
    const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999];
    const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];
    for (const c of valid) expect(isValidStatusCode(c)).toBe(true);
    for (const c of invalid) expect(isValidStatusCode(c)).toBe(false);
  });
});

describe('FrameReader: incremental UTF-8', () => {
  const samples = ['a', 'é', '€', '😀', 'ÿ€😀a', '\u{10FFFF}', '\u{FFFF}', '\u{D7FF}\u{E000}', '\u{80}\u{7FF}\u{800}\u{10000}'];

  it('valid multi-byte sequences cut at every byte, across fragments and across chunks', () => {
    for (const s of samples) {
      const text = utf8(s + s);
      for (let cut = 0; cut <= text.length; cut++) {
        // The message as two fragments cut at `cut` (possibly inside a sequence), a ping between them.
        const bytes = Buffer.concat([f(true, 1, text.subarray(0, cut), { fin: false }), f(true, 9, 'p'), f(true, 0, text.subarray(cut))]);
        const want: FrameEvent[] = [
          { type: 'ping', data: utf8('p').toString('hex') },
          { type: 'message', text: true, data: text.toString('hex') },
        ];
        expect(wsReceive([bytes], SERVER)).toEqual(want);
        // Every split point; the sink's policy taken in turn (all three for every split took 17 s under load).
        for (let i = 1; i < bytes.length; i++) expect(readerReceive(splitAt(bytes, [i]), SERVER, POLICIES[(i + cut) % 3]![1](i)).events).toEqual(want);
      }
    }
  });

  it('fails fast: an invalid byte in the first fragment fails before the message ends (ws waits for FIN)', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    r.push(Buffer.concat([f(true, 1, b(0x61, 0xc0, 0x80), { fin: false })]));
    expect(sink.events).toEqual([{ type: 'fail', status: 1007, code: 'WS_ERR_INVALID_UTF8' }]);
    // …and even inside one frame, as soon as the chunk with the bad byte is in:
    const sink2 = new RecordingSink({ place: 'copy', waitP: 0, stopP: 0, rand: Math.random, shared: false });
    const r2 = new FrameReader(sink2, SERVER);
    const whole = f(true, 1, Buffer.concat([utf8('ok '), b(0xed, 0xa0), Buffer.alloc(100, 0x61)]));
    r2.push(whole.subarray(0, 6 + 5));
    expect(sink2.events).toEqual([{ type: 'fail', status: 1007, code: 'WS_ERR_INVALID_UTF8' }]);
  });

  it('a truncated sequence is accepted until the message ends, then fails with 1007', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    r.push(f(true, 1, b(0x61, 0xf0, 0x9f, 0x98), { fin: false }));
    expect(sink.events).toEqual([]);
    r.push(f(true, 0, b(0x80, 0xf0)));
    expect(sink.events).toEqual([{ type: 'fail', status: 1007, code: 'WS_ERR_INVALID_UTF8' }]);
  });

  it('long text (native check path) with multi-byte sequences across chunk ends', () => {
    const text = utf8('€😀é'.repeat(400) + 'x');
    const bytes = f(true, 1, text);
    const want = wsReceive([bytes], SERVER);
    for (let i = 1; i < 40; i++) {
      const cuts = [i, i + 300, i + 301, i + 1100, i + 2000];
      for (const [, policy] of POLICIES) expect(readerReceive(splitAt(bytes, cuts), SERVER, policy(i)).events).toEqual(want);
    }
  });

  it('binary messages are not checked', () => {
    const bytes = f(true, 2, b(0xff, 0xc0, 0xed, 0xa0, 0x80));
    expect(readerReceive([bytes], SERVER).events).toEqual([{ type: 'message', text: false, data: 'ffc0eda080' }]);
  });
});

describe('FrameReader: the sink, target memory, and stopping mid-chunk', () => {
  it('a whole small message in one chunk: start (with its length and what is available), its bytes in target memory, end; no slices', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    const payload = Buffer.alloc(64, 0x61);
    const chunk = f(true, 1, payload);
    expect(r.push(chunk)).toBe(chunk.length);
    expect(sink.calls).toEqual(['start text 64 fin 64 -> 0', 'end']);
    expect(sink.events).toEqual([{ type: 'message', text: true, data: payload.toString('hex') }]);
  });

  it('`available` tells how much of the frame is in the chunk; the rest goes to the same place on the next push', () => {
    const sink = new RecordingSink();
    const r = new FrameReader(sink, SERVER);
    const payload = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
    const chunk = f(true, 2, payload);
    r.push(chunk.subarray(0, 50)); // 8-byte header + 42 payload bytes
    r.push(chunk.subarray(50));
    expect(sink.calls).toEqual(['start binary 200 fin 42 -> 0', 'end']);
    expect(sink.events).toEqual([{ type: 'message', text: false, data: payload.toString('hex') }]);
  });

  it('WAIT stops before the payload: push returns where the payload starts, and the same frame is asked for again', () => {
    let answer = WAIT;
    const calls: string[] = [];
    const target = new Uint8Array(64);
    const sink = {
      target,
      messageStart: (text: boolean, len: number, fin: boolean, avail: number) => {
        calls.push(`start ${text} ${len} ${fin} ${avail}`);
        return answer;
      },
      messageContinue: () => COPY,
      messageData: () => true,
      messageEnd: () => calls.push('end'),
      ping: () => calls.push('ping'),
      pong: () => undefined,
      close: () => undefined,
      fail: (s: number, c: string) => calls.push(`fail ${s} ${c}`),
    };
    const r = new FrameReader(sink, SERVER);
    const first = f(true, 9, 'x'); // a ping before it is still read
    const msg = f(true, 2, b(9, 8, 7));
    const chunk = Buffer.concat([first, msg]);
    const at = r.push(chunk);
    expect(at).toBe(first.length + 6); // header (2) + key (4) of the message read, its payload not
    expect(calls).toEqual(['ping', 'start false 3 true 3']);
    answer = 16;
    expect(r.push(chunk, at)).toBe(chunk.length);
    expect(calls).toEqual(['ping', 'start false 3 true 3', 'start false 3 true 3', 'end']);
    expect([...target.subarray(16, 19)]).toEqual([9, 8, 7]);
    expect(r.idle).toBe(true);
  });

  it('WAIT for a frame whose header ends the chunk: push took it all, `waiting` says to push again (an empty rest)', () => {
    let answer = WAIT;
    const ends: number[] = [];
    const sink = new RecordingSink();
    sink.messageContinue = () => answer;
    sink.messageEnd = () => void ends.push(1);
    const r = new FrameReader(sink, SERVER);
    r.push(f(true, 1, 'ab', { fin: false }));
    const last = f(true, 0, ''); // an empty final fragment: header only
    expect(r.push(last)).toBe(last.length);
    expect(r.waiting).toBe(true);
    expect(ends).toEqual([]);
    answer = COPY;
    expect(r.push(Buffer.alloc(0))).toBe(0);
    expect(r.waiting).toBe(false);
    expect(ends).toEqual([1]);
  });

  it('messageData answering false stops after that slice: the bytes are not read twice', () => {
    const slices: string[] = [];
    let stop = true;
    const sink = {
      target: new Uint8Array(0),
      messageStart: () => COPY,
      messageContinue: () => COPY,
      messageData: (bytes: Uint8Array, s: number, e: number) => {
        slices.push(Buffer.from(bytes.subarray(s, e)).toString());
        const go = !stop;
        stop = false;
        return go;
      },
      messageEnd: () => slices.push('|'),
      ping: () => undefined,
      pong: () => undefined,
      close: () => undefined,
      fail: () => undefined,
    };
    const r = new FrameReader(sink, SERVER);
    const chunk = Buffer.concat([f(true, 1, 'abc'), f(true, 1, 'def')]);
    const at = r.push(chunk);
    expect(at).toBe(9); // the first frame, whole (its end reported), nothing of the second
    expect(slices).toEqual(['abc', '|']);
    expect(r.push(chunk, at)).toBe(chunk.length);
    expect(slices).toEqual(['abc', '|', 'def', '|']);
  });

  it('a control frame split across chunks is gathered (the reader holds it only until it is whole)', () => {
    const bytes = Buffer.concat([f(true, 9, Buffer.alloc(125, 0x70)), f(true, 10, 'pong!')]);
    for (let i = 1; i < bytes.length; i++) expect(readerReceive(splitAt(bytes, [i]), SERVER).events).toEqual(wsReceive([bytes], SERVER));
  });

  it('many messages in one chunk under random WAITs and stops: all delivered, in order, once', () => {
    const rand = mulberry32(11);
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) frames.push(f(true, 1 + (i & 1), utf8(`message ${i} ${'€'.repeat(i % 7)}`)));
    const bytes = Buffer.concat(frames);
    const want = wsReceive([bytes], SERVER);
    const got = readerReceive([bytes], SERVER, { place: 'mixed', waitP: 0.3, stopP: 0.3, rand, shared: true });
    expect(got.events).toEqual(want);
    expect(got.resumes).toBeGreaterThan(50);
  });
});
