/**
 * Topics across processes through a real redis-server (issue 17): `ringsocket serve --mode topic --redis`
 * nodes in separate processes, real `ws` clients on each. Redis is started by the tests on a free port
 * (`--save '' --appendonly no`) and stopped by pid; every wait is bounded.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { clientNames, eventually, startNode, startRedis, stopAllProcs, subscriberCount, track, type Proc } from '../helpers/redis.js';

afterEach(stopAllProcs);

const CHANNEL = 'ringsocket:room';

class Client {
  readonly msgs: string[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => this.msgs.push(d.toString()));
  }

  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url, ['chat']);
    await Promise.race([once(ws, 'open'), once(ws, 'error').then(([e]) => Promise.reject(e as Error))]);
    return new Client(ws);
  }

  /** The messages that are publications (not command answers). */
  get data(): string[] {
    return this.msgs.filter((m) => !/^(subscribed|unsubscribed|error) /.test(m));
  }

  async sub(topic: string): Promise<void> {
    this.ws.send(`sub ${topic}`);
    await eventually(() => this.msgs.includes(`subscribed ${topic}`), `subscribed ${topic}`);
  }

  async unsub(topic: string): Promise<void> {
    this.ws.send(`unsub ${topic}`);
    await eventually(() => this.msgs.includes(`unsubscribed ${topic}`), `unsubscribed ${topic}`);
  }

  pub(topic: string, payload: string): void {
    this.ws.send(`pub ${topic} ${payload}`);
  }
}

interface Counters {
  up: boolean;
  published: number;
  failed: number;
  received: number;
  channels: number;
  reconnects: number;
}

/** The broker's figures from a node's latest counters line (every 100 ms). */
function counters(node: Proc): Counters | null {
  const all = [...node.out.matchAll(/redis (up|DOWN): published ([\d,]+), failed ([\d,]+), received ([\d,]+), channels ([\d,]+), reconnects ([\d,]+)/g)];
  const m = all.at(-1);
  if (m === undefined) return null;
  const n = (i: number) => Number(m[i]!.replace(/,/g, ''));
  return { up: m[1] === 'up', published: n(2), failed: n(3), received: n(4), channels: n(5), reconnects: n(6) };
}

async function startNodes(redisUrl: string, n: number): Promise<(Proc & { url: string })[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => track(startNode(['--port', '0', '--threads', '1', '--mode', 'topic', '--redis', redisUrl, '--interval', '100ms'], `node ${i + 1}`))),
  );
}

/** `msgs` holds exactly the messages of `expected`, each once, each publisher's in the order it published. */
function expectExactlyOnceInOrder(msgs: string[], publishers: string[], count: number): void {
  expect([...msgs].sort()).toEqual(publishers.flatMap((p) => Array.from({ length: count }, (_, i) => `${p}-${i}`)).sort());
  for (const p of publishers) expect(msgs.filter((m) => m.startsWith(`${p}-`))).toEqual(Array.from({ length: count }, (_, i) => `${p}-${i}`));
}

describe.each([2, 3])('%i nodes in separate processes on one Redis', (n) => {
  it('a publication on any node reaches every subscriber of every node exactly once, in order per publisher; unsubscribe stops it', async () => {
    const redis = await track(startRedis());
    const nodes = await startNodes(redis.url, n);
    expect(nodes[0]!.out).toMatch(/sharded pub\/sub: SPUBLISH\/SSUBSCRIBE/); // Redis 7: sharded chosen
    // Two clients per node, all subscribed to one topic; one publisher per node.
    const clients = await Promise.all(nodes.flatMap((node) => [Client.open(node.url), Client.open(node.url)]));
    expect(await subscriberCount(redis.port, CHANNEL)).toBe(0);
    for (const c of clients) await c.sub('room');
    // One Redis subscription per node (not per client): the node joined when its first client did.
    await eventually(async () => (await subscriberCount(redis.port, CHANNEL)) === n, `${n} nodes subscribed in Redis`);
    const COUNT = 50;
    const publishers = nodes.map((_, i) => `P${i}`);
    for (let k = 0; k < COUNT; k++) for (let i = 0; i < n; i++) clients[2 * i]!.pub('room', `P${i}-${k}`);
    await eventually(() => clients.every((c) => c.data.length >= n * COUNT), 'every client has every publication', 15_000);
    await new Promise((r) => setTimeout(r, 300)); // nothing more (no duplicate) arrives after
    for (const c of clients) expectExactlyOnceInOrder(c.data, publishers, COUNT);

    // The last node's clients leave: its Redis subscription goes when the last of them does.
    const last = clients.slice(-2);
    await last[0]!.unsub('room');
    await new Promise((r) => setTimeout(r, 200));
    expect(await subscriberCount(redis.port, CHANNEL)).toBe(n);
    await last[1]!.unsub('room');
    await eventually(async () => (await subscriberCount(redis.port, CHANNEL)) === n - 1, 'the node left the channel');
    const before = last.map((c) => c.data.length);
    for (let k = 0; k < 10; k++) clients[0]!.pub('room', `after-${k}`);
    await eventually(() => clients.slice(0, -2).every((c) => c.data.filter((m) => m.startsWith('after-')).length === 10), 'the others still get publications');
    await new Promise((r) => setTimeout(r, 300));
    expect(last.map((c) => c.data.length)).toEqual(before);
    // A publication from the node with no subscriber left still reaches the others.
    last[0]!.pub('room', 'from-unsubscribed-node');
    await eventually(() => clients[0]!.data.includes('from-unsubscribed-node'), 'publication from a node without subscribers');
    expect(last[0]!.data).not.toContain('from-unsubscribed-node');
    for (const c of clients) c.ws.terminate();
  });
});

