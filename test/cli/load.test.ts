/**
 * `ringsocket load` against real `ws` servers on 127.0.0.1 started by the test: the JSON results
 * (keys, types, counts that add up), the SVG chart, the table, rate / flood / text modes, and the
 * failure paths with their exit codes (3 refused or handshake refused, 5 errors during the run).
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { startEchoServer, startWsServer } from '../helpers/net.js';
import { checkWellFormedXml, freePort, killAll, lines, runCli, startCli, tempDir } from './run-cli.js';

type Json = Record<string, unknown>;

let echo: Awaited<ReturnType<typeof startEchoServer>>;
const tmp = tempDir();

beforeAll(async () => {
  echo = await startEchoServer({ perMessageDeflate: false });
});
afterAll(async () => {
  await echo.close();
  tmp.cleanup();
});
afterEach(killAll);

function readJson(file: string): Json {
  return JSON.parse(readFileSync(file, 'utf8')) as Json;
}

const obj = (v: unknown): Json => {
  expect(v).toBeTypeOf('object');
  expect(v).not.toBeNull();
  return v as Json;
};

function expectLatencySummary(v: unknown): Json {
  const s = obj(v);
  for (const k of ['count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max']) expect(s[k], k).toBeTypeOf('number');
  const n = (k: string) => s[k] as number;
  expect(n('min')).toBeGreaterThanOrEqual(0);
  expect(n('min')).toBeLessThanOrEqual(n('p50'));
  expect(n('p50')).toBeLessThanOrEqual(n('p90'));
  expect(n('p90')).toBeLessThanOrEqual(n('p99'));
  expect(n('p99')).toBeLessThanOrEqual(n('p999'));
  expect(n('p999')).toBeLessThanOrEqual(n('max'));
  return s;
}

/** Every key of the documented result shape, with its type (LoadResult in cli/load.ts). */
function expectResultShape(r: Json): void {
  expect(Object.keys(r).sort()).toEqual(
    [
      'tool', 'version', 'startedAt', 'url', 'config', 'interrupted', 'exitCode', 'elapsedMs', 'connections', 'messages', 'throughput',
      'latencyMs', 'latencyUncorrectedMs', 'closeCodes', 'closeFailures', 'errors', 'mainThread', 'histogramImpl',
      'schemaVersion', 'thresholds', 'threads',
    ].sort(),
  );
  expect(r.schemaVersion).toBe(2);
  expect(Array.isArray(r.thresholds)).toBe(true);
  const threads = r.threads as Json[];
  expect(threads.length).toBe((r.config as Json).threads);
  for (const t of threads) {
    expect(Object.keys(t).sort()).toEqual(['index', 'connections', 'ioThreads', 'cpuMs', 'cpuPercent', 'eventLoopDelayMs'].sort());
    for (const k of ['min', 'mean', 'p50', 'p99', 'max']) expect(obj(t.eventLoopDelayMs)[k], k).toBeTypeOf('number');
  }
  expect(r.tool).toBe('ringsocket load');
  expect(r.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(Number.isNaN(Date.parse(r.startedAt as string))).toBe(false);
  expect(r.interrupted).toBe(false);
  const cfg = obj(r.config);
  expect(Object.keys(cfg).sort()).toEqual(
    ['connections', 'mode', 'fanout', 'rate', 'flood', 'size', 'text', 'durationMs', 'rampMs', 'warmupMs', 'drainMs', 'threads', 'ioThreads', 'pollUs', 'sendTickUs'].sort(),
  );
  const conns = obj(r.connections);
  for (const k of ['requested', 'opened', 'failed', 'closedEarly', 'rampMs']) expect(conns[k], k).toBeTypeOf('number');
  obj(conns.failures);
  expectLatencySummary(conns.openMs);
  const m = obj(r.messages);
  expect(Object.keys(m).sort()).toEqual(
    ['scheduled', 'sent', 'received', 'unanswered', 'unsent', 'badEchoes', 'foreign', 'backpressured', 'bytesSent', 'bytesReceived'].sort(),
  );
  for (const [k, v] of Object.entries(m)) expect(Number.isInteger(v), k).toBe(true);
  const t = obj(r.throughput);
  for (const k of ['sentPerSec', 'receivedPerSec', 'bytesSentPerSec', 'bytesReceivedPerSec']) expect(t[k], k).toBeTypeOf('number');
  const lat = expectLatencySummary(r.latencyMs);
  const pts = lat.percentiles as [number, number][];
  expect(Array.isArray(pts)).toBe(true);
  expect(pts.length).toBeGreaterThan(10);
  for (let i = 1; i < pts.length; i++) {
    expect(pts[i]![0]).toBeGreaterThan(pts[i - 1]![0]);
    expect(pts[i]![1]).toBeGreaterThanOrEqual(pts[i - 1]![1]);
  }
  expectLatencySummary(r.latencyUncorrectedMs);
  for (const v of Object.values(obj(r.closeCodes))) expect(Number.isInteger(v)).toBe(true);
  obj(r.closeFailures);
  const e = obj(r.errors);
  expect(Object.keys(e).sort()).toEqual(['total', 'connectFailed', 'closedEarly', 'unanswered', 'unsent', 'badEchoes'].sort());
  expect(e.total).toBe((e.connectFailed as number) + (e.closedEarly as number) + (e.unanswered as number) + (e.unsent as number) + (e.badEchoes as number));
  const mt = obj(r.mainThread);
  const eld = obj(mt.eventLoopDelayMs);
  for (const k of ['min', 'mean', 'p50', 'p99', 'max']) {
    expect(eld[k], k).toBeTypeOf('number');
    expect(eld[k] as number).toBeGreaterThanOrEqual(0);
  }
  expect(eld.p50 as number).toBeLessThanOrEqual(eld.max as number);
  expect(mt.processCpuMs).toBeTypeOf('number');
  expect(r.histogramImpl).toBe('hdr-histogram-js');
}

describe('load: rate mode against a ws echo server', () => {
  it('writes JSON whose counts add up, a well-formed SVG chart, and a table; exit 0', async () => {
    const json = tmp.file('rate.json');
    const svg = tmp.file('rate.svg');
    const r = await runCli(['load', echo.url, '--connections', '4', '--rate', '400', '--duration', '2s', '--warmup', '0', '--json', json, '--histogram', svg, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const res = readJson(json);
    expectResultShape(res);
    expect(res.exitCode).toBe(0);
    expect(res.url).toBe(`${echo.url}/`);
    expect(res.config).toMatchObject({ connections: 4, mode: 'rate', rate: 400, flood: null, size: 64, text: false, durationMs: 2000, warmupMs: 0 });
    expect(res.connections).toMatchObject({ requested: 4, opened: 4, failed: 0, closedEarly: 0, failures: {} });
    // 400 msg/s for 2 s on a fixed schedule: exactly 800 messages, every one echoed and measured.
    expect(res.messages).toMatchObject({ scheduled: 800, sent: 800, received: 800, unanswered: 0, unsent: 0, badEchoes: 0, foreign: 0, bytesSent: 800 * 64, bytesReceived: 800 * 64 });
    expect((res.latencyMs as Json).count).toBe(800);
    expect((res.latencyUncorrectedMs as Json).count).toBe(800);
    expect(res.elapsedMs).toBe(2000);
    expect((res.throughput as Json).sentPerSec).toBe(400);
    expect((res.throughput as Json).receivedPerSec).toBe(400);
    expect(res.closeCodes).toEqual({ '1000': 4 });
    expect(res.errors).toMatchObject({ total: 0 });
    // Each RTT from the actual send is at most the one from the intended send.
    expect((res.latencyUncorrectedMs as Json).p50 as number).toBeLessThanOrEqual((res.latencyMs as Json).p50 as number);

    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    const names = checkWellFormedXml(text);
    expect(names.filter((n) => n === 'polyline')).toHaveLength(2); // corrected and uncorrected
    const pts = /<polyline[^>]*points="([^"]+)"/.exec(text)![1]!.trim().split(/\s+/);
    expect(pts.length).toBeGreaterThan(10);
    for (const p of pts) expect(p).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?$/);

    // The table on stdout.
    expect(r.stdout).toMatch(/^ringsocket load ws:\/\/127\.0\.0\.1:\d+\/: 4 connections, rate 400 msg\/s/);
    expect(r.stdout).toMatch(/^\s+p50\s+p90\s+p99\s+p99\.9\s+max\s+mean\s+samples$/m);
    expect(r.stdout).toMatch(/^\s+corrected(\s+[\d.]+){6}\s+800$/m);
    expect(r.stdout).toMatch(/^close codes\s+1000 ×4$/m);
    expect(r.stdout).toMatch(/^errors\s+0$/m);
    expect(r.stdout).toMatch(/^main thread\s+event-loop delay p50 [\d.]+ ms, p99 [\d.]+ ms/m);
  });

  it('reports a sane p50 and zero errors with a warm-up, and measures only after it', async () => {
    const json = tmp.file('warm.json');
    const r = await runCli(['load', echo.url, '--connections', '10', '--rate', '2k', '--duration', '2s', '--warmup', '500ms', '--json', json, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const res = readJson(json);
    expectResultShape(res);
    // 2.5 s at 2,000/s = 5,000 messages; the first 1,000 (the warm-up) are echoed but not measured.
    expect(res.messages).toMatchObject({ scheduled: 5000, sent: 5000, received: 5000, unanswered: 0, badEchoes: 0 });
    expect((res.latencyMs as Json).count).toBe(4000);
    expect((res.throughput as Json).receivedPerSec).toBe(2000);
    const p50 = (res.latencyMs as Json).p50 as number;
    // A sanity bound on the measurement, not a speed target (those live in bench/): an echo on 127.0.0.1
    // at 2,000 msg/s is well above 5 µs and well below a second, in milliseconds. A unit mix-up (seconds,
    // or nanoseconds, taken for ms) lands outside; a loaded machine stays inside (87 ms was seen at load
    // average 18, which failed the 50 ms bound this test had).
    expect(p50).toBeGreaterThan(0.005);
    expect(p50).toBeLessThan(1000);
    expect(res.errors).toMatchObject({ total: 0 });
  });

  it('--json - prints the JSON on stdout instead of the table', async () => {
    const r = await runCli(['load', echo.url, '--connections', '2', '--rate', '100', '--duration', '500ms', '--warmup', '0', '--json', '-', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as Json;
    expectResultShape(res);
    expect(res.messages).toMatchObject({ sent: 50, received: 50 });
  });

  it('--text sends text messages that come back as text', async () => {
    const json = tmp.file('text.json');
    const seen: boolean[] = [];
    const onConn = (ws: WebSocket) => ws.on('message', (_d, isBinary) => seen.push(isBinary));
    echo.wss.on('connection', onConn);
    try {
      const r = await runCli(['load', echo.url, '--connections', '2', '--rate', '200', '--duration', '1s', '--warmup', '0', '--text', '--size', '40', '--json', json, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      echo.wss.off('connection', onConn);
    }
    const res = readJson(json);
    expect(res.config).toMatchObject({ text: true, size: 40 });
    expect(res.messages).toMatchObject({ sent: 200, received: 200, badEchoes: 0 });
    expect(seen).toHaveLength(200);
    expect(seen.every((b) => b === false)).toBe(true);
  });

  it('--ramp opens the connections over the given time and shows progress lines on a non-TTY stderr', async () => {
    const json = tmp.file('ramp.json');
    const r = await runCli(['load', echo.url, '--connections', '5', '--ramp', '1s', '--rate', '100', '--duration', '1s', '--warmup', '0', '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    const res = readJson(json);
    // The last connection starts 4/5 of the ramp after the first.
    expect((res.connections as Json).rampMs as number).toBeGreaterThanOrEqual(790);
    expect(r.stderr).toMatch(/^connecting \[[#.]{30}\] \d\/5 open, 0 failed$/m);
    expect(r.stderr).toMatch(/^connected: 5\/5 open, 0 failed, in [\d.]+ s$/m);
    // eslint-disable-next-line no-control-regex -- ESC is what a TTY control sequence starts with
    expect(r.stderr).not.toMatch(/\r|\x1b\[/); // no TTY control sequences in plain output
  });
});

describe('load: interrupted', () => {
  it('SIGINT ends the run early: results for what was measured, interrupted: true, exit 0', async () => {
    const json = tmp.file('interrupted.json');
    const p = startCli(['load', echo.url, '--connections', '2', '--rate', '200', '--duration', '60s', '--warmup', '0', '--json', json]);
    await p.waitFor('stderr', /^1\.\d\/60\.0 s {2}sent /m); // the plain progress line after about a second
    p.child.kill('SIGINT');
    const r = await p.wait(20_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ringsocket load: interrupted, finishing \(again to abort\)/);
    expect(r.stdout).toMatch(/, 60\.0 s \(interrupted\)$/m);
    const res = readJson(json);
    expectResultShape({ ...res, interrupted: false });
    expect(res.interrupted).toBe(true);
    expect(res.elapsedMs as number).toBeGreaterThanOrEqual(1000);
    expect(res.elapsedMs as number).toBeLessThan(30_000);
    const m = res.messages as Json;
    expect(m.sent as number).toBeGreaterThanOrEqual(200);
    expect(m.received).toBe(m.sent);
    expect(res.closeCodes).toEqual({ '1000': 2 });
  });
});

describe('load: flood mode', () => {
  it('keeps W messages in flight per connection; every message answered', async () => {
    const json = tmp.file('flood.json');
    const r = await runCli(['load', echo.url, '--connections', '3', '--flood', '4', '--duration', '1s', '--warmup', '0', '--json', json, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const res = readJson(json);
    expectResultShape(res);
    expect(res.config).toMatchObject({ mode: 'flood', rate: null, flood: 4 });
    const m = res.messages as Json;
    expect(m.sent as number).toBeGreaterThanOrEqual(12);
    expect(m.received).toBe(m.sent);
    expect(m.scheduled).toBe(m.sent);
    expect((res.latencyMs as Json).count).toBe(m.received);
    expect(res.errors).toMatchObject({ total: 0 });
    expect(r.stdout).toMatch(/flood 4 in flight per connection/);
  });
});

describe('load: failures and exit codes', () => {
  it('connection refused: exit 3, one line on stderr, JSON still written', async () => {
    const port = await freePort();
    const json = tmp.file('refused.json');
    const r = await runCli(['load', `ws://127.0.0.1:${port}`, '--connections', '3', '--duration', '1s', '--json', json, '--quiet']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([`ringsocket load: cannot connect to ws://127.0.0.1:${port}/: ECONNREFUSED (3 of 3 connections failed)`]);
    const res = readJson(json);
    expect(res.exitCode).toBe(3);
    expect(res.connections).toMatchObject({ requested: 3, opened: 0, failed: 3, failures: { ECONNREFUSED: 3 } });
    expect(res.messages).toMatchObject({ sent: 0, received: 0 });
  });

  it('handshake refused with HTTP 403: exit 3', async () => {
    const srv = await startWsServer({ verifyClient: (_info: unknown, cb: (ok: boolean, code?: number) => void) => cb(false, 403) });
    try {
      const r = await runCli(['load', srv.url, '--connections', '2', '--duration', '1s', '--quiet']);
      expect(r.code).toBe(3);
      expect(lines(r.stderr)).toEqual([`ringsocket load: handshake refused by ${srv.url}/: HTTP_403 (2 of 2 connections failed)`]);
    } finally {
      await srv.close();
    }
  });

  it('a server that closes connections mid-run: close codes reported, exit 5', async () => {
    const srv = await startWsServer();
    srv.wss.on('connection', (ws: WebSocket) => {
      let n = 0;
      ws.on('message', (d, isBinary) => {
        ws.send(d as Buffer, { binary: isBinary });
        if (++n === 5) ws.close(1011, 'enough');
      });
    });
    const json = tmp.file('closed.json');
    try {
      const r = await runCli(['load', srv.url, '--connections', '2', '--rate', '100', '--duration', '1s', '--warmup', '0', '--json', json, '--quiet']);
      expect(r.code).toBe(5);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^ringsocket load: finished with \d+ error\(s\)$/)]);
      const res = readJson(json);
      expectResultShape(res);
      expect(res.exitCode).toBe(5);
      expect(res.closeCodes).toEqual({ '1011': 2 });
      expect(res.connections).toMatchObject({ opened: 2, closedEarly: 2 });
      const m = res.messages as Json;
      expect(m.received).toBe(10);
      expect(m.sent as number).toBeGreaterThanOrEqual(10);
      expect(m.unsent as number).toBeGreaterThan(0); // the schedule kept going after the closes
      expect((res.errors as Json).closedEarly).toBe(2);
      expect(r.stdout).toMatch(/^close codes\s+1011 ×2$/m);
    } finally {
      await srv.close();
    }
  });

  it('echoes that do not match what was sent are counted as bad echoes, exit 5', async () => {
    const srv = await startWsServer();
    srv.wss.on('connection', (ws: WebSocket) => {
      ws.on('message', (d: Buffer, isBinary) => {
        const copy = Buffer.from(d);
        copy.writeUInt32LE(0xfffffff0, 20); // a connection index we never used
        ws.send(copy, { binary: isBinary });
      });
    });
    const json = tmp.file('bad.json');
    try {
      const r = await runCli(['load', srv.url, '--connections', '2', '--rate', '100', '--duration', '500ms', '--warmup', '0', '--drain', '200ms', '--json', json, '--quiet']);
      expect(r.code).toBe(5);
      const res = readJson(json);
      expect(res.messages).toMatchObject({ sent: 50, received: 0, badEchoes: 50, unanswered: 50 });
      expect((res.latencyMs as Json).count).toBe(0);
      expect(res.errors).toMatchObject({ badEchoes: 50, unanswered: 50, total: 100 });
    } finally {
      await srv.close();
    }
  });

  it('an unwritable --json path is a runtime failure (exit 1)', async () => {
    const r = await runCli(['load', echo.url, '--connections', '1', '--rate', '10', '--duration', '200ms', '--warmup', '0', '--json', '/nonexistent/dir/out.json', '--quiet']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^ringsocket load: --json: cannot write \/nonexistent\/dir\/out\.json: ENOENT$/)]);
    expect(existsSync('/nonexistent/dir/out.json')).toBe(false);
  });
});
