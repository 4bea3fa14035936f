/**
 * Micro benchmarks of the worker's frame reader (workers/frame-reader.ts), tinybench:
 * - unmasking 64 B, 1 KiB, 64 KiB from a socket chunk (payload 6 bytes into its frame, as a masked
 *   client frame's) into shared memory at a 16-byte aligned offset (a ring record's payload): a byte
 *   loop, a word loop (int32 stores, source read a byte at a time), a copy then an in-place word XOR of
 *   the target, and ws's way (its JS `unmask` in place on the chunk — bufferutil is not installed — then
 *   a copy);
 * - the whole reader against ws's `Receiver` on the same bytes: one 64 B masked binary message per
 *   chunk, and a burst of 64 of them in one chunk, each delivered into shared memory (ours: unmasked
 *   straight into it; ws: its `Buffer` and 'message' event, then the copy connection.ts does today);
 *   and our reader on a 64 B text message (UTF-8 checked).
 *
 * Fast cases loop `inner` times per tinybench call; the table reports time per operation (per message
 * for the reader cases).
 *
 * Usage: node dist/bench/micro/frame-reader.js [--time MS]
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Bench } from 'tinybench';
import * as wsModule from 'ws';
import { COPY, FrameReader, type FrameSink } from '../../workers/frame-reader.js';
import { hasNativeMask, unmaskBytes, unmaskInto, unmaskSetXor, unmaskWords } from '../../workers/mask.js';
import { argInt, isMain } from '../common.js';
import { microCases, printMicro, type MicroRatio, type MicroResult } from './ring.bench.js';

const require = createRequire(import.meta.url);
// ws's `exports` map hides lib/: load its file by path (its JS unmask: bufferutil is not installed).
const wsUnmask = (require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js')) as { unmask: (buf: Buffer, mask: Buffer) => void }).unmask;
interface WsReceiver {
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  write(chunk: Buffer): boolean;
}
const Receiver = (wsModule as unknown as { Receiver: new (opts: object) => WsReceiver }).Receiver;

const KEY = 0x9abcdef0 | 0;
const KEY_BYTES = Buffer.from([0xf0, 0xde, 0xbc, 0x9a]);
const RING_BYTES = 1 << 20;

function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0x7f; // ASCII, so it is valid text too
  return b;
}

/** A masked client frame of `payload`. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >>> 8, n & 0xff]);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i]! ^ KEY_BYTES[i & 3]!;
  return Buffer.concat([head, KEY_BYTES, body]);
}

/** The sink a connection will be: each message into the next 16-byte aligned place of a shared ring. */
class RingSink implements FrameSink {
  target = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  next = 0;
  messages = 0;
  messageStart(_text: boolean, length: number): number {
    if (this.next + length > RING_BYTES) this.next = 0;
    const at = this.next;
    this.next = (at + length + 15) & ~15;
    return at;
  }
  messageContinue(): number {
    return COPY;
  }
  messageData(): boolean {
    return true;
  }
  messageEnd(): void {
    this.messages++;
  }
  ping(): void {}
  pong(): void {}
  close(): void {}
  fail(code: number, error: string): void {
    throw new Error(`reader failed: ${code} ${error}`);
  }
}

