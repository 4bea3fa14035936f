/**
 * workers/deflate.ts: permessage-deflate compression state, driven directly (its socket tests come with
 * its use in connection.ts). Round trips byte-exact from 0 B to 1 MiB with and without context takeover,
 * interop with ws's PerMessageDeflate both ways (the reference), the zip bomb stopped at maxPayload with
 * bounded memory (measured in a child process), invalid streams → 1007, the worker's shared streams.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLOSE_BAD_DATA,
  CLOSE_TOO_BIG,
  compressMessage,
  ERR_BAD_DATA,
  ERR_TOO_BIG,
  INFLATE_OK,
  inflateMessage,
  PerMessageDeflate,
  ZlibPool,
  type InflateSink,
} from '../../dist/workers/deflate.js';
import type { DeflateParams } from '../../dist/workers/deflate-negotiation.js';
import { zlibHandle } from '../../dist/workers/internals.js';
import { mulberry32 } from '../helpers/prng.js';
import { WsPerMessageDeflate, wsStatusCode, type WsParams, type WsPmd } from '../helpers/ws-deflate.js';

const P = (s: boolean, c: boolean, sb = 15, cb = 15): DeflateParams => ({ serverNoContextTakeover: s, clientNoContextTakeover: c, serverMaxWindowBits: sb, clientMaxWindowBits: cb });
const MODES: [string, DeflateParams][] = [
  ['context takeover both ways', P(false, false)],
  ['no context takeover both ways', P(true, true)],
  ['server resets, client keeps, windows 10/9', P(true, false, 10, 9)],
  ['smallest windows (8)', P(false, false, 8, 8)],
];
const SIZES = [0, 1, 125, 1023, 1024, 4096, 65535, 65543, 1 << 20];

function jsonLike(size: number, seed: number): Buffer {
  const rand = mulberry32(seed);
  let s = '';
  while (s.length < size) s += JSON.stringify({ id: (rand() * 1e6) | 0, x: rand().toFixed(4), name: `player${(rand() * 100) | 0}`, tag: 'héllo €' }) + '\n';
  return Buffer.from(s).subarray(0, size); // may cut a UTF-8 sequence: compression does not care
}
const payloads = (size: number, seed: number): [string, Buffer][] => [
  ['text', jsonLike(size, seed)],
  ['binary', randomBytes(size)],
];

class Collect implements InflateSink {
  parts: Buffer[] = [];
  inflated(bytes: Uint8Array, start: number, end: number): void {
    this.parts.push(Buffer.from(bytes.subarray(start, end)));
  }
  take(): Buffer {
    const b = Buffer.concat(this.parts);
    this.parts = [];
    return b;
  }
}

/** Inflate `payload` in random slices (as frames and socket chunks would cut it). */
function inflateSliced(state: PerMessageDeflate, payload: Buffer, rand: () => number): { code: number; out: Buffer } {
  const sink = new Collect();
  let at = 0;
  while (at < payload.length) {
    const n = Math.min(payload.length - at, 1 + Math.floor(rand() * rand() * 5000));
    const code = state.inflate(payload, at, at + n, sink);
    if (code !== INFLATE_OK) return { code, out: sink.take() };
    at += n;
  }
  const code = state.inflateEnd(sink);
  return { code, out: sink.take() };
}

const wsParams = (p: DeflateParams): WsParams => {
  const w: WsParams = { server_max_window_bits: p.serverMaxWindowBits, client_max_window_bits: p.clientMaxWindowBits };
  if (p.serverNoContextTakeover) w.server_no_context_takeover = true;
  if (p.clientNoContextTakeover) w.client_no_context_takeover = true;
  return w;
};
/** A ws PerMessageDeflate already negotiated to `p`. */
function wsPmd(p: DeflateParams, isServer: boolean, maxPayload = 0): WsPmd {
  const pmd = new WsPerMessageDeflate({ isServer, maxPayload, threshold: 0 });
  pmd.params = wsParams(p);
  return pmd;
}
const wsCompress = (pmd: WsPmd, data: Buffer): Promise<Buffer> => new Promise((res, rej) => pmd.compress(data, true, (e, out) => (e ? rej(e) : res(out!))));
const wsDecompress = (pmd: WsPmd, data: Buffer): Promise<Buffer> => new Promise((res, rej) => pmd.decompress(data, true, (e, out) => (e ? rej(e) : res(out!))));

