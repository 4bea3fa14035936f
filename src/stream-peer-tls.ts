/**
 * Godot `StreamPeerTLS`, server side: the TLS handshake runs in the worker that holds the TCP stream.
 */
import { ErrorCode, StreamPeerTLSStatus } from './enums.js';
import { TLSOptions } from './tls-options.js';
import { lookupStream, registerStream, StreamRefBase } from './stream-ref.js';
import { CMD_STREAM_CLOSE, CMD_TLS_ACCEPT } from './protocol/records.js';
import { encodeJson } from './protocol/control.js';

const contextIds = new WeakMap<TLSOptions, number>();
let nextContextId = 1;

/** @internal A TLS stream's state, what `acceptStream` finds for it, and what the engine tells it. */
class TlsStreamRef extends StreamRefBase {
  readonly secure = true;
  status: StreamPeerTLSStatus = StreamPeerTLSStatus.STATUS_HANDSHAKING;

  usable(): boolean {
    return this.status === StreamPeerTLSStatus.STATUS_CONNECTED && !this.handedOver && !this.link.dead;
  }

  onTlsStatus(status: number): void {
    if (this.status === StreamPeerTLSStatus.STATUS_HANDSHAKING) this.status = status as StreamPeerTLSStatus;
  }

  onClosed(byError: boolean): void {
    if (this.handedOver) return;
    if (byError || this.status === StreamPeerTLSStatus.STATUS_HANDSHAKING) this.status = StreamPeerTLSStatus.STATUS_ERROR;
    else this.status = StreamPeerTLSStatus.STATUS_DISCONNECTED;
  }
}

export class StreamPeerTLS {
  #ref: TlsStreamRef | null = null;

  /**
   * Godot `accept_stream(stream, server_options)`: start the server TLS handshake on a taken
   * `StreamPeerTCP`. Poll until `getStatus()` is STATUS_CONNECTED, then `WebSocketPeer.acceptStream(this)`.
   * @returns OK, or ERR_INVALID_PARAMETER (not a connected taken stream, or not `TLSOptions.server`).
   */
  acceptStream(stream: unknown, options: TLSOptions): ErrorCode {
    if (this.#ref !== null && this.#ref.status !== StreamPeerTLSStatus.STATUS_DISCONNECTED) return ErrorCode.ERR_ALREADY_IN_USE;
    const tcp = lookupStream(stream);
    if (tcp === undefined || tcp.secure || !tcp.usable()) return ErrorCode.ERR_INVALID_PARAMETER;
    if (!(options instanceof TLSOptions) || !options.isServer()) return ErrorCode.ERR_INVALID_PARAMETER;
    let ctxId = contextIds.get(options);
    if (ctxId === undefined) {
      ctxId = nextContextId++;
      contextIds.set(options, ctxId);
    }
    const h = tcp.link;
    // The PEMs cross once per worker; later handshakes name the cached secure context by id.
    const payload = h.tlsContexts.has(ctxId) ? null : encodeJson({ key: options.key, cert: options.certificate });
    h.tlsContexts.add(ctxId);
    tcp.consume();
    const ref = new TlsStreamRef(tcp.engine, h, tcp.id);
    this.#ref = ref;
    registerStream(this, ref);
    h.streams.set(tcp.id, ref);
    h.command(tcp.id, CMD_TLS_ACCEPT, ctxId, payload);
    return ErrorCode.OK;
  }

  /** Godot `poll()`: collect the handshake's progress from the worker. */
  poll(): void {
    this.#ref?.engine.pump();
  }

  /** Godot `get_status()`. */
  getStatus(): StreamPeerTLSStatus {
    return this.#ref === null ? StreamPeerTLSStatus.STATUS_DISCONNECTED : this.#ref.status;
  }

  /** Godot `disconnect_from_stream()`. */
  disconnectFromStream(): void {
    const ref = this.#ref;
    if (ref === null) return;
    if (!ref.handedOver && ref.status !== StreamPeerTLSStatus.STATUS_DISCONNECTED) {
      ref.link.command(ref.id, CMD_STREAM_CLOSE, 0, null);
      ref.link.streams.delete(ref.id);
    }
    ref.status = StreamPeerTLSStatus.STATUS_DISCONNECTED;
  }
}
