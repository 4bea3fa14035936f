/**
 * 5,000 concurrent `ws` clients held open against examples/echo-server (pool of 2 workers): each sends
 * one message and gets it back while all 5,000 are open, and where Node has `reusePort` (22.12+) the
 * connections are spread over both workers (on Node 20 one worker listens per server). Each connection
 * costs two descriptors in this process (client and server ends).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PeerPool, usesReusePort } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { waitFor } from '../helpers/server.js';

const CLIENTS = 5000;
const BATCH = 250;
/** Descriptors needed: both ends of every connection, plus headroom for the runtime. */
const FDS_NEEDED = CLIENTS * 2 + 1000;

function fdLimit(): number {
  // The soft limit a child inherits from this process is this process's limit.
  const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
}

const limit = fdLimit();
const enough = limit >= FDS_NEEDED;
if (!enough) {
  console.warn(`server-scale: skipped — ulimit -n is ${limit}, ${CLIENTS} connections need ${FDS_NEEDED} descriptors in one process`);
}

describe.skipIf(!enough)(`${CLIENTS} concurrent clients`, () => {
  let pool: PeerPool;
  let echo: EchoServer;
  const clients: WebSocket[] = [];
  let unexpectedCloses = 0;

  beforeAll(() => {
    pool = new PeerPool({ threads: 2 });
    echo = startEchoServer({ port: 0, host: '127.0.0.1', pool, tickMs: 5 });
  });

  afterAll(async () => {
    for (const ws of clients) ws.terminate();
    await echo.stop();
    await pool.close();
  });

  it('all open at once, each echoes one message while all are open, spread over both workers (reusePort)', async () => {
    const t0 = Date.now();
    // Connect in bounded batches: each batch must open before the next starts.
    for (let i = 0; i < CLIENTS; i += BATCH) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(CLIENTS, i + BATCH); j++) {
        const ws = new WebSocket(`${echo.url}/c${j}`, { perMessageDeflate: false });
        clients.push(ws);
        ws.on('close', () => unexpectedCloses++);
        batch.push(
          new Promise<void>((resolve, reject) => {
            ws.once('open', () => resolve());
            ws.once('error', reject);
          }),
        );
      }
      await Promise.all(batch);
      expect(Date.now() - t0).toBeLessThan(45_000);
    }
    expect(clients.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
    await waitFor(() => echo.peers === CLIENTS, `the server to hold ${CLIENTS} peers`, 20_000);

    const stats = await pool.stats();
    expect(stats).toHaveLength(2);
    const total = stats.reduce((n, w) => n + w.connections, 0);
    expect(total).toBe(CLIENTS);
    if (usesReusePort(pool)) {
      // A listening socket per worker (reusePort): the kernel spreads the connections.
      for (const w of stats) expect(w.connections, `worker ${w.index} holds ${w.connections} of ${CLIENTS}`).toBeGreaterThan(CLIENTS * 0.2);
    } else {
      // Node 20: one worker listens per server (ARCHITECTURE.md "Listening sockets").
      expect(stats.map((w) => w.connections).sort((a, b) => a - b)).toEqual([0, CLIENTS]);
    }

    // Every client sends one message; all must come back while all 5,000 are still open.
    let echoed = 0;
    let wrong = 0;
    const all = new Promise<void>((resolve) => {
      clients.forEach((ws, i) => {
        ws.once('message', (data: Buffer, isBinary: boolean) => {
          if (isBinary || data.toString() !== `hello from ${i}`) wrong++;
          if (++echoed === CLIENTS) resolve();
        });
      });
    });
    clients.forEach((ws, i) => ws.send(`hello from ${i}`));
    await Promise.race([all, waitFor(() => false, 'all echoes', 30_000)]);
    expect(wrong).toBe(0);
    expect(echoed).toBe(CLIENTS);
    expect(unexpectedCloses).toBe(0);
    expect(clients.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
    expect(echo.peers).toBe(CLIENTS);

    // Clients leave: the server drops every peer and the workers hold nothing.
    for (const ws of clients) ws.close(1000);
    await waitFor(() => echo.peers === 0, 'the server to drop every peer', 20_000);
    await waitFor(() => unexpectedCloses === CLIENTS, 'every client closed', 20_000);
  }, 60_000);
});
