/**
 * A connection's inbound framing once it is open: its `FrameReader` and the `FrameSink` that decides
 * where each message goes. Made on the connection's first bytes after the handshake (an idle connection
 * holds none).
 *
 * - The common case — a whole message in the chunk, nothing waiting before it, credit and ring room —
 *   is unmasked by the reader straight into its ring reservation (`reserveMessage`): one copy from the
 *   socket's buffer to shared memory, no Buffer, event or closure. A text message found invalid halfway
 *   takes its reservation back (`unreserveMessage`) before the reader fails the connection with 1007.
 * - Anything else (split across chunks, fragmented, no credit or room now) is gathered into one Buffer
 *   (at most maxPayload = inboundBufferSize bytes, as ws's Receiver does) and handed to the pending and
 *   credit machinery of delivery.ts as a whole message.
 * - While the connection's reading is paused (over its budget), each new data frame is answered WAIT:
 *   the reader stops before it, and the rest of the chunk is kept (`#unread`, `#unreadAt`) until
 *   `resume` pushes it again. Nothing is dropped or read twice.
 * - After our close frame (CLOSE_SENT) data messages are read on and dropped (counted).
 */
import type { Socket } from 'node:net';
import { COPY, FrameReader, WAIT, type FrameSink } from './frame-reader.js';
import type { ConnectionHost, InboundTarget } from './hosts.js';
import { INFLATE_OK, type InflateSink, type PerMessageDeflate } from './deflate.js';
import { UTF8_BAD, UTF8_OK, utf8Step } from './utf8.js';

/** What Framing needs of its connection. */
export interface FramingConn extends InboundTarget {
  readonly host: ConnectionHost;
  /** Reading is paused for the budget: data frames wait. */
  readonly readingPaused: boolean;
  /** Our close frame is out: data messages are dropped. */
  readonly closeSent: boolean;
  /** A ping came: answer it (autoPong), when still open. */
  pingReceived(bytes: Uint8Array, start: number, end: number): void;
  /** The peer's close frame (code 1005 when it has none). */
  closeReceived(code: number, reason: string): void;
  /** A protocol violation: close with `closeCode`; `errorCode` is ws's `WS_ERR_*`. */
  protocolError(closeCode: number, errorCode: string): void;
}

/** Where the message in progress goes. */
const NONE = 0;
const RING = 1;
const GATHER = 2;
const DROP = 3;
/** A compressed message (RSV1): its payload is inflated as it comes, the inflated bytes gathered. */
const INFLATE = 4;

const GATHER_MIN = 1024;
const decoder = new TextDecoder();

export class Framing implements FrameSink, InflateSink {
  readonly target: Uint8Array;
  readonly #reader: FrameReader;
  readonly #conn: FramingConn;
  readonly #maxPayload: number;
  #mode = NONE;
  #binary = false;
  /** RING: the reserved length; GATHER: the bytes gathered. */
  #len = 0;
  #buf: Buffer | null = null;
  /** The chunk whose rest waits while reading is paused, and where that rest starts. */
  #unread: Buffer | null = null;
  #unreadAt = 0;
  /** permessage-deflate state (null: not negotiated). */
  readonly #pmd: PerMessageDeflate | null;
  /** INFLATE text: the UTF-8 state of the inflated bytes so far. */
  #utf8 = UTF8_OK;

  constructor(conn: FramingConn, server: boolean, maxPayload: number, pmd: PerMessageDeflate | null = null) {
    this.#conn = conn;
    this.#maxPayload = maxPayload;
    this.#pmd = pmd;
    this.target = conn.host.inboundTarget;
    this.#reader = new FrameReader(this, { server, maxPayload, rsv1: pmd !== null });
  }

  /** No frame or message is partly read (a clean end of the stream). */
  get idle(): boolean {
    return this.#reader.idle && this.#unread === null;
  }

  /** Bytes from the socket. */
  data(chunk: Buffer): void {
    const u = this.#unread;
    if (u !== null) {
      // Not expected (the socket is paused while a rest waits), but never lose order: append.
      this.#unread = null;
      this.#feed(Buffer.concat([u.subarray(this.#unreadAt), chunk]), 0);
      return;
    }
    this.#feed(chunk, 0);
  }

  /** Push the kept rest, if any. Returns whether nothing is kept any more (the socket may read on). */
  resume(): boolean {
    const u = this.#unread;
    if (u === null) return true;
    this.#unread = null;
    this.#feed(u, this.#unreadAt);
    return this.#unread === null;
  }

  /**
   * The socket closed while reading was paused: what was read but not parsed still goes in (as ws parses
   * the socket's last bytes on 'close'); delivery flushes it without credit once the socket is gone.
   */
  drain(sock: Socket): void {
    this.resume();
    const rest = sock.read() as Buffer | null;
    if (rest !== null) this.data(rest);
  }

