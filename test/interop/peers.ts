/**
 * Finding and driving the real peers of the interop tests: Debian's python3 with python3-websockets, and
 * Chromium. A peer that is absent skips its tests with a message — except under CI=true (`.ci/run`
 * installs them), where its absence fails a test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'vitest';

export const PYTHON = '/usr/bin/python3';
export const CHROMIUM = '/usr/bin/chromium';
export const PEER_PY = fileURLToPath(new URL('./peer.py', import.meta.url));
export const fixture = (f: string): string => fileURLToPath(new URL(`../fixtures/${f}`, import.meta.url));

/** Why python-websockets cannot run here, or null. */
export function pythonMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (apt-get install python3-websockets)`;
  const r = spawnSync(PYTHON, ['-c', 'import websockets'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} cannot import websockets (apt-get install python3-websockets): ${r.stderr.trim().split('\n').pop()}`;
}

export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`;
}

/** Skip message when absent; under CI=true a failing test instead, so CI never passes without the peer. */
export function requirePeer(missing: string | null, what: string): boolean {
  if (missing === null) return true;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    it(`${what} is installed (required under CI=true)`, () => {
      throw new Error(`${what} is missing under CI: ${missing}`);
    });
  } else {
    console.warn(`SKIPPED: ${what} interop tests: ${missing}`);
  }
  return false;
}

export interface PyClientResult {
  opened: boolean;
  replies: Array<{ type: string; len: number; sha256: string; equal: boolean }>;
  close_code: number | null;
  close_reason: string | null;
  error: string | null;
  /** The 101's Sec-WebSocket-Extensions (null: none). */
  extensions?: string | null;
}

/** Run peer.py client (asynchronously: the ringsocket server polls in this process meanwhile). */
export function pyClient(url: string, messages: Array<[string, number]>, extra: string[]): Promise<PyClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PEER_PY, 'client', url, ...extra, JSON.stringify(messages)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out) as PyClientResult);
      } catch {
        reject(new Error(`python client exited ${code}; stdout ${JSON.stringify(out)}; stderr ${err}`));
      }
    });
  });
}

export interface PyEvent {
  event: string;
  port?: number;
  path?: string;
  type?: string;
  len?: number;
  sha256?: string;
  expected?: boolean;
  code?: number | null;
  reason?: string;
}

export interface PyServer {
  port: number;
  events: PyEvent[];
  stop(): Promise<void>;
}

/** Start peer.py server; resolves once it listens. */
export function pyServer(extra: string[] = []): Promise<PyServer> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(PYTHON, [PEER_PY, 'server', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
    const events: PyEvent[] = [];
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`python server did not listen: ${err}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const e = JSON.parse(buf.slice(0, i)) as PyEvent;
        buf = buf.slice(i + 1);
        events.push(e);
        if (e.event === 'listening') {
          clearTimeout(timer);
          resolve({ port: e.port!, events, stop });
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`python server exited ${code}: ${err}`)));
    async function stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(kill);
    }
  });
}
