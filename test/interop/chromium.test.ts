/**
 * Headless Chromium (/usr/bin/chromium, driven by playwright-core) against a ringsocket server: a page served
 * by a tiny node http server on 127.0.0.1 opens a WebSocket, sends, checks the echoes and reports into the DOM
 * (#out). Text and binary of 0 B, 125 B, 64 KiB and 1 MiB byte-exact both ways, close codes both ways, 1009
 * for 64 KiB at the default inboundBufferSize, wss accepted when Chromium is told to trust the test
 * certificate chain and refused by a default Chromium.
 */
import http from 'node:http';
import { once } from 'node:events';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ErrorCode, PeerPool, State } from '../helpers/lib.js';
import { waitFor } from '../helpers/server.js';
import { BIG, expectCompressedOnTheWire, MESSAGES, payload, sha256, type Kind } from './payload.js';
import { CHROMIUM, chromiumMissing, fixture, requirePeer } from './peers.js';
import { startRsServer, type RsServer } from './rs-server.js';
import { startWireTap } from '../helpers/wire-tap.js';

const pem = (f: string): string => readFileSync(fixture(f), 'utf8');
const run = requirePeer(chromiumMissing(), 'Chromium');
// Chromium accepts a chain that holds a certificate with this key: the test CA.
// Chromium accepts a chain that holds a certificate with this key: the test CA.
const SPKI_CERT = 'ca-cert.pem';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo (what --ignore-certificate-errors-spki-list takes). */
const spki = (certPem: string): string =>
  createHash('sha256').update(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

// The page: runs the plan given in its query string, then writes the result as JSON into #out.
const PAGE = `<!doctype html><meta charset="utf-8"><title>ringsocket interop</title><pre id="out"></pre><script>
const payload = ${payload.toString()};
const plan = JSON.parse(new URLSearchParams(location.search).get('plan'));
const out = document.getElementById('out');
const result = { opened: false, replies: [], close: null, error: null };
const hex = async (b) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b)), (x) => x.toString(16).padStart(2, '0')).join('');
const inbox = []; let waiting = null;
const next = () => new Promise((r) => { if (inbox.length) r(inbox.shift()); else waiting = r; });
let ws;
try { ws = new WebSocket(plan.url); } catch (e) { result.error = String(e); out.textContent = JSON.stringify(result); out.dataset.done = '1'; }
ws.binaryType = 'arraybuffer';
ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data); };
ws.onerror = () => { result.error = 'error event'; };
ws.onclose = (e) => {
  result.close = { code: e.code, reason: e.reason, wasClean: e.wasClean };
  if (waiting) { const w = waiting; waiting = null; w(null); }
  setTimeout(() => { out.textContent = JSON.stringify(result); out.dataset.done = '1'; }, 0);
};
ws.onopen = async () => {
  result.opened = true;
  for (const [kind, size] of plan.messages) {
    const bytes = payload(kind, size);
    ws.send(kind === 'text' ? new TextDecoder().decode(bytes) : bytes);
    const got = await next();
    if (got === null) break;
    const type = typeof got === 'string' ? 'text' : 'binary';
    const b = type === 'text' ? new TextEncoder().encode(got) : new Uint8Array(got);
    result.replies.push({ type, len: b.byteLength, sha256: await hex(b), equal: type === kind && b.byteLength === bytes.byteLength && b.every((x, i) => x === bytes[i]) });
  }
  if (plan.close) ws.close(plan.close[0], plan.close[1]);
};
</script>`;

interface PageResult {
  opened: boolean;
  replies: Array<{ type: string; len: number; sha256: string; equal: boolean }>;
  close: { code: number; reason: string; wasClean: boolean } | null;
  error: string | null;
}

let pool: PeerPool;
let httpServer: http.Server;
let pageBase = '';
let browser: Browser;

beforeAll(async () => {
  if (!run) return;
  pool = new PeerPool({ threads: 2 });
  httpServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  pageBase = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  httpServer?.closeAllConnections();
  if (httpServer) await new Promise<void>((r) => httpServer.close(() => r()));
  await pool?.close();
});

/** Open the page in `b` with this plan; resolve with what it wrote into #out. `during` runs once the page is loading. */
async function inPage(b: Browser, plan: { url: string; messages: Array<[Kind, number]>; close?: [number, string] }, during?: () => Promise<void>): Promise<PageResult> {
  const page = await b.newPage();
  try {
    await page.goto(`${pageBase}?plan=${encodeURIComponent(JSON.stringify(plan))}`);
    if (during) await during();
    await page.waitForSelector('#out[data-done="1"]', { state: 'attached', timeout: 40_000 });
    return JSON.parse((await page.textContent('#out')) ?? 'null') as PageResult;
  } finally {
    await page.close();
  }
}

describe.runIf(run)('Chromium against a ringsocket server with permessage-deflate', () => {
  it('Chromium offers it, the server accepts; text and binary of 0 B, 125 B, 64 KiB, 1 MiB arrive byte-exact both ways', async () => {
    const rs = startRsServer({ pool, inboundBufferSize: BIG, outboundBufferSize: BIG, perMessageDeflate: true });
    // Chromium reaches the server through a relay that reads the frames as they pass.
    const tap = await startWireTap(rs.port);
    try {
      const r = await inPage(browser, { url: `ws://127.0.0.1:${tap.port}/deflate`, messages: MESSAGES, close: [4000, 'deflate bye'] });
      expect(r.error).toBeNull();
      expect(r.replies.map((x) => [x.type, x.len, x.equal])).toEqual(MESSAGES.map(([k, n]) => [k, n, true]));
      const e = rs.peers[0]!;
      // What was negotiated with Chromium (its offer: permessage-deflate; client_max_window_bits).
      expect(e.peer.getSelectedExtensions()).toMatch(/^permessage-deflate/);
      expect(e.received.map((p) => [p.text ? 'text' : 'binary', p.bytes.byteLength])).toEqual(MESSAGES);
      for (const [i, [k, n]] of MESSAGES.entries()) expect(Buffer.from(e.received[i]!.bytes).equals(Buffer.from(payload(k, n)))).toBe(true);
      expect(r.close).toMatchObject({ code: 4000, reason: 'deflate bye', wasClean: true });
      expectCompressedOnTheWire(tap);
    } finally {
      await tap.close();
      await rs.stop();
    }
  });
});

describe.runIf(run)('Chromium against a ringsocket server', () => {
  let rs: RsServer;
  beforeAll(() => {
    rs = startRsServer({ pool, inboundBufferSize: BIG, outboundBufferSize: BIG });
  });
  afterAll(async () => rs?.stop());

  it('text and binary of 0 B, 125 B, 64 KiB, 1 MiB arrive byte-exact both ways; the page closes with 4000 + reason and ringsocket sees it', async () => {
    const before = rs.peers.length;
    const r = await inPage(browser, { url: `ws://127.0.0.1:${rs.port}/chromium`, messages: MESSAGES, close: [4000, 'chromium bye'] });
    expect(r.error).toBeNull();
    expect(r.opened).toBe(true);
    expect(r.replies.map((x) => [x.type, x.len, x.equal])).toEqual(MESSAGES.map(([k, n]) => [k, n, true]));
    expect(r.replies.map((x) => x.sha256)).toEqual(MESSAGES.map(([k, n]) => sha256(payload(k, n))));
    expect(r.close).toMatchObject({ code: 4000, reason: 'chromium bye', wasClean: true });
    const e = rs.peers[before]!;
    expect(e.peer.getRequestedUrl()).toBe(`ws://127.0.0.1:${rs.port}/chromium`);
    expect(e.received.map((p) => [p.text ? 'text' : 'binary', p.bytes.byteLength])).toEqual(MESSAGES);
    for (const [i, [k, n]] of MESSAGES.entries()) expect(Buffer.from(e.received[i]!.bytes).equals(Buffer.from(payload(k, n)))).toBe(true);
    await waitFor(() => e.closed !== undefined, 'the ringsocket peer CLOSED');
    expect(e.closed).toMatchObject({ code: 4000, reason: 'chromium bye' });
  });

  it('ringsocket closes with 4001 + reason and the page sees it', async () => {
    const before = rs.peers.length;
    const r = await inPage(browser, { url: `ws://127.0.0.1:${rs.port}/wait`, messages: [] }, async () => {
      await waitFor(() => rs.peers[before]?.peer.getReadyState() === State.OPEN, 'the page to connect', 20_000);
      expect(rs.peers[before]!.peer.close(4001, 'rs bye')).toBe(ErrorCode.OK);
    });
    expect(r.opened).toBe(true);
    expect(r.close).toMatchObject({ code: 4001, reason: 'rs bye', wasClean: true });
  });

  it('with the default inboundBufferSize (65535): 65535 B echoes, a 64 KiB message gets 1009', async () => {
    const small = startRsServer({ pool });
    try {
      const r = await inPage(browser, { url: `ws://127.0.0.1:${small.port}/limit`, messages: [['binary', 65535], ['binary', 65536]] });
      expect(r.replies.map((x) => [x.len, x.equal])).toEqual([[65535, true]]);
      expect(r.close?.code).toBe(1009);
      await waitFor(() => small.peers[0]?.closed !== undefined, 'the ringsocket peer CLOSED');
      expect(small.peers[0]!.closed!.failure).toMatch(/WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
    } finally {
      await small.stop();
    }
  });

  it('wss: accepted by a Chromium told to trust the test CA (--ignore-certificate-errors-spki-list with the CA key), refused by a default one', async () => {
    // The server sends its certificate with the CA that signed it, so the CA is in the chain Chromium sees.
    const chain = pem('server-cert.pem') + pem('ca-cert.pem');
    const tls = startRsServer({ pool, tls: { key: pem('server-key.pem'), cert: chain }, inboundBufferSize: BIG, outboundBufferSize: BIG });
    const { chromium } = await import('playwright-core');
    const trusting = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, `--ignore-certificate-errors-spki-list=${spki(pem(SPKI_CERT))}`] });
    try {
      const url = `wss://127.0.0.1:${tls.port}/secure`;
      const ok = await inPage(trusting, { url, messages: [['text', 125], ['binary', 64 * 1024]], close: [4000, 'wss bye'] });
      expect(ok.error).toBeNull();
      expect(ok.replies.map((x) => [x.type, x.len, x.equal])).toEqual([['text', 125, true], ['binary', 65536, true]]);
      expect(ok.close).toMatchObject({ code: 4000, wasClean: true });
      await waitFor(() => tls.peers[0]?.closed !== undefined, 'the wss peer CLOSED');
      expect(tls.peers[0]!.closed).toMatchObject({ code: 4000, reason: 'wss bye' });

      const refused = await inPage(browser, { url, messages: [['text', 125]] });
      expect(refused.opened).toBe(false);
      expect(refused.close?.code).toBe(1006);
      await waitFor(() => tls.tlsFailures >= 1, 'the refused TLS handshake on the server');
      expect(tls.peers).toHaveLength(1);
    } finally {
      await trusting.close();
      await tls.stop();
    }
  });
});
