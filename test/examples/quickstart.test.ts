/**
 * The README's quickstart, as a new user runs it: the client file against the server file (both
 * examples/, built to dist/examples/, importing 'ringsocket' by name as a user's code would). Also:
 * every README code block that says which example file it shows is that file, byte for byte, so the
 * README cannot drift from code that CI type-checks and runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort, killAll, runCli } from '../cli/run-cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT = path.join(ROOT, 'dist/examples/quickstart-client.js');
const SERVER = path.join(ROOT, 'dist/examples/quickstart-server.js');
const WAIT_SERVER = path.join(ROOT, 'dist/examples/wait-loop-server.js');
const RELAY = path.join(ROOT, 'dist/examples/quickstart-multiplayer.js');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  killAll();
});

function start(file: string, args: string[]): { child: ChildProcess; out: () => string; done: Promise<Ran> } {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr }));
  return { child, out: () => stdout, done };
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

async function startServer(file = SERVER, banner = /echo server on (ws:\/\/\S+)/): Promise<{ url: string; server: ReturnType<typeof start> }> {
  const server = start(file, [String(await freePort())]);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = banner.exec(server.out());
    if (m !== null) return { url: m[1]!, server };
    if (server.child.exitCode !== null || Date.now() > deadline) throw new Error(`the quickstart server did not start: ${server.out()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('README quickstart: examples/quickstart-client.ts against examples/quickstart-server.ts', () => {
  it('the client prints the three text echoes, closes cleanly and exits 0 on its own; the server stops on SIGINT with 0', async () => {
    const { url, server } = await startServer();
    const r = await bounded(start(CLIENT, [url]).done, 15_000, 'the quickstart client');
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual(['echo (text): hello 1', 'echo (text): hello 2', 'echo (text): hello 3', 'closed 1000 done']);
    expect(r.code).toBe(0);
    server.child.kill('SIGINT');
    const s = await bounded(server.done, 10_000, 'the quickstart server after SIGINT');
    expect(s.code).toBe(0);
  });

  it('examples/wait-loop-server.ts (the waitForActivity loop) serves the same client, and stops on SIGINT with 0', async () => {
    const { url, server } = await startServer(WAIT_SERVER);
    const r = await bounded(start(CLIENT, [url]).done, 15_000, 'the quickstart client');
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual(['echo (text): hello 1', 'echo (text): hello 2', 'echo (text): hello 3', 'closed 1000 done']);
    expect(r.code).toBe(0);
    server.child.kill('SIGINT');
    expect((await bounded(server.done, 10_000, 'the wait-loop server after SIGINT')).code).toBe(0);
  });

  it('the server echoes with the same type: `ringsocket load --text` and binary both see 0 bad echoes', async () => {
    const { url } = await startServer();
    for (const extra of [['--text'], []]) {
      const r = await runCli(['load', url, '--connections', '2', '--rate', '200', '--duration', '1s', '--warmup', '0', '--quiet', '--json', '-', ...extra], 30_000);
      const j = JSON.parse(r.stdout) as { messages: { received: number; badEchoes: number }; errors: { total: number } };
      expect({ code: r.code, bad: j.messages.badEchoes, errors: j.errors.total }).toEqual({ code: 0, bad: 0, errors: 0 });
      expect(j.messages.received).toBeGreaterThan(100);
    }
  });

  it('against a port nothing listens on, the client prints the failure reason once and exits 1', async () => {
    const port = await freePort();
    const r = await bounded(start(CLIENT, [`ws://127.0.0.1:${port}`]).done, 15_000, 'the quickstart client (refused)');
    expect(r.stdout).toBe('closed -1 ECONNREFUSED\n');
    expect(r.code).toBe(1);
  });
});

describe('README quickstart: examples/quickstart-multiplayer.ts', () => {
  it('each client gets its id first; a packet goes to every other client, not back; SIGINT closes them with 1001 and exits 0', async () => {
    const { url, server } = await startServer(RELAY, /relay server on (ws:\/\/\S+)/);
    const clients = [0, 1, 2].map(() => {
      const ws = new WebSocket(url);
      const c = { ws, id: 0, got: [] as string[], code: 0 };
      ws.on('message', (d: Buffer) => {
        if (c.id === 0) c.id = d.readInt32LE(0);
        else c.got.push(d.toString());
      });
      ws.on('close', (code) => (c.code = code));
      return c;
    });
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server said: ${server.out()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => clients.every((c) => c.id >= 2), 'the ids');
    await until(() => clients.every((c) => server.out().includes(`peer ${c.id} joined`)), 'the joins');
    clients[0]!.ws.send('hi from 0');
    await until(() => clients[1]!.got.length === 1 && clients[2]!.got.length === 1, 'the relay');
    expect(clients.map((c) => c.got)).toEqual([[], ['hi from 0'], ['hi from 0']]);
    server.child.kill('SIGINT');
    expect((await bounded(server.done, 10_000, 'the relay server after SIGINT')).code).toBe(0);
    await until(() => clients.every((c) => c.code !== 0), 'the closes');
    expect(clients.map((c) => c.code)).toEqual([1001, 1001, 1001]);
  });
});

describe('README code blocks', () => {
  it('each block marked with an example file is that file, byte for byte', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const marked = [...readme.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```\n/g)];
    expect(marked.map((m) => m[1])).toEqual(expect.arrayContaining(['examples/quickstart-client.ts', 'examples/quickstart-server.ts', 'examples/quickstart-multiplayer.ts']));
    for (const [, file, body] of marked) expect(body, file).toBe(readFileSync(path.join(ROOT, file!), 'utf8'));
    // No TypeScript block in the README escapes the check.
    const tsBlocks = [...readme.matchAll(/```ts\n/g)].length;
    expect(tsBlocks).toBe(marked.length);
  });
});
