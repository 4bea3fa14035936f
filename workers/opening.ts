/**
 * What a connection needs only until it is open — the server side's request bytes, accept config and
 * handshake deadline, the client's dial, and what EV_OPEN reports — and the server side's reading of
 * the upgrade request. Dropped once EV_OPEN is out, so an open connection holds none of it.
 */
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { AcceptConfig, OpenInfo } from '../src/protocol/control.js';
import { answer, findHeadEnd, refuse } from './handshake.js';

export class Opening {
  /** Server side: the request head so far, when it came in more than one chunk. */
  request: Buffer | null = null;
  accept: AcceptConfig | null = null;
  secure = false;
  /** Server side: the stream's handshake deadline (the listener's timer, handed over with the socket). */
  deadline: NodeJS.Timeout | null = null;
  /** Client side: the HTTP upgrade request in flight. */
  dial: ClientRequest | null = null;
  host = '';
  port = 0;
  noDelay: boolean;
  /** Server side: counted in the listener's pendingHandshakes until the request is answered or fails. */
  pending = false;
  protocol = '';
  url: string | undefined = undefined;

  constructor(noDelay: boolean) {
    this.noDelay = noDelay;
  }

  /** Server side: a taken stream's `socket`, its config and its handshake timer (now the connection's). */
  static accepting(cfg: AcceptConfig, socket: Socket, secure: boolean, deadline: NodeJS.Timeout): Opening {
    const op = new Opening(cfg.noDelay);
    op.accept = cfg;
    op.pending = true; // the stream's count goes over to the connection
    op.secure = secure;
    op.deadline = deadline;
    op.host = socket.remoteAddress ?? '';
    op.port = socket.remotePort ?? 0;
    return op;
  }

  /** Client side: the server's 101 passed (dial.ts) on `sock`. */
  dialed(sock: Socket, protocol: string): void {
    this.dial = null;
    this.protocol = protocol;
    this.host = sock.remoteAddress ?? '';
    this.port = sock.remotePort ?? 0;
  }

  /** What EV_OPEN reports. */
  info(): OpenInfo {
    const info: OpenInfo = { protocol: this.protocol, host: this.host, port: this.port };
    if (this.url !== undefined) info.url = this.url;
    return info;
  }

  /** Stop the handshake deadline (answered, refused or dropped); the request bytes go with it. */
  stopDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
    this.request = null;
  }

  /**
   * Server side: bytes of the upgrade request. Null while the head is incomplete; else the answer to
   * write (101, or a refusal with its error) and, for a 101, the bytes after the head (early frames).
   */
  readRequest(chunk: Buffer): { ok: boolean; response: string; error: string; rest: Buffer } | null {
    const buf = this.request === null ? chunk : Buffer.concat([this.request, chunk]);
    const end = findHeadEnd(buf);
    if (end === -1) {
      this.request = buf;
      return null;
    }
    const cfg = this.accept!;
    const verdict = end === -2 ? refuse(431, 'request head too large') : answer(buf.toString('latin1', 0, end - 4), cfg.protocols, cfg.headers, this.secure);
    if (!verdict.ok) return { ok: false, response: verdict.response, error: verdict.error, rest: buf };
    this.stopDeadline();
    this.accept = null;
    this.protocol = verdict.protocol;
    this.url = verdict.url;
    return { ok: true, response: verdict.response, error: '', rest: buf.subarray(end) };
  }
}
