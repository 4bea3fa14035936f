/**
 * The messages `ringsocket load` sends and expects back. Every message carries its intended and actual
 * send times, a sequence number and its connection's index, the rest filled:
 * - binary (24 bytes, little-endian): float64 intended send time, float64 actual send time (both
 *   wall-clock ms: performance.timeOrigin + performance.now(), readable by any echo server), uint32
 *   sequence number, uint32 connection index; then FILL_BINARY bytes;
 * - text (32 ASCII hex digits): sequence (8), connection (6), intended and actual send times in µs since
 *   the run started (9 + 9); then 'x' padding.
 * One template buffer is stamped in place before each send (the peer copies it into its ring).
 */
import { performance } from 'node:perf_hooks';
import { WriteMode } from '../src/index.js';
import { FILL_BINARY, FILL_TEXT, TEXT_HEADER } from './load-config.js';

/** A received message's header: intended and actual send times (performance.now() ms), sequence, connection. */
export type Stamp = [intended: number, actual: number, seq: number, conn: number];

export class MessageCodec {
  /** The message to send, stamped by `stamp()`. */
  readonly tpl: Uint8Array;
  readonly writeMode: WriteMode;
  readonly #view: DataView;
  readonly #origin = performance.timeOrigin;

  /** `epoch`: the performance.now() that text timestamps count from. */
  constructor(
    readonly text: boolean,
    size: number,
    readonly epoch: number,
  ) {
    this.tpl = new Uint8Array(size).fill(text ? FILL_TEXT : FILL_BINARY);
    this.#view = new DataView(this.tpl.buffer);
    this.writeMode = text ? WriteMode.TEXT : WriteMode.BINARY;
  }

  #hex(v: number, digits: number): string {
    return Math.max(0, Math.floor(v)).toString(16).padStart(digits, '0').slice(-digits);
  }

  /** Write the header of the next message into `tpl`. */
  stamp(intended: number, actual: number, seq: number, conn: number): void {
    if (!this.text) {
      this.#view.setFloat64(0, this.#origin + intended, true);
      this.#view.setFloat64(8, this.#origin + actual, true);
      this.#view.setUint32(16, seq >>> 0, true);
      this.#view.setUint32(20, conn >>> 0, true);
    } else {
      const s = this.#hex(seq, 8) + this.#hex(conn, 6) + this.#hex((intended - this.epoch) * 1000, 9) + this.#hex((actual - this.epoch) * 1000, 9);
      for (let i = 0; i < TEXT_HEADER; i++) this.tpl[i] = s.charCodeAt(i);
    }
  }

  /** The header of a received message. */
  decode(p: Uint8Array): Stamp {
    if (!this.text) {
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      return [v.getFloat64(0, true) - this.#origin, v.getFloat64(8, true) - this.#origin, v.getUint32(16, true), v.getUint32(20, true)];
    }
    const t = String.fromCharCode(...p.subarray(0, TEXT_HEADER));
    return [this.epoch + parseInt(t.slice(14, 23), 16) / 1000, this.epoch + parseInt(t.slice(23, 32), 16) / 1000, parseInt(t.slice(0, 8), 16), parseInt(t.slice(8, 14), 16)];
  }
}
