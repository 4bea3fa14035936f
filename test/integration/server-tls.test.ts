/**
 * wss:// with examples/echo-server: StreamPeerTLS.acceptStream on the taken TCP stream, polled from
 * HANDSHAKING to CONNECTED, then WebSocketPeer.acceptStream(tls). Certificates: test/fixtures.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, PeerPool, State, StreamPeerTLS, StreamPeerTLSStatus, TCPServer, TLSOptions, WebSocketPeer } from '../helpers/lib.js';
import { startEchoServer, type EchoServer } from '../../dist/examples/echo-server.js';
import { RawClient, openWs, roundTrip, upgradeRequest, waitFor } from '../helpers/server.js';

const fixture = (f: string): string => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), 'utf8');
const key = fixture('server-key.pem');
const cert = fixture('server-cert.pem');
const ca = fixture('ca-cert.pem');

let pool: PeerPool;
let echo: EchoServer;
/** TLS streams by client port, with the status seen when the example started and finished them. */
const tlsByPort = new Map<number, { tls: StreamPeerTLS; atStart: StreamPeerTLSStatus; atAccept?: StreamPeerTLSStatus; failed?: StreamPeerTLSStatus }>();
const peerByPort = new Map<number, WebSocketPeer>();

beforeAll(() => {
  pool = new PeerPool({ threads: 2, handshakeTimeout: 3000 });
  echo = startEchoServer({
    port: 0,
    host: '127.0.0.1',
    pool,
    tickMs: 1,
    tls: { key, cert },
    onTlsStart: (tls, tcp) => tlsByPort.set(tcp.getConnectedPort(), { tls, atStart: tls.getStatus() }),
    onAccept: (peer, tcp, tls) => {
      peerByPort.set(tcp.getConnectedPort(), peer);
      const e = tlsByPort.get(tcp.getConnectedPort());
      if (e !== undefined && tls !== null) e.atAccept = tls.getStatus();
    },
    onTlsFail: (tls, tcp) => {
      const e = tlsByPort.get(tcp.getConnectedPort());
      if (e !== undefined) e.failed = tls.getStatus();
    },
  });
});

afterAll(async () => {
  await echo.stop();
  await pool.close();
});

