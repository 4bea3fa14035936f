/**
 * Servers outlive workers (issue 11, item 1): whichever I/O worker dies — the one that bound the listening
 * socket or another — every TCPServer of the pool accepts again once the replacement is up, `isListening()`
 * says whether a socket accepts, and connections accepted by surviving workers are untouched.
 *
 * Run in both listening modes where the Node version has both: a socket per worker (`reusePort`, Node ≥
 * 22.12 on Linux) and one worker listening per server (Node 20's only mode; forced on newer Nodes with a
 * test hook).
 * Real `ws` clients and plain `net` sockets on 127.0.0.1.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { crashWorker, ErrorCode, PeerPool, setReusePort, State, TCPServer, usesReusePort, WebSocketPeer } from '../helpers/lib.js';
import { openWs, roundTrip, waitFor, closed, type OpenClient } from '../helpers/server.js';

/** A Godot-style server loop over several TCPServers of one pool: accept everything, echo everything. */
class EchoLoop {
  readonly peers: WebSocketPeer[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly pool: PeerPool,
    readonly servers: TCPServer[],
  ) {
    this.#timer = setInterval(() => this.tick(), 1);
  }

  tick(): void {
    for (const s of this.servers) {
      while (s.isConnectionAvailable()) {
        const peer = new WebSocketPeer({ pool: this.pool });
        peer.acceptStream(s.takeConnection()!);
        this.peers.push(peer);
      }
    }
    for (const p of this.peers) {
      p.poll();
      while (p.getReadyState() === State.OPEN && p.getAvailablePacketCount() > 0) {
        const text = p.wasStringPacket();
        const bytes = p.getPacket();
        if (text) p.sendText(new TextDecoder().decode(bytes));
        else p.putPacket(bytes);
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const s of this.servers) s.stop();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(threads: number, reusePort: boolean, nServers = 1): Promise<{ pool: PeerPool; servers: TCPServer[]; loop: EchoLoop; url: (i?: number) => string }> {
  const pool = new PeerPool({ threads });
  setReusePort(pool, reusePort);
  cleanups.push(() => pool.close());
  const servers: TCPServer[] = [];
  for (let i = 0; i < nServers; i++) {
    const s = new TCPServer({ pool });
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    servers.push(s);
  }
  const loop = new EchoLoop(pool, servers);
  cleanups.push(() => loop.stop());
  // Every worker accepts (a follower's socket or fd listen is answered asynchronously).
  await waitFor(() => {
    loop.tick();
    return servers.every((s) => s.isListening());
  }, 'servers listening');
  await workersUp(pool, threads);
  return { pool, servers, loop, url: (i = 0) => `ws://127.0.0.1:${servers[i]!.getLocalPort()}/` };
}

/** Wait until the pool runs `threads` workers again (the replacement answered stats). */
async function workersUp(pool: PeerPool, threads: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await pool.stats()).length === threads) return;
    } catch {
      // a worker exited during the call
    }
    if (Date.now() > deadline) throw new Error(`pool did not get back to ${threads} workers`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Open `n` ws clients and check each echoes once. */
async function clientsEcho(url: string, n: number, what: string): Promise<OpenClient[]> {
  const out: OpenClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await openWs(url);
    cleanups.push(() => c.ws.terminate());
    const r = await roundTrip(c.ws, `${what} ${i}`, false);
    expect(r.data.toString()).toBe(`${what} ${i}`);
    out.push(c);
  }
  return out;
}

/** Open ws clients until each of the pool's workers holds at least `per` of them. */
async function clientsOnEveryWorker(pool: PeerPool, url: string, threads: number, per: number): Promise<OpenClient[]> {
  const out: OpenClient[] = [];
  for (let i = 0; i < 200; i++) {
    out.push(...(await clientsEcho(url, 1, 'spread')));
    const per0 = (await pool.stats()).map((w) => w.connections);
    if (per0.length === threads && per0.every((n) => n >= per)) return out;
  }
  throw new Error('the kernel never spread the clients over every worker');
}

const reuseAvailable = (() => {
  const p = new PeerPool({ threads: 1 });
  const on = usesReusePort(p);
  void p.close();
  return on;
})();
const modes: { name: string; reusePort: boolean }[] = [{ name: 'one listening worker', reusePort: false }];
if (reuseAvailable) modes.unshift({ name: 'reusePort', reusePort: true });

describe.each(modes)('listening mode: $name', ({ reusePort }) => {
  describe.each([1, 2])('threads %i', (threads) => {
    const victims = threads === 1 ? [0] : [0, 1];
    it.each(victims)('worker %i dies (0 bound the socket): new clients connect and echo once it is replaced; isListening, port unchanged', async (victim) => {
      const { pool, servers, url } = await setup(threads, reusePort);
      const port = servers[0]!.getLocalPort();
      await clientsEcho(url(), 2, 'before');
      await crashWorker(pool, victim);
      await workersUp(pool, threads);
      await waitFor(() => servers[0]!.isListening(), 'listening again');
      expect(servers[0]!.getLocalPort()).toBe(port);
      // Enough clients that, with 2 workers, the kernel gives some to each of them.
      await clientsEcho(url(), 8, 'after');
      expect(servers[0]!.isListening()).toBe(true);
      expect(servers[0]!.listen(0, '127.0.0.1')).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    });
  });

  it('threads 2: connections on the surviving worker keep echoing through the death', async () => {
    const { pool, servers, loop, url } = await setup(2, reusePort);
    let clients: OpenClient[];
    if (reusePort) {
      // Every worker accepts: open clients until the kernel gave some to each.
      clients = await clientsOnEveryWorker(pool, url(), 2, 2);
    } else {
      // One worker listens per server: move server 0 to worker 1 (its binder, worker 0, dies), then
      // listen with a second server, in worker 0 (the replacement): clients of both, on both workers.
      await crashWorker(pool, 0);
      await workersUp(pool, 2);
      await waitFor(() => servers[0]!.isListening(), 'server 0 listening again');
      const second = new TCPServer({ pool });
      expect(second.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      loop.servers.push(second);
      clients = [...(await clientsEcho(url(), 3, 'first')), ...(await clientsEcho(`ws://127.0.0.1:${second.getLocalPort()}/`, 3, 'second'))];
      expect((await pool.stats()).map((w) => w.connections)).toEqual([3, 3]);
    }
    const gone: WebSocket[] = [];
    for (const c of clients) void closed(c.ws).then(() => gone.push(c.ws));
    const onVictim = (await pool.stats())[0]!.connections;
    await crashWorker(pool, 0);
    await waitFor(() => gone.length === onVictim, `the dead worker's ${onVictim} clients closed`);
    const alive = clients.filter((c) => !gone.includes(c.ws));
    expect(alive.length).toBe(clients.length - onVictim);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    // Through the gap and after: every surviving connection keeps echoing.
    for (let round = 0; round < 3; round++) {
      for (const c of alive) expect((await roundTrip(c.ws, `r${round}`, false)).data.toString()).toBe(`r${round}`);
      if (round === 0) await workersUp(pool, 2);
    }
    for (const s of loop.servers) {
      await waitFor(() => s.isListening(), 'listening again');
      await clientsEcho(`ws://127.0.0.1:${s.getLocalPort()}/`, 4, 'new');
    }
    expect(gone.length).toBe(onVictim);
  });

  it('threads 2: several TCPServers on one pool all recover, whichever worker dies', async () => {
    const { pool, servers, url } = await setup(2, reusePort, 3);
    for (const victim of [1, 0]) {
      await crashWorker(pool, victim);
      await workersUp(pool, 2);
      for (let i = 0; i < servers.length; i++) {
        await waitFor(() => servers[i]!.isListening(), `server ${i} listening again`);
        await clientsEcho(url(i), 4, `server ${i} after worker ${victim} died`);
      }
    }
  });

  it.each([1, 2])('threads %i: stop() after a death frees the port (a plain server binds it); listen() after stop works', async (threads) => {
    const { pool, servers, url } = await setup(threads, reusePort);
    const s = servers[0]!;
    const port = s.getLocalPort();
    await crashWorker(pool, 0);
    await workersUp(pool, threads);
    await waitFor(() => s.isListening(), 'listening again');
    await clientsEcho(url(), 2, 'after');
    s.stop();
    expect(s.isListening()).toBe(false);
    const plain = net.createServer();
    await new Promise<void>((resolve, reject) => {
      plain.once('error', reject);
      plain.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((r) => plain.close(r));
    expect(s.listen(port, '127.0.0.1')).toBe(ErrorCode.OK);
    await waitFor(() => s.isListening(), 'listening after stop');
    await clientsEcho(url(), 4, 'relisten');
  });

  it('threads 1: isListening() is false while the port is being bound again, then true', async () => {
    const { pool, servers } = await setup(1, reusePort);
    const s = servers[0]!;
    await crashWorker(pool, 0);
    // The pool saw the exit (its listener runs before this await returns); the replacement is booting.
    expect(s.isListening()).toBe(false);
    expect(s.getLocalPort()).not.toBe(0);
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.ERR_BUSY);
    await waitFor(() => s.isListening(), 'listening again');
  });

  it('threads 1: a re-bind that fails (the port was taken meanwhile) stops the server; listen() works again', async () => {
    const { pool, servers } = await setup(1, reusePort);
    const s = servers[0]!;
    const port = s.getLocalPort();
    await crashWorker(pool, 0);
    const thief = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve, reject) => {
      thief.once('error', reject);
      thief.listen(port, '127.0.0.1', resolve);
    });
    cleanups.push(() => new Promise<void>((r) => thief.close(() => r())));
    await waitFor(() => s.getLocalPort() === 0, 'the server stopped', 10_000, 5);
    expect(s.isListening()).toBe(false);
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    expect(s.isListening()).toBe(true);
    await clientsEcho(`ws://127.0.0.1:${s.getLocalPort()}/`, 2, 'relisten');
  });

  it('threads 2: stop() then listen(), 5 times: every connection of the new server is accepted (no handle of an old one takes it)', async () => {
    const { servers, loop, url } = await setup(2, reusePort);
    const s = servers[0]!;
    for (let cycle = 0; cycle < 5; cycle++) {
      s.stop();
      expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      await waitFor(() => s.isListening(), 'listening');
      // Plain TCP connects: each must reach the server loop (taken and given to a peer).
      const before = loop.peers.length;
      for (let i = 0; i < 20; i++) {
        const c = net.connect(s.getLocalPort(), '127.0.0.1');
        c.on('error', () => undefined);
        cleanups.push(() => void c.destroy());
        await new Promise((r) => c.once('connect', r));
      }
      await waitFor(() => loop.peers.length - before === 20, `cycle ${cycle}: 20 connections taken (got ${loop.peers.length - before})`, 5_000);
      await clientsEcho(url(), 2, `cycle ${cycle}`);
    }
  });
});
