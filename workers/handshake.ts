/**
 * Server side of the RFC 6455 opening handshake, in the worker that holds the socket: read the HTTP
 * upgrade request (bounded in size; the time bound is the connection's handshake deadline), validate
 * it, pick the subprotocol, and answer 101 — or a 4xx and close.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6455#section-4.2
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { type DeflateConfig, type DeflateParams, serverNegotiate } from './deflate-negotiation.js';

/** Largest request head (request line + headers + blank line) we read. Bigger: 431 and close. */
export const MAX_REQUEST_HEAD_BYTES = 8192;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/**
 * Host header: RFC 7230 §5.4 `uri-host [ ":" port ]`, uri-host being RFC 3986's host: a reg-name
 * (unreserved / pct-encoded / sub-delims; names and IPv4 addresses are reg-names), or an IP-literal in
 * brackets. The port, when the colon is there, is 1–5 digits up to 65535 (RFC 3986 allows an empty one;
 * we do not). No space, control character, '/', '@', '?', '#' or non-ASCII byte: the value goes into
 * getRequestedUrl() as is.
 */
const REG_NAME = /^(?:[-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/;
const IPV_FUTURE = /^[vV][0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+$/;

export function validHost(value: string): boolean {
  let host = value;
  let port: string | null = null;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return false;
    host = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return false;
      port = rest.slice(1);
    }
    const inner = host.slice(1, -1);
    if (inner.includes('%') || (!isIPv6(inner) && !IPV_FUTURE.test(inner))) return false; // no zone ids (RFC 3986)
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    if (!REG_NAME.test(host)) return false;
  }
  if (port !== null && (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535)) return false;
  return true;
}

export interface UpgradeRequest {
  path: string;
  headers: Map<string, string>;
}

export interface HandshakeOk {
  ok: true;
  /** The 101 response, ready to write. */
  response: string;
  protocol: string;
  /** ws:// or wss:// + Host + path. */
  url: string;
  /** The request target as sent (path and query). */
  path: string;
  /** permessage-deflate as agreed (null: not negotiated), and the response's extensions value ("" none). */
  deflate: DeflateParams | null;
  extensions: string;
}

export interface HandshakeRefused {
  ok: false;
  status: number;
  /** Full HTTP response to write before closing. */
  response: string;
  /** Stable reason code (HTTP_400_BAD_KEY…). */
  error: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  505: 'HTTP Version Not Supported',
};

export function refuse(status: number, why: string, extra: string[] = []): HandshakeRefused {
  const body = `${why}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...extra,
  ];
  return { ok: false, status, response: `${lines.join('\r\n')}\r\n\r\n${body}`, error: `HTTP_${status}_${why.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}` };
}

/**
 * Find the end of the request head in `buf`. Returns the index just past "\r\n\r\n", -1 if not there
 * yet, or -2 if the head is already too large.
 */
export function findHeadEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n', 0, 'latin1');
  if (i >= 0) return i + 4 <= MAX_REQUEST_HEAD_BYTES ? i + 4 : -2;
  return buf.length >= MAX_REQUEST_HEAD_BYTES ? -2 : -1;
}

/** Parse and validate a request head; decide the answer. */
export function answer(head: string, supportedProtocols: string[], extraHeaders: [string, string][], secure: boolean, deflate?: DeflateConfig): HandshakeOk | HandshakeRefused {
  const lines = head.split('\r\n');
  const requestLine = lines[0] ?? '';
  const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
  if (m === null) return refuse(400, 'bad request line');
  if (m[1] !== 'GET') return refuse(405, 'method must be GET', ['Allow: GET']);
  const major = Number(m[3]);
  const minor = Number(m[4]);
  if (major < 1 || (major === 1 && minor < 1)) return refuse(400, 'HTTP/1.1 or later required');
  const path = m[2]!;
  if (!path.startsWith('/')) return refuse(400, 'bad request target');

  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return refuse(400, 'malformed header');
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return refuse(400, 'malformed header');
    const value = line.slice(colon + 1).trim();
    // Repeated headers are joined as HTTP allows; a repeated Host or key is refused below.
    const prev = headers.get(name);
    if (prev !== undefined) {
      if (name === 'host' || name === 'sec-websocket-key') return refuse(400, `duplicate ${name}`);
      headers.set(name, `${prev}, ${value}`);
    } else headers.set(name, value);
  }

  const host = headers.get('host');
  if (host === undefined || host === '') return refuse(400, 'missing host');
  if (!validHost(host)) return refuse(400, 'bad host');
  const upgrade = headers.get('upgrade');
  if (upgrade === undefined || !upgrade.split(',').some((t) => t.trim().toLowerCase() === 'websocket')) return refuse(400, 'missing upgrade websocket');
  const connection = headers.get('connection');
  if (connection === undefined || !connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) return refuse(400, 'missing connection upgrade');
  const version = headers.get('sec-websocket-version');
  if (version !== '13') return refuse(426, 'unsupported websocket version', ['Sec-WebSocket-Version: 13']);
  const key = headers.get('sec-websocket-key');
  if (key === undefined || !KEY.test(key) || Buffer.from(key, 'base64').length !== 16) return refuse(400, 'bad sec-websocket-key');

  // Subprotocol: the first in the client's list that we support. Asked for some, none supported: refuse.
  let protocol = '';
  const offered = headers.get('sec-websocket-protocol');
  if (offered !== undefined) {
    const list = offered.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (list.some((p) => !TOKEN.test(p))) return refuse(400, 'bad sec-websocket-protocol');
    if (list.length !== 0) {
      const found = list.find((p) => supportedProtocols.includes(p));
      if (found === undefined) return refuse(400, 'no supported subprotocol');
      protocol = found;
    }
  }

  // permessage-deflate (RFC 7692): only when configured; a malformed header is refused (400), an offer
  // we cannot accept is declined (no extension in the 101).
  let params: DeflateParams | null = null;
  let extensions = '';
  if (deflate !== undefined) {
    const n = serverNegotiate(headers.get('sec-websocket-extensions'), deflate);
    if (n.kind === 'refuse') return refuse(400, n.why);
    if (n.kind === 'accept') {
      params = n.params;
      extensions = n.response;
    }
  }

  const accept = createHash('sha1').update(key + GUID).digest('base64');
  const out = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
  if (protocol !== '') out.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (extensions !== '') out.push(`Sec-WebSocket-Extensions: ${extensions}`);
  for (const [k, v] of extraHeaders) out.push(`${k}: ${v}`);
  return { ok: true, response: `${out.join('\r\n')}\r\n\r\n`, protocol, url: `${secure ? 'wss' : 'ws'}://${host}${path}`, path, deflate: params, extensions };
}

/**
 * Reason phrases of the IANA HTTP status code registry, 4xx and 5xx (RFC 9110 and later RFCs). A code
 * in 400-599 that is not registered gets "Client Error" / "Server Error".
 */
const PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  511: 'Network Authentication Required',
};

export function reasonPhrase(status: number): string {
  return PHRASES[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
}

/**
 * The main thread's refusal of a request it was asked to approve: `status` (400-599, checked by the main
 * thread) with its reason phrase, `body` (UTF-8, <= 1 KiB) as a text/plain body, then close.
 */
export function rejection(status: number, body: string): string {
  const bytes = Buffer.byteLength(body);
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${bytes}\r\n\r\n${body}`
  );
}