describe('round trips, ours ↔ ours, byte-exact 0 B – 1 MiB', () => {
  for (const [mode, params] of MODES) {
    it(mode, () => {
      const pool = new ZlibPool();
      const server = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0 }, pool);
      const client = new PerMessageDeflate(params, false, { maxPayload: 0, threshold: 0 }, pool);
      const rand = mulberry32(7);
      let seed = 1;
      for (const size of SIZES) {
        for (const [, data] of payloads(size, seed++)) {
          // server → client and client → server, each message after the previous (context matters).
          for (const [from, to] of [
            [server, client],
            [client, server],
          ] as const) {
            const c = from.compress(data)!;
            const { code, out } = inflateSliced(to, c, rand);
            expect(code).toBe(INFLATE_OK);
            expect(out.equals(data)).toBe(true);
          }
        }
      }
      // With no context takeover, the connection holds no stream between messages.
      expect(server.streams).toBe((params.serverNoContextTakeover ? 0 : 1) + (params.clientNoContextTakeover ? 0 : 1));
      server.close();
      client.close();
      expect(pool.lent).toBe(0);
      pool.close();
    });
  }

  it('compresses (a JSON-like 16 KiB message shrinks), and leaves headroom for the frame header', () => {
    const s = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    const data = jsonLike(16384, 3);
    const c = s.compress(data, 14)!;
    expect(c.length - 14).toBeLessThan(data.length / 2);
    const r = new PerMessageDeflate(P(false, false), false, { maxPayload: 0 });
    expect(inflateMessage(r, c.subarray(14)).equals(data)).toBe(true);
  });

  it('threshold: shorter messages are not compressed (default 1024, as ws)', () => {
    const s = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    expect(s.compress(Buffer.alloc(1023))).toBeNull();
    expect(s.compress(Buffer.alloc(1024))).not.toBeNull();
    const t = new PerMessageDeflate(P(false, false), true, { maxPayload: 0, threshold: 10 });
    expect(t.compress(Buffer.alloc(9))).toBeNull();
    expect(t.compress(Buffer.alloc(10))).not.toBeNull();
  });

  it('an empty message after another with context takeover is one 0x00 byte (RFC 7692 §7.2.3.6)', () => {
    const s = new PerMessageDeflate(P(false, false), true, { maxPayload: 0, threshold: 0 });
    s.compress(Buffer.from('abc'));
    expect([...s.compress(Buffer.alloc(0))!]).toEqual([0]);
  });
});

describe('interop with ws PerMessageDeflate, both ways', () => {
  for (const [mode, params] of MODES) {
    it(mode, async () => {
      const ours = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0 });
      const ws = wsPmd(params, false);
      const wsTwin = wsPmd(params, true); // ws in our place: same settings, same messages
      let seed = 100;
      for (const size of SIZES) {
        for (const [, data] of payloads(size, seed++)) {
          // ours (server) → ws (client); byte for byte what ws sends (same zlib, same flush, tail removed)
          const c = ours.compress(data)!;
          expect(c.equals(await wsCompress(wsTwin, data))).toBe(true);
          expect((await wsDecompress(ws, c)).equals(data)).toBe(true);
          // ws (client) → ours (server)
          const w = await wsCompress(ws, data);
          expect(inflateMessage(ours, w).equals(data)).toBe(true);
        }
      }
      ours.close();
      ws.cleanup();
      wsTwin.cleanup();
    });
  }

  it('ours as the client, ws as the server', async () => {
    const params = P(false, true, 12, 15);
    const ours = new PerMessageDeflate(params, false, { maxPayload: 0, threshold: 0 });
    const ws = wsPmd(params, true);
    for (let i = 0; i < 20; i++) {
      const data = jsonLike(100 + i * 997, i);
      expect((await wsDecompress(ws, ours.compress(data)!)).equals(data)).toBe(true);
      expect(inflateMessage(ours, await wsCompress(ws, data)).equals(data)).toBe(true);
    }
    ours.close();
    ws.cleanup();
  });

  it('a message compressed with a final block (BFINAL, RFC 7692 §7.2.3.3) is read, and the next one too', () => {
    const ours = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    const a = Buffer.from('first message, ended with BFINAL');
    expect(inflateMessage(ours, zlib.deflateRawSync(a)).equals(a)).toBe(true);
    const b = jsonLike(3000, 9);
    expect(inflateMessage(ours, zlib.deflateRawSync(b)).equals(b)).toBe(true);
  });
});

