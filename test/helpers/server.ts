/**
 * Helpers for the server-side tests: raw TCP clients that speak (or mangle) HTTP and RFC 6455 by hand,
 * `ws` clients with their upgrade response, and a condition wait that is not tied to a WebSocketPeer.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket, { type ClientOptions } from 'ws';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Wait (checking every `everyMs`) until `cond()` holds, or fail after `timeoutMs` naming `what`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000, everyMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A promise with a deadline. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for: ${what}`)), ms);
    }),
  ]);
}

/** A raw TCP client that records everything it receives and when it closed. */
export class RawClient {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;
  closedAt = 0;
  readonly connectedAt: Promise<number>;
  readonly closedP: Promise<void>;
  error: NodeJS.ErrnoException | null = null;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect({ port, host });
    this.socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
    });
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
    });
    this.connectedAt = new Promise((resolve) => this.socket.once('connect', () => resolve(Date.now())));
    this.closedP = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closed = true;
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  write(b: string | Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(typeof b === 'string' ? Buffer.from(b, 'latin1') : b);
  }

  /** Index just past the response head, or -1. */
  headEnd(): number {
    const i = this.data.indexOf('\r\n\r\n');
    return i < 0 ? -1 : i + 4;
  }

  async response(timeoutMs = 5000): Promise<HttpResponse> {
    await waitFor(() => this.headEnd() >= 0 || this.closed, 'an HTTP response head', timeoutMs);
    const end = this.headEnd();
    if (end < 0) throw new Error(`connection closed without a response head; got ${JSON.stringify(this.data.toString('latin1'))}`);
    return parseResponse(this.data.subarray(0, end).toString('latin1'));
  }

  /** Frames the server sent after the response head. */
  frames(): Frame[] {
    const end = this.headEnd();
    return end < 0 ? [] : parseFrames(this.data.subarray(end));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface HttpResponse {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
}

export function parseResponse(head: string): HttpResponse {
  const lines = head.split('\r\n').filter((l) => l !== '');
  const statusLine = lines[0] ?? '';
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers };
}

export const wsKey = (): string => randomBytes(16).toString('base64');
export const acceptFor = (key: string): string => createHash('sha1').update(key + GUID).digest('base64');

/** A valid upgrade request; `over` replaces or (with `null`) removes header lines, `requestLine` the first line. */
export function upgradeRequest(opts: { requestLine?: string; key?: string; over?: Record<string, string | null>; extra?: string[] } = {}): string {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': opts.key ?? wsKey(),
    'Sec-WebSocket-Version': '13',
    ...opts.over,
  };
  const lines = [opts.requestLine ?? 'GET /raw HTTP/1.1'];
  for (const [k, v] of Object.entries(headers)) if (v !== null) lines.push(`${k}: ${v}`);
  lines.push(...(opts.extra ?? []));
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Open a raw client and complete a valid handshake; resolves after the 101 head arrived. */
export async function rawWebSocket(port: number): Promise<RawClient> {
  const c = new RawClient(port);
  const key = wsKey();
  await c.connectedAt;
  c.write(upgradeRequest({ key }));
  const res = await c.response();
  if (res.status !== 101) throw new Error(`expected 101, got ${res.statusLine}`);
  if (res.headers.get('sec-websocket-accept') !== acceptFor(key)) throw new Error('bad Sec-WebSocket-Accept');
  return c;
}

/**
 * One frame as a client would send it (length in 7 bits, or 126/127 + 2/8 extended bytes, as RFC 6455
 * says). `mask: false` leaves it unmasked (a protocol error from a client); `rsv` sets RSV1..3 (bits 4..6).
 */
export function frame(opcode: number, payload: Uint8Array | string = new Uint8Array(0), opts: { fin?: boolean; rsv?: number; mask?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const b0 = (fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f);
  const n = data.length;
  const head: number[] = [b0];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 0xff);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(n);
  for (let i = 0; i < n; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

export interface Frame {
  /** The first byte: FIN, RSV1-3 and the opcode. */
  b0: number;
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Parse frames (stops at an incomplete one): a server's as they are, a client's masked ones unmasked (a copy). */
export function parseFrames(buf: Buffer): Frame[] {
  const out: Frame[] = [];
  let o = 0;
  while (o + 2 <= buf.length) {
    const b0 = buf[o]!;
    const b1 = buf[o + 1]!;
    let len = b1 & 0x7f;
    let p = o + 2;
    if (len === 126) {
      if (p + 2 > buf.length) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (p + 8 > buf.length) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0; // a client's frame (a server must not mask)
    if (masked) p += 4;
    if (p + len > buf.length) break;
    let payload = buf.subarray(p, p + len);
    if (masked) {
      const key = buf.subarray(p - 4, p);
      payload = Buffer.from(payload);
      for (let i = 0; i < len; i++) payload[i]! ^= key[i & 3]!;
    }
    out.push({ b0, fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
    o = p + len;
  }
  return out;
}

/** The status code of a close frame's payload (-1 when it has none). */
export const closeCodeOf = (f: Frame): number => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : -1);

/** A `ws` client that has opened, with its upgrade response. */
export interface OpenClient {
  ws: WebSocket;
  res: IncomingMessage;
  localPort: number;
}

/**
 * Open a `ws` client. `onMessage`, if given, is attached at construction: frames that arrive in the same
 * read as the 101 are emitted synchronously during the upgrade, before a listener attached after
 * `await openWs(…)` could see them (a server that speaks first, like the game server, needs this).
 */
export function openWs(url: string, protocols?: string | string[], opts: ClientOptions = {}, onMessage?: (data: Buffer, isBinary: boolean) => void): Promise<OpenClient> {
  return new Promise((resolve, reject) => {
    const ws = protocols === undefined ? new WebSocket(url, opts) : new WebSocket(url, protocols, opts);
    if (onMessage !== undefined) ws.on('message', onMessage as (data: WebSocket.RawData, isBinary: boolean) => void);
    let res: IncomingMessage | null = null;
    ws.once('upgrade', (r: IncomingMessage) => {
      res = r;
    });
    ws.once('open', () => {
      const sock = (ws as unknown as { _socket: net.Socket })._socket;
      resolve({ ws, res: res!, localPort: sock.localPort ?? 0 });
    });
    ws.once('error', reject);
  });
}

/** Send one message on `ws` and resolve with the next message it receives. */
export function roundTrip(ws: WebSocket, data: Buffer | string, binary: boolean, timeoutMs = 10_000): Promise<{ data: Buffer; isBinary: boolean }> {
  const p = new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
    const onMessage = (d: WebSocket.RawData, isBinary: boolean): void => {
      ws.off('close', onClose);
      resolve({ data: Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d), isBinary });
    };
    const onClose = (code: number): void => {
      ws.off('message', onMessage);
      reject(new Error(`closed (${code}) before the echo`));
    };
    ws.once('message', onMessage);
    ws.once('close', onClose);
  });
  ws.send(data, { binary });
  return within(p, timeoutMs, 'an echo');
}

/** Resolve with the close code and reason a `ws` client sees. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}
