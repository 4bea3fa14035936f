/**
 * PeerPool.waitForActivity(): a main loop that sleeps until a worker has something for it, instead of
 * spinning or polling on a timer. Real sockets: a ws server sends while the main thread waits.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { PeerPool, State, TCPServer, WebSocketPeer } from '../helpers/lib.js';
import { openPeer, sleep, startEchoServer, startWsServer } from '../helpers/net.js';

let pool: PeerPool;
let server: Awaited<ReturnType<typeof startWsServer>>;
let serverSide: WebSocket | null = null;

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  server = await startWsServer();
  server.wss.on('connection', (ws: WebSocket) => (serverSide = ws));
});
afterAll(async () => {
  await pool.close();
  await server.close();
});

async function openOne(): Promise<{ peer: WebSocketPeer; ws: WebSocket }> {
  serverSide = null;
  const peer = new WebSocketPeer({ pool });
  await openPeer(peer, server.url);
  while (serverSide === null) await sleep(1);
  return { peer, ws: serverSide };
}

describe('PeerPool.waitForActivity', () => {
  it('sleeps until a message arrives, then resolves true and poll() shows it', async () => {
    const { peer, ws } = await openOne();
    peer.poll();
    const t0 = performance.now();
    setTimeout(() => ws.send('late hello'), 300);
    const woke = await pool.waitForActivity(10_000);
    const waited = performance.now() - t0;
    expect(woke).toBe(true);
    // Woken by the message (sent after 300 ms), not by the 10 s timeout.
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5_000);
    peer.poll();
    expect(peer.getAvailablePacketCount()).toBe(1);
    expect(Buffer.from(peer.getPacket()).toString()).toBe('late hello');
    peer.close();
  });

  it('resolves true at once when records already wait to be polled', async () => {
    const { peer, ws } = await openOne();
    peer.poll();
    ws.send('x');
    // Wait until the worker published it (without polling), then ask.
    await sleep(200);
    const t0 = performance.now();
    expect(await pool.waitForActivity(10_000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(100);
    peer.poll();
    expect(peer.getAvailablePacketCount()).toBe(1);
    peer.close();
  });

  it('resolves false after timeoutMs when nothing arrives; concurrent calls share one wait', async () => {
    // A pool of its own: the shared one still gets the close records of the earlier tests' peers.
    const quiet = new PeerPool({ threads: 1 });
    try {
      const t0 = performance.now();
      const a = quiet.waitForActivity(200);
      const b = quiet.waitForActivity(5_000);
      expect(b).toBe(a);
      expect(await a).toBe(false);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
    } finally {
      await quiet.close();
    }
  });

  it('wakes for a peer that opens, and for the close of a peer', async () => {
    const peer = new WebSocketPeer({ pool });
    peer.connectToUrl(server.url);
    expect(await pool.waitForActivity(10_000)).toBe(true);
    // Every wake is followed by a poll; within a few wakes the peer is OPEN.
    for (let i = 0; i < 20 && peer.getReadyState() !== State.OPEN; i++) {
      peer.poll();
      if (peer.getReadyState() !== State.OPEN) await pool.waitForActivity(1_000);
    }
    expect(peer.getReadyState()).toBe(State.OPEN);
    const ws = serverSide!;
    setTimeout(() => ws.close(4000, 'bye'), 100);
    for (let i = 0; i < 20 && peer.getReadyState() !== State.CLOSED; i++) {
      expect(await pool.waitForActivity(5_000)).toBe(true);
      peer.poll();
    }
    expect(peer.getReadyState()).toBe(State.CLOSED);
    expect(peer.getCloseCode()).toBe(4000);
  });

  it('wakes for an incoming connection on a TCPServer', async () => {
    const srv = new TCPServer({ pool });
    expect(srv.listen(0, '127.0.0.1')).toBe(0);
    const port = srv.getLocalPort();
    const { connect } = await import('node:net');
    setTimeout(() => connect(port, '127.0.0.1').on('error', () => undefined), 100);
    let got = false;
    for (let i = 0; i < 20 && !got; i++) {
      await pool.waitForActivity(5_000);
      got = srv.isConnectionAvailable();
    }
    expect(got).toBe(true);
    srv.takeConnection()?.disconnectFromHost();
    srv.stop();
  });

  it('refuses timeouts that are not finite milliseconds', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '5']) {
      expect(() => pool.waitForActivity(bad as number)).toThrow(TypeError);
    }
  });

  it('pool.close() ends a pending wait with false', async () => {
    const own = new PeerPool({ threads: 1 });
    const p = own.waitForActivity(10_000);
    const t0 = performance.now();
    await own.close();
    expect(await p).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(await own.waitForActivity(10_000)).toBe(false);
  });

  it('holds the process like a timer: a program (node --input-type=module -e) that only waits 300 ms finishes', async () => {
    const lib = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
    const code = `import { PeerPool } from ${JSON.stringify(lib)};
      const pool = new PeerPool({ threads: 1 });
      const r = await pool.waitForActivity(300);
      const workers = (await pool.stats()).length;
      await pool.close();
      console.log('woke', r, workers);`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    // Also a regression test: run with --input-type (inherited by workers by default), every worker died
    // at boot ("--input-type can only be used with string input"), and the wait woke for their deaths.
    expect(out.trim()).toBe('woke false 1');
  });
});

describe('PeerPool({ waitSpinMicros })', () => {
  it('a record that comes during the spin settles the wait without a sleep; with no spin the same wait sleeps', async () => {
    // A server in another process sends a message every millisecond: the main thread is busy spinning.
    const { spawn } = await import('node:child_process');
    const wsPath = fileURLToPath(new URL('../../node_modules/ws/index.js', import.meta.url));
    const src = `const { WebSocketServer } = require(${JSON.stringify(wsPath)});
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log(wss.address().port));
      wss.on('connection', (ws) => { const t = setInterval(() => ws.send('tick'), 1); ws.on('close', () => clearInterval(t)); });
      setTimeout(() => process.exit(0), 20000);`;
    const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      const settledWith: number[] = [];
      for (const spin of [10_000, 0]) {
        const own = new PeerPool({ threads: 1, waitSpinMicros: spin });
        const peer = new WebSocketPeer({ pool: own });
        await openPeer(peer, `ws://127.0.0.1:${port}`);
        let settledNow = 0;
        for (let i = 0; i < 20; i++) {
          await sleep(2);
          peer.poll();
          while (peer.getAvailablePacketCount() > 0) peer.getPacket();
          // Drained: nothing is waiting now. A spin of 10 ms meets the next message (1 ms apart) in the call.
          let settled = false;
          const p = own.waitForActivity(1000).then(() => (settled = true));
          await Promise.resolve();
          await Promise.resolve();
          if (settled) settledNow++;
          await p;
        }
        settledWith.push(settledNow);
        peer.close();
        await own.close();
      }
      // With the spin nearly every wait settles at once (all 20 on a quiet machine); without it nearly none
      // does (a message published between the drain and the wait). A busy machine can delay the sender past
      // a spin now and then, so the test compares the two instead of asking for exactly 20.
      const [withSpin, without] = settledWith as [number, number];
      expect(withSpin).toBeGreaterThanOrEqual(15);
      expect(withSpin - without).toBeGreaterThanOrEqual(10);
    } finally {
      child.kill();
    }
  });
});

describe('PeerPool({ workerSpinMicros })', () => {
  it('a worker that spins after publishing catches the main thread\'s answer without a wake-up (spinCatches); with no spin it never does', async () => {
    const echo = await startEchoServer();
    const catches: number[] = [];
    for (const spin of [10_000, 0]) {
      const own = new PeerPool({ threads: 1, workerSpinMicros: spin });
      const peer = new WebSocketPeer({ pool: own });
      await openPeer(peer, echo.url);
      // Ping-pong: the echo arrives (the worker publishes it, then spins), the main thread answers at once.
      for (let i = 0; i < 30; i++) {
        expect(peer.sendText(`round ${i}`)).toBe(0);
        const deadline = Date.now() + 5000;
        while (peer.getAvailablePacketCount() === 0 && Date.now() < deadline) {
          await own.waitForActivity(100);
          peer.poll();
        }
        expect(new TextDecoder().decode(peer.getPacket())).toBe(`round ${i}`);
      }
      const [st] = await own.stats();
      catches.push(st!.spinCatches);
      expect(st!.wakeLoops).toBe(1);
      peer.close();
      await own.close();
    }
    await echo.close();
    expect(catches[0]).toBeGreaterThan(10);
    expect(catches[1]).toBe(0);
  });
});