  #feed(chunk: Buffer, at: number): void {
    const r = this.#reader;
    const end = r.push(chunk, at);
    // A WAIT on a frame whose header ended the chunk returns chunk.length with `waiting` set: keep the
    // (empty) rest all the same, so that resume() asks again.
    if (!r.done && (end < chunk.length || r.waiting)) {
      this.#unread = chunk;
      this.#unreadAt = end;
    }
  }

  // ---- FrameSink ----

  messageStart(text: boolean, length: number, fin: boolean, available: number, compressed: boolean): number {
    const c = this.#conn;
    if (c.closeSent) {
      this.#mode = DROP;
      return COPY;
    }
    if (c.readingPaused) return WAIT;
    this.#binary = !text;
    if (compressed) {
      // The inflated size is not known up front: gather what comes out (pmd stops it at maxPayload:
      // 1009) and deliver it whole at the end.
      this.#mode = INFLATE;
      this.#len = 0;
      this.#utf8 = UTF8_OK;
      this.#buf = null;
      return COPY;
    }
    if (fin && available === length) {
      const at = c.host.reserveMessage(c, !text, length);
      if (at >= 0) {
        this.#mode = RING;
        this.#len = length;
        return at;
      }
    }
    this.#mode = GATHER;
    this.#len = 0;
    this.#buf = Buffer.allocUnsafe(fin ? length : this.#room(length));
    return COPY;
  }

  messageContinue(length: number): number {
    const c = this.#conn;
    if (this.#mode === DROP) return COPY;
    if (c.closeSent) {
      this.#mode = DROP;
      this.#buf = null;
      return COPY;
    }
    if (c.readingPaused) return WAIT;
    if (this.#mode === INFLATE) return COPY;
    const buf = this.#buf!;
    const need = this.#len + length;
    if (need > buf.length) {
      const grown = Buffer.allocUnsafe(this.#room(need));
      buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    return COPY;
  }

  /** A gather buffer for at least `need` bytes: doubled, within maxPayload. */
  #room(need: number): number {
    const n = Math.max(need, GATHER_MIN, (this.#buf?.length ?? 0) * 2);
    return this.#maxPayload > 0 ? Math.min(n, Math.max(need, this.#maxPayload)) : n;
  }

  messageData(bytes: Uint8Array, start: number, end: number): boolean {
    if (this.#mode === GATHER) {
      this.#buf!.set(bytes.subarray(start, end), this.#len);
      this.#len += end - start;
    } else if (this.#mode === INFLATE) {
      return this.#inflated(this.#pmd!.inflate(bytes, start, end, this));
    }
    return true;
  }

  /** After an inflate call: fail the stream on a bad result or bad UTF-8; true when all is well. */
  #inflated(code: number): boolean {
    if (code !== INFLATE_OK) {
      this.#reader.fail(code, this.#pmd!.error);
      return false;
    }
    if (this.#utf8 === UTF8_BAD) {
      this.#reader.fail(1007, 'WS_ERR_INVALID_UTF8');
      return false;
    }
    return true;
  }

  /** InflateSink: inflated bytes of the message in progress (valid only during the call). */
  inflated(bytes: Uint8Array, start: number, end: number): void {
    if (this.#mode !== INFLATE) return;
    if (!this.#binary && this.#utf8 !== UTF8_BAD) this.#utf8 = utf8Step(this.#utf8, bytes, start, end);
    const need = this.#len + (end - start);
    const buf = this.#buf;
    if (buf === null || need > buf.length) {
      const grown = Buffer.allocUnsafe(this.#room(need));
      if (buf !== null) buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    this.#buf!.set(bytes.subarray(start, end), this.#len);
    this.#len = need;
  }

  messageEnd(): void {
    const c = this.#conn;
    if (this.#mode === INFLATE) {
      if (!this.#inflated(this.#pmd!.inflateEnd(this))) return;
      if (!this.#binary && this.#utf8 !== UTF8_OK) {
        this.#reader.fail(1007, 'WS_ERR_INVALID_UTF8'); // the message ends inside a sequence
        return;
      }
      this.#mode = NONE;
      const buf = this.#buf ?? Buffer.alloc(0);
      this.#buf = null;
      c.host.deliverMessage(c, buf.length === this.#len ? buf : buf.subarray(0, this.#len), this.#binary);
      return;
    }
    const mode = this.#mode;
    this.#mode = NONE;
    if (mode === RING) {
      c.host.messageReserved(c, this.#len);
    } else if (mode === GATHER) {
      const buf = this.#buf!;
      this.#buf = null;
      c.host.deliverMessage(c, buf.length === this.#len ? buf : buf.subarray(0, this.#len), this.#binary);
    } else {
      c.host.droppedAfterClose();
    }
  }

  ping(bytes: Uint8Array, start: number, end: number): void {
    this.#conn.pingReceived(bytes, start, end);
  }

  pong(): void {
    // Heard (the connection marks every chunk as heard).
  }

  close(code: number, bytes: Uint8Array, start: number, end: number): void {
    this.#drop();
    this.#conn.closeReceived(code, start === end ? '' : decoder.decode(bytes.subarray(start, end)));
  }

  fail(closeCode: number, errorCode: string): void {
    this.#drop();
    this.#conn.protocolError(closeCode, errorCode);
  }

  /** The reader is done: a message in progress is abandoned (its reservation taken back). */
  #drop(): void {
    if (this.#mode === RING) this.#conn.host.unreserveMessage();
    this.#mode = NONE;
    this.#buf = null;
    this.#unread = null;
  }
}
