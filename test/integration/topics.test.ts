/**
 * Topics on PeerPool for WebSocketPeer users: subscribe / unsubscribe / publish / getSubscriberCount over
 * real sockets. The order of the main thread's calls is the order on the wire: a publication reaches
 * exactly the peers subscribed (and not closed) when it was called, whatever races with it in one tick.
 * Client-side peers (which mask) get their own frames; a worker's death takes its subscribers out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode, crashWorker, stallWorker, workerOfPeer } from '../helpers/lib.js';
import { pollUntil, sleep } from '../helpers/net.js';
import { mulberry32 } from '../helpers/prng.js';

let pool: PeerPool;

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
});

afterAll(async () => {
  await pool.close();
});

interface Pair {
  peer: WebSocketPeer;
  ws: WebSocket;
  got: string[];
  closed: boolean;
}

/** `n` server-side peers, each with a `ws` client recording text messages. */
async function pairs(n: number): Promise<{ list: Pair[]; stop: () => void }> {
  const srv = new TCPServer({ pool });
  expect(srv.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
  const clients: { ws: WebSocket; got: string[]; closed: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.getLocalPort()}/`);
    const c = { ws, got: [] as string[], closed: false };
    ws.on('message', (d: Buffer) => c.got.push(d.toString()));
    ws.on('close', () => (c.closed = true));
    clients.push(c);
  }
  const peers: WebSocketPeer[] = [];
  const deadline = Date.now() + 20_000;
  while ((peers.length < n || peers.some((p) => p.getReadyState() !== State.OPEN)) && Date.now() < deadline) {
    while (srv.isConnectionAvailable()) {
      const p = new WebSocketPeer({ pool });
      expect(p.acceptStream(srv.takeConnection()!)).toBe(ErrorCode.OK);
      peers.push(p);
    }
    for (const p of peers) p.poll();
    await sleep(2);
  }
  expect(peers.length).toBe(n);
  // Pair each peer with its client by port.
  const byPort = new Map(clients.map((c) => [(c.ws as unknown as { _socket: { localPort: number } })._socket.localPort, c]));
  const list = peers.map((peer) => {
    const c = byPort.get(peer.getConnectedPort())!;
    return { peer, ws: c.ws, got: c.got, get closed() { return c.closed; } } as Pair;
  });
  return { list, stop: () => srv.stop() };
}

const text = (s: string) => new TextEncoder().encode(s);

describe('PeerPool topics', () => {
  it('subscribe / unsubscribe / publish / getSubscriberCount: codes and counts', async () => {
    const { list, stop } = await pairs(3);
    const [a, b, c] = list as [Pair, Pair, Pair];
    expect(pool.getSubscriberCount('room')).toBe(0);
    expect(pool.publish('room', text('nobody'))).toBe(0);
    expect(pool.subscribe(a.peer, 'room')).toBe(ErrorCode.OK);
    expect(pool.subscribe(a.peer, 'room')).toBe(ErrorCode.ERR_ALREADY_EXISTS);
    expect(pool.subscribe(b.peer, 'room')).toBe(ErrorCode.OK);
    expect(pool.subscribe(c.peer, 'other')).toBe(ErrorCode.OK);
    expect(pool.getSubscriberCount('room')).toBe(2);
    expect(pool.publish('room', text('one'), WriteMode.TEXT)).toBe(2);
    expect(pool.unsubscribe(b.peer, 'room')).toBe(ErrorCode.OK);
    expect(pool.unsubscribe(b.peer, 'room')).toBe(ErrorCode.ERR_DOES_NOT_EXIST);
    expect(pool.publish('room', text('two'), WriteMode.TEXT)).toBe(1);
    expect(pool.publish('room', new Uint8Array([0xff]), WriteMode.TEXT)).toBe(-1);
    expect(pool.subscribe(new WebSocketPeer({ pool }), 'room')).toBe(ErrorCode.FAILED);
    expect(pool.subscribe({} as WebSocketPeer, 'room')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(pool.subscribe(a.peer, '')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    const other = new PeerPool({ threads: 1 });
    expect(other.subscribe(a.peer, 'room')).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    await other.close();
    await pollUntil(list.map((p) => p.peer), () => a.got.length === 2 && b.got.length === 1, 'the publications');
    expect(a.got).toEqual(['one', 'two']);
    expect(b.got).toEqual(['one']);
    expect(c.got).toEqual([]);
    // A peer that closes leaves every topic at once.
    a.peer.close();
    expect(pool.getSubscriberCount('room')).toBe(0);
    expect(pool.publish('room', text('three'))).toBe(0);
    c.peer.close(-1);
    expect(pool.getSubscriberCount('other')).toBe(0);
    for (const p of list) p.ws.terminate();
    stop();
  });

  it('subscribe, unsubscribe, publish and close racing in one tick: each client gets exactly what was published while it was in', async () => {
    const { list, stop } = await pairs(40);
    const rand = mulberry32(1234);
    const inTopic = new Set<Pair>();
    const closed = new Set<Pair>();
    const expected = new Map<Pair, string[]>(list.map((p) => [p, []]));
    let k = 0;
    for (let round = 0; round < 20; round++) {
      for (let op = 0; op < 100; op++) {
        const p = list[Math.floor(rand() * list.length)]!;
        const r = rand();
        if (r < 0.35) {
          const code = pool.subscribe(p.peer, 'race');
          if (closed.has(p)) expect(code).toBe(ErrorCode.FAILED);
          else if (inTopic.has(p)) expect(code).toBe(ErrorCode.ERR_ALREADY_EXISTS);
          else {
            expect(code).toBe(ErrorCode.OK);
            inTopic.add(p);
          }
        } else if (r < 0.6) {
          const code = pool.unsubscribe(p.peer, 'race');
          expect(code).toBe(inTopic.delete(p) ? ErrorCode.OK : closed.has(p) ? ErrorCode.ERR_DOES_NOT_EXIST : ErrorCode.ERR_DOES_NOT_EXIST);
        } else if (r < 0.98) {
          const m = `m${k++}`;
          expect(pool.publish('race', text(m), WriteMode.TEXT)).toBe(inTopic.size);
          for (const q of inTopic) expected.get(q)!.push(m);
        } else if (!closed.has(p)) {
          p.peer.close(4000, 'race');
          closed.add(p);
          inTopic.delete(p);
        }
        expect(pool.getSubscriberCount('race')).toBe(inTopic.size);
      }
      // Let the workers run between rounds (and the main thread see what they did).
      for (const p of list) p.peer.poll();
      await sleep(1);
    }
    await pollUntil(
      list.map((p) => p.peer),
      () => list.every((p) => p.got.length === expected.get(p)!.length),
      'every expected publication',
    );
    await sleep(100);
    for (const p of list) expect(p.got).toEqual(expected.get(p));
    expect(closed.size).toBeGreaterThan(0);
    for (const p of list) p.ws.terminate();
    stop();
  }, 60_000);
});

describe('topics on client-side peers', () => {
  it('client peers (which mask) publish to a ws server; a dead worker takes its subscribers out, the rest still get them', async () => {
    const own = new PeerPool({ threads: 2 });
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    const received = new Map<WebSocket, string[]>();
    wss.on('connection', (ws) => {
      received.set(ws, []);
      ws.on('message', (d: Buffer) => received.get(ws)!.push(d.toString()));
    });
    try {
      const peers: WebSocketPeer[] = [];
      for (let i = 0; i < 10; i++) {
        const p = new WebSocketPeer({ pool: own });
        expect(p.connectToUrl(`ws://127.0.0.1:${port}/`)).toBe(ErrorCode.OK);
        peers.push(p);
      }
      await pollUntil(peers, () => peers.every((p) => p.getReadyState() === State.OPEN), 'the clients to open');
      for (const p of peers) expect(own.subscribe(p, 'up')).toBe(ErrorCode.OK);
      expect(own.publish('up', text('hello'), WriteMode.TEXT)).toBe(10);
      await pollUntil(peers, () => [...received.values()].filter((g) => g.includes('hello')).length === 10, 'ten copies at the server');
      const workers = new Set(peers.map((p) => workerOfPeer(p)));
      expect(workers.size).toBe(2);
      await crashWorker(own, 0);
      const lost = peers.filter((p) => workerOfPeer(p) === 0).length;
      await pollUntil(peers, () => peers.filter((p) => p.getReadyState() === State.CLOSED).length === lost, 'the dead worker’s peers to close');
      expect(own.getSubscriberCount('up')).toBe(10 - lost);
      expect(own.publish('up', text('after'), WriteMode.TEXT)).toBe(10 - lost);
      await pollUntil(peers, () => [...received.values()].filter((g) => g.includes('after')).length === 10 - lost, 'the survivors’ copies');
      for (const p of peers) p.close();
    } finally {
      await own.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  }, 60_000);
});

