/**
 * Godot `TCPServer` and `StreamPeerTCP`, with the listening socket and accept() in the I/O workers.
 *
 * The main thread only sees handles to connections a worker holds. `listen()` answers synchronously, as
 * in Godot: the main thread waits (Atomics.wait, bounded) for the binding worker's result; that is the
 * one blocking call in ringsocket, done once per server.
 */
import { ErrorCode, StreamPeerTCPStatus } from './enums.js';
import { getDefaultPool, poolEngine, type PeerPool } from './peer-pool.js';
import type { PoolEngine } from './pool/engine.js';
import type { ServerSink, StreamEvents, WorkerLink } from './pool/link.js';
import { registerStream, StreamRefBase } from './stream-ref.js';
import { CMD_STREAM_CLOSE, CMD_STREAM_NO_DELAY } from './protocol/records.js';

export interface TCPServerOptions {
  /** The worker pool that accepts and holds this server's connections. Default: the shared pool. */
  pool?: PeerPool;
}

/**
 * @internal What `acceptStream` finds for a StreamPeerTCP (see stream-ref.ts), the stream's state, and
 * what the engine tells it (StreamEvents). A class rather than closures over the stream: one object per
 * accepted connection, nothing more.
 */
class TcpStreamRef extends StreamRefBase {
  readonly secure = false;
  status: StreamPeerTCPStatus = StreamPeerTCPStatus.STATUS_CONNECTED;

  usable(): boolean {
    return this.status === StreamPeerTCPStatus.STATUS_CONNECTED && !this.handedOver && !this.link.dead;
  }

  onTlsStatus(): void {}

  onClosed(byError: boolean): void {
    if (this.handedOver) return;
    this.status = byError ? StreamPeerTCPStatus.STATUS_ERROR : StreamPeerTCPStatus.STATUS_NONE;
  }
}

let makeStream: (engine: PoolEngine, link: WorkerLink, id: number, host: string, port: number) => { stream: StreamPeerTCP; events: StreamEvents };
/** The server stopped before `stream` was taken. */
let dropStream: (stream: StreamPeerTCP) => void;

/**
 * Godot `StreamPeerTCP` as the server side sees it: a TCP connection accepted by a worker, not yet
 * handed to a `WebSocketPeer` (or `StreamPeerTLS`). Taken or not, it is dropped if no WebSocket
 * handshake completes within the pool's `handshakeTimeout`.
 */
export class StreamPeerTCP {
  readonly #ref: TcpStreamRef;
  readonly #host: string;
  readonly #port: number;

