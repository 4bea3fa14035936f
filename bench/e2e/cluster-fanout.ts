/**
 * Cross-node fan-out through Redis (issue 17): N server processes on one Redis, C clients per node (each
 * node's clients in a load process of their own), one S-byte text message per tick (H Hz) from a publisher
 * client on node 1 to a topic every client subscribes to. Measured over the window, per server kind:
 * delivery latency p50/p99 from the publish (the publisher's clock, written in the message) to receipt
 * at clients on the other nodes (and on node 1), messages delivered per second, and each node's
 * main-thread CPU (/proc/<pid>/task/<pid>/schedstat) per delivered message and per message received
 * from Redis, above the same node's idle main thread (clients connected, nothing published; 2 s before).
 * Receipts are counted within the window (a backlog published before it counts, so "received of
 * expected" can exceed 100 % when latency is long).
 *
 * - ringsocket: `ringsocket serve --mode broadcast --redis URL --threads 1` (every peer joins one topic; a
 *   received message is one publication: local workers at once, other nodes through SPUBLISH).
 * - socket.io 4 with @socket.io/redis-adapter (`createAdapter`, PUBLISH/PSUBSCRIBE), websocket transport
 *   only: every socket joins room 'room'; a 'pub' event is `io.to('room').emit('m', msg)`.
 *
 * Usage: node dist/bench/e2e/cluster-fanout.js [--nodes 3] [--clients 1000] [--seconds 10] [--warmup 2]
 *        [--hz 60] [--size 256] [--servers ringsocket,socketio] [--no-json]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { argInt, argValue, isMain, machineInfo, sleep, writeResult } from '../common.js';
import { freePort, startNode, startRedis, type Proc } from '../../examples/cluster/procs.js';

const SELF = fileURLToPath(import.meta.url);
const now = (): number => performance.timeOrigin + performance.now();

/** Main-thread CPU (ns) of process `pid`: its first thread's schedstat. */
function mainThreadNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}
/** All threads' CPU (ns) of process `pid` (utime + stime, clock ticks of 10 ms). */
function processNs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 1e7;
}

/** A socket.io client's first `event` (its sockets are not Node EventEmitters). */
function sioOnce(s: { once(ev: string, fn: (arg: unknown) => void): unknown }, event: string): Promise<unknown> {
  return new Promise((resolve) => s.once(event, resolve));
}

/** The message: "<publish time ms>|<seq>|" padded to `size` bytes. */
function message(seq: number, size: number): string {
  const head = `${now().toFixed(3)}|${seq}|`;
  return head + 'x'.repeat(Math.max(0, size - head.length));
}

// ---- load process: C clients of one node, latency of each receipt -------------------------------------
interface LoadReport {
  received: number;
  p50: number;
  p99: number;
  max: number;
  connectFailed: number;
}

async function loadRole(kind: string, url: string, clients: number): Promise<void> {
  let samples = new Float64Array(1 << 20);
  let n = 0;
  let measuring = false;
  const onMsg = (text: string): void => {
    if (!measuring) return;
    const t = Number(text.slice(0, text.indexOf('|')));
    if (n === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[n++] = now() - t;
  };
  let failed = 0;
  const closers: (() => void)[] = [];
  if (kind === 'ringsocket') {
    for (let i = 0; i < clients; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, clients - i) }, async () => {
          const ws = new WebSocket(url, ['chat'], { perMessageDeflate: false });
          ws.on('message', (d: Buffer) => onMsg(d.toString('latin1')));
          ws.on('error', () => {});
          try {
            await once(ws, 'open');
            closers.push(() => ws.terminate());
          } catch {
            failed++;
          }
        }),
      );
    }
  } else {
    const { io } = await import('socket.io-client');
    for (let i = 0; i < clients; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, clients - i) }, async () => {
          const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
          s.on('m', (m: string) => onMsg(m));
          try {
            await Promise.race([sioOnce(s, 'connect'), sioOnce(s, 'connect_error').then((e) => Promise.reject(e as Error))]);
            closers.push(() => s.disconnect());
          } catch {
            failed++;
          }
        }),
      );
    }
  }
  process.send!({ ready: true, failed });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'start') {
      n = 0;
      measuring = true;
    } else if (m.cmd === 'stop') {
      measuring = false;
      const s = samples.subarray(0, n).sort();
      const q = (p: number): number => (n === 0 ? NaN : s[Math.min(n - 1, Math.floor(p * n))]!);
      const report: LoadReport = { received: n, p50: q(0.5), p99: q(0.99), max: n === 0 ? NaN : s[n - 1]!, connectFailed: failed };
      process.send!(report, () => {
        for (const c of closers) c();
        process.exit(0);
      });
    }
  });
}