describe('hibernate: an idle connection with context takeover closes its streams, keeps its context as bytes', () => {
  for (const [mode, params] of [
    ['15-bit windows', P(false, false)],
    ['9-bit windows', P(false, false, 9, 9)],
  ] as const) {
    it(`${mode}: ours (hibernating after every message) ↔ ws, both ways, messages that refer to earlier ones`, async () => {
      const ours = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0, hibernate: true });
      const ws = wsPmd(params, false);
      const wsTwin = wsPmd(params, true); // what ours would send had it never hibernated
      const base = jsonLike(40_000, 11);
      for (let i = 0; i < 12; i++) {
        // Each message repeats much of the previous ones (so the context is used), and grows past the window.
        const data = Buffer.concat([base.subarray(i * 500, i * 500 + 700 + i * 300), randomBytes(i * 40), base.subarray(0, 200)]);
        const c = ours.compress(data)!;
        // About as small as ws's, which never forgot its context (a new stream from a dictionary may pick other matches).
        expect(c.length).toBeLessThanOrEqual((await wsCompress(wsTwin, data)).length * 1.1 + 16);
        expect((await wsDecompress(ws, c)).equals(data)).toBe(true);
        // ws's message refers back into our context: our decompressor must be made again with it.
        expect(inflateMessage(ours, await wsCompress(ws, data)).equals(data)).toBe(true);
        expect(ours.hibernate()).toBe(2);
        expect(ours.streams).toBe(0);
      }
      // The context survives: a repeat of the last message's last 200 bytes (inside any window) is a few bytes.
      const again = base.subarray(0, 200);
      const c = ours.compress(again)!;
      expect(c.length).toBeLessThan(12);
      expect((await wsDecompress(ws, c)).equals(again)).toBe(true);
      ours.hibernate();
      if (params.serverMaxWindowBits === 15) {
        // And across two hibernations: bytes of the message before the last one.
        const x = randomBytes(100);
        expect((await wsDecompress(ws, ours.compress(x)!)).equals(x)).toBe(true);
        ours.hibernate();
        const older = base.subarray(5500 + 100, 5500 + 400); // only in the loop's last message
        const o = ours.compress(older)!;
        expect(o.length).toBeLessThan(20);
        expect((await wsDecompress(ws, o)).equals(older)).toBe(true);
      }
      ours.close();
      ws.cleanup();
      wsTwin.cleanup();
    });
  }

  it('many messages between two sleeps (the kept window grows, then wraps): the context is the last window, both ways', async () => {
    for (const bits of [9, 15]) {
      const params = P(false, false, bits, bits);
      const ours = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0, hibernate: true });
      const ws = wsPmd(params, false);
      const sizes = [10, 700, 1500, 9000, 30_000, 3000, 200];
      let last = Buffer.alloc(0);
      for (const n of sizes) {
        last = randomBytes(n);
        expect((await wsDecompress(ws, ours.compress(last)!)).equals(last)).toBe(true);
        expect(inflateMessage(ours, await wsCompress(ws, last)).equals(last)).toBe(true);
      }
      expect(ours.hibernate()).toBe(2);
      // The last 200 random bytes again: a back-reference into the restored windows, both ways.
      const c = ours.compress(last)!;
      expect(c.length).toBeLessThan(20);
      expect((await wsDecompress(ws, c)).equals(last)).toBe(true);
      expect(inflateMessage(ours, await wsCompress(ws, last)).equals(last)).toBe(true);
      ours.close();
      ws.cleanup();
    }
  });

  it('without the option, or mid-message, nothing is closed', () => {
    const plain = new PerMessageDeflate(P(false, false), true, { maxPayload: 0, threshold: 0 });
    plain.compress(Buffer.from('abc'));
    expect(plain.hibernate()).toBe(0);
    expect(plain.streams).toBe(1);
    const h = new PerMessageDeflate(P(false, false), true, { maxPayload: 0, threshold: 0, hibernate: true });
    const c = new PerMessageDeflate(P(false, false), false, { maxPayload: 0, threshold: 0 }).compress(jsonLike(3000, 1))!;
    const sink = new Collect();
    expect(h.inflate(c, 0, 100, sink)).toBe(INFLATE_OK);
    expect(h.hibernate()).toBe(0);
    expect(h.inflate(c, 100, c.length, sink)).toBe(INFLATE_OK);
    expect(h.inflateEnd(sink)).toBe(INFLATE_OK);
    expect(sink.take().equals(jsonLike(3000, 1))).toBe(true);
    expect(h.hibernate()).toBe(1);
  });
});

