/**
 * RSS per open client peer: `count` ringsocket `WebSocketPeer`s (one I/O worker) against `count` `ws`
 * clients on the main thread, each in a fresh process, both dialling a `ws` echo server in this process.
 *
 * ```
 *  this process: ws WebSocketServer 127.0.0.1:0
 *    fork(client-memory.js --child rs|ws N url)  ──►  GC, RSS before; open N peers (200 at a time);
 *                                                     GC (main thread) x5, RSS after
 *                                                ◄──  { open, rssPerPeerKiB, heapPerPeerKiB }
 * ```
 * Implementations alternate over `reps`. The ringsocket process opens and closes one peer first, so its
 * worker and rings are part of the baseline, not of the per-peer figure. GC runs on the main thread only
 * (the worker's heap is measured as it stands, as a user would see it).
 *
 * Usage: node dist/bench/e2e/client-memory.js [--count 5000] [--reps 3] [--no-json]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { PeerPool, State, WebSocketPeer } from '../../src/index.js';
import { argInt, argValue, fmtSpread, isMain, machineInfo, sleep, spread, writeResult, type Spread } from '../common.js';

type Impl = 'ringsocket' | 'ws';
interface ChildResult {
  impl: Impl;
  open: number;
  rssPerPeerKiB: number;
  heapPerPeerKiB: number;
}

const BATCH = 200;

async function settle(gc: () => void): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(100);
  }
}

/** In the child: open `count` peers of `impl` to `url`, report RSS per peer. */
async function child(impl: Impl, count: number, url: string): Promise<ChildResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const deadline = Date.now() + 60_000;
  const pool = impl === 'ringsocket' ? new PeerPool({ threads: 1 }) : null;
  if (pool !== null) {
    const first = new WebSocketPeer({ pool });
    first.connectToUrl(url);
    while (first.getReadyState() !== State.OPEN) {
      if (Date.now() > deadline) throw new Error('the first peer did not open');
      await sleep(5);
      first.poll();
    }
    first.close();
  }
  await settle(gc);
  const before = process.memoryUsage();
  const peers: (WebSocketPeer | WebSocket)[] = [];
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    if (pool !== null) {
      const batch: WebSocketPeer[] = [];
      for (let k = 0; k < n; k++) {
        const p = new WebSocketPeer({ pool });
        p.connectToUrl(url);
        batch.push(p);
      }
      while (batch.some((p) => p.getReadyState() === State.CONNECTING)) {
        if (Date.now() > deadline) throw new Error('peers did not open within 60 s');
        await sleep(2);
        for (const p of batch) p.poll();
      }
      peers.push(...batch);
    } else {
      const batch = Array.from({ length: n }, () => new WebSocket(url, { perMessageDeflate: false }));
      await Promise.all(batch.map((ws) => once(ws, 'open')));
      peers.push(...batch);
    }
  }
  const open = peers.filter((p) => (p instanceof WebSocketPeer ? p.getReadyState() === State.OPEN : p.readyState === WebSocket.OPEN)).length;
  await settle(gc);
  const after = process.memoryUsage();
  return { impl, open, rssPerPeerKiB: (after.rss - before.rss) / count / 1024, heapPerPeerKiB: (after.heapUsed - before.heapUsed) / count / 1024 };
}

export interface ClientMemoryResult {
  bench: 'client-memory';
  count: number;
  reps: number;
  samples: ChildResult[];
  rssPerPeerKiB: Record<Impl, Spread>;
  heapPerPeerKiB: Record<Impl, Spread>;
  /** ringsocket / ws, medians of RSS per peer. */
  ratioRss: number;
}

export async function runClientMemory(count: number, reps: number, log: (s: string) => void = console.log): Promise<ClientMemoryResult> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/mem`;
  const file = fileURLToPath(import.meta.url);
  const samples: ChildResult[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      const order: Impl[] = rep % 2 === 0 ? ['ringsocket', 'ws'] : ['ws', 'ringsocket'];
      for (const impl of order) {
        const proc = fork(file, ['--child', impl, String(count), url], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        const [r] = (await Promise.race([
          once(proc, 'message'),
          once(proc, 'exit').then(([code]) => {
            throw new Error(`${impl} child exited with ${String(code)} before reporting`);
          }),
        ])) as [ChildResult];
        proc.kill();
        if (r.open !== count) throw new Error(`${impl}: only ${r.open}/${count} peers opened`);
        samples.push(r);
        log(`  rep ${rep + 1}  ${impl.padEnd(10)}  ${r.open} open  RSS ${r.rssPerPeerKiB.toFixed(2)} KiB/peer  main-thread heap ${r.heapPerPeerKiB.toFixed(2)} KiB/peer`);
      }
    }
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
  }
  const of = (impl: Impl, k: 'rssPerPeerKiB' | 'heapPerPeerKiB') => spread(samples.filter((s) => s.impl === impl).map((s) => s[k]));
  const rss = { ringsocket: of('ringsocket', 'rssPerPeerKiB'), ws: of('ws', 'rssPerPeerKiB') };
  const heap = { ringsocket: of('ringsocket', 'heapPerPeerKiB'), ws: of('ws', 'heapPerPeerKiB') };
  const ratioRss = rss.ringsocket.median / rss.ws.median;
  log(`  medians (min–max) over ${reps} reps, ${count.toLocaleString('en-US')} client peers:`);
  log(`    ringsocket  RSS ${fmtSpread(rss.ringsocket, 2)} KiB/peer   main-thread heap ${fmtSpread(heap.ringsocket, 2)} KiB/peer`);
  log(`    ws          RSS ${fmtSpread(rss.ws, 2)} KiB/peer   main-thread heap ${fmtSpread(heap.ws, 2)} KiB/peer`);
  log(`  ratio ringsocket / ws, RSS per client peer: ${ratioRss.toFixed(2)}x`);
  return { bench: 'client-memory', count, reps, samples, rssPerPeerKiB: rss, heapPerPeerKiB: heap, ratioRss };
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--child');
  if (at >= 0) {
    const r = await child(argv[at + 1] as Impl, Number(argv[at + 2]), argv[at + 3]!);
    process.send!(r);
    await sleep(60_000); // killed by the parent
  } else {
    const count = argInt(argv, 'count', 5000);
    const reps = argInt(argv, 'reps', 3);
    console.log(`client-memory: ${count.toLocaleString('en-US')} client peers per run, ${reps} reps; node ${machineInfo().node}`);
    const r = await runClientMemory(count, reps);
    if (argValue(argv, 'no-json') === undefined) console.log(`  results: ${writeResult('client-memory', { ...r, date: new Date().toISOString(), machine: machineInfo() })}`);
  }
}
