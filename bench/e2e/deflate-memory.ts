/**
 * Memory per connection of permessage-deflate state: N connections' worth of it (default 10,000), idle
 * (negotiated, no message yet) and active (one 1 KiB JSON-like message compressed and one inflated by each),
 * with context takeover both ways (ws's default) and without (both ways), ours (workers/deflate.ts) against
 * ws's PerMessageDeflate with the same settings (level 6, memLevel 8, 15-bit windows); and ours active then
 * hibernated (`hibernate: true`, then `hibernate()`: streams closed, each context kept as bytes). Each scenario runs
 * in a fresh process (--expose-gc); RSS is read after forced GCs, before and after making the N states.
 * No sockets: this is the extension's own cost, what a connection adds to the rest.
 *
 * Usage: node dist/bench/e2e/deflate-memory.js [--n 10000] [--only ours-active-takeover,...]
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerMessageDeflate, workerZlibPool, type InflateSink } from '../../workers/deflate.js';
import type { DeflateParams } from '../../workers/deflate-negotiation.js';
import { argInt, argValue, isMain } from '../common.js';
import { jsonPayload } from '../micro/deflate.js';

const SCENARIOS = ['ours-idle', 'ws-idle', 'ours-active-takeover', 'ws-active-takeover', 'ours-active-nocontext', 'ws-active-nocontext', 'ours-hibernated-takeover'] as const;
type Scenario = (typeof SCENARIOS)[number];

const TAKEOVER: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
const NOCONTEXT: DeflateParams = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

interface WsPmd {
  compress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
  params: Record<string, number | true> | null;
}

function rss(): number {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

async function child(scenario: Scenario, n: number): Promise<void> {
  const message = jsonPayload(1024, 1);
  const incoming = new PerMessageDeflate(NOCONTEXT, false, { maxPayload: 0, threshold: 0 }).compress(message)!; // what a peer sends first
  const sink: InflateSink = { inflated: () => {} };
  const require = createRequire(import.meta.url);
  const Ws = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as new (o: object) => WsPmd;
  const keep: unknown[] = [];
  const before = rss();
  const params = scenario.endsWith('nocontext') ? NOCONTEXT : TAKEOVER;
  const active = scenario.includes('active') || scenario.includes('hibernated');
  const hibernate = scenario.includes('hibernated');
  if (scenario.startsWith('ours')) {
    for (let i = 0; i < n; i++) {
      const s = new PerMessageDeflate(params, true, { maxPayload: 1 << 20, threshold: 0, hibernate });
      if (active) {
        s.compress(message);
        s.inflate(incoming, 0, incoming.length, sink);
        s.inflateEnd(sink);
      }
      if (hibernate) s.hibernate();
      keep.push(s);
    }
  } else {
    const p: Record<string, number | true> = {};
    if (params.serverNoContextTakeover) p.server_no_context_takeover = true;
    if (params.clientNoContextTakeover) p.client_no_context_takeover = true;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const s = new Ws({ isServer: true, threshold: 0, maxPayload: 1 << 20 });
      s.params = { ...p };
      if (active) {
        jobs.push(
          new Promise<void>((res, rej) => s.compress(message, true, (e) => (e ? rej(e) : s.decompress(incoming, true, (e2) => (e2 ? rej(e2) : res()))))),
        );
      }
      keep.push(s);
    }
    await Promise.all(jobs);
  }
  const after = rss();
  const streams = scenario.startsWith('ours') ? (keep as PerMessageDeflate[]).reduce((a, s) => a + s.streams, 0) + workerZlibPool.live : null;
  console.log(JSON.stringify({ scenario, n, beforeMB: before / 2 ** 20, afterMB: after / 2 ** 20, perConnKB: (after - before) / n / 1024, zlibStreams: streams }));
}

export function runDeflateMemory(n: number, only: readonly Scenario[] = SCENARIOS): { scenario: string; perConnKB: number; zlibStreams: number | null }[] {
  const self = fileURLToPath(import.meta.url);
  const rows = only.map((s) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', self, '--child', s, '--n', String(n)], { encoding: 'utf8' }).trim().split('\n').at(-1)!) as { scenario: string; perConnKB: number; zlibStreams: number | null; afterMB: number; beforeMB: number });
  console.log(`permessage-deflate state, ${n} connections, RSS per connection (after GC):`);
  console.table(rows.map((r) => ({ scenario: r.scenario, 'KB per connection': Number(r.perConnKB.toFixed(2)), 'RSS before MB': Math.round(r.beforeMB), 'RSS after MB': Math.round(r.afterMB), 'zlib streams (ours)': r.zlibStreams ?? '' })));
  return rows;
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const n = argInt(argv, 'n', 10_000);
  const c = argValue(argv, 'child');
  if (c !== undefined) await child(c as Scenario, n);
  else {
    const only = argValue(argv, 'only');
    runDeflateMemory(n, only === undefined ? SCENARIOS : (only.split(',') as Scenario[]));
  }
}
