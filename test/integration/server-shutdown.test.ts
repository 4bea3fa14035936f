/**
 * The examples run as programs (`node dist/examples/….js --port 0`): they print their URL; on SIGTERM or
 * SIGINT every client sees close code 1001 and the process exits by itself with code 0 (no
 * process.exit: nothing — workers, listener, timers — may keep it alive).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closed, openWs, roundTrip, waitFor, within, type OpenClient } from '../helpers/server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Running {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

async function run(script: string, args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [`dist/examples/${script}`, '--port', '0', '--host', '127.0.0.1', '--threads', '2', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const url = await within(
    new Promise<string>((resolve, reject) => {
      const look = (): void => {
        const m = /listening on (wss?:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      };
      child.stdout!.on('data', look);
      child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before printing its URL: ${err}`)));
    }),
    10_000,
    `${script} to print its URL`,
  );
  return { child, url, stdout: () => out, exited };
}

describe('examples/echo-server as a program', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: clients see 1001, the process exits on its own with code 0`, async () => {
      const srv = await run('echo-server.js', []);
      expect(srv.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      const clients: OpenClient[] = await Promise.all([0, 1, 2, 3].map((i) => openWs(`${srv.url}/c${i}`, ['chat'])));
      // Each is OPEN on the server too: it echoes.
      for (const [i, c] of clients.entries()) expect((await roundTrip(c.ws, `ping ${i}`, false)).data.toString()).toBe(`ping ${i}`);
      const closes = Promise.all(clients.map((c) => closed(c.ws)));
      const t0 = Date.now();
      srv.child.kill(signal);
      const codes = await within(closes, 5000, 'the clients to be closed');
      for (const r of codes) expect(r).toEqual({ code: 1001, reason: 'going away' });
      const exit = await within(srv.exited, 5000, 'the process to exit on its own');
      expect(exit.signal).toBeNull();
      expect(exit.code).toBe(0);
      expect(exit.at - t0).toBeLessThan(5000);
      expect(srv.stdout()).toContain(`${signal}: closing 4 peer(s) with 1001`);
      expect(srv.stdout()).toContain('echo server stopped');
    });
  }

  it('with no client at all, SIGTERM exits with code 0 at once', async () => {
    const srv = await run('echo-server.js', []);
    srv.child.kill('SIGTERM');
    const exit = await within(srv.exited, 5000, 'the process to exit');
    expect(exit).toMatchObject({ code: 0, signal: null });
  });

  it('wss: --tls-key/--tls-cert serve wss://, and SIGTERM still closes with 1001', async () => {
    const srv = await run('echo-server.js', ['--tls-key', 'test/fixtures/server-key.pem', '--tls-cert', 'test/fixtures/server-cert.pem']);
    expect(srv.url).toMatch(/^wss:\/\//);
    const { readFileSync } = await import('node:fs');
    const c = await openWs(`${srv.url}/s`, [], { ca: readFileSync(new URL('../fixtures/ca-cert.pem', import.meta.url)) });
    expect((await roundTrip(c.ws, 'tls', false)).data.toString()).toBe('tls');
    const seen = closed(c.ws);
    srv.child.kill('SIGTERM');
    expect((await within(seen, 5000, 'the client close')).code).toBe(1001);
    expect(await within(srv.exited, 5000, 'exit')).toMatchObject({ code: 0, signal: null });
  });

  it('a port already in use: reports it and exits with code 1', async () => {
    const first = await run('echo-server.js', []);
    const port = new URL(first.url).port;
    const second = spawn(process.execPath, ['dist/examples/echo-server.js', '--port', port, '--host', '127.0.0.1', '--threads', '1'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(second);
    let err = '';
    second.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await within(new Promise<number | null>((r) => second.once('exit', (c) => r(c))), 10_000, 'the second server to exit');
    expect(code).toBe(1);
    expect(err).toContain('ERR_CANT_CREATE');
    first.child.kill('SIGTERM');
    expect(await within(first.exited, 5000, 'exit')).toMatchObject({ code: 0 });
  });
});

describe('examples/game-server as a program', () => {
  it('SIGTERM: players see 1001, the process exits on its own with code 0', async () => {
    const srv = await run('game-server.js', []);
    const first: string[] = [];
    // Listen from construction: the welcome may arrive in the same read as the 101.
    let id = 0;
    const c = await openWs(`${srv.url}/play`, ['game-v1'], {}, (d, isBinary) => {
      if (id === 0) id = d.readInt32LE(0); // the multiplayer id comes first (Godot 4's handshake)
      else if (first.length === 0) first.push(isBinary ? '<binary>' : d.toString());
    });
    await waitFor(() => first.length > 0, 'the welcome', 5000);
    expect(JSON.parse(first[0]!)).toMatchObject({ type: 'welcome', tickRate: 60, id });
    const seen = closed(c.ws);
    srv.child.kill('SIGTERM');
    expect((await within(seen, 5000, 'the client close')).code).toBe(1001);
    expect(await within(srv.exited, 5000, 'exit')).toMatchObject({ code: 0, signal: null });
    expect(c.ws.readyState).toBe(WebSocket.CLOSED);
  });
});
