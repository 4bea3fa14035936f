/**
 * Issue 14, "Idle poll": the main thread's cost of one `WebSocketMultiplayerPeer.poll()` with N idle
 * peers connected (they connected, got their ids, then do nothing), against polling N `WebSocketPeer`s
 * one by one (the old way: `poll()` + `getAvailablePacketCount()` on each).
 *
 * ```
 *  load process (bench/suite/load.js, idle mode: raw sockets, handshake, then nothing)
 *      N connections ──► this process: PeerPool (default threads)
 *                          mp:    WebSocketMultiplayerPeer.createServer, poll() until N peer_connected
 *                          peers: TCPServer + WebSocketPeer.acceptStream each, polled one by one
 * ```
 * Once every peer is connected and 500 ms have passed (the ids written, nothing in flight), two series:
 * - paced: `--polls` polls, one every 1 ms (setTimeout), as a tick loop would call it: each poll timed
 *   with performance.now() (wall time of the call on the main thread; nothing else runs in it) → median,
 *   p99; and the main thread's CPU over the series (schedstat) / polls → mean CPU per poll, which
 *   includes the timer's own turn of the event loop.
 * - tight: polls back to back for ≥ 1 s (and ≥ `--polls`): main-thread CPU (schedstat) / polls, and the
 *   median of each poll's wall time.
 * The target (issue 14): ≤ ~20 µs per poll at 10,000, flat from 1,000 to 10,000.
 *
 * Usage: node dist/bench/e2e/idle-poll.js [--peers 1000,10000] [--polls 2000] [--modes mp,peers] [--no-json]
 */
import { loadavg } from 'node:os';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketMultiplayerPeer, WebSocketPeer } from '../../src/index.js';
import { argInt, argValue, checkThreadClock, isMain, machineInfo, sleep, threadCpuNs, writeResult } from '../common.js';
import { Child } from '../suite/procs.js';
import type { LoadCommand, LoadConfig, LoadNotice } from '../suite/protocol.js';

type Mode = 'mp' | 'peers';

interface Series {
  polls: number;
  wallMedianUs: number;
  wallP99Us: number;
  cpuMeanUs: number;
}

interface Row {
  mode: Mode;
  peers: number;
  connected: number;
  connectMs: number;
  paced: Series;
  tight: Series;
  loadAvg: number[];
}

const LOAD_JS = new URL('../suite/load.js', import.meta.url);

