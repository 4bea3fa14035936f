/**
 * wss:// clients against a real `ws` server behind node:https with the test certificates
 * (test/fixtures: a CA, and a server certificate it signed for localhost, 127.0.0.1 and ::1).
 */
import https from 'node:https';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketPeer } from '../helpers/lib.js';
import { pollUntil } from '../helpers/net.js';

const fixture = (f: string): string => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), 'utf8');
const key = fixture('server-key.pem');
const cert = fixture('server-cert.pem');
const ca = fixture('ca-cert.pem');
const otherCa = fixture('other-cert.pem');

let pool: PeerPool;
let httpsServer: https.Server;
let wss: WebSocketServer;
let port = 0;
let accepted = 0;

beforeAll(async () => {
  pool = new PeerPool({ threads: 2 });
  httpsServer = https.createServer({ key, cert });
  // A refused handshake makes the TLS socket error on the server side; keep it from crashing the test.
  httpsServer.on('tlsClientError', () => {});
  wss = new WebSocketServer({ server: httpsServer });
  wss.on('connection', (ws: WebSocket) => {
    accepted++;
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  httpsServer.listen(0, '127.0.0.1');
  await once(httpsServer, 'listening');
  port = (httpsServer.address() as AddressInfo).port;
});

afterAll(async () => {
  await pool.close();
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
  httpsServer.closeAllConnections();
  await new Promise<void>((r) => httpsServer.close(() => r()));
});

/** Connect, wait until CONNECTING is over, and return the peer. */
async function attempt(url: string, tls?: TLSOptions): Promise<WebSocketPeer> {
  const peer = new WebSocketPeer({ pool });
  expect(peer.connectToUrl(url, tls)).toBe(ErrorCode.OK);
  await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, `${url} to open or fail`);
  return peer;
}

async function expectEcho(peer: WebSocketPeer): Promise<void> {
  expect(peer.getReadyState()).toBe(State.OPEN);
  expect(peer.sendText('über tls')).toBe(ErrorCode.OK);
  await pollUntil(peer, () => peer.getAvailablePacketCount() === 1, 'the echo over TLS');
  expect(new TextDecoder().decode(peer.getPacket())).toBe('über tls');
  expect(peer.wasStringPacket()).toBe(true);
}

function expectRefused(peer: WebSocketPeer, reason: RegExp): void {
  expect(peer.getReadyState()).toBe(State.CLOSED);
  expect(peer.getCloseCode()).toBe(-1);
  expect(peer.getFailureReason()).toMatch(reason);
}

describe('wss:// verification', () => {
  it('wss://127.0.0.1 is accepted with TLSOptions.client(CA) and echoes', async () => {
    const before = accepted;
    const peer = await attempt(`wss://127.0.0.1:${port}/secure`, TLSOptions.client(ca));
    await expectEcho(peer);
    expect(accepted).toBe(before + 1);
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    expect(peer.getConnectedPort()).toBe(port);
    expect(peer.close(1000, 'tls bye')).toBe(ErrorCode.OK);
    await pollUntil(peer, () => peer.getReadyState() === State.CLOSED, 'close over TLS');
    expect(peer.getCloseCode()).toBe(1000);
  });

  it('is refused without the CA (system store only): CLOSED -1 with a certificate error', async () => {
    const before = accepted;
    const peer = await attempt(`wss://127.0.0.1:${port}/`);
    expectRefused(peer, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    expect(accepted).toBe(before);
  });

  it('is refused with an unrelated CA', async () => {
    const peer = await attempt(`wss://127.0.0.1:${port}/`, TLSOptions.client(otherCa));
    expectRefused(peer, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  });

  it('is accepted with TLSOptions.clientUnsafe() (no verification)', async () => {
    const peer = await attempt(`wss://127.0.0.1:${port}/`, TLSOptions.clientUnsafe());
    await expectEcho(peer);
    peer.close(-1);
  });

  it('TLSOptions.client(CA, "other.invalid") is refused: the name does not match the certificate', async () => {
    const peer = await attempt(`wss://127.0.0.1:${port}/`, TLSOptions.client(ca, 'other.invalid'));
    expectRefused(peer, /^ERR_TLS_CERT_ALTNAME_INVALID$/);
  });

  it('TLSOptions.client(CA, "localhost") verifies against that name and is accepted', async () => {
    const peer = await attempt(`wss://127.0.0.1:${port}/`, TLSOptions.client(ca, 'localhost'));
    await expectEcho(peer);
    peer.close(-1);
  });

  it('wss://localhost is accepted with the CA', async () => {
    const peer = await attempt(`wss://localhost:${port}/`, TLSOptions.client(ca));
    // The certificate names localhost (and both loopback IPs); Node tries each address localhost resolves to.
    expect(peer.getFailureReason()).toBe('');
    await expectEcho(peer);
    expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(peer.getConnectedHost());
    peer.close(-1);
  });

  it('TLSOptions.server(...) given to connectToUrl is ERR_INVALID_PARAMETER', () => {
    const peer = new WebSocketPeer({ pool });
    expect(peer.connectToUrl(`wss://127.0.0.1:${port}/`, TLSOptions.server(key, cert))).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    expect(peer.getReadyState()).toBe(State.CLOSED);
  });
});
