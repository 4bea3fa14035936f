/**
 * The worker's RFC 6455 frame reader: one per connection, fed the socket's chunks as they come. It walks
 * each chunk once, validates each frame header as ws's `Receiver` does (same checks, same order, same
 * close codes and error codes), and unmasks each data payload straight into memory its sink names (a
 * ring reservation): one copy from the socket's buffer, no `Buffer`, event or closure per message.
 *
 * Per-connection state is a handful of numbers: a header split across chunks is parsed byte by byte into
 * them (nothing is carried over as bytes), and the UTF-8 check of a text message carries one number
 * across fragments and chunks (utf8.ts). The only buffer a reader may own is a 125-byte one for a control
 * frame whose payload is split across chunks, dropped once the frame is done.
 *
 * Backpressure: when the sink answers WAIT (no room, no credit) to a data frame, or false to a slice of
 * payload, `push` stops and returns how far it read; the caller keeps the rest of the chunk, pauses the
 * socket, and pushes the rest again later (the reader asks the sink again for the same frame). Nothing
 * is dropped and nothing is read twice.
 *
 * After a close frame, or a violation (`sink.fail`), the reader is done and ignores whatever follows, as
 * ws does.
 */
import { copyInto, maskKeyAt, unmaskBytes, unmaskInPlace, unmaskInto } from './mask.js';
import { UTF8_BAD, UTF8_OK, utf8Step } from './utf8.js';

/** `messageStart`/`messageContinue`: no target memory; the payload comes through `messageData`. */
export const COPY = -1;
/** `messageStart`/`messageContinue`: not now (no room, no credit). The reader stops before the payload. */
export const WAIT = -2;

/**
 * What a reader hands its connection. Calls come only from within `push`, in stream order. Byte ranges
 * (`bytes`, `start`, `end`) are views of the caller's chunk or of the reader's own memory, valid only
 * during the call, already unmasked.
 *
 * A data message is: `messageStart` (its first frame), then per continuation frame `messageContinue`,
 * each followed by its payload, then `messageEnd`. Control frames (`ping`, `pong`, `close`) may come
 * between the frames of a message. A payload goes where the last start/continue answered:
 * - an offset ≥ 0: the frame's `length` bytes are written, unmasked, to `target` from that offset, in
 *   as many pushes as the frame spans chunks. They are complete when the reader next calls
 *   `messageContinue` or `messageEnd` for that message (`fail` otherwise: then drop them);
 * - `COPY`: `messageData` gets them in slices (may be 0 slices for an empty frame);
 * - `WAIT`: nothing is read; the same call comes again for the same frame when the rest is pushed.
 */
export interface FrameSink {
  /** The memory a non-negative answer refers to; read right after each answer. */
  target: Uint8Array;
  /**
   * The first frame of a data message: `length` payload bytes follow in this frame (the whole message
   * when `fin`), `available` of them already in the chunk being pushed. Answer an offset into `target`,
   * `COPY` or `WAIT`. `compressed`: RSV1 was set (permessage-deflate): the payload is DEFLATE data,
   * and a text message's UTF-8 is not checked by the reader (the sink checks the inflated bytes).
   */
  messageStart(text: boolean, length: number, fin: boolean, available: number, compressed: boolean): number;
  /** A continuation frame of the current message (same answers). */
  messageContinue(length: number, fin: boolean, available: number): number;
  /** Payload bytes after a `COPY` answer. Return false to stop reading after them (they are taken). */
  messageData(bytes: Uint8Array, start: number, end: number): boolean;
  /** The message's last byte is in (text: valid UTF-8, checked). */
  messageEnd(): void;
  ping(bytes: Uint8Array, start: number, end: number): void;
  pong(bytes: Uint8Array, start: number, end: number): void;
  /** A valid close frame: its code (1005 when it has none) and UTF-8 reason. The reader is done. */
  close(code: number, bytes: Uint8Array, start: number, end: number): void;
  /**
   * A violation: answer with a close frame of `closeCode` (1002, 1007, 1009); `errorCode` is ws's code for
   * it (`WS_ERR_*`), what users see as the failure reason. A message in progress is abandoned. The reader
   * is done.
   */
  fail(closeCode: number, errorCode: string): void;
}

