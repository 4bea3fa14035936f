/**
 * A connection's outbound side, made on its first send (an idle connection holds none): each record
 * from the outbound ring is framed — the header written in front of the payload copied out of the ring,
 * masked with a fresh key by a client (frame-writer.ts), one Buffer per frame — and written to the
 * socket, which the runtime corks for each command burst (many frames, one writev). The write callbacks
 * count what was written (payload bytes and message ends) into the slot for the main thread.
 */
import type { Socket } from 'node:net';
import { FLAG_FIRST, FLAG_LAST } from '../src/protocol/records.js';
import { frameCompressed, frameMessage, OP_BINARY, OP_CONTINUATION, OP_TEXT } from './frame-writer.js';
import type { ConnectionHost, InboundTarget } from './hosts.js';
import { MAX_HEADROOM, type PerMessageDeflate } from './deflate.js';

export class Outbound {
  /** Write-completion queue: payload bytes * 2 + (message end ? 1 : 0), in send order. */
  readonly #writes: number[] = [];
  /** The one write callback of the connection (the queue says what each completion was). */
  readonly #onWritten: () => void;
  readonly #host: ConnectionHost;
  readonly #conn: InboundTarget;
  /** permessage-deflate (null: not negotiated). */
  readonly #pmd: PerMessageDeflate | null;
  /** With pmd: the fragments of a message sent in several records, copied until its last. */
  #parts: Buffer[] | null = null;
  #partBytes = 0;

  constructor(host: ConnectionHost, conn: InboundTarget, pmd: PerMessageDeflate | null = null) {
    this.#host = host;
    this.#conn = conn;
    this.#pmd = pmd;
    this.#onWritten = () => {
      const w = this.#writes.shift();
      if (w !== undefined) host.noteSent(conn, Math.floor(w / 2), (w & 1) === 1);
    };
  }

  /** One record of an outbound message (whole, or a fragment of a large one); `view` is ring memory. */
  send(sock: Socket, view: Uint8Array, binary: boolean, kindFlags: number, masked: boolean): void {
    const last = (kindFlags & FLAG_LAST) !== 0;
    if (this.#pmd !== null) {
      this.#sendDeflate(sock, view, binary, kindFlags, masked);
      return;
    }
    const opcode = (kindFlags & FLAG_FIRST) === 0 ? OP_CONTINUATION : binary ? OP_BINARY : OP_TEXT;
    const frame = frameMessage(opcode, view, last, masked);
    this.#writes.push(view.byteLength * 2 + (last ? 1 : 0));
    sock.write(frame, this.#onWritten);
  }

  /**
   * With permessage-deflate: a message is compressed whole (RSV1 on its one frame) or, below the
   * threshold, sent as it is. A message that comes in several records is gathered first (a copy out of
   * the ring) and sent at its last record; its bytes are counted as written then.
   */
  #sendDeflate(sock: Socket, view: Uint8Array, binary: boolean, kindFlags: number, masked: boolean): void {
    const first = (kindFlags & FLAG_FIRST) !== 0;
    const last = (kindFlags & FLAG_LAST) !== 0;
    let data = view;
    if (!(first && last)) {
      if (first) {
        this.#parts = [];
        this.#partBytes = 0;
      }
      this.#parts!.push(Buffer.from(view));
      this.#partBytes += view.byteLength;
      if (!last) return;
      data = Buffer.concat(this.#parts!, this.#partBytes);
      this.#parts = null;
      this.#partBytes = 0;
    }
    const opcode = binary ? OP_BINARY : OP_TEXT;
    const z = this.#pmd!.compress(data, MAX_HEADROOM);
    const frame = z === null ? frameMessage(opcode, data, true, masked) : frameCompressed(opcode, z, MAX_HEADROOM, masked);
    this.#writes.push(data.byteLength * 2 + 1);
    sock.write(frame, this.#onWritten);
  }

  /** The socket is gone: what is still queued will never be written; count it as done. */
  abandon(): void {
    while (this.#writes.length !== 0) this.#onWritten();
    if (this.#partBytes !== 0) this.#host.noteSent(this.#conn, this.#partBytes, false);
    this.#parts = null;
    this.#partBytes = 0;
  }
}
