/**
 * The client's opening handshake (RFC 6455 §4.1) with Node's `http`/`https` request and its 'upgrade'
 * event: the request ws's client sends (key, version, subprotocols, the user's headers), and ws's checks
 * of the answer (Upgrade header, Sec-WebSocket-Accept, subprotocol, no extension), with ws's error
 * messages (errorCode in socket-events.ts turns them into the codes users see). Once the answer passes,
 * the socket is the connection's: no ws object is made.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { ConnectConfig } from '../src/protocol/control.js';
import { clientAccept, clientOffer, type DeflateConfig, type DeflateParams } from './deflate-negotiation.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** What a dial reports to (the Connection). */
export interface DialEvents {
  /** The server answered 101 and the answer passed: the socket is yours; `head` is what came after it. */
  dialed(sock: Socket, protocol: string, head: Buffer, deflate: DeflateParams | null, extensions: string): void;
  /** The handshake failed (`error`: an errno, `HTTP_<status>`, `HANDSHAKE_TIMEOUT`, or ws's message). */
  dialFailed(error: string): void;
}

const kDial = Symbol('ringsocket.dial');
type Tagged = http.ClientRequest & { [kDial]: { target: DialEvents; key: string; protocols: string[]; deflate: DeflateConfig | null; done: boolean } };

/** Start the handshake to `cfg.url`. Throws (as ws's constructor does) on a URL that is not ws:/wss:. */
export function dial(cfg: ConnectConfig, handshakeTimeoutMs: number, target: DialEvents): http.ClientRequest {
  const url = new URL(cfg.url);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new SyntaxError(`The URL's protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"`);
  if (url.hash !== '') throw new SyntaxError('The URL contains a fragment identifier');
  const secure = url.protocol === 'wss:';
  const key = randomBytes(16).toString('base64');
  const headers: Record<string, string> = {};
  for (const [k, v] of cfg.headers) headers[k] = v;
  headers['Sec-WebSocket-Version'] = '13';
  headers['Sec-WebSocket-Key'] = key;
  headers['Connection'] = 'Upgrade';
  headers['Upgrade'] = 'websocket';
  if (cfg.protocols.length !== 0) headers['Sec-WebSocket-Protocol'] = cfg.protocols.join(',');
  if (cfg.deflate !== undefined) headers['Sec-WebSocket-Extensions'] = clientOffer(cfg.deflate);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const opts: https.RequestOptions = {
    host,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: url.pathname + url.search,
    headers,
    agent: false,
  };
  if (handshakeTimeoutMs > 0) opts.timeout = handshakeTimeoutMs;
  if (secure) {
    if (cfg.tls?.ca !== undefined) opts.ca = cfg.tls.ca;
    if (cfg.tls?.unsafe) opts.rejectUnauthorized = false;
    else if (cfg.tls?.servername) {
      const name = cfg.tls.servername;
      opts.checkServerIdentity = (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(name, cert);
    }
  }
  const req = (secure ? https : http).request(opts) as Tagged;
  req[kDial] = { target, key, protocols: cfg.protocols, deflate: cfg.deflate ?? null, done: false };
  req.on('upgrade', onUpgrade);
  req.on('response', onResponse);
  req.on('error', onError);
  req.on('timeout', onTimeout);
  req.end();
  return req;
}

function fail(req: Tagged, error: string): void {
  const d = req[kDial];
  if (d.done) return;
  d.done = true;
  req.destroy();
  d.target.dialFailed(error);
}

/** Abort a dial (the connection was closed while connecting): nothing is reported. */
export function abortDial(req: http.ClientRequest): void {
  (req as Tagged)[kDial].done = true;
  req.destroy();
}

function onError(this: Tagged, err: Error & { code?: string }): void {
  fail(this, typeof err.code === 'string' && err.code !== '' ? err.code : err.message);
}

function onTimeout(this: Tagged): void {
  fail(this, 'HANDSHAKE_TIMEOUT');
}

function onResponse(this: Tagged, res: http.IncomingMessage): void {
  res.resume();
  fail(this, `HTTP_${res.statusCode}`);
}

function onUpgrade(this: Tagged, res: http.IncomingMessage, sock: Socket, head: Buffer): void {
  const d = this[kDial];
  if (d.done) {
    sock.destroy();
    return;
  }
  const why = check(res, d.key, d.protocols);
  if (why !== null) {
    sock.destroy();
    fail(this, why);
    return;
  }
  // permessage-deflate (RFC 7692 §5): a response the client did not allow fails the connection, with
  // the negotiation's stable code (WS_ERR_UNEXPECTED_EXTENSION, WS_ERR_INVALID_DEFLATE_PARAMETER…).
  const ext = res.headers['sec-websocket-extensions'] as string | undefined;
  const n = clientAccept(ext, d.deflate);
  if (!n.ok) {
    sock.destroy();
    fail(this, n.error);
    return;
  }
  d.done = true;
  sock.setTimeout(0);
  d.target.dialed(sock, (res.headers['sec-websocket-protocol'] as string | undefined) ?? '', head, n.params, n.params === null ? '' : ext!);
}

/** ws's checks of a 101 answer, with its messages; null when it passes. */
function check(res: http.IncomingMessage, key: string, protocols: string[]): string | null {
  const upgrade = res.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  const digest = createHash('sha1').update(key + GUID).digest('base64');
  if (res.headers['sec-websocket-accept'] !== digest) return 'Invalid Sec-WebSocket-Accept header';
  const prot = res.headers['sec-websocket-protocol'] as string | undefined;
  if (prot !== undefined) {
    if (protocols.length === 0) return 'Server sent a subprotocol but none was requested';
    if (!protocols.includes(prot)) return 'Server sent an invalid subprotocol';
  } else if (protocols.length !== 0) {
    return 'Server sent no subprotocol';
  }
  // Extensions (offered or not) are clientAccept's: an answer with one when none was offered fails with
  // WS_ERR_UNEXPECTED_EXTENSION, the code it has when permessage-deflate was offered and another came back.
  return null;
}