/** Reader options. */
export interface FrameReaderOptions {
  /** Server side: frames must be masked. Client side: they must not be. */
  server: boolean;
  /** Largest message (sum of its frames' payloads); 0 = no limit. Larger: 1009 before reading it. */
  maxPayload: number;
  /** permessage-deflate was negotiated: RSV1 is allowed on a data message's first frame. */
  rsv1?: boolean;
}

// States. Header states come first (< TARGET).
const HEAD0 = 0; // expecting a frame's first byte
const HEAD1 = 1; // expecting its second byte
const LENGTH = 2; // extended length bytes (#need of them left)
const MASK = 3; // mask key bytes (#need left)
const TARGET = 4; // header done; the sink is to be asked where the payload goes
const PAYLOAD = 5; // payload bytes (#done of #len read)
const DONE = 6; // closed or failed: the rest is ignored

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** The largest high word of a 64-bit length that keeps it ≤ 2^53 − 1 (ws's test). */
const MAX_HIGH_WORD = 0x1fffff;
const TWO_32 = 2 ** 32;

/** Where a control frame's payload is gathered when it arrives in pieces. */
const CONTROL_MAX = 125;

/** Close codes a peer may send (RFC 6455 §7.4; ws's `isValidStatusCode`). */
export function isValidStatusCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export class FrameReader {
  readonly #sink: FrameSink;
  readonly #server: boolean;
  readonly #maxPayload: number;
  readonly #rsv1: boolean;
  /** The message in progress had RSV1 (compressed): its text is not checked here. */
  #compressed = false;
  #state = HEAD0;
  /** The frame's first header byte (FIN, RSV, opcode). */
  #b0 = 0;
  /** The frame's payload length (accumulated byte by byte while the header is split). */
  #len = 0;
  /** Header bytes still to read in LENGTH / MASK. */
  #need = 0;
  /** The frame's mask key (see mask.ts), accumulated while split. */
  #mask = 0;
  /** Payload bytes of the frame read so far. */
  #done = 0;
  /** Where they go: an offset into the sink's target, or COPY. */
  #at = COPY;
  /** The data message in progress: OP_TEXT, OP_BINARY, or 0 between messages. */
  #message = 0;
  /** Payload bytes of the message so far, for maxPayload. */
  #total = 0;
  /** The UTF-8 state of the text message in progress. */
  #utf8 = UTF8_OK;
  /** A control payload split across chunks, gathered (null otherwise). */
  #control: Uint8Array | null = null;
  /** Set when the sink asked to stop after a slice. */
  #halt = false;

  constructor(sink: FrameSink, opts: FrameReaderOptions) {
    this.#sink = sink;
    this.#server = opts.server;
    this.#maxPayload = opts.maxPayload;
    this.#rsv1 = opts.rsv1 === true;
  }

  /** A close frame or a violation was read: nothing more will be. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * The sink answered WAIT to the frame in hand: push again (the rest of the chunk, or an empty one
   * when the header ended the chunk) once it has room. `push` may have returned `chunk.length` here.
   */
  get waiting(): boolean {
    return this.#state === TARGET;
  }

  /** Between frames and messages (nothing partly read): what a clean end of the stream looks like. */
  get idle(): boolean {
    return this.#state === HEAD0 && this.#message === 0;
  }

  /**
   * Read `chunk` from `start`. Returns where it stopped: `chunk.length` when all of it was taken (or
   * the reader is done), less when the sink said WAIT or stop: push the rest (from that offset) later.
   * A WAIT for a frame whose header ended the chunk returns `chunk.length` with `waiting` set.
   */
  push(chunk: Uint8Array, start = 0): number {
    const end = chunk.length;
    let pos = start;
    for (;;) {
      const state = this.#state;
      if (state < TARGET) {
        if (pos === end) return end;
        pos = this.#header(chunk, pos, end);
        if (this.#state < TARGET) return end; // the header goes on in the next chunk
        continue;
      }
      if (state === TARGET) {
        if (!this.#open(pos, end)) return pos;
        continue;
      }
      if (state === PAYLOAD) {
        pos = this.#payload(chunk, pos, end);
        if (this.#halt) {
          this.#halt = false;
          if (this.#state !== DONE) return pos;
        }
        if (this.#state === PAYLOAD) return end;
        continue;
      }
      return end; // DONE
    }
  }

  // ---- header ----

  /** Parse header bytes from `pos`; returns the position after those taken. */
  #header(c: Uint8Array, pos: number, end: number): number {
    // The usual case: the whole header is in this chunk.
    if (this.#state === HEAD0 && end - pos >= 2) {
      const b1 = c[pos + 1]!;
      const len7 = b1 & 0x7f;
      const size = 2 + (len7 < 126 ? 0 : len7 === 126 ? 2 : 8) + (this.#server ? 4 : 0);
      if (end - pos >= size) return this.#wholeHeader(c, pos, len7);
    }
    while (pos < end && this.#state < TARGET) this.#headerByte(c[pos++]!);
    return pos;
  }

  /** A header wholly in `c` from `pos` (its size checked by the caller). */
  #wholeHeader(c: Uint8Array, pos: number, len7: number): number {
    if (!this.#start(c[pos]!, c[pos + 1]!)) return pos + 2;
    let p = pos + 2;
    if (len7 === 126) {
      this.#len = (c[p]! << 8) | c[p + 1]!;
      p += 2;
    } else if (len7 === 127) {
      const high = ((c[p]! << 24) | (c[p + 1]! << 16) | (c[p + 2]! << 8) | c[p + 3]!) >>> 0;
      if (high > MAX_HIGH_WORD) return this.#tooLong(p + 8);
      this.#len = high * TWO_32 + (((c[p + 4]! << 24) | (c[p + 5]! << 16) | (c[p + 6]! << 8) | c[p + 7]!) >>> 0);
      p += 8;
    } else {
      this.#len = len7;
    }
    if (!this.#haveLength()) return p;
    if (this.#server) {
      this.#mask = maskKeyAt(c, p);
      p += 4;
    }
    this.#state = TARGET;
    return p;
  }

  /** One header byte, when the header is split across chunks. */
  #headerByte(b: number): void {
    switch (this.#state) {
      case HEAD0:
        this.#b0 = b;
        this.#state = HEAD1;
        return;
      case HEAD1: {
        if (!this.#start(this.#b0, b)) return;
        const len7 = b & 0x7f;
        this.#len = len7 < 126 ? len7 : 0;
        if (len7 >= 126) {
          this.#need = len7 === 126 ? 2 : 8;
          this.#state = LENGTH;
        } else {
          this.#lengthDone();
        }
        return;
      }
      case LENGTH:
        this.#len = this.#len * 256 + b;
        this.#need--;
        // After the high word of a 64-bit length: above 2^53 - 1 is refused (before reading further).
        if (this.#need === 4 && this.#len > MAX_HIGH_WORD) {
          this.#tooLong(0);
          return;
        }
        if (this.#need === 0) this.#lengthDone();
        return;
      case MASK:
        this.#mask |= b << ((4 - this.#need) << 3);
        this.#need--;
        if (this.#need === 0) this.#state = TARGET;
        return;
    }
  }

  /** The length is known (split header): check it, then the mask key, if any. */
  #lengthDone(): void {
    if (!this.#haveLength()) return;
    if (this.#server) {
      this.#mask = 0;
      this.#need = 4;
      this.#state = MASK;
    } else {
      this.#state = TARGET;
    }
  }

  /**
   * The first two header bytes: ws's checks, in ws's order (its error codes are what users see). Keeps
   * b0; returns false after failing.
   */
  #start(b0: number, b1: number): boolean {
    if ((b0 & 0x30) !== 0) return this.#fail(1002, 'WS_ERR_UNEXPECTED_RSV_2_3');
    const opcode = b0 & 0x0f;
    // RSV1: permessage-deflate's "compressed" bit, only on a data message's first frame, and only when
    // negotiated (RFC 7692 §6); anywhere else 1002, as ws.
    if ((b0 & 0x40) !== 0 && (!this.#rsv1 || (opcode !== OP_TEXT && opcode !== OP_BINARY))) return this.#fail(1002, 'WS_ERR_UNEXPECTED_RSV_1');
    const fin = (b0 & 0x80) !== 0;
    if (opcode === OP_CONT) {
      if (this.#message === 0) return this.#fail(1002, 'WS_ERR_INVALID_OPCODE');
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#message !== 0) return this.#fail(1002, 'WS_ERR_INVALID_OPCODE');
    } else if (opcode === OP_CLOSE || opcode === OP_PING || opcode === OP_PONG) {
      if (!fin) return this.#fail(1002, 'WS_ERR_EXPECTED_FIN');
      const len7 = b1 & 0x7f;
      if (len7 > CONTROL_MAX || (opcode === OP_CLOSE && len7 === 1)) return this.#fail(1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH');
    } else {
      return this.#fail(1002, 'WS_ERR_INVALID_OPCODE');
    }
    const masked = (b1 & 0x80) !== 0;
    if (this.#server && !masked) return this.#fail(1002, 'WS_ERR_EXPECTED_MASK');
    if (!this.#server && masked) return this.#fail(1002, 'WS_ERR_UNEXPECTED_MASK');
    this.#b0 = b0;
    return true;
  }

  /** The payload length is known: a data message may not grow past maxPayload (1009, before reading it). */
  #haveLength(): boolean {
    if ((this.#b0 & 0x08) === 0) {
      this.#total += this.#len;
      if (this.#maxPayload > 0 && this.#total > this.#maxPayload) return this.#fail(1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    }
    return true;
  }

  /** A 64-bit length above 2^53 - 1. */
  #tooLong(pos: number): number {
    this.#fail(1009, 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH');
    return pos;
  }

  // ---- payload ----

  /** The header is done: decide where the payload goes. False: the sink said WAIT. */
  #open(pos: number, end: number): boolean {
    const opcode = this.#b0 & 0x0f;
    this.#done = 0;
    if (opcode >= OP_CLOSE) {
      this.#state = PAYLOAD;
      return true;
    }
    const fin = (this.#b0 & 0x80) !== 0;
    const available = Math.min(this.#len, end - pos);
    const sink = this.#sink;
    const compressed = (this.#b0 & 0x40) !== 0;
    const at = opcode === OP_CONT ? sink.messageContinue(this.#len, fin, available) : sink.messageStart(opcode === OP_TEXT, this.#len, fin, available, compressed);
    if (at === WAIT) return false;
    if (opcode !== OP_CONT) {
      this.#message = opcode;
      this.#utf8 = UTF8_OK;
      this.#compressed = compressed;
    }
    this.#at = at;
    this.#state = PAYLOAD;
    return true;
  }

  /** Payload bytes from `pos`; returns the position after those taken. */
  #payload(c: Uint8Array, pos: number, end: number): number {
    const n = Math.min(this.#len - this.#done, end - pos);
    if ((this.#b0 & 0x08) !== 0) return this.#controlPayload(c, pos, n);
    if (n !== 0) {
      const at = this.#at;
      if (at >= 0) {
        const target = this.#sink.target;
        const d = at + this.#done;
        if (this.#server) unmaskInto(c, pos, target, d, n, this.#mask, this.#done);
        else copyInto(c, pos, target, d, n);
        if (this.#message === OP_TEXT && !this.#compressed && !this.#checkText(target, d, d + n)) return end;
        this.#done += n;
      } else {
        if (this.#server) unmaskInPlace(c, pos, n, this.#mask, this.#done);
        if (this.#message === OP_TEXT && !this.#compressed && !this.#checkText(c, pos, pos + n)) return end;
        this.#done += n;
        if (!this.#sink.messageData(c, pos, pos + n)) this.#halt = true;
        if (this.#state === DONE) return pos + n; // the sink failed the stream (see `fail`)
      }
    }
    if (this.#done === this.#len) this.#frameDone();
    return pos + n;
  }

  /** UTF-8 of a text message's bytes, on from where the last ones left off; fails with 1007. */
  #checkText(b: Uint8Array, start: number, end: number): boolean {
    const state = utf8Step(this.#utf8, b, start, end);
    this.#utf8 = state;
    if (state === UTF8_BAD) return this.#fail(1007, 'WS_ERR_INVALID_UTF8');
    return true;
  }

  /** A data frame's last byte is in. */
  #frameDone(): void {
    this.#state = HEAD0;
    if ((this.#b0 & 0x80) === 0) return; // more frames to come
    if (this.#message === OP_TEXT && this.#utf8 !== UTF8_OK) {
      this.#fail(1007, 'WS_ERR_INVALID_UTF8'); // the message ends inside a sequence
      return;
    }
    this.#message = 0;
    this.#total = 0;
    this.#sink.messageEnd();
  }

  /** Control payload: handed over from the chunk when it is all there, else gathered first. */
  #controlPayload(c: Uint8Array, pos: number, n: number): number {
    const len = this.#len;
    if (this.#done === 0 && n === len) {
      if (this.#server) unmaskInPlace(c, pos, n, this.#mask, 0);
      this.#state = HEAD0;
      this.#control = null;
      this.#controlFrame(c, pos, pos + n);
      return pos + n;
    }
    const buf = (this.#control ??= new Uint8Array(CONTROL_MAX));
    if (this.#server) unmaskBytes(c, pos, buf, this.#done, n, this.#mask, this.#done);
    else copyInto(c, pos, buf, this.#done, n);
    this.#done += n;
    if (this.#done === len) {
      this.#state = HEAD0;
      this.#control = null;
      this.#controlFrame(buf, 0, len);
    }
    return pos + n;
  }

  /** A whole control frame's payload (unmasked). */
  #controlFrame(b: Uint8Array, start: number, end: number): void {
    const opcode = this.#b0 & 0x0f;
    if (opcode === OP_PING) this.#sink.ping(b, start, end);
    else if (opcode === OP_PONG) this.#sink.pong(b, start, end);
    else this.#closeFrame(b, start, end);
  }

  /** A close frame: its code (if any) must be one a peer may send, its reason UTF-8. */
  #closeFrame(b: Uint8Array, start: number, end: number): void {
    let code = 1005;
    if (end !== start) {
      code = (b[start]! << 8) | b[start + 1]!;
      if (!isValidStatusCode(code)) {
        this.#fail(1002, 'WS_ERR_INVALID_CLOSE_CODE');
        return;
      }
      start += 2;
      if (utf8Step(UTF8_OK, b, start, end) !== UTF8_OK) {
        this.#fail(1007, 'WS_ERR_INVALID_UTF8');
        return;
      }
    }
    this.#state = DONE;
    this.#sink.close(code, b, start, end);
  }

  /**
   * The sink found a violation in what it was handed (a compressed message that does not inflate, or
   * inflates past the limit, or to bad UTF-8): the reader is done, and `sink.fail` is called as for its
   * own. From within `messageData` or `messageEnd` only.
   */
  fail(closeCode: number, errorCode: string): void {
    if (this.#state !== DONE) this.#fail(closeCode, errorCode);
  }

  /** A violation: the reader is done; the sink answers with `closeCode`. Returns false (for `return`). */
  #fail(closeCode: number, errorCode: string): false {
    this.#state = DONE;
    this.#control = null;
    this.#sink.fail(closeCode, errorCode);
    return false;
  }
}