describe('wss echo server', () => {
  it('prints a wss:// URL and echoes for a ws client that trusts the test CA', async () => {
    expect(echo.url).toBe(`wss://127.0.0.1:${echo.port}`);
    const c = await openWs(`${echo.url}/secure?q=1`, ['chat'], { ca });
    const text = await roundTrip(c.ws, 'über secure', false);
    expect(text.isBinary).toBe(false);
    expect(text.data.toString()).toBe('über secure');
    const big = Buffer.alloc(60_000, 0xab);
    const bin = await roundTrip(c.ws, big, true);
    expect(bin.isBinary).toBe(true);
    expect(bin.data.equals(big)).toBe(true);

    const e = tlsByPort.get(c.localPort)!;
    expect(e.atStart).toBe(StreamPeerTLSStatus.STATUS_HANDSHAKING);
    expect(e.atAccept).toBe(StreamPeerTLSStatus.STATUS_CONNECTED);
    expect(e.failed).toBeUndefined();
    const peer = peerByPort.get(c.localPort)!;
    await waitFor(() => peer.getReadyState() === State.OPEN, 'server peer OPEN');
    expect(peer.getRequestedUrl()).toBe(`wss://127.0.0.1:${echo.port}/secure?q=1`);
    expect(peer.getSelectedProtocol()).toBe('chat');
    expect(peer.getConnectedHost()).toBe('127.0.0.1');
    expect(peer.getConnectedPort()).toBe(c.localPort);
    c.ws.close();
  });

  it('a ringsocket client (wss, TLSOptions.client(ca)) echoes through the ringsocket server', async () => {
    const client = new WebSocketPeer({ pool });
    client.supportedProtocols = ['chat'];
    expect(client.connectToUrl(`wss://localhost:${echo.port}/rs`, TLSOptions.client(ca))).toBe(ErrorCode.OK);
    const deadline = Date.now() + 10_000;
    while (client.getReadyState() === State.CONNECTING && Date.now() < deadline) {
      client.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(client.getReadyState()).toBe(State.OPEN);
    expect(client.sendText('both ends ringsocket')).toBe(ErrorCode.OK);
    await waitFor(() => (client.poll(), client.getAvailablePacketCount() > 0), 'the echo');
    expect(new TextDecoder().decode(client.getPacket())).toBe('both ends ringsocket');
    expect(client.wasStringPacket()).toBe(true);
    client.close();
    await waitFor(() => (client.poll(), client.getReadyState() === State.CLOSED), 'client CLOSED');
    expect(client.getCloseCode()).toBe(1000);
  });

  it('a client that does not trust the certificate fails; the server drops the TLS stream (STATUS_ERROR)', async () => {
    const ws = new WebSocket(`${echo.url}/untrusted`, { ca: fixture('other-cert.pem') });
    let localPort = 0;
    const err = await new Promise<Error>((resolve, reject) => {
      ws.once('error', resolve);
      ws.once('open', () => reject(new Error('opened with an untrusted certificate')));
      const req = (ws as unknown as { _req: { once(e: string, f: (s: net.Socket) => void): void } })._req;
      req.once('socket', (s) => s.once('connect', () => (localPort = s.localPort ?? 0)));
    });
    expect(err.message).toMatch(/certificate|self.signed|issuer/i);
    expect(localPort).toBeGreaterThan(0);
    await waitFor(() => tlsByPort.get(localPort)?.failed !== undefined, 'the server to drop the TLS stream');
    expect(tlsByPort.get(localPort)!.failed).toBe(StreamPeerTLSStatus.STATUS_ERROR);
    expect(peerByPort.has(localPort)).toBe(false);
  });

  it('a plain-TCP client speaking HTTP to the TLS port: StreamPeerTLS goes STATUS_ERROR, socket closed', async () => {
    const client = new RawClient(echo.port);
    await client.connectedAt;
    const port = client.localPort;
    client.write(upgradeRequest());
    await client.closedP;
    // Whatever came back is not an HTTP answer (a TLS alert at most).
    expect(client.data.toString('latin1').startsWith('HTTP/')).toBe(false);
    await waitFor(() => tlsByPort.get(port)?.failed !== undefined, 'the server to drop the TLS stream');
    const e = tlsByPort.get(port)!;
    expect(e.atStart).toBe(StreamPeerTLSStatus.STATUS_HANDSHAKING);
    expect(e.failed).toBe(StreamPeerTLSStatus.STATUS_ERROR);
    expect(e.tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_ERROR);
    expect(peerByPort.has(port)).toBe(false);
    // And the server still serves TLS clients.
    const c = await openWs(`${echo.url}/after`, [], { ca });
    expect((await roundTrip(c.ws, 'ok', false)).data.toString()).toBe('ok');
    c.ws.close();
  });

  it('a TLS client that never finishes its handshake is dropped at the handshake deadline', async () => {
    const client = new RawClient(echo.port);
    const t0 = await client.connectedAt;
    const port = client.localPort;
    await client.closedP; // sends nothing at all
    expect(client.closedAt - t0).toBeGreaterThanOrEqual(2900);
    expect(client.closedAt - t0).toBeLessThan(8000);
    await waitFor(() => tlsByPort.get(port)?.failed !== undefined, 'the server to drop the TLS stream');
    expect(tlsByPort.get(port)!.failed).toBe(StreamPeerTLSStatus.STATUS_ERROR);
  }, 15_000);
});

describe('StreamPeerTLS by hand', () => {
  it('HANDSHAKING -> CONNECTED on poll; disconnectFromStream -> DISCONNECTED and the client sees the close', async () => {
    const server = new TCPServer({ pool });
    expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    try {
      const tlsSocket = await import('node:tls').then((tls) =>
        tls.connect({ host: '127.0.0.1', port: server.getLocalPort(), ca, servername: 'localhost' }),
      );
      const secured = new Promise<void>((resolve, reject) => {
        tlsSocket.once('secureConnect', () => resolve());
        tlsSocket.once('error', reject);
      });
      const closedP = new Promise<void>((resolve) => tlsSocket.once('close', () => resolve()));
      await waitFor(() => server.isConnectionAvailable(), 'a connection');
      const tcp = server.takeConnection()!;
      const tls = new StreamPeerTLS();
      expect(tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_DISCONNECTED);
      expect(tls.acceptStream(tcp, TLSOptions.server(key, cert))).toBe(ErrorCode.OK);
      expect(tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_HANDSHAKING);
      await waitFor(() => (tls.poll(), tls.getStatus() !== StreamPeerTLSStatus.STATUS_HANDSHAKING), 'TLS handshake');
      expect(tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_CONNECTED);
      await secured;
      tls.disconnectFromStream();
      expect(tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_DISCONNECTED);
      await closedP;
      expect(new WebSocketPeer({ pool }).acceptStream(tls)).toBe(ErrorCode.ERR_INVALID_PARAMETER);
    } finally {
      server.stop();
    }
  });

  it('a bad key/certificate pair: STATUS_ERROR on poll, the client fails', async () => {
    const server = new TCPServer({ pool });
    expect(server.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    try {
      const tlsMod = await import('node:tls');
      const sock = tlsMod.connect({ host: '127.0.0.1', port: server.getLocalPort(), ca, servername: 'localhost' });
      const failed = new Promise<void>((resolve) => {
        sock.once('error', () => resolve());
        sock.once('close', () => resolve());
      });
      await waitFor(() => server.isConnectionAvailable(), 'a connection');
      const tls = new StreamPeerTLS();
      // A key that does not match the certificate.
      expect(tls.acceptStream(server.takeConnection()!, TLSOptions.server(key, fixture('other-cert.pem')))).toBe(ErrorCode.OK);
      await waitFor(() => (tls.poll(), tls.getStatus() !== StreamPeerTLSStatus.STATUS_HANDSHAKING), 'TLS failure');
      expect(tls.getStatus()).toBe(StreamPeerTLSStatus.STATUS_ERROR);
      await failed;
    } finally {
      server.stop();
    }
  });
});
