/**
 * workers/frame-writer.ts: byte for byte what ws's `Sender.frame` writes for the same payload and mask
 * key; close/ping/pong frames as ws's Sender makes them; frames it writes read back by our reader and by
 * ws's Receiver.
 */
import { describe, expect, it } from 'vitest';
import { closeFrame, frameHeaderSize, frameMessage, pingFrame, pongFrame, randomMaskKey, writeFrameHeader } from '../../dist/workers/frame-writer.js';
import { readerReceive, wsReceive, WsSender } from '../helpers/frames.js';
import { mulberry32 } from '../helpers/prng.js';

const KEY = 0x9abcdef0 | 0;
const keyBytes = (k: number): number[] => [k & 0xff, (k >>> 8) & 0xff, (k >>> 16) & 0xff, k >>> 24];

/** ws's frame for the same input (its mask key forced to `key` through `generateMask`). */
function wsFrame(opcode: number, payload: Buffer, fin: boolean, key: number | null): Buffer {
  const data = Buffer.from(payload); // ws masks in place
  const parts = WsSender.frame(data, {
    fin,
    opcode,
    mask: key !== null,
    readOnly: false,
    rsv1: false,
    generateMask: (m) => m.set(keyBytes(key ?? 0)),
  });
  return Buffer.concat(parts);
}

describe('frame-writer', () => {
  it('frameHeaderSize: 2/4/10 bytes by length, +4 with a mask', () => {
    const cases: [number, number][] = [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
      [2 ** 32 + 5, 10],
      [2 ** 53 - 1, 10],
    ];
    for (const [len, size] of cases) {
      expect(frameHeaderSize(len, false)).toBe(size);
      expect(frameHeaderSize(len, true)).toBe(size + 4);
    }
  });

  it('frameMessage: byte for byte ws Sender.frame, every length class, masked and not, FIN or not, every opcode', () => {
    const rand = mulberry32(9);
    for (const len of [0, 1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 125, 126, 127, 1000, 65535, 65536, 70001]) {
      const payload = Buffer.from(Array.from({ length: len }, () => (rand() * 256) | 0));
      for (const opcode of [0, 1, 2, 8, 9, 10]) {
        for (const fin of [true, false]) {
          for (const key of [null, KEY, 0, 0x01020304]) {
            const before = Buffer.from(payload);
            const ours = frameMessage(opcode, payload, fin, key !== null, key ?? 0);
            expect(payload.equals(before)).toBe(true); // the payload is not modified
            const want = wsFrame(opcode, payload, fin, key);
            if (!ours.equals(want)) expect({ len, opcode, fin, key, ours: ours.subarray(0, 16).toString('hex') }).toEqual({ len, opcode, fin, key, ours: want.subarray(0, 16).toString('hex') });
          }
        }
      }
    }
  });

  it('writeFrameHeader at an offset, with lengths past 32 bits, returns where the payload goes', () => {
    const t = new Uint8Array(32).fill(0xee);
    const len = 2 ** 40 + 0x01020304;
    const end = writeFrameHeader(t, 3, 2, true, len, KEY);
    expect(end).toBe(3 + 14);
    expect([...t.subarray(0, end + 1)]).toEqual([0xee, 0xee, 0xee, 0x82, 0xff, 0, 0, 1, 0, 1, 2, 3, 4, ...keyBytes(KEY), 0xee]);
    expect(writeFrameHeader(t, 0, 1, false, 300, null)).toBe(4);
    expect([...t.subarray(0, 4)]).toEqual([0x01, 126, 1, 44]);
  });

  it('closeFrame / pingFrame / pongFrame: as ws Sender.close / ping / pong (same key), limits as ws', () => {
    const reason = Buffer.from('bye ✓');
    const payload = Buffer.concat([Buffer.from([0x03, 0xe9]), reason]);
    expect(closeFrame(1001, 'bye ✓', false).equals(wsFrame(8, payload, true, null))).toBe(true);
    expect(closeFrame(1001, reason, false).equals(wsFrame(8, payload, true, null))).toBe(true);
    expect(closeFrame(undefined, '', false).equals(wsFrame(8, Buffer.alloc(0), true, null))).toBe(true);
    expect(closeFrame(4000, '', false).equals(wsFrame(8, Buffer.from([0x0f, 0xa0]), true, null))).toBe(true);
    expect(pingFrame(Buffer.from('ping'), false).equals(wsFrame(9, Buffer.from('ping'), true, null))).toBe(true);
    expect(pongFrame(Buffer.from('pong'), false).equals(wsFrame(10, Buffer.from('pong'), true, null))).toBe(true);
    expect(() => closeFrame(1005, '', false)).toThrow(TypeError);
    expect(() => closeFrame(1000, 'x'.repeat(124), false)).toThrow(RangeError);
    expect(closeFrame(1000, 'x'.repeat(123), false).length).toBe(2 + 125);
    expect(() => pingFrame(new Uint8Array(126), false)).toThrow(RangeError);
  });

  it('client frames get a fresh random key each (the pool refills past 2,048 keys) and read back as sent', () => {
    const keys = new Set<number>();
    for (let i = 0; i < 5000; i++) keys.add(randomMaskKey());
    expect(keys.size).toBeGreaterThan(4990);
    const msg = Buffer.from('a masked message ✓');
    const frames = [frameMessage(1, msg, true, true), pingFrame(Buffer.from('p'), true), closeFrame(1000, 'done', true)];
    const bytes = Buffer.concat(frames);
    expect(bytes[1]! & 0x80).toBe(0x80);
    // The server side (masked frames required) of both readers gets the message back.
    const want = wsReceive([bytes], { server: true, maxPayload: 0 });
    expect(want[0]).toEqual({ type: 'message', text: true, data: msg.toString('hex') });
    expect(readerReceive([bytes], { server: true, maxPayload: 0 }).events).toEqual(want);
  });

  it('server frames are never masked, and a client-side reader reads them', () => {
    const bytes = Buffer.concat([frameMessage(2, Buffer.alloc(300, 7), true, false), pongFrame(Buffer.from('x'), false), closeFrame(1000, '', false)]);
    expect(bytes[1]! & 0x80).toBe(0);
    const want = wsReceive([bytes], { server: false, maxPayload: 0 });
    expect(want).toHaveLength(3);
    expect(readerReceive([bytes], { server: false, maxPayload: 0 }).events).toEqual(want);
  });
});
