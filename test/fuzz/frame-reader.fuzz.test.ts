/**
 * Property test of workers/frame-reader.ts against ws's own Receiver (the reference): random message
 * sequences (text with random Unicode, binary, empty), each fragmented at random points (also inside
 * UTF-8 sequences), pings and pongs between fragments, maybe a close, maybe one violation at the end;
 * the bytes cut into random chunks; the sink answering at random (target memory, slices, WAIT, stop).
 * Our reader must report exactly what ws reports: the messages, controls, close, and the close code and
 * error code of a violation.
 *
 * One known, intended difference is kept out of the generator: ws checks UTF-8 when a message ends, we
 * check as bytes arrive, so after an invalid fragment ws would still report the pings before the final
 * fragment. Invalid UTF-8 is generated only as a message's last fragment.
 *
 * Run counts: test/helpers/fuzz.ts (FUZZ_RUNS, FUZZ_SEED).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFrame, readerReceive, splitAt, wsReceive } from '../helpers/frames.js';
import { mulberry32 } from '../helpers/prng.js';
import { fuzzParams, fuzzTimeout } from '../helpers/fuzz.js';

const MAX = 2000;

interface Msg {
  text: boolean;
  payload: Uint8Array;
  /** Fragment cut points (offsets into the payload). */
  cuts: number[];
  /** Control frames before fragment i (index into `controls` by position). */
  controls: { at: number; opcode: 9 | 10; payload: Uint8Array }[];
}

const textPayload = fc.string({ unit: 'binary', maxLength: 60 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8')));
const binPayload = fc.uint8Array({ maxLength: 300 });

const msgArb: fc.Arbitrary<Msg> = fc
  .record({
    text: fc.boolean(),
    tp: textPayload,
    bp: binPayload,
    cuts: fc.array(fc.nat(400), { maxLength: 4 }),
    controls: fc.array(fc.record({ at: fc.nat(4), opcode: fc.constantFrom(9 as const, 10 as const), payload: fc.uint8Array({ maxLength: 125 }) }), { maxLength: 2 }),
  })
  .map(({ text, tp, bp, cuts, controls }) => {
    const payload = text ? tp : bp;
    return { text, payload, cuts: [...new Set(cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b), controls };
  });

/** One violation, appended after the valid messages (bytes given the masking side). */
const violations: ((server: boolean) => Buffer)[] = [
  (s) => buildFrame(3, Buffer.from('x'), { mask: s ? 1 : null }),
  (s) => buildFrame(1, Buffer.from('x'), { mask: s ? null : 1 }),
  (s) => buildFrame(2, Buffer.from('x'), { mask: s ? 1 : null, rsv: 4 }),
  (s) => buildFrame(0, Buffer.from('x'), { mask: s ? 1 : null }),
  (s) => buildFrame(9, Buffer.alloc(126), { mask: s ? 1 : null }),
  (s) => buildFrame(9, Buffer.from('x'), { mask: s ? 1 : null, fin: false }),
  (s) => buildFrame(8, Buffer.from([3]), { mask: s ? 1 : null }),
  (s) => buildFrame(8, Buffer.from([3, 0xed]), { mask: s ? 1 : null }),
  (s) => buildFrame(8, Buffer.from([3, 0xe8, 0xff]), { mask: s ? 1 : null }),
  (s) => buildFrame(2, Buffer.alloc(MAX + 1), { mask: s ? 1 : null }),
  (s) => Buffer.concat([buildFrame(2, Buffer.alloc(MAX - 5), { mask: s ? 1 : null, fin: false }), buildFrame(0, Buffer.alloc(6), { mask: s ? 1 : null })]),
  (s) => buildFrame(2, Buffer.alloc(0), { mask: s ? 1 : null, len: 2 ** 60 }),
  // Invalid UTF-8, as the last fragment of a text message (see the module comment).
  (s) => Buffer.concat([buildFrame(1, Buffer.from('ok'), { mask: s ? 1 : null, fin: false }), buildFrame(0, Buffer.from([0xed, 0xa0, 0x80]), { mask: s ? 1 : null })]),
  (s) => buildFrame(1, Buffer.from([0x61, 0xf0, 0x9f]), { mask: s ? 1 : null }),
];

function encode(msgs: Msg[], server: boolean, rand: () => number): Buffer {
  const key = (): number | null => (server ? (rand() * 2 ** 32) | 0 : null);
  const out: Buffer[] = [];
  for (const m of msgs) {
    const bounds = [0, ...m.cuts.filter((c) => c > 0 && c < m.payload.length), m.payload.length];
    const pieces: Uint8Array[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) pieces.push(m.payload.subarray(bounds[i]!, bounds[i + 1]!));
    if (pieces.length === 0) pieces.push(new Uint8Array(0));
    pieces.forEach((p, i) => {
      if (i > 0) for (const c of m.controls) if (c.at % pieces.length === i) out.push(buildFrame(c.opcode, c.payload, { mask: key() }));
      out.push(buildFrame(i === 0 ? (m.text ? 1 : 2) : 0, p, { fin: i === pieces.length - 1, mask: key() }));
    });
  }
  return Buffer.concat(out);
}

describe('FrameReader vs ws Receiver: random streams, chunks and sink answers', () => {
  it(
    'same messages, controls, close and failure (code and error code)',
    () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.array(msgArb, { maxLength: 8 }),
          fc.option(fc.nat(violations.length - 1)),
          fc.boolean(),
          fc.array(fc.nat(5000), { maxLength: 12 }),
          fc.constantFrom('target' as const, 'copy' as const, 'mixed' as const),
          fc.double({ min: 0, max: 0.6, noNaN: true }),
          fc.integer(),
          (server, msgs, violation, close, cutsRaw, place, p, seed) => {
            const rand = mulberry32(seed);
            let bytes = encode(msgs, server, rand);
            if (violation !== null) bytes = Buffer.concat([bytes, violations[violation]!(server), Buffer.from([0x81, 0x00, 0xff])]);
            else if (close) bytes = Buffer.concat([bytes, buildFrame(8, Buffer.from([0x0f, 0xa0, 0x6f, 0x6b]), { mask: server ? 7 : null })]);
            const cuts = [...new Set(cutsRaw.map((c) => c % Math.max(1, bytes.length)))].sort((a, b) => a - b);
            const chunks = splitAt(bytes, cuts);
            const opts = { server, maxPayload: MAX };
            const want = wsReceive(chunks, opts);
            const got = readerReceive(chunks, opts, { place, waitP: p, stopP: p, rand, shared: seed % 2 === 0 }).events;
            expect(got).toEqual(want);
            if (violation !== null) expect(got.at(-1)?.type).toBe('fail');
          },
        ),
        fuzzParams(1000),
      );
    },
    fuzzTimeout(1000, 10),
  );
});
