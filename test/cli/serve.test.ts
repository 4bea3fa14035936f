/**
 * `ringsocket serve` as a process: prints its URL and counters, echoes (or broadcasts) for real `ws`
 * clients and for `ringsocket load`, refuses what it should (port in use: exit 3; unsupported
 * subprotocol: the client's handshake fails), and on SIGTERM/SIGINT closes its peers with 1001 and
 * exits 0 on its own.
 */
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startEchoServer as startWsEcho, startWsServer } from '../helpers/net.js';
import { killAll, lines, runCli, startCli, tempDir, type CliProcess } from './run-cli.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
afterEach(killAll);

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

async function startServe(args: string[]): Promise<{ proc: CliProcess; url: string }> {
  const proc = startCli(['serve', '--port', '0', '--threads', '1', ...args]);
  const m = await proc.waitForStdout(/listening on (wss?:\/\/127\.0\.0\.1:\d+)/);
  return { proc, url: m[1]! };
}

async function openClient(url: string, options: WebSocket.ClientOptions = {}, protocols: string[] = []): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  await Promise.race([
    once(ws, 'open'),
    once(ws, 'error').then(([e]) => {
      throw e as Error;
    }),
  ]);
  return ws;
}

async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  return { data, isBinary };
}

describe('serve --mode echo', () => {
  it('prints its URL and counters, echoes text and binary, and stops on SIGTERM: peers get 1001, exit 0', async () => {
    const { proc, url } = await startServe([]);
    expect(proc.stdout).toMatch(/^ringsocket serve: echo server listening on ws:\/\/127\.0\.0\.1:\d+ \(1 I\/O thread; Ctrl-C to stop\)$/m);
    const ws = await openClient(url, {}, ['chat']);
    expect(ws.protocol).toBe('chat');
    const closed = once(ws, 'close');
    ws.send('hello');
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    ws.send(Buffer.from([1, 2, 3]));
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from([1, 2, 3]), isBinary: true });
    // The counters line on stderr (a plain line per second while connections are open: stderr is a pipe here).
    await proc.waitFor('stderr', /^connections 1 {2}in [\d,]+ msg\/s {2}out [\d,]+ msg\/s {2}\(total in 2, out 2\)$/m);
    // …and again each second while the connection is open, idle or not.
    const n0 = lines(proc.stderr).length;
    await proc.waitFor('stderr', new RegExp(`^(?:.*\\n){${n0}}connections 1 {2}in 0 msg/s {2}out 0 msg/s`), 5000);

    proc.child.kill('SIGTERM');
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(1001);
    expect(reason.toString()).toBe('going away');
    const r = await proc.wait(15_000);
    expect(r.code).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stdout).toMatch(/^SIGTERM: closing 1 peer\(s\) with 1001$/m);
    expect(r.stdout).toMatch(/^ringsocket serve: stopped$/m);
    // stderr holds the counters lines only.
    for (const l of lines(r.stderr)) expect(l).toMatch(/^connections \d+ {2}in /);
  });

  it('ringsocket load against ringsocket serve: every message answered, exit 0; then SIGINT stops it with 0', async () => {
    const { proc, url } = await startServe(['--quiet']);
    const json = tmp.file('serve-load.json');
    const r = await runCli(['load', url, '--connections', '4', '--rate', '400', '--duration', '1s', '--warmup', '0', '--json', json, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(json, 'utf8')) as { messages: Record<string, number>; closeCodes: Record<string, number>; errors: { total: number } };
    expect(res.messages).toMatchObject({ sent: 400, received: 400, unanswered: 0, badEchoes: 0 });
    expect(res.closeCodes).toEqual({ '1000': 4 });
    expect(res.errors.total).toBe(0);
    // --quiet: the URL line only, no counters.
    expect(proc.stdout).not.toMatch(/^connections /m);
    expect(proc.stderr).toBe('');

    proc.child.kill('SIGINT');
    const s = await proc.wait(15_000);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^SIGINT: closing 0 peer\(s\) with 1001$/m);
  });

  it('a client asking only for a subprotocol the server does not accept is refused: load exits 3 (HTTP_400)', async () => {
    const { proc, url } = await startServe(['--protocols', 'chat,v2']);
    try {
      const r = await runCli(['load', url, '--connections', '2', '--duration', '1s', '--protocols', 'other', '--quiet']);
      expect(r.code).toBe(3);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^ringsocket load: handshake refused by ws:\/\/127\.0\.0\.1:\d+\/: HTTP_400/)]);
      const ws = await openClient(url, {}, ['v2']);
      expect(ws.protocol).toBe('v2');
      ws.close();
    } finally {
      proc.child.kill('SIGTERM');
      expect((await proc.wait(15_000)).code).toBe(0);
    }
  });

  it('serves wss:// with --tls-key/--tls-cert (load with --ca)', async () => {
    const { proc, url } = await startServe(['--tls-key', fixture('server-key.pem'), '--tls-cert', fixture('server-cert.pem')]);
    try {
      expect(url).toMatch(/^wss:\/\//);
      const json = tmp.file('tls.json');
      const r = await runCli(['load', url, '--connections', '2', '--rate', '100', '--duration', '500ms', '--warmup', '0', '--ca', fixture('ca-cert.pem'), '--json', json, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(readFileSync(json, 'utf8')) as { messages: Record<string, number> };
      expect(res.messages).toMatchObject({ sent: 50, received: 50 });
      // Without the CA the certificate does not verify: a connection failure (exit 3).
      const bad = await runCli(['load', url, '--connections', '1', '--duration', '500ms', '--quiet']);
      expect(bad.code).toBe(3);
      expect(lines(bad.stderr)).toHaveLength(1);
    } finally {
      proc.child.kill('SIGTERM');
      expect((await proc.wait(15_000)).code).toBe(0);
    }
  });
});

describe('--deflate (permessage-deflate, issue 16)', () => {
  it('serve --deflate: a ws client offering compression gets it, and compressed echoes come back byte-exact', async () => {
    const { proc, url } = await startServe(['--deflate', '--quiet']);
    const ws = await openClient(url, { perMessageDeflate: { threshold: 0 } }, ['chat']);
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    const big = Buffer.alloc(20_000, 'abc');
    ws.send(big);
    expect((await nextMessage(ws)).data.equals(big)).toBe(true);
    ws.close();
    proc.kill('SIGTERM');
    expect((await proc.wait(15_000)).code).toBe(0);
  });

  it('serve without --deflate declines the offer', async () => {
    const { proc, url } = await startServe(['--quiet']);
    const ws = await openClient(url, { perMessageDeflate: { threshold: 0 } }, ['chat']);
    expect(ws.extensions).toBe('');
    ws.close();
    proc.kill('SIGTERM');
    expect((await proc.wait(15_000)).code).toBe(0);
  });

  it('load --deflate offers compression, and runs against a ws server with it on without errors', async () => {
    const s = await startWsEcho({ perMessageDeflate: { threshold: 0 } });
    const offers: (string | undefined)[] = [];
    s.wss.on('headers', (_h, req) => offers.push(req.headers['sec-websocket-extensions']));
    try {
      const r = await runCli(['load', s.url, '--deflate', '--connections', '2', '--rate', '200', '--size', '2k', '--duration', '500ms', '--warmup', '0', '--quiet', '--threshold', 'errors=0']);
      expect(r.code, r.stderr).toBe(0);
      expect(offers.length).toBe(2);
      for (const o of offers) expect(o).toMatch(/^permessage-deflate/);
    } finally {
      await s.close();
    }
  });
});

describe('serve --mode broadcast', () => {
  it('sends each message to every open peer, the sender included', async () => {
    const { proc, url } = await startServe(['--mode', 'broadcast']);
    expect(proc.stdout).toMatch(/broadcast server listening on/);
    const a = await openClient(url);
    const b = await openClient(url);
    // Both peers are accepted by the server loop before the first message (their handshakes completed).
    const atA = nextMessage(a);
    const atB = nextMessage(b);
    a.send('to everyone');
    expect(await atA).toEqual({ data: Buffer.from('to everyone'), isBinary: false });
    expect(await atB).toEqual({ data: Buffer.from('to everyone'), isBinary: false });
    const closedA = once(a, 'close');
    const closedB = once(b, 'close');
    proc.child.kill('SIGTERM');
    expect(((await closedA) as [number])[0]).toBe(1001);
    expect(((await closedB) as [number])[0]).toBe(1001);
    expect((await proc.wait(15_000)).code).toBe(0);
  });
});

describe('serve: errors', () => {
  it('a port already in use: exit 3, one line on stderr', async () => {
    const other = await startWsServer();
    try {
      const r = await runCli(['serve', '--port', String(other.port), '--threads', '1']);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(lines(r.stderr)).toEqual([`ringsocket serve: cannot listen on 127.0.0.1:${other.port}: EADDRINUSE (port in use)`]);
    } finally {
      await other.close();
    }
  });

  it('a key and certificate that are not PEM: exit 2 before listening', async () => {
    const junk = tmp.file('junk.pem');
    await import('node:fs').then((fs) => fs.writeFileSync(junk, 'not a pem\n'));
    const r = await runCli(['serve', '--port', '0', '--tls-key', junk, '--tls-cert', junk]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^ringsocket serve: --tls-key\/--tls-cert: not a usable key and certificate: /)]);
  });
});

