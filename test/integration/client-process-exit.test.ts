/**
 * A program that closes its peers and servers exits on its own: no worker keeps the process alive.
 * Each case runs a child process (test/fixtures/exit-client.mjs) and fails if it had to be killed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { startWsServer } from '../helpers/net.js';

const child = fileURLToPath(new URL('../fixtures/exit-client.mjs', import.meta.url));
let server: Awaited<ReturnType<typeof startWsServer>>;
const closes: number[] = [];

beforeAll(async () => {
  server = await startWsServer();
  server.wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (d, bin) => ws.send(d as Buffer, { binary: bin }));
    ws.on('close', (code) => closes.push(code));
  });
});
afterAll(() => server.close());

function run(mode: string): Promise<{ code: number | null; killed: boolean; out: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [child, server.url, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let killed = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, 10_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, out, ms: Date.now() - t0 });
    });
  });
}

describe('process exit', () => {
  for (const mode of ['pool', 'default']) {
    it(`a client that closed its peer exits on its own (${mode} pool)`, async () => {
      const before = closes.length;
      const r = await run(mode);
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
      expect(r.out).toContain('closed 1000');
      expect(closes.length).toBe(before + 1);
      expect(closes.at(-1)).toBe(1000);
    }, 20_000);
  }

  it('a client that calls close() and stops polling at once still exits, and its close frame is sent', async () => {
    const before = closes.length;
    const r = await run('no-wait');
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    for (let i = 0; i < 100 && closes.length === before; i++) await new Promise((res) => setTimeout(res, 20));
    expect(closes.at(-1)).toBe(1000);
  }, 20_000);

  it('regression: await pool.close() completes before the process exits (an idle notice must not unref it)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await run('pool-close');
      expect(r.killed).toBe(false);
      expect(r.code).toBe(0);
      expect(r.out).toContain('after close');
    }
  }, 60_000);

  it('a TCPServer that stopped lets the process exit', async () => {
    const r = await run('server');
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
  }, 20_000);
});
