/**
 * README "Checking the upgrade": examples/approve-origin.ts run as a user runs it (built, importing
 * 'ringsocket' by name): a client from the allowed Origin is echoed, any other Origin and none get
 * 403 with the reason; SIGINT stops it with 0.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../cli/run-cli.js';
import { roundTrip, waitFor, within } from '../helpers/server.js';

const FILE = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'dist/examples/approve-origin.js');
const ALLOWED = 'https://game.example';

const child = spawn(process.execPath, [FILE, String(await freePort()), ALLOWED], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
const exited = once(child, 'close');
afterAll(() => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function url(): Promise<string> {
  await waitFor(() => /echo server on ws:\/\/\S+/.test(out) || child.exitCode !== null, 'the example to start', 15_000, 20);
  const m = /echo server on (ws:\/\/\S+)/.exec(out);
  if (m === null) throw new Error(`the example did not start: ${out}`);
  return m[1]!;
}

function refusal(u: string, origin?: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(u, origin === undefined ? {} : { origin });
  ws.on('error', () => undefined);
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error('opened')));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    }),
    5000,
    'the refusal',
  );
}

describe('examples/approve-origin.ts', () => {
  it('accepts the allowed Origin (echo), refuses others and none with 403, stops on SIGINT with 0', async () => {
    const u = await url();
    const ws = new WebSocket(u, { origin: ALLOWED });
    await within(once(ws, 'open'), 5000, 'the allowed client to open');
    expect((await roundTrip(ws, 'hi', false)).data.toString()).toBe('hi');
    ws.close();
    expect(await refusal(u, 'https://evil.example')).toEqual({ status: 403, body: 'origin not allowed' });
    expect(await refusal(u)).toEqual({ status: 403, body: 'origin not allowed' });
    child.kill('SIGINT');
    const [code] = await within(exited, 10_000, 'the example to exit');
    expect(code).toBe(0);
  });
});