  static {
    makeStream = (engine, link, id, host, port) => {
      const stream = new StreamPeerTCP(new TcpStreamRef(engine, link, id), host, port);
      return { stream, events: stream.#ref };
    };
    dropStream = (stream) => stream.#ref.onClosed(false);
  }

  /** Made by a `TCPServer`; users get them from `takeConnection()`. */
  private constructor(ref: TcpStreamRef, host: string, port: number) {
    this.#ref = ref;
    this.#host = host;
    this.#port = port;
    registerStream(this, ref);
  }

  /** Godot `get_status()`: STATUS_CONNECTED until it is closed (NONE) or fails (ERROR). */
  getStatus(): StreamPeerTCPStatus {
    return this.#ref.status;
  }

  /** Godot `get_connected_host()`. */
  getConnectedHost(): string {
    return this.#host;
  }

  /** Godot `get_connected_port()`. */
  getConnectedPort(): number {
    return this.#port;
  }

  /** Godot `poll()`: collect what the workers reported (e.g. that the connection was dropped). */
  poll(): ErrorCode {
    this.#ref.engine.pump();
    return ErrorCode.OK;
  }

  /** Godot `set_no_delay(enabled)`. */
  setNoDelay(enabled: boolean): void {
    const r = this.#ref;
    if (r.status === StreamPeerTCPStatus.STATUS_CONNECTED && !r.handedOver) {
      r.link.command(r.id, CMD_STREAM_NO_DELAY, enabled ? 1 : 0, null);
    }
  }

  /** Godot `disconnect_from_host()`: close the connection (if not handed over). */
  disconnectFromHost(): void {
    const r = this.#ref;
    if (r.status === StreamPeerTCPStatus.STATUS_CONNECTED && !r.handedOver) {
      r.link.command(r.id, CMD_STREAM_CLOSE, 0, null);
      r.link.streams.delete(r.id);
    }
    r.status = StreamPeerTCPStatus.STATUS_NONE;
  }
}

/**
 * Godot `TCPServer`. `listen(port, bindAddress = "*")`; each frame `while (server.isConnectionAvailable())
 * takeConnection()` and hand it to `WebSocketPeer.acceptStream` (or `StreamPeerTLS.acceptStream` first).
 *
 * `stop()` follows Godot: it stops listening and drops the connections this server accepted that were
 * not handed to a peer yet; peers already accepted stay open (close them, or `PeerPool.close()`, which
 * closes every connection with 1001).
 */
export class TCPServer {
  readonly #pool: PeerPool | null;
  #engine: PoolEngine | null = null;
  #id = 0;
  #port = 0;
  #queue: StreamPeerTCP[] = [];
  /** What the engine calls when a worker accepted a connection for this server. */
  readonly #sink: ServerSink = {
    incoming: (link, id, host, port) => {
      if (this.#id === 0 || this.#engine === null) return null;
      const { stream, events } = makeStream(this.#engine, link, id, host, port);
      this.#queue.push(stream);
      return events;
    },
    lost: () => this.#lost(),
  };
  #failureReason = '';

  constructor(options: TCPServerOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.#pool = options.pool ?? null;
  }

  /**
   * Godot `listen(port, bind_address = "*")`. Port 0 picks a free port (see `getLocalPort`). "*" listens
   * on every IPv6 and IPv4 address.
   * @returns OK; ERR_ALREADY_IN_USE when already listening; ERR_BUSY while the server is getting its
   *   port back after an I/O worker's death (see `isListening`); ERR_INVALID_PARAMETER for a bad port or
   *   address; ERR_CANT_CREATE when the bind fails (port taken, address not local, pool closed):
   *   `getFailureReason()` then says which.
   */
  listen(port: number, bindAddress = '*'): ErrorCode {
    if (this.#id !== 0) {
      if (this.isListening()) return ErrorCode.ERR_ALREADY_IN_USE;
      if (this.#id !== 0) return ErrorCode.ERR_BUSY; // being bound again
      // (isListening() found that the port could not be bound again: the server stopped; listen anew.)
    }
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return ErrorCode.ERR_INVALID_PARAMETER;
    if (typeof bindAddress !== 'string' || bindAddress === '') return ErrorCode.ERR_INVALID_PARAMETER;
    const engine = poolEngine(this.#pool ?? getDefaultPool());
    const r = engine.servers.listen(this.#sink, port, bindAddress);
    this.#failureReason = r.reason;
    if (r.code !== ErrorCode.OK) return r.code;
    this.#engine = engine;
    this.#id = r.serverId;
    this.#port = r.port;
    return ErrorCode.OK;
  }

  /**
   * Why the last `listen()` failed ("" after a success; a ringsocket extra, like
   * `WebSocketPeer.getFailureReason()`): the errno of the bind (`EADDRINUSE` port in use, `EADDRNOTAVAIL`
   * address not local, `EACCES` privileged port, `ENOTFOUND` unknown host name…), `LISTEN_TIMEOUT` (no
   * answer from the worker in time), `POOL_CLOSED`, or `LISTEN_FAILED` (another error).
   */
  getFailureReason(): string {
    return this.#failureReason;
  }

  /**
   * Godot `is_listening()`: whether a listening socket of this server accepts connections now. After an
   * I/O worker's death it is false while no worker holds one (the port is being bound again; `listen()`
   * then returns ERR_BUSY), true again once one does; if the port cannot be bound again (another process
   * took it) the server has stopped, as after `stop()`.
   */
  isListening(): boolean {
    if (this.#id === 0) return false;
    const engine = this.#engine!;
    engine.pump(); // (collects the workers' answers; may stop this server: see #lost)
    return this.#id !== 0 && engine.servers.bound(this.#id);
  }

  /** Godot `get_local_port()`: the bound port (0 when not listening). */
  getLocalPort(): number {
    return this.#port;
  }

  /** Godot `is_connection_available()`: collects what the workers accepted, then looks. */
  isConnectionAvailable(): boolean {
    if (this.#id === 0) return false;
    this.#engine!.pump();
    const q = this.#queue;
    while (q.length !== 0 && q[0]!.getStatus() !== StreamPeerTCPStatus.STATUS_CONNECTED) q.shift();
    return q.length !== 0;
  }

  /** Godot `take_connection()`: the next accepted connection, or null. */
  takeConnection(): StreamPeerTCP | null {
    if (!this.isConnectionAvailable()) return null;
    return this.#queue.shift()!;
  }

  /** Godot `stop()`: stop listening; untaken and unaccepted connections are dropped. */
  stop(): void {
    if (this.#id === 0) return;
    this.#engine!.servers.unlisten(this.#id);
    this.#lost();
  }

  /** The server stopped: by stop(), or by the engine (its port could not be bound again). */
  #lost(): void {
    for (const s of this.#queue) dropStream(s);
    this.#queue = [];
    this.#id = 0;
    this.#port = 0;
  }
}