describe('faults', () => {
  it('Redis killed and restarted: local delivery goes on, remote publications fail counted, then resume after ioredis re-subscribes', async () => {
    const redis = await track(startRedis());
    const [a, b] = await startNodes(redis.url, 2);
    const [a1, a2, b1] = await Promise.all([Client.open(a!.url), Client.open(a!.url), Client.open(b!.url)]);
    for (const c of [a1!, a2!, b1!]) await c.sub('room');
    await eventually(async () => (await subscriberCount(redis.port, CHANNEL)) === 2, 'both nodes subscribed');
    for (let k = 0; k < 10; k++) a1!.pub('room', `one-${k}`);
    await eventually(() => b1!.data.length === 10 && a2!.data.length === 10, 'phase 1 everywhere');

    await redis.stop('SIGKILL');
    await eventually(() => counters(a!)?.up === false && counters(b!)?.up === false, 'both nodes see Redis down');
    const failedBefore = counters(a!)!.failed;
    const DOWN = 20;
    for (let k = 0; k < DOWN; k++) a1!.pub('room', `down-${k}`);
    // Local delivery is unaffected…
    await eventually(() => a2!.data.filter((m) => m.startsWith('down-')).length === DOWN, 'local delivery while Redis is down');
    // …and every remote publication made while Redis was down is counted failed, exactly.
    await eventually(() => counters(a!)!.failed - failedBefore === DOWN, `node A counts ${DOWN} failed publications`);

    const again = await track(startRedis(redis.port));
    // ioredis reconnects and re-subscribes by itself.
    await eventually(() => counters(a!)?.up === true && counters(b!)?.up === true, 'both nodes reconnected', 15_000);
    await eventually(async () => (await subscriberCount(again.port, CHANNEL)) === 2, 'both nodes re-subscribed', 15_000);
    expect(counters(a!)!.reconnects).toBeGreaterThanOrEqual(1);
    for (let k = 0; k < 10; k++) a1!.pub('room', `three-${k}`);
    await eventually(() => b1!.data.length === 20, 'remote delivery resumed', 15_000);
    await new Promise((r) => setTimeout(r, 300));
    // B got phases 1 and 3 in order, nothing of what was published while Redis was down; A's failures stay at 20.
    expect(b1!.data).toEqual([...Array.from({ length: 10 }, (_, k) => `one-${k}`), ...Array.from({ length: 10 }, (_, k) => `three-${k}`)]);
    expect(a2!.data).toHaveLength(40);
    expect(counters(a!)!.failed - failedBefore).toBe(DOWN);
    for (const c of [a1!, a2!, b1!]) c.ws.terminate();
  });

  it('a node killed leaves no subscription behind; the others go on', async () => {
    const redis = await track(startRedis());
    const nodes = await startNodes(redis.url, 3);
    const ids = nodes.map((node) => /node ([0-9a-f]{16})/.exec(node.out)![1]!);
    const clients = await Promise.all(nodes.map((node) => Client.open(node.url)));
    for (const c of clients) await c.sub('room');
    await eventually(async () => (await subscriberCount(redis.port, CHANNEL)) === 3, 'three nodes subscribed');
    expect(await clientNames(redis.port)).toContain(`ringsocket-sub-${ids[2]}`);

    await nodes[2]!.stop('SIGKILL');
    await eventually(async () => (await subscriberCount(redis.port, CHANNEL)) === 2, "the dead node's subscription is gone");
    expect((await clientNames(redis.port)).filter((name) => name.includes(ids[2]!))).toEqual([]);
    for (let k = 0; k < 10; k++) clients[0]!.pub('room', `m-${k}`);
    await eventually(() => clients[1]!.data.length === 10, 'the others go on');
    expect(clients[1]!.data).toEqual(Array.from({ length: 10 }, (_, k) => `m-${k}`));
    expect(counters(nodes[0]!)!.failed).toBe(0);
    for (const c of clients.slice(0, 2)) c.ws.terminate();
  });
});
