/**
 * Child processes of the cluster example (and of its tests): redis-server on a free port with nothing
 * persisted, `ringsocket serve --redis` nodes, HAProxy in front. Each is started with spawn and stopped by
 * its pid; every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
export const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy';
/** The built `ringsocket` command next to this file (dist/examples/cluster → dist/cli). */
export const RINGSOCKET_CLI = fileURLToPath(new URL('../../cli/ringsocket.js', import.meta.url));

/** A port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A child process with its output collected, and a bounded wait for a line. */
export class Proc {
  readonly child: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
  ) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.out += `\n${String(err)}`;
        resolve(null);
      });
      this.child.once('close', (code) => resolve(code));
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** Wait until the output matches `re`; throws after `timeoutMs` or if the process exits first. */
  async waitFor(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => (done = true));
    for (;;) {
      const m = re.exec(this.out);
      if (m !== null) return m;
      if (done) throw new Error(`${this.name} exited before printing ${re}: ${this.out}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms: ${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Signal it by pid and wait (bounded) for it to exit; SIGKILL if it does not within `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    process.kill(this.pid, signal);
    const t = setTimeout(() => this.running && process.kill(this.pid, 'SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** redis-server on 127.0.0.1:`port` (a free one if 0), persisting nothing; resolves once it accepts connections. */
export async function startRedis(port = 0): Promise<Proc & { port: number; url: string }> {
  const p = port !== 0 ? port : await freePort();
  const proc = new Proc('redis-server', REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
  await proc.waitFor(/Ready to accept connections/);
  return Object.assign(proc, { port: p, url: `redis://127.0.0.1:${p}` });
}

/** `ringsocket serve` as a child process; resolves with its ws:// URL once it listens. */
export async function startNode(args: string[], name = 'ringsocket serve'): Promise<Proc & { url: string }> {
  const proc = new Proc(name, process.execPath, [RINGSOCKET_CLI, 'serve', ...args]);
  const m = await proc.waitFor(/listening on (wss?:\/\/[^\s]+)/);
  return Object.assign(proc, { url: m[1]! });
}

/** The HAProxy configuration: WebSocket-friendly timeouts, round robin over `backends` (host:port). */
export function haproxyConfig(port: number, backends: string[]): string {
  return [
    'global',
    '  maxconn 4000', // HAProxy raises its fd limit to ~2× this: keep it under common hard limits
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    'frontend ws',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    ...backends.map((b, i) => `  server node${i + 1} ${b} check inter 1s`),
    '',
  ].join('\n');
}

/** HAProxy on 127.0.0.1:`port` (free if 0) in front of `backends`, its config in a temp dir (removed on stop). */
export async function startHaproxy(backends: string[], port = 0): Promise<Proc & { port: number; url: string; configPath: string }> {
  const p = port !== 0 ? port : await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'ringsocket-haproxy-'));
  const configPath = path.join(dir, 'haproxy.cfg');
  writeFileSync(configPath, haproxyConfig(p, backends));
  // -db: stay in the foreground (its pid is the one we stop).
  const proc = new Proc('haproxy', HAPROXY, ['-db', '-f', configPath]);
  proc.exited.then(() => rmSync(dir, { recursive: true, force: true }), () => {});
  // HAProxy prints nothing when it starts well: wait until its port accepts a connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!proc.running) throw new Error(`haproxy exited: ${proc.out}`);
    if (await canConnect(p)) break;
    if (Date.now() > deadline) throw new Error(`haproxy: port ${p} not open within 10 s: ${proc.out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(proc, { port: p, url: `ws://127.0.0.1:${p}`, configPath });
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