describe('shared compression for fan-out (no context takeover)', () => {
  it('compressMessage gives what each no-context connection of that shape would send, once', async () => {
    const pool = new ZlibPool();
    const a = new PerMessageDeflate(P(true, false), true, { maxPayload: 0 }, pool);
    const b = new PerMessageDeflate(P(true, true, 15, 10), true, { maxPayload: 0 }, pool);
    const takeover = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 }, pool);
    expect(a.shareKey).not.toBeNull();
    expect(a.shareKey).toBe(b.shareKey);
    expect(takeover.shareKey).toBeNull();
    expect(new PerMessageDeflate(P(true, false, 10), true, { maxPayload: 0 }, pool).shareKey).not.toBe(a.shareKey);
    const data = jsonLike(8000, 5);
    a.compress(jsonLike(3000, 1)); // history that must not matter
    const shared = compressMessage(data, { windowBits: 15, level: -1, memLevel: 8 }, 0, pool);
    expect(a.compress(data)!.equals(shared)).toBe(true);
    expect(b.compress(data)!.equals(shared)).toBe(true);
    // Every client with server_no_context_takeover reads it, whatever it received before.
    const client = wsPmd(P(true, false), false);
    await wsDecompress(client, await wsCompress(wsPmd(P(true, false), true), jsonLike(2000, 2)));
    expect((await wsDecompress(client, shared)).equals(data)).toBe(true);
    // One compressor in the pool serves them all; the connections hold none.
    expect(a.streams + b.streams).toBe(0);
    expect(pool.live).toBe(1);
    pool.close();
  });

  it('a fragmented inbound message borrows a decompressor until its end; others get another meanwhile', () => {
    const pool = new ZlibPool(1);
    const params = P(true, true);
    const [x, y] = [new PerMessageDeflate(params, true, { maxPayload: 0 }, pool), new PerMessageDeflate(params, true, { maxPayload: 0 }, pool)];
    const sender = new PerMessageDeflate(params, false, { maxPayload: 0 }, pool);
    const m1 = jsonLike(5000, 1);
    const m2 = jsonLike(6000, 2);
    const c1 = sender.compress(m1)!;
    const c2 = sender.compress(m2)!;
    const sx = new Collect();
    const sy = new Collect();
    expect(x.inflate(c1, 0, 10, sx)).toBe(INFLATE_OK); // x's message is half in
    expect(pool.lent).toBe(1);
    expect(y.inflate(c2, 0, c2.length, sy)).toBe(INFLATE_OK);
    expect(pool.lent).toBe(2);
    expect(y.inflateEnd(sy)).toBe(INFLATE_OK);
    expect(x.inflate(c1, 10, c1.length, sx)).toBe(INFLATE_OK);
    expect(x.inflateEnd(sx)).toBe(INFLATE_OK);
    expect(sx.take().equals(m1)).toBe(true);
    expect(sy.take().equals(m2)).toBe(true);
    expect(pool.lent).toBe(0);
    expect(pool.live).toBe(2); // the sender's compressor and one idle decompressor (maxIdle 1)
    pool.close();
  });
});

