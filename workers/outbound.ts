/**
 * A connection's outbound side, made on its first send (an idle connection holds none): each record
 * from the outbound ring is framed — the header written in front of the payload copied out of the ring,
 * masked with a fresh key by a client (frame-writer.ts), one Buffer per frame — and written to the
 * socket, which the runtime corks for each command burst (many frames, one writev). The write callbacks
 * count what was written (payload bytes and message ends) into the slot for the main thread.
 */
import type { Socket } from 'node:net';
import { FLAG_FIRST, FLAG_LAST } from '../src/protocol/records.js';
import { frameMessage, OP_BINARY, OP_CONTINUATION, OP_TEXT } from './frame-writer.js';
import type { ConnectionHost, InboundTarget } from './hosts.js';

export class Outbound {
  /** Write-completion queue: payload bytes * 2 + (message end ? 1 : 0), in send order. */
  readonly #writes: number[] = [];
  /** The one write callback of the connection (the queue says what each completion was). */
  readonly #onWritten: () => void;

  constructor(host: ConnectionHost, conn: InboundTarget) {
    this.#onWritten = () => {
      const w = this.#writes.shift();
      if (w !== undefined) host.noteSent(conn, Math.floor(w / 2), (w & 1) === 1);
    };
  }

  /** One record of an outbound message (whole, or a fragment of a large one); `view` is ring memory. */
  send(sock: Socket, view: Uint8Array, binary: boolean, kindFlags: number, masked: boolean): void {
    const last = (kindFlags & FLAG_LAST) !== 0;
    const opcode = (kindFlags & FLAG_FIRST) === 0 ? OP_CONTINUATION : binary ? OP_BINARY : OP_TEXT;
    const frame = frameMessage(opcode, view, last, masked);
    this.#writes.push(view.byteLength * 2 + (last ? 1 : 0));
    sock.write(frame, this.#onWritten);
  }

  /** The socket is gone: what is still queued will never be written; count it as done. */
  abandon(): void {
    while (this.#writes.length !== 0) this.#onWritten();
  }
}
