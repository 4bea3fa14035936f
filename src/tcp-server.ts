/**
 * Godot `TCPServer` and `StreamPeerTCP`, with the listening socket and accept() in the I/O workers.
 *
 * The main thread only sees handles to connections a worker holds. `listen()` answers synchronously, as
 * in Godot: the main thread waits (Atomics.wait, bounded) for the binding worker's result; that is the
 * one blocking call in ringsocket, done once per server.
 */
import { ErrorCode, StreamPeerTCPStatus } from './enums.js';
import { getDefaultPool, type PeerPool, type WorkerHandle } from './peer-pool.js';
import { registerStream, type StreamEvents, type StreamRef } from './stream-ref.js';
import { CMD_STREAM_CLOSE, CMD_STREAM_NO_DELAY } from './protocol/records.js';

export interface TCPServerOptions {
  /** The worker pool that accepts and holds this server's connections. Default: the shared pool. */
  pool?: PeerPool;
}

/** @internal What the pool calls when a worker accepted a connection for this server. */
export interface ServerSink {
  enqueue(stream: StreamPeerTCP): void;
  /** The pool lost every listening socket of this server and cannot bind the port again. */
  onLost(): void;
}

/**
 * @internal What `acceptStream` finds for a StreamPeerTCP (see stream-ref.ts), and the stream's state.
 * A class rather than closures over the stream: one object per accepted connection, nothing more.
 */
class TcpStreamRef implements StreamRef {
  readonly pool: PeerPool;
  readonly handle: WorkerHandle;
  readonly id: number;
  readonly secure = false;
  status: StreamPeerTCPStatus = StreamPeerTCPStatus.STATUS_CONNECTED;
  handedOver = false;

  constructor(pool: PeerPool, handle: WorkerHandle, id: number) {
    this.pool = pool;
    this.handle = handle;
    this.id = id;
  }

  usable(): boolean {
    return this.status === StreamPeerTCPStatus.STATUS_CONNECTED && !this.handedOver && !this.handle.dead;
  }

  consume(): void {
    this.handedOver = true;
    this.handle.streams.delete(this.id);
  }
}

/**
 * Godot `StreamPeerTCP` as the server side sees it: a TCP connection accepted by a worker, not yet
 * handed to a `WebSocketPeer` (or `StreamPeerTLS`). Taken or not, it is dropped if no WebSocket
 * handshake completes within the pool's `handshakeTimeout`.
 */
export class StreamPeerTCP implements StreamEvents {
  readonly #ref: TcpStreamRef;
  readonly #host: string;
  readonly #port: number;

  /** @internal Made by the pool; users get them from `TCPServer.takeConnection()`. */
  constructor(pool: PeerPool, handle: WorkerHandle, id: number, host: string, port: number) {
    this.#ref = new TcpStreamRef(pool, handle, id);
    this.#host = host;
    this.#port = port;
    registerStream(this, this.#ref);
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
    this.#ref.pool.pump();
    return ErrorCode.OK;
  }

  /** Godot `set_no_delay(enabled)`. */
  setNoDelay(enabled: boolean): void {
    const r = this.#ref;
    if (r.status === StreamPeerTCPStatus.STATUS_CONNECTED && !r.handedOver) {
      r.pool.push(r.handle, r.id, CMD_STREAM_NO_DELAY, enabled ? 1 : 0, null);
    }
  }

  /** Godot `disconnect_from_host()`: close the connection (if not handed over). */
  disconnectFromHost(): void {
    const r = this.#ref;
    if (r.status === StreamPeerTCPStatus.STATUS_CONNECTED && !r.handedOver) {
      r.pool.push(r.handle, r.id, CMD_STREAM_CLOSE, 0, null);
      r.handle.streams.delete(r.id);
    }
    r.status = StreamPeerTCPStatus.STATUS_NONE;
  }

  /** @internal */
  onTlsStatus(): void {}

  /** @internal */
  onClosed(byError: boolean): void {
    const r = this.#ref;
    if (r.handedOver) return;
    r.status = byError ? StreamPeerTCPStatus.STATUS_ERROR : StreamPeerTCPStatus.STATUS_NONE;
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
export class TCPServer implements ServerSink {
  readonly #pool: PeerPool | null;
  #usedPool: PeerPool | null = null;
  #id = 0;
  #port = 0;
  #queue: StreamPeerTCP[] = [];
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
    const pool = this.#pool ?? getDefaultPool();
    const r = pool.listenServer(this, port, bindAddress);
    this.#failureReason = r.reason;
    if (r.code !== ErrorCode.OK) return r.code;
    this.#usedPool = pool;
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
    const pool = this.#usedPool!;
    pool.pump(); // (collects the workers' answers; may stop this server: see onLost)
    return this.#id !== 0 && pool.serverBound(this.#id);
  }

  /** Godot `get_local_port()`: the bound port (0 when not listening). */
  getLocalPort(): number {
    return this.#port;
  }

  /** Godot `is_connection_available()`: collects what the workers accepted, then looks. */
  isConnectionAvailable(): boolean {
    if (this.#id === 0) return false;
    this.#usedPool!.pump();
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
    this.#usedPool!.unlistenServer(this.#id);
    this.onLost();
  }

  /** @internal The pool stopped this server (its port could not be bound again), or stop() did. */
  onLost(): void {
    for (const s of this.#queue) s.onClosed(false);
    this.#queue = [];
    this.#id = 0;
    this.#port = 0;
  }

  /** @internal */
  enqueue(stream: StreamPeerTCP): void {
    if (this.#id === 0) return;
    this.#queue.push(stream);
  }
}
