/**
 * How long a TCPServer does not accept after one of its pool's I/O workers dies: from the worker's exit
 * (the pool's 'exit' event, when `crashWorker` resolves) to the first new TCP connection that the
 * server loop takes again (`takeConnection()` returns it). A client connects every millisecond and retries
 * on ECONNREFUSED; a connect that succeeds but is never taken would count as a gap too (it cannot happen
 * here: each connect waits for its own take or for the next attempt).
 *
 * For each listening mode this Node has (reusePort: a socket per worker; or one listening worker per
 * server, Node 20's mode, forced with a test hook), 1 and 2 threads, each worker as the victim; `reps`
 * deaths each, in one pool (the replacement is waited for between deaths). Medians with min–max, in ms.
 *
 * Usage: node dist/bench/e2e/worker-death-gap.js [--reps 5] [--no-json]
 */
import net from 'node:net';
import { PeerPool, TCPServer, ErrorCode } from '../../src/index.js';
import { crashWorker, setReusePort, usesReusePort } from '../../src/testing.js';
import { argInt, fmtSpread, isMain, machineInfo, sleep, spread, writeResult } from '../common.js';


async function workersUp(pool: PeerPool, threads: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    try {
      if ((await pool.stats()).length === threads) return;
    } catch {
      // a worker exited during the call
    }
    await sleep(5);
  }
  throw new Error('the pool did not get its workers back');
}

/** Connect once; resolve true when the server took this connection, false on refusal or after `ms`. */
function acceptedWithin(server: TCPServer, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      c.destroy();
      resolve(ok);
    };
    c.on('error', () => finish(false));
    const until = performance.now() + ms;
    const poll = setInterval(() => {
      for (let s = server.takeConnection(); s !== null; s = server.takeConnection()) {
        // Ours is the one whose remote port is our local port (older ones are dropped too).
        const mine = s.getConnectedPort() === c.localPort;
        s.disconnectFromHost();
        if (mine) return finish(true);
      }
      if (performance.now() > until) finish(false);
    }, 0.2);
  });
}

async function gapOnce(pool: PeerPool, server: TCPServer, victim: number): Promise<{ exitMs: number; gapMs: number; failed: number }> {
  const port = server.getLocalPort();
  const t0 = performance.now();
  await crashWorker(pool, victim);
  const tExit = performance.now();
  let failed = 0;
  for (;;) {
    if (await acceptedWithin(server, port, 20)) break;
    failed++;
    if (performance.now() - tExit > 15_000) throw new Error('not accepting 15 s after the death');
    await sleep(1);
  }
  return { exitMs: tExit - t0, gapMs: performance.now() - tExit, failed };
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const reps = argInt(argv, 'reps', 5);
  const probe = new PeerPool({ threads: 1 });
  const modes = usesReusePort(probe) ? [true, false] : [false];
  await probe.close();
  const rows: { mode: string; threads: number; victim: number; exitMs: number[]; gapMs: number[]; failed: number[] }[] = [];
  for (const reusePort of modes) {
    for (const threads of [1, 2]) {
      for (let victim = 0; victim < threads; victim++) {
        const pool = new PeerPool({ threads });
        setReusePort(pool, reusePort);
        const server = new TCPServer({ pool });
        if (server.listen(0, '127.0.0.1') !== ErrorCode.OK) throw new Error('listen failed');
        await workersUp(pool, threads);
        await sleep(100);
        const row = { mode: reusePort ? 'reusePort' : 'one listening worker', threads, victim, exitMs: [] as number[], gapMs: [] as number[], failed: [] as number[] };
        for (let r = 0; r < reps; r++) {
          const g = await gapOnce(pool, server, victim);
          row.exitMs.push(g.exitMs);
          row.gapMs.push(g.gapMs);
          row.failed.push(g.failed);
          await workersUp(pool, threads);
          await sleep(100);
        }
        rows.push(row);
        console.log(
          `${row.mode.padEnd(21)} threads ${threads} victim ${victim}: gap exit → first accepted ${fmtSpread(spread(row.gapMs), 1)} ms (failed attempts before it ${fmtSpread(spread(row.failed))}); crash request → exit ${fmtSpread(spread(row.exitMs), 1)} ms`,
        );
        server.stop();
        await pool.close();
      }
    }
  }
  if (!argv.includes('--no-json')) console.log('written', writeResult('worker-death-gap', { machine: machineInfo(), node: process.version, reps, rows }));
}

if (isMain(import.meta.url)) await main();