describe('getPublishBacklog', () => {
  it('counts the publications a worker was handed and has not written (one each, whatever its size); 0 once it catches up, every one delivered in order', async () => {
    const { list, stop } = await pairs(4);
    for (const p of list) expect(pool.subscribe(p.peer, 'backlog')).toBe(ErrorCode.OK);
    expect(pool.publish('backlog', text('warm'), WriteMode.TEXT)).toBe(4);
    await pollUntil(list.map((p) => p.peer), () => pool.getPublishBacklog() === 0 && list.every((p) => p.got.length === 1), 'the first publication');
    // Block one worker's thread: what it is handed waits in its ring.
    const w = workerOfPeer(list[0]!.peer);
    await stallWorker(pool, w, 1500); // resolves as the stall begins
    const big = 'x'.repeat(3 * 1024 * 1024); // several ring records: still one publication
    const sent = ['one', big, 'three', 'four', 'five'];
    for (const [i, s] of sent.entries()) {
      expect(pool.publish('backlog', text(s), WriteMode.TEXT)).toBe(4);
      expect(pool.getPublishBacklog()).toBe(i + 1);
    }
    await pollUntil(list.map((p) => p.peer), () => pool.getPublishBacklog() === 0, 'the backlog to drain');
    await pollUntil(list.map((p) => p.peer), () => list.every((p) => p.got.length === 1 + sent.length), 'every member to get every publication', 20_000);
    for (const p of list) expect(p.got).toEqual(['warm', ...sent]);
    for (const p of list) p.ws.close();
    stop();
  });
});