describe('bad input', () => {
  it('an invalid stream fails with 1007 (WS_ERR_INVALID_COMPRESSED_DATA), as ws (1007)', async () => {
    const bad = Buffer.from([0xff, 0xff, 0xff, 0xff]); // BTYPE 11: invalid block type
    const ours = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    const sink = new Collect();
    const code = ours.inflate(bad, 0, bad.length, sink);
    expect(code === INFLATE_OK ? ours.inflateEnd(sink) : code).toBe(CLOSE_BAD_DATA);
    expect(ours.error).toBe(ERR_BAD_DATA);
    expect(ours.streams).toBe(0);
    const err = await wsDecompress(wsPmd(P(false, false), true), bad).catch((e: Error) => e);
    expect(wsStatusCode(err as Error)).toBe(1007);
  });

  it('an invalid stream in a no-context connection: the borrowed stream is dropped, the pool stays sound', () => {
    const pool = new ZlibPool();
    const ours = new PerMessageDeflate(P(true, true), true, { maxPayload: 0 }, pool);
    expect(() => inflateMessage(ours, Buffer.from([0x02, 0xff, 0xff, 0xff]))).toThrow(/WS_ERR_INVALID_COMPRESSED_DATA \(1007\)/);
    expect(pool.lent).toBe(0);
    const other = new PerMessageDeflate(P(true, true), true, { maxPayload: 0 }, pool);
    const data = jsonLike(3000, 4);
    expect(inflateMessage(other, other.compress(data)!).equals(data)).toBe(true);
    pool.close();
  });

  it('data after a final block (BFINAL) in the same message fails with 1007', () => {
    const ours = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    const done = zlib.deflateRawSync(Buffer.from('abc'));
    const sink = new Collect();
    expect(ours.inflate(done, 0, done.length, sink)).toBe(INFLATE_OK);
    const more = Buffer.from([0x4b, 0x04, 0x00]);
    expect(ours.inflate(more, 0, more.length, sink)).toBe(CLOSE_BAD_DATA);
  });

  it('a message inflating past maxPayload fails with 1009 after at most maxPayload + 16 KiB of output', () => {
    const max = 100_000;
    const ours = new PerMessageDeflate(P(false, false), true, { maxPayload: max });
    const big = ours.compress(Buffer.alloc(10 * max))!;
    const reader = new PerMessageDeflate(P(false, false), false, { maxPayload: max });
    let out = 0;
    const sink: InflateSink = { inflated: (_b, s, e) => void (out += e - s) };
    let code = reader.inflate(big, 0, big.length, sink);
    if (code === INFLATE_OK) code = reader.inflateEnd(sink);
    expect(code).toBe(CLOSE_TOO_BIG);
    expect(reader.error).toBe(ERR_TOO_BIG);
    expect(out).toBeLessThanOrEqual(max);
    // Exactly maxPayload passes.
    const exact = new PerMessageDeflate(P(false, false), false, { maxPayload: max });
    expect(inflateMessage(exact, new PerMessageDeflate(P(false, false), true, { maxPayload: 0 }).compress(Buffer.alloc(max))!).length).toBe(max);
  });
});

describe('a compressed message cut short', () => {
  // The server's decompressor without context takeover (client_no_context_takeover): every cut is found.
  const noCtx = (): PerMessageDeflate => new PerMessageDeflate(P(false, true), true, { maxPayload: 0 });
  const messages: [string, Buffer][] = [
    ['JSON-like 3 KB', jsonLike(3000, 5)],
    ['random 2 KB (stored blocks)', randomBytes(2000)],
    ['text 200 B', Buffer.from('a short message that still compresses: '.repeat(5))],
    ['one byte', Buffer.from('x')],
  ];
  for (const [what, data] of messages) {
    it(`${what}: whole, it inflates; cut by 1…40 bytes or to half, it fails with 1007 (no context takeover)`, () => {
      // As ws (and any RFC 7692 sender) sends it: ends with an empty stored block, its tail removed.
      const whole = compressMessage(data, { windowBits: 15, level: -1, memLevel: 8 });
      const reader = noCtx();
      expect(inflateMessage(reader, whole).equals(data)).toBe(true);
      const cuts = [...Array.from({ length: Math.min(40, whole.length - 1) }, (_, i) => i + 1), whole.length >> 1].filter((k) => k >= 1 && k < whole.length);
      for (const k of cuts) {
        const r = noCtx();
        expect(() => inflateMessage(r, whole.subarray(0, whole.length - k)), `cut by ${k} of ${whole.length}`).toThrow(/1007/);
        expect(r.error).toBe(ERR_BAD_DATA);
      }
      // The reader that saw the whole message still reads the next one (the probe left nothing behind).
      expect(inflateMessage(reader, whole).equals(data)).toBe(true);
    });
  }

  it('a sender that ends its messages with a final block (BFINAL) is not taken for a cut one', () => {
    const data = jsonLike(3000, 9);
    const ended = zlib.deflateRawSync(data); // Z_FINISH: a final block, no tail to remove
    const reader = noCtx();
    expect(inflateMessage(reader, ended).equals(data)).toBe(true);
    expect(inflateMessage(reader, ended).equals(data)).toBe(true);
  });

  it('with context takeover: a cut by 1…40 bytes fails with 1007 or inflates to the very message, never to another', () => {
    const reader = new PerMessageDeflate(P(false, false), true, { maxPayload: 0 });
    const sender = new PerMessageDeflate(P(false, false), false, { maxPayload: 0, threshold: 0 });
    for (let i = 0; i < 5; i++) {
      const data = jsonLike(2000 + i * 100, i);
      expect(inflateMessage(reader, sender.compress(data)!).equals(data)).toBe(true);
    }
    // Each cut as the first message of a context (a fresh pair). A cut of the last byte alone can be
    // harmless: when it held only the flush block's header bits, the tail's first byte stands in for it.
    let found = 0;
    let intact = 0;
    for (const [what, data] of messages) {
      const whole = new PerMessageDeflate(P(false, false), false, { maxPayload: 0, threshold: 0 }).compress(data)!;
      for (let k = 1; k <= Math.min(40, whole.length - 1); k++) {
        let out: Buffer;
        try {
          out = inflateMessage(new PerMessageDeflate(P(false, false), true, { maxPayload: 0 }), whole.subarray(0, whole.length - k));
        } catch (e) {
          expect((e as Error).message, `${what} cut by ${k}`).toMatch(/1007/);
          found++;
          continue;
        }
        expect(out.equals(data), `${what} cut by ${k} inflated to another message`).toBe(true);
        intact++;
      }
    }
    expect(found).toBeGreaterThan(intact * 10);
  });
});

