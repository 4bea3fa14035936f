/**
 * Micro benchmark of permessage-deflate (workers/deflate.ts) against ws's PerMessageDeflate, tinybench:
 * one message compressed by one side and inflated by the other, per operation, for JSON-like payloads
 * of 64 B, 1 KiB and 16 KiB, with context takeover (ws's default) and without (both ways), threshold 0
 * (so 64 B is compressed too), zlib level and memLevel at ws's defaults (6, 8).
 *
 * Ours is synchronous on the calling thread. ws's is asynchronous (libuv's thread pool, at most 10 calls
 * in flight process-wide): each operation awaits its compress, then its decompress, as a connection's
 * sender and receiver do. Besides wall time per operation, the table gives process CPU per operation
 * (all threads: the thread pool's work counts), measured over a separate loop of `--cpu-ops` messages.
 *
 * Usage: node dist/bench/micro/deflate.js [--time MS] [--cpu-ops N]
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Bench, type Task } from 'tinybench';
import { INFLATE_OK, PerMessageDeflate, type InflateSink } from '../../workers/deflate.js';
import type { DeflateParams } from '../../workers/deflate-negotiation.js';
import { argInt, isMain, processCpuNs } from '../common.js';
import { printMicro, type MicroCase, type MicroRatio, type MicroResult } from './ring.bench.js';

const require = createRequire(import.meta.url);
interface WsPmd {
  compress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
  params: Record<string, number | true> | null;
}
// ws's `exports` map hides lib/: load its file by path.
const WsPerMessageDeflate = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as new (o: object) => WsPmd;

/** A JSON-like message of `size` bytes (game state: ids, positions, names). */
export function jsonPayload(size: number, seed = 0): Buffer {
  let s = '';
  for (let i = seed * 7919; s.length < size; i++) s += JSON.stringify({ id: 1000 + i, x: ((i * 37) % 1000) / 7, y: ((i * 91) % 1000) / 3, name: `player${i % 50}`, hp: 100 - (i % 100) }) + ',';
  return Buffer.from(s.slice(0, size));
}

/** Messages differ (16 of them, in turn), so that context takeover does not see the same one again. */
const VARIANTS = 16;
let payloads: Buffer[] = [];
let turn = 0;
const next = (): Buffer => payloads[turn++ & (VARIANTS - 1)]!;

class Count implements InflateSink {
  bytes = 0;
  inflated(_b: Uint8Array, start: number, end: number): void {
    this.bytes += end - start;
  }
}

function ourPair(params: DeflateParams): () => number {
  const server = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0 });
  const client = new PerMessageDeflate(params, false, { maxPayload: 0, threshold: 0 });
  const sink = new Count();
  return () => {
    const c = server.compress(next())!;
    if (client.inflate(c, 0, c.length, sink) !== INFLATE_OK || client.inflateEnd(sink) !== INFLATE_OK) throw new Error(client.error);
    return c.length;
  };
}

function wsPair(params: DeflateParams): () => Promise<number> {
  const p: Record<string, number | true> = { server_max_window_bits: params.serverMaxWindowBits, client_max_window_bits: params.clientMaxWindowBits };
  if (params.serverNoContextTakeover) p.server_no_context_takeover = true;
  if (params.clientNoContextTakeover) p.client_no_context_takeover = true;
  const server = new WsPerMessageDeflate({ isServer: true, threshold: 0 });
  const client = new WsPerMessageDeflate({ isServer: false, threshold: 0 });
  server.params = { ...p };
  client.params = { ...p };
  return () =>
    new Promise<number>((resolve, reject) => {
      server.compress(next(), true, (err, c) => {
        if (err) return reject(err);
        client.decompress(c!, true, (err2) => (err2 ? reject(err2) : resolve(c!.length)));
      });
    });
}

export async function runDeflateBench(opts: { timeMs?: number; cpuOps?: number } = {}, log: (s: string) => void = console.log): Promise<MicroResult & { cpu: Record<string, number>; ratio: Record<string, number> }> {
  const time = opts.timeMs ?? 300;
  const cpuOps = opts.cpuOps ?? 2000;
  const modes: [string, DeflateParams][] = [
    ['context takeover', { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
    ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
  ];
  const cases: MicroCase[] = [];
  const cpu: Record<string, number> = {};
  const ratio: Record<string, number> = {};
  for (const [label, size] of [
    ['64 B', 64],
    ['1 KiB', 1024],
    ['16 KiB', 16384],
  ] as const) {
    for (const [mode, params] of modes) {
      payloads = Array.from({ length: VARIANTS }, (_, i) => jsonPayload(size, i));
      const ours = ourPair(params);
      const ws = wsPair(params);
      const names = [`ours ${label}, ${mode}`, `ws ${label}, ${mode}`];
      let bytes = 0;
      for (let i = 0; i < VARIANTS; i++) bytes += ours();
      ratio[`${label}, ${mode}: compressed/original (${VARIANTS} messages, ours)`] = bytes / (VARIANTS * size);
      const bench = new Bench({ name: 'deflate', time, warmupTime: Math.min(100, time), iterations: 16, warmupIterations: 8 });
      bench.add(names[0]!, ours);
      bench.add(names[1]!, ws);
      await bench.run();
      for (const t of bench.tasks as Task[]) {
        const r = t.result;
        if (r.state !== 'completed') throw new Error(`micro case "${t.name}" ${r.state}`);
        cases.push({ name: t.name, nsPerOp: r.latency.mean * 1e6, p50NsPerOp: r.latency.p50 * 1e6, rme: r.latency.rme, samples: r.latency.samplesCount });
      }
      // CPU of all threads per operation.
      let t0 = processCpuNs();
      for (let i = 0; i < cpuOps; i++) ours();
      cpu[names[0]!] = (processCpuNs() - t0) / cpuOps;
      t0 = processCpuNs();
      for (let i = 0; i < cpuOps; i++) await ws();
      cpu[names[1]!] = (processCpuNs() - t0) / cpuOps;
    }
  }
  const byName = new Map(cases.map((c) => [c.name, c]));
  const ratios: MicroRatio[] = [];
  for (const c of cases)
    if (c.name.startsWith('ours ')) {
      const w = byName.get(c.name.replace(/^ours /, 'ws '))!;
      ratios.push({ what: `ws / ours, ${c.name.slice(5)} (median wall time)`, ratio: w.p50NsPerOp / c.p50NsPerOp });
    }
  printMicro(log, `micro deflate (tinybench, ~${time} ms per case; one message compressed, then inflated; CPU: all threads, ${cpuOps} ops):`, cases, ratios, (c) => ({ 'CPU ns/op': Math.round(cpu[c.name]!) }));
  for (const [k, v] of Object.entries(ratio)) log(`  ${k}: ${v.toFixed(3)}`);
  return { cases, ratios, cpu, ratio };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  await runDeflateBench({ timeMs: argInt(argv, 'time', 300), cpuOps: argInt(argv, 'cpu-ops', 2000) });
}
