/**
 * Godot `StreamPeerTLS`, server side: the TLS handshake runs in the worker that holds the TCP stream.
 */
import { ErrorCode, StreamPeerTLSStatus } from './enums.js';
import { TLSOptions } from './tls-options.js';
import { lookupStream, registerStream, type StreamEvents, type StreamRef } from './stream-ref.js';
import { CMD_STREAM_CLOSE, CMD_TLS_ACCEPT } from './protocol/records.js';
import { encodeJson } from './protocol/control.js';

const contextIds = new WeakMap<TLSOptions, number>();
let nextContextId = 1;

export class StreamPeerTLS implements StreamEvents {
  #ref: StreamRef | null = null;
  #status: StreamPeerTLSStatus = StreamPeerTLSStatus.STATUS_DISCONNECTED;
  #handedOver = false;

  /**
   * Godot `accept_stream(stream, server_options)`: start the server TLS handshake on a taken
   * `StreamPeerTCP`. Poll until `getStatus()` is STATUS_CONNECTED, then `WebSocketPeer.acceptStream(this)`.
   * @returns OK, or ERR_INVALID_PARAMETER (not a connected taken stream, or not `TLSOptions.server`).
   */
  acceptStream(stream: unknown, options: TLSOptions): ErrorCode {
    if (this.#status !== StreamPeerTLSStatus.STATUS_DISCONNECTED) return ErrorCode.ERR_ALREADY_IN_USE;
    const tcp = lookupStream(stream);
    if (tcp === undefined || tcp.secure || !tcp.usable()) return ErrorCode.ERR_INVALID_PARAMETER;
    if (!(options instanceof TLSOptions) || !options.isServer()) return ErrorCode.ERR_INVALID_PARAMETER;
    let ctxId = contextIds.get(options);
    if (ctxId === undefined) {
      ctxId = nextContextId++;
      contextIds.set(options, ctxId);
    }
    const h = tcp.handle;
    // The PEMs cross once per worker; later handshakes name the cached secure context by id.
    const payload = h.tlsContexts.has(ctxId) ? null : encodeJson({ key: options.key, cert: options.certificate });
    h.tlsContexts.add(ctxId);
    tcp.consume();
    const ref: StreamRef = {
      pool: tcp.pool,
      handle: h,
      id: tcp.id,
      secure: true,
      usable: () => this.#status === StreamPeerTLSStatus.STATUS_CONNECTED && !this.#handedOver && !h.dead,
      consume: () => {
        this.#handedOver = true;
        h.streams.delete(tcp.id);
      },
    };
    this.#ref = ref;
    registerStream(this, ref);
    h.streams.set(tcp.id, this);
    this.#status = StreamPeerTLSStatus.STATUS_HANDSHAKING;
    tcp.pool.push(h, tcp.id, CMD_TLS_ACCEPT, ctxId, payload);
    return ErrorCode.OK;
  }

  /** Godot `poll()`: collect the handshake's progress from the worker. */
  poll(): void {
    this.#ref?.pool.pump();
  }

  /** Godot `get_status()`. */
  getStatus(): StreamPeerTLSStatus {
    return this.#status;
  }

  /** Godot `disconnect_from_stream()`. */
  disconnectFromStream(): void {
    const ref = this.#ref;
    if (ref !== null && !this.#handedOver && this.#status !== StreamPeerTLSStatus.STATUS_DISCONNECTED) {
      ref.pool.push(ref.handle, ref.id, CMD_STREAM_CLOSE, 0, null);
      ref.handle.streams.delete(ref.id);
    }
    this.#status = StreamPeerTLSStatus.STATUS_DISCONNECTED;
  }

  /** @internal */
  onTlsStatus(status: number): void {
    if (this.#status === StreamPeerTLSStatus.STATUS_HANDSHAKING) this.#status = status as StreamPeerTLSStatus;
  }

  /** @internal */
  onClosed(byError: boolean): void {
    if (this.#handedOver) return;
    if (byError || this.#status === StreamPeerTLSStatus.STATUS_HANDSHAKING) this.#status = StreamPeerTLSStatus.STATUS_ERROR;
    else this.#status = StreamPeerTLSStatus.STATUS_DISCONNECTED;
  }
}
