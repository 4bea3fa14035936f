/**
 * What a connection needs only until it is open — the server side's request bytes, accept config and
 * handshake deadline, the client's dial, and what EV_OPEN reports — and the server side's reading of
 * the upgrade request. Dropped once EV_OPEN is out, so an open connection holds none of it.
 */
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { AcceptConfig, DeflateWire, OpenInfo } from '../src/protocol/control.js';
import { answer, findHeadEnd, refuse, type HandshakeOk } from './handshake.js';

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
  /** permessage-deflate options from the config (undefined: off), for the connection's state once agreed. */
  deflate: DeflateWire | undefined = undefined;
  /** The negotiated Sec-WebSocket-Extensions value ("" none), for EV_OPEN. */
  extensions = '';
  /**
   * Server side, approval on: the request was valid, EV_REQUEST is out, and this 101 waits for the main
   * thread's CMD_HANDSHAKE_ANSWER (or the deadline). `request` then holds the bytes that came after the
   * request head (a client should send none before the 101).
   */
  waiting: HandshakeOk | null = null;

  constructor(noDelay: boolean) {
    this.noDelay = noDelay;
  }

  /** Server side: a taken stream's `socket`, its config and its handshake timer (now the connection's). */
  static accepting(cfg: AcceptConfig, socket: Socket, secure: boolean, deadline: NodeJS.Timeout): Opening {
    const op = new Opening(cfg.noDelay);
    op.accept = cfg;
    op.deflate = cfg.deflate;
    op.pending = true; // the stream's count goes over to the connection
    op.secure = secure;
    op.deadline = deadline;
    op.host = socket.remoteAddress ?? '';
    op.port = socket.remotePort ?? 0;
    return op;
  }

  /** Client side: the server's 101 passed (dial.ts) on `sock`. */
  dialed(sock: Socket, protocol: string, extensions: string): void {
    this.dial = null;
    this.protocol = protocol;
    this.extensions = extensions;
    this.host = sock.remoteAddress ?? '';
    this.port = sock.remotePort ?? 0;
  }

  /** What EV_OPEN reports. */
  info(): OpenInfo {
    const info: OpenInfo = { protocol: this.protocol, host: this.host, port: this.port };
    if (this.url !== undefined) info.url = this.url;
    if (this.extensions !== '') info.extensions = this.extensions;
    return info;
  }

  /** Stop the handshake deadline (answered, refused or dropped); the request bytes go with it. */
  stopDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
    this.request = null;
  }

  /**
   * Server side: bytes of the upgrade request. Null while the head is incomplete; else the verdict: a
   * refusal to write (with its error), or a valid request (its head, and the bytes after it: early
   * frames). Nothing is answered yet: see `upgrading`.
   */
  readRequest(chunk: Buffer): { ok: false; response: string; error: string } | { ok: true; verdict: HandshakeOk; head: string; rest: Buffer } | null {
    const buf = this.request === null ? chunk : Buffer.concat([this.request, chunk]);
    const end = findHeadEnd(buf);
    if (end === -1) {
      this.request = buf;
      return null;
    }
    const cfg = this.accept!;
    const head = end === -2 ? '' : buf.toString('latin1', 0, end - 4);
    const verdict = end === -2 ? refuse(431, 'request head too large') : answer(head, cfg.protocols, cfg.headers, this.secure, cfg.deflate);
    if (!verdict.ok) return { ok: false, response: verdict.response, error: verdict.error };
    this.request = null;
    return { ok: true, verdict, head, rest: buf.subarray(end) };
  }

  /** The 101 for `verdict` goes out: the deadline stops, and what EV_OPEN reports is known. */
  upgrading(verdict: HandshakeOk): void {
    this.stopDeadline();
    this.accept = null;
    this.protocol = verdict.protocol;
    this.url = verdict.url;
    this.extensions = verdict.extensions;
  }
}
