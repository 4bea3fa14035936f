/**
 * examples/cluster: one command starts redis-server, N `ringsocket serve --redis` nodes and HAProxy; a
 * client connected through HAProxy reaches the clients of every node; SIGTERM stops every child by pid.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../helpers/redis.js';

const RUN = fileURLToPath(new URL('../../dist/examples/cluster/run.js', import.meta.url));
const pids: number[] = [];
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
afterEach(() => {
  for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

async function open(url: string): Promise<{ ws: WebSocket; msgs: string[] }> {
  const ws = new WebSocket(url, ['chat']);
  await Promise.race([once(ws, 'open'), once(ws, 'error').then(([e]) => Promise.reject(e as Error))]);
  const msgs: string[] = [];
  ws.on('message', (d: Buffer) => msgs.push(d.toString()));
  return { ws, msgs };
}

it('node dist/examples/cluster/run.js: a client through HAProxy reaches the clients of every node; SIGTERM stops everything', async () => {
  const child = spawn(process.execPath, [RUN, '--nodes', '2', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  pids.push(child.pid!);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  await eventually(() => /cluster ready: (ws:\/\/\S+)/.test(out), `cluster ready (output: ${out})`, 30_000);
  const childPids = [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
  pids.push(...childPids);
  expect(childPids).toHaveLength(4); // redis, 2 nodes, haproxy
  const front = /cluster ready: (ws:\/\/\S+)/.exec(out)![1]!;
  const nodeUrls = [...out.matchAll(/^node \d+ +(ws:\/\/\S+)/gm)].map((m) => m[1]!);
  expect(nodeUrls).toHaveLength(2);

  // A client on each node directly, and one through HAProxy (round robin puts it on either).
  const direct = await Promise.all(nodeUrls.map(open));
  const viaProxy = await open(front);
  // Broadcast mode: each peer joins the topic on its first tick; send until the first message comes
  // back to both direct clients (the Redis subscriptions are asynchronous), then count from there.
  await eventually(
    () => {
      viaProxy.ws.send('probe');
      return direct.every((c) => c.msgs.includes('probe'));
    },
    'a probe through HAProxy reaches both nodes',
    10_000,
  );
  for (const c of [...direct, viaProxy]) c.msgs.length = 0;
  for (let k = 0; k < 20; k++) viaProxy.ws.send(`hello-${k}`);
  const expected = Array.from({ length: 20 }, (_, k) => `hello-${k}`);
  await eventually(() => [...direct, viaProxy].every((c) => c.msgs.filter((m) => m.startsWith('hello-')).length === 20), 'every client has every message');
  for (const c of [...direct, viaProxy]) expect(c.msgs.filter((m) => m.startsWith('hello-'))).toEqual(expected);

  process.kill(child.pid!, 'SIGTERM');
  const [code] = (await Promise.race([once(child, 'exit'), new Promise((_, reject) => setTimeout(() => reject(new Error(`run.js did not exit: ${out}`)), 20_000))])) as [number];
  expect(code).toBe(0);
  expect(out).toMatch(/cluster stopped/);
  expect(childPids.filter(alive)).toEqual([]);
  for (const c of [...direct, viaProxy]) c.ws.terminate();
});
