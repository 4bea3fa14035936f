/**
 * `ringsocket load` for CI and for fan-out: --threshold sets the exit code (4 when breached), --fanout
 * against `ringsocket serve --mode broadcast` (one publisher, every connection a receiver, a latency per
 * receipt), --threads N (the work split over N load threads, each with its own figures), and the 1009
 * hint when the message is larger than the server accepts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, startWsServer } from '../helpers/net.js';
import { killAll, lines, runCli, startCli, type CliProcess } from './run-cli.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let echo: Awaited<ReturnType<typeof startEchoServer>>;
beforeAll(async () => {
  echo = await startEchoServer({ perMessageDeflate: false });
});
afterAll(async () => {
  await echo.close();
});
afterEach(killAll);

const SHORT = ['--duration', '1s', '--warmup', '0', '--quiet'];

async function serve(args: string[]): Promise<{ proc: CliProcess; url: string }> {
  const proc = startCli(['serve', '--port', '0', '--threads', '1', '--quiet', ...args]);
  const url = (await proc.waitForStdout(/listening on (ws:\/\/\S+)/))[1]!;
  return { proc, url };
}

async function stop(proc: CliProcess): Promise<void> {
  proc.kill('SIGINT');
  expect((await proc.wait(15_000)).code).toBe(0);
}

describe('load --threshold', () => {
  it('every threshold met: exit 0, each listed with what was measured', async () => {
    const r = await runCli(['load', echo.url, '--connections', '2', '--rate', '200', ...SHORT, '--threshold', 'p99<10s', '--threshold', 'errors=0', '--threshold', 'throughput>=100', '--json', '-']);
    const j = JSON.parse(r.stdout) as Json;
    expect(r.code, r.stderr).toBe(0);
    expect(j.thresholds).toEqual([
      { threshold: 'p99<10s', metric: 'p99', op: '<', limit: 10_000, actual: j.latencyMs.p99, ok: true },
      { threshold: 'errors=0', metric: 'errors', op: '=', limit: 0, actual: 0, ok: true },
      { threshold: 'throughput>=100', metric: 'throughput', op: '>=', limit: 100, actual: j.throughput.receivedPerSec, ok: true },
    ]);
  });

  it('one breached (p50 under 1 µs cannot hold): exit 4, the breach named on stderr and in the table', async () => {
    const r = await runCli(['load', echo.url, '--connections', '2', '--rate', '200', ...SHORT, '--threshold', 'errors=0', '--threshold', 'p50<1us']);
    expect(r.code).toBe(4);
    expect(lines(r.stderr)).toEqual(['ringsocket load: threshold breached: p50<1us']);
    expect(r.stdout).toMatch(/^threshold {4}errors=0: ok \(measured 0\)$/m);
    expect(r.stdout).toMatch(/^threshold {4}p50<1us: BREACHED \(measured [\d.]+ ms\)$/m);
  });

  it('errors=0 turns a run with errors into exit 4 (breach wins over 5); without it the same run exits 5', async () => {
    // A server that answers nothing: every message unanswered.
    const mute = await startWsServer();
    try {
      const args = ['load', mute.url, '--connections', '1', '--rate', '50', '--duration', '500ms', '--warmup', '0', '--drain', '200ms', '--quiet'];
      expect((await runCli([...args, '--threshold', 'errors=0'])).code).toBe(4);
      expect((await runCli(args)).code).toBe(5);
    } finally {
      await mute.close();
    }
  });
});

describe('load --fanout against serve --mode broadcast', () => {
  it('one publisher, every connection receives every message: receipts = sent × connections, one latency per receipt', async () => {
    const { proc, url } = await serve(['--mode', 'broadcast']);
    try {
      const r = await runCli(['load', url, '--fanout', '--connections', '8', '--rate', '100', ...SHORT, '--json', '-']);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as Json;
      expect(j.config).toMatchObject({ fanout: true, mode: 'rate', connections: 8 });
      expect(j.messages).toMatchObject({ sent: 100, received: 800, unanswered: 0, badEchoes: 0, foreign: 0 });
      expect(j.latencyMs.count).toBe(800);
      expect(j.latencyUncorrectedMs.count).toBe(800);
      expect(j.latencyMs.p50).toBeGreaterThan(0);
      expect(j.throughput.receivedPerSec).toBe(800);
    } finally {
      await stop(proc);
    }
  });

  it('against an echo server (no fan-out) the other connections receive nothing: unanswered, exit 5', async () => {
    const r = await runCli(['load', echo.url, '--fanout', '--connections', '3', '--rate', '50', '--duration', '500ms', '--warmup', '0', '--drain', '300ms', '--quiet', '--json', '-']);
    expect(r.code).toBe(5);
    const j = JSON.parse(r.stdout) as Json;
    expect(j.messages.unanswered).toBe(j.messages.sent * 2);
  });
});

describe('load --threads', () => {
  it('splits connections and rate over 2 load threads; counts add up; per-thread CPU and event-loop delay', async () => {
    const r = await runCli(['load', echo.url, '--threads', '2', '--io-threads', '1', '--connections', '5', '--rate', '400', ...SHORT, '--json', '-']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Json;
    expect(j.config).toMatchObject({ threads: 2, ioThreads: 1, connections: 5 });
    expect(j.connections).toMatchObject({ requested: 5, opened: 5, failed: 0 });
    // 3 connections at 240 msg/s and 2 at 160 msg/s, 1 s each: 400 messages in all.
    expect(j.messages).toMatchObject({ sent: 400, received: 400, unanswered: 0, badEchoes: 0 });
    expect(j.latencyMs.count).toBe(400);
    expect(j.threads.map((t: Json) => [t.index, t.connections, t.ioThreads])).toEqual([[0, 3, 1], [1, 2, 1]]);
    for (const t of j.threads) {
      expect(t.eventLoopDelayMs.max).toBeGreaterThanOrEqual(t.eventLoopDelayMs.p50);
      if (process.platform === 'linux') expect(t.cpuMs).toBeGreaterThan(0);
    }
  });

  it('the table shows a line per load thread', async () => {
    const r = await runCli(['load', echo.url, '--threads', '2', '--io-threads', '1', '--connections', '2', '--rate', '100', ...SHORT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^load thread 0 {2}1 connections; event-loop delay p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms; CPU /m);
    expect(r.stdout).toMatch(/^load thread 1 {2}1 connections;/m);
  });
});

describe('load: messages larger than the server accepts', () => {
  it('--size 100k against default serve: close 1009 explained, with the --max-message to use; with it, no error', async () => {
    const { proc, url } = await serve([]);
    try {
      const r = await runCli(['load', url, '--size', '100k', '--connections', '1', '--rate', '5', '--duration', '400ms', '--warmup', '0', '--drain', '300ms', '--quiet']);
      expect(r.code).toBe(5);
      expect(r.stdout).toMatch(/^close codes {2}1009 ×1$/m);
      expect(r.stdout).toMatch(/1009 = message too big: the server refused 102,400 B messages\. ringsocket serve accepts 65,535 B by default/);
      expect(r.stdout).toMatch(/start it with --max-message 100k or more/);
    } finally {
      await stop(proc);
    }
    const big = await serve(['--max-message', '100k']);
    try {
      const r = await runCli(['load', big.url, '--size', '100k', '--connections', '1', '--rate', '5', '--duration', '400ms', '--warmup', '0', '--quiet']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/1009/);
    } finally {
      await stop(big.proc);
    }
  });
});