// ---- socket.io server process ---------------------------------------------------------------------------
async function sioServerRole(port: number, redisUrl: string): Promise<void> {
  const { Server } = await import('socket.io');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const { Redis } = await import('ioredis');
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  const io = new Server({ transports: ['websocket'], perMessageDeflate: false, adapter: createAdapter(pub, sub) });
  io.on('connection', (s) => {
    void s.join('room');
    s.on('pub', (m: string) => io.to('room').emit('m', m));
  });
  io.listen(port);
  process.stdout.write(`listening on ws://127.0.0.1:${port}\n`);
  process.once('SIGTERM', () => {
    void io.close();
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}

// ---- driver --------------------------------------------------------------------------------------------
interface KindResult {
  kind: string;
  remote: { received: number; p50: number; p99: number; max: number };
  local: { received: number; p50: number; p99: number };
  expectedPerNode: number;
  published: number;
  deliveredPerSec: number;
  nodes: { idleMainMsPerSec: number; mainMsPerSec: number; processMsPerSec: number; nsPerDelivery: number; usPerRedisMessage: number }[];
  connectFailed: number;
}

function weighted(reports: LoadReport[], key: 'p50' | 'p99' | 'max'): number {
  // Per-node percentiles, combined: the median node for p50, the worst for p99/max (conservative).
  const v = reports.map((r) => r[key]).filter((x) => Number.isFinite(x));
  if (key === 'p50') return v.sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;
  return Math.max(...v);
}

async function runKind(kind: string, o: { nodes: number; clients: number; seconds: number; warmup: number; hz: number; size: number }): Promise<KindResult> {
  const redis = await startRedis();
  const servers: (Proc & { url: string })[] = [];
  const loads: ChildProcess[] = [];
  try {
    for (let i = 0; i < o.nodes; i++) {
      if (kind === 'ringsocket') servers.push(await startNode(['--port', '0', '--mode', 'broadcast', '--redis', redis.url, '--threads', '1', '--quiet'], `node ${i + 1}`));
      else {
        const port = await freePort();
        const { Proc: P } = await import('../../examples/cluster/procs.js');
        const p = new P(`socket.io ${i + 1}`, process.execPath, [SELF, '--role', 'sio-server', '--port', String(port), '--redis', redis.url]);
        const m = await p.waitFor(/listening on (ws:\/\/\S+)/);
        servers.push(Object.assign(p, { url: m[1]! }));
      }
    }
    const ready: Promise<{ failed: number }>[] = [];
    for (const s of servers) {
      const child = fork(SELF, ['--role', 'load', '--kind', kind, '--url', s.url, '--clients', String(o.clients)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      loads.push(child);
      ready.push(once(child, 'message').then(([m]) => m as { failed: number }));
    }
    const connectFailed = (await Promise.all(ready)).reduce((a, r) => a + r.failed, 0);
    // The publisher: one more client on node 1.
    let send: (text: string) => void;
    let closePub: () => void;
    if (kind === 'ringsocket') {
      const ws = new WebSocket(servers[0]!.url, ['chat'], { perMessageDeflate: false });
      await once(ws, 'open');
      send = (t) => ws.send(t);
      closePub = () => ws.terminate();
    } else {
      const { io } = await import('socket.io-client');
      const s = io(servers[0]!.url, { transports: ['websocket'], reconnection: false, forceNew: true });
      await sioOnce(s, 'connect');
      send = (t) => s.emit('pub', t);
      closePub = () => s.disconnect();
    }
    // Idle baseline: the nodes' main threads with every client connected and nothing published (the
    // serve loop polls its peers every 1 ms); subtracted to give the cost of the traffic itself.
    const idle0 = servers.map((s) => mainThreadNs(s.pid));
    const ti = performance.now();
    await sleep(2000);
    const idleSec = (performance.now() - ti) / 1000;
    const idleNsPerSec = servers.map((s, i) => (mainThreadNs(s.pid) - idle0[i]!) / idleSec);
    let seq = 0;
    const tick = setInterval(() => send(message(seq++, o.size)), 1000 / o.hz);
    await sleep(o.warmup * 1000);
    for (const l of loads) l.send({ cmd: 'start' });
    const cpu0 = servers.map((s) => ({ main: mainThreadNs(s.pid), proc: processNs(s.pid) }));
    const seq0 = seq;
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    const published = seq - seq0;
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = servers.map((s) => ({ main: mainThreadNs(s.pid), proc: processNs(s.pid) }));
    clearInterval(tick);
    const reports = await Promise.all(
      loads.map((l) => {
        const p = once(l, 'message').then(([m]) => m as LoadReport);
        l.send({ cmd: 'stop' });
        return p;
      }),
    );
    closePub();
    const remote = reports.slice(1);
    const delivered = reports.reduce((a, r) => a + r.received, 0);
    return {
      kind,
      remote: { received: remote.reduce((a, r) => a + r.received, 0), p50: weighted(remote, 'p50'), p99: weighted(remote, 'p99'), max: weighted(remote, 'max') },
      local: { received: reports[0]!.received, p50: reports[0]!.p50, p99: reports[0]!.p99 },
      expectedPerNode: published * o.clients,
      published,
      deliveredPerSec: delivered / elapsed,
      nodes: servers.map((_, i) => {
        const raw = cpu1[i]!.main - cpu0[i]!.main;
        const main = Math.max(0, raw - idleNsPerSec[i]! * elapsed);
        return {
          idleMainMsPerSec: idleNsPerSec[i]! / 1e6,
          mainMsPerSec: raw / 1e6 / elapsed,
          processMsPerSec: (cpu1[i]!.proc - cpu0[i]!.proc) / 1e6 / elapsed,
          nsPerDelivery: main / Math.max(1, reports[i]!.received),
          usPerRedisMessage: main / 1e3 / Math.max(1, published),
        };
      }),
      connectFailed,
    };
  } finally {
    for (const l of loads) if (l.exitCode === null) l.kill('SIGKILL');
    for (const s of servers) await s.stop('SIGTERM', 5000).catch(() => {});
    await redis.stop('SIGTERM', 3000).catch(() => {});
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');

async function main(argv: string[]): Promise<void> {
  const role = argValue(argv, 'role');
  if (role === 'load') return loadRole(argValue(argv, 'kind')!, argValue(argv, 'url')!, argInt(argv, 'clients', 1000));
  if (role === 'sio-server') return sioServerRole(argInt(argv, 'port', 0), argValue(argv, 'redis')!);
  const o = {
    nodes: argInt(argv, 'nodes', 3),
    clients: argInt(argv, 'clients', 1000),
    seconds: argInt(argv, 'seconds', 10),
    warmup: argInt(argv, 'warmup', 2),
    hz: argInt(argv, 'hz', 60),
    size: argInt(argv, 'size', 256),
  };
  const kinds = (argValue(argv, 'servers') ?? 'ringsocket,socketio').split(',');
  console.log(`cluster fan-out: ${o.nodes} nodes × ${o.clients} clients, ${o.size} B at ${o.hz} Hz from a client of node 1, ${o.seconds} s (+${o.warmup} s warm-up)`);
  const results: KindResult[] = [];
  for (const kind of kinds) {
    const r = await runKind(kind, o);
    results.push(r);
    console.log(`\n${kind}: published ${r.published}, delivered ${Math.round(r.deliveredPerSec).toLocaleString('en-US')} msg/s, connect failures ${r.connectFailed}`);
    console.log(`  other nodes: received ${r.remote.received} of ${r.expectedPerNode * (o.nodes - 1)}, latency p50 ${f1(r.remote.p50)} ms, p99 ${f1(r.remote.p99)} ms, max ${f1(r.remote.max)} ms`);
    console.log(`  node 1 (local): received ${r.local.received} of ${r.expectedPerNode}, p50 ${f1(r.local.p50)} ms, p99 ${f1(r.local.p99)} ms`);
    r.nodes.forEach((n, i) =>
      console.log(
        `  node ${i + 1}: main thread ${f1(n.mainMsPerSec)} ms/s (idle ${f1(n.idleMainMsPerSec)}; process ${f1(n.processMsPerSec)} ms/s); above idle: ${Math.round(n.nsPerDelivery)} ns per delivered message, ${f1(n.usPerRedisMessage)} µs per publication`,
      ),
    );
  }
  if (!argv.includes('--no-json')) console.log(`\nwritten: ${writeResult('cluster-fanout', { machine: machineInfo(), options: o, results })}`);
}

if (isMain(import.meta.url)) await main(process.argv.slice(2));