function quantile(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function measure(poll: () => void, polls: number): Promise<{ paced: Series; tight: Series }> {
  const wall: number[] = [];
  const c0 = threadCpuNs();
  for (let i = 0; i < polls; i++) {
    await sleep(1);
    const t = performance.now();
    poll();
    wall.push((performance.now() - t) * 1000);
  }
  const paced: Series = { polls, wallMedianUs: quantile(wall, 0.5), wallP99Us: quantile(wall, 0.99), cpuMeanUs: (threadCpuNs() - c0) / polls / 1000 };
  const tw: number[] = [];
  const t0 = performance.now();
  const d0 = threadCpuNs();
  let n = 0;
  while (n < polls || performance.now() - t0 < 1000) {
    const t = performance.now();
    poll();
    tw.push((performance.now() - t) * 1000);
    n++;
  }
  const tight: Series = { polls: n, wallMedianUs: quantile(tw, 0.5), wallP99Us: quantile(tw, 0.99), cpuMeanUs: (threadCpuNs() - d0) / n / 1000 };
  return { paced, tight };
}

function startLoad(port: number, conns: number): Child<LoadNotice, LoadCommand> {
  const cfg: LoadConfig = {
    index: 0,
    host: '127.0.0.1',
    port,
    localAddress: '',
    conns,
    mode: 'idle',
    size: 64,
    snapshotBytes: 256,
    inflight: 1,
    rate: 0,
    expectEcho: false,
    connectConcurrency: 128,
    drainMs: 0,
    snapshotAge: false,
    deflate: '',
    content: 'fill',
  };
  return new Child<LoadNotice, LoadCommand>('idle load', LOAD_JS, cfg);
}

async function runMp(n: number, polls: number): Promise<Row> {
  const pool = new PeerPool();
  const mp = new WebSocketMultiplayerPeer({ pool });
  mp.handshakeTimeout = 30;
  if (mp.createServer(0, '127.0.0.1') !== ErrorCode.OK) throw new Error('createServer failed');
  let connected = 0;
  mp.on('peer_connected', () => connected++);
  mp.on('peer_disconnected', () => connected--);
  const load = startLoad(mp.getLocalPort(), n);
  const t0 = performance.now();
  const done = load.wait('connected', 120_000);
  let loadDone = false;
  void done.then(() => (loadDone = true), () => (loadDone = true));
  while (connected < n && performance.now() - t0 < 120_000) {
    mp.poll();
    await sleep(2);
    if (loadDone && connected < n && performance.now() - t0 > 110_000) break;
  }
  const c = await done;
  const connectMs = performance.now() - t0;
  for (let i = 0; i < 50; i++) {
    mp.poll();
    await sleep(10);
  }
  const r = await measure(() => mp.poll(), polls);
  const row: Row = { mode: 'mp', peers: n, connected: Math.min(connected, c.conns), connectMs, ...r, loadAvg: loadavg() };
  load.send({ t: 'exit' });
  await load.kill(2000, { t: 'exit' });
  mp.close();
  await pool.close();
  return row;
}

async function runPeers(n: number, polls: number): Promise<Row> {
  const pool = new PeerPool();
  const server = new TCPServer({ pool });
  if (server.listen(0, '127.0.0.1') !== ErrorCode.OK) throw new Error('listen failed');
  const peers: WebSocketPeer[] = [];
  let sink = 0;
  // The old way: every peer visited each poll, as the README's server loop does.
  const pass = (): void => {
    while (server.isConnectionAvailable()) {
      const peer = new WebSocketPeer({ pool });
      if (peer.acceptStream(server.takeConnection()!) === ErrorCode.OK) peers.push(peer);
    }
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      p.poll();
      sink += p.getAvailablePacketCount();
    }
  };
  const load = startLoad(server.getLocalPort(), n);
  const t0 = performance.now();
  const c = await (async () => {
    const done = load.wait('connected', 120_000);
    let over = false;
    void done.then(() => (over = true), () => (over = true));
    while (!over) {
      pass();
      await sleep(2);
    }
    return done;
  })();
  const connectMs = performance.now() - t0;
  for (let i = 0; i < 50; i++) {
    pass();
    await sleep(10);
  }
  const open = peers.filter((p) => p.getReadyState() === State.OPEN).length;
  const r = await measure(pass, polls);
  if (sink < 0) console.log(sink);
  const row: Row = { mode: 'peers', peers: n, connected: Math.min(open, c.conns), connectMs, ...r, loadAvg: loadavg() };
  load.send({ t: 'exit' });
  await load.kill(2000, { t: 'exit' });
  server.stop();
  for (const p of peers) p.close();
  await pool.close();
  return row;
}

const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(2));

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkThreadClock();
  const sizes = (argValue(argv, 'peers') ?? '1000,10000').split(',').map(Number);
  const polls = argInt(argv, 'polls', 2000);
  const modes = (argValue(argv, 'modes') ?? 'mp,peers').split(',') as Mode[];
  for (const m of modes) if (m !== 'mp' && m !== 'peers') throw new TypeError(`--modes takes mp,peers; got ${m}`);
  const machine = machineInfo();
  console.log(`idle-poll: ${modes.join(', ')} × ${sizes.join(', ')} idle peers, ${polls} polls; node ${machine.node}, ${machine.cores} cores, load average ${machine.loadAvg.join(' ')}`);
  const rows: Row[] = [];
  for (const n of sizes) {
    for (const mode of modes) {
      const row = mode === 'mp' ? await runMp(n, polls) : await runPeers(n, polls);
      rows.push(row);
      console.log(
        `  ${mode === 'mp' ? 'WebSocketMultiplayerPeer.poll()' : 'WebSocketPeer × N, one by one'} with ${row.connected}/${n} idle peers: ` +
          `paced (1 ms): wall median ${f(row.paced.wallMedianUs)} µs, p99 ${f(row.paced.wallP99Us)} µs, main-thread CPU ${f(row.paced.cpuMeanUs)} µs/poll (mean, incl. the timer); ` +
          `back to back: ${f(row.tight.cpuMeanUs)} µs CPU/poll (mean of ${row.tight.polls}), wall median ${f(row.tight.wallMedianUs)} µs; load average ${row.loadAvg.map((x) => x.toFixed(2)).join(' ')}`,
      );
    }
  }
  if (argValue(argv, 'no-json') === undefined) {
    const file = writeResult('idle-poll', { bench: 'idle-poll', date: new Date().toISOString(), machine, options: { sizes, polls, modes }, rows, loadAvgAfter: loadavg() });
    console.log(`  results: ${file}`);
  }
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
