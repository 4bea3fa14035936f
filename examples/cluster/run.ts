/**
 * A cluster on one machine with one command: a Redis server, N `ringsocket serve --redis` nodes and
 * HAProxy in front, all on 127.0.0.1. A client connects to HAProxy, which sends each connection to a node
 * in turn; a message any client sends reaches the clients of every node (broadcast mode), through Redis.
 *
 *   npm run build && node dist/examples/cluster/run.js [--nodes 3] [--port 8080] [--mode broadcast|topic] [--threads 1]
 *
 * SIGINT/SIGTERM (Ctrl-C) stops HAProxy, the nodes (each closes its peers with 1001) and Redis, by their
 * pids, then exits. The HAProxy config is generated into a temp dir, removed when it stops.
 */
import { parseArgs } from 'node:util';
import { startHaproxy, startNode, startRedis, type Proc } from './procs.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    port: { type: 'string', default: '8080' },
    mode: { type: 'string', default: 'broadcast' },
    threads: { type: 'string', default: '1' },
  },
});
const nodes = Number(values.nodes);
const port = Number(values.port);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) throw new Error('--nodes: 1 to 64');
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port: 0 to 65535');
if (values.mode !== 'broadcast' && values.mode !== 'topic') throw new Error('--mode: broadcast or topic');

const procs: Proc[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  stopping = true;
  // Front first (no new connections), then the nodes (their peers get 1001), Redis last.
  for (const p of [...procs].reverse()) await p.stop('SIGTERM', 5000).catch(() => {});
  process.stdout.write('cluster stopped\n');
  process.exit(code);
}

try {
  const redis = await startRedis();
  procs.push(redis);
  process.stdout.write(`redis    ${redis.url} (pid ${redis.pid})\n`);
  const started = await Promise.allSettled(
    Array.from({ length: nodes }, (_, i) => startNode(['--port', '0', '--mode', values.mode!, '--redis', redis.url, '--threads', values.threads!, '--quiet'], `node ${i + 1}`)),
  );
  for (const s of started) if (s.status === 'fulfilled') procs.push(s.value); // stopped on a failure too
  const backends: string[] = [];
  for (const [i, s] of started.entries()) {
    if (s.status === 'rejected') throw s.reason;
    backends.push(s.value.url.replace(/^ws:\/\//, ''));
    process.stdout.write(`node ${i + 1}   ${s.value.url} (pid ${s.value.pid})\n`);
  }
  const haproxy = await startHaproxy(backends, port);
  procs.push(haproxy);
  process.stdout.write(`haproxy  ${haproxy.url} (pid ${haproxy.pid}) -> ${nodes} node(s)\n`);
  process.stdout.write(`cluster ready: ${haproxy.url} (Ctrl-C stops everything)\n`);
  for (const p of procs) {
    void p.exited.then((code) => {
      if (!stopping) process.stderr.write(`${p.name} (pid ${p.pid}) exited with ${code}\n`);
    });
  }
} catch (err) {
  process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(1);
}

process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));