describe('zip bomb: 1 GB of zeros compressed to ~1 MB', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rs-bomb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bombFile = join(dir, 'bomb.bin');
  const deflateJs = fileURLToPath(new URL('../../dist/workers/deflate.js', import.meta.url));

  it('stops at maxPayload (1009) in a child whose peak RSS stays within 64 MB of its start', async () => {
    // 1 GiB of zeros, streamed through a raw deflater (level 9), 1 MiB at a time.
    const d = zlib.createDeflateRaw({ level: 9 });
    const parts: Buffer[] = [];
    d.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((r) => d.on('end', r));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) if (!d.write(zeros)) await new Promise((r) => d.once('drain', r));
    d.end();
    await done;
    const bomb = Buffer.concat(parts);
    expect(bomb.length).toBeLessThan(1.1e6);
    writeFileSync(bombFile, bomb);
    const script = `
      const { readFileSync } = await import('node:fs');
      const { PerMessageDeflate, INFLATE_OK } = await import(${JSON.stringify(deflateJs)});
      const bomb = readFileSync(${JSON.stringify(bombFile)});
      globalThis.gc?.();
      const before = process.resourceUsage().maxRSS;
      const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
      const s = new PerMessageDeflate(params, true, { maxPayload: Number(process.argv[1]) });
      let out = 0;
      const sink = { inflated: (b, st, e) => { out += e - st; } };
      const t0 = performance.now();
      let code = s.inflate(bomb, 0, bomb.length, sink);
      if (code === INFLATE_OK) code = s.inflateEnd(sink);
      const ms = performance.now() - t0;
      console.log(JSON.stringify({ code, error: s.error, out, ms, beforeKB: before, peakKB: process.resourceUsage().maxRSS }));
    `;
    for (const max of [1 << 20, 64 << 20]) {
      const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, String(max)], { encoding: 'utf8' })) as { code: number; error: string; out: number; ms: number; beforeKB: number; peakKB: number };
      console.log(`bomb ${bomb.length} B, maxPayload ${max}: ${JSON.stringify(r)}`);
      expect(r.code).toBe(1009);
      expect(r.error).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      expect(r.out).toBeLessThanOrEqual(max);
      expect(r.peakKB - r.beforeKB).toBeLessThan(64 * 1024);
    }
  });
});

describe('internals: the zlib handle', () => {
  it('a real stream has the native handle and write state deflate.ts drives', () => {
    const s = zlib.createDeflateRaw();
    const { handle, state } = zlibHandle(s);
    expect(typeof handle.writeSync).toBe('function');
    expect(typeof handle.reset).toBe('function');
    expect(state).toBeInstanceOf(Uint32Array);
    s.close();
  });
});