export async function runFrameReaderBench(opts: { timeMs?: number } = {}, log: (s: string) => void = console.log): Promise<MicroResult> {
  const time = opts.timeMs ?? 300;
  const bench = new Bench({ name: 'frame-reader', time, warmupTime: Math.min(100, time), iterations: 16, warmupIterations: 4 });
  const inner = new Map<string, number>();
  const add = (name: string, n: number, fn: () => unknown) => {
    inner.set(name, n);
    bench.add(name, fn);
  };
  let sink = 0;

  // ---- unmask variants ----
  const dst = new Uint8Array(new SharedArrayBuffer(1 << 17));
  for (const [label, size] of [
    ['64 B', 64],
    ['1 KiB', 1024],
    ['64 KiB', 65536],
  ] as const) {
    const frame = maskedFrame(2, pattern(size));
    const src = frame.subarray(frame.length - size - 0); // the payload sits 6 or 8 bytes into the frame
    const s = frame.length - size;
    const n = size <= 64 ? 512 : size <= 1024 ? 64 : 2;
    add(`unmask ${label}: byte loop`, n, () => {
      for (let i = 0; i < n; i++) unmaskBytes(frame, s, dst, 16, size, KEY, 0);
      sink += dst[16]!;
    });
    add(`unmask ${label}: word loop`, n, () => {
      for (let i = 0; i < n; i++) unmaskWords(frame, s, dst, 16, size, KEY, 0);
      sink += dst[16]!;
    });
    add(`unmask ${label}: copy, then word XOR in place`, n, () => {
      for (let i = 0; i < n; i++) unmaskSetXor(frame, s, dst, 16, size, KEY, 0);
      sink += dst[16]!;
    });
    add(`unmask ${label}: unmaskInto (the reader's choice${hasNativeMask ? ', native bufferutil from 256 B' : ''})`, n, () => {
      for (let i = 0; i < n; i++) unmaskInto(frame, s, dst, 16, size, KEY, 0);
      sink += dst[16]!;
    });
    const work = Buffer.from(src);
    add(`unmask ${label}: ws (unmask in place, then copy)`, n, () => {
      for (let i = 0; i < n; i++) {
        wsUnmask(work, KEY_BYTES); // alternately unmasks and masks again: the same work each time
        dst.set(work, 16);
      }
      sink += dst[16]!;
    });
  }

  // ---- the reader against ws's Receiver ----
  const one = maskedFrame(2, pattern(64));
  const burst = Buffer.concat(Array.from({ length: 64 }, () => one));
  const oneText = maskedFrame(1, pattern(64));
  const ours = new RingSink();
  const reader = new FrameReader(ours, { server: true, maxPayload: 1 << 20 });
  const M = 512;
  add('reader 64 B binary, 1 message per chunk', M, () => {
    for (let i = 0; i < M; i++) reader.push(one);
  });
  add('reader 64 B binary, 64 messages per chunk', 64 * 8, () => {
    for (let i = 0; i < 8; i++) reader.push(burst);
  });
  add('reader 64 B text, 1 message per chunk', M, () => {
    for (let i = 0; i < M; i++) reader.push(oneText);
  });

  // ws: what connection.ts does today: the Receiver's message, then InboundDelivery's copy into the ring.
  const ring = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  let at = 0;
  const receiver = new Receiver({ isServer: true, maxPayload: 1 << 20, allowSynchronousEvents: true });
  receiver.on('message', (data) => {
    if (at + data.length > RING_BYTES) at = 0;
    ring.set(data, at);
    at = (at + data.length + 15) & ~15;
  });
  // ws unmasks in place: feed it fresh copies made outside the timing (a socket gives it fresh chunks).
  const copies = Array.from({ length: M }, () => Buffer.from(one));
  const burstCopies = Array.from({ length: 8 }, () => Buffer.from(burst));
  add('ws Receiver 64 B binary, 1 message per chunk (+ copy into the ring)', M, () => {
    for (let i = 0; i < M; i++) receiver.write(copies[i]!);
  });
  add('ws Receiver 64 B binary, 64 messages per chunk (+ copy into the ring)', 64 * 8, () => {
    for (let i = 0; i < 8; i++) receiver.write(burstCopies[i]!);
  });

  await bench.run();
  if (sink === 0 && ours.messages === 0) log('(sink 0)');

  const cases = microCases(bench.tasks, inner);
  const byName = new Map(cases.map((c) => [c.name, c]));
  const ns = (name: string) => byName.get(name)!.p50NsPerOp;
  const ratios: MicroRatio[] = [
    { what: 'ws Receiver / reader, 64 B, 1 message per chunk', ratio: ns('ws Receiver 64 B binary, 1 message per chunk (+ copy into the ring)') / ns('reader 64 B binary, 1 message per chunk') },
    { what: 'ws Receiver / reader, 64 B, 64 messages per chunk', ratio: ns('ws Receiver 64 B binary, 64 messages per chunk (+ copy into the ring)') / ns('reader 64 B binary, 64 messages per chunk') },
  ];
  for (const label of ['64 B', '1 KiB', '64 KiB']) {
    ratios.push({ what: `unmask ${label}: byte loop / word loop`, ratio: ns(`unmask ${label}: byte loop`) / ns(`unmask ${label}: word loop`) });
  }

  printMicro(log, `micro frame-reader (tinybench, ~${time} ms per case; ns per operation; bufferutil ${hasNativeMask ? 'installed: ws and unmaskInto use it' : 'absent'}):`, cases, ratios);
  return { cases, ratios };
}

if (isMain(import.meta.url)) {
  await runFrameReaderBench({ timeMs: argInt(process.argv.slice(2), 'time', 300) });
}