describe('serve: why it cannot listen, and a second interrupt', () => {
  it('an address that is not local: exit 3 naming EADDRNOTAVAIL (not "port in use")', async () => {
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface here: bind() fails at once, nothing is sent.
    const r = await runCli(['serve', '--port', '0', '--host', '192.0.2.1', '--threads', '1']);
    expect(r.code).toBe(3);
    expect(lines(r.stderr)).toEqual(['ringsocket serve: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL (address not local to this machine)']);
  });

  it('a second SIGINT while stopping exits 130 at once', async () => {
    const proc = startCli(['serve', '--port', '0', '--threads', '1', '--quiet']);
    const url = (await proc.waitForStdout(/listening on (ws:\/\/\S+)/))[1]!;
    // A client that completes the upgrade and then never answers the close: stopping waits for it (3 s).
    const { port } = new URL(url);
    const sock = net.connect(Number(port), '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n`);
    await once(sock, 'data');
    try {
      await new Promise((r) => setTimeout(r, 100));
      proc.child.kill('SIGINT');
      await proc.waitForStdout(/closing 1 peer\(s\) with 1001/);
      proc.child.kill('SIGINT');
      const r = await proc.wait(10_000);
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/SIGINT again, exiting without waiting/);
      expect(r.stderr).not.toMatch(/internal error/);
    } finally {
      sock.destroy();
    }
  });
});
