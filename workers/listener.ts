/**
 * Server side in a worker: listening sockets, accepted TCP streams waiting to be taken and accepted by
 * the main thread, and their optional TLS handshake.
 *
 * One listening socket per TCPServer, bound by one worker (the binder) and shared by fd with every other
 * worker (`listen({ fd })`): the kernel spreads accepted connections over all of them. Node 20 has no
 * reusePort, dup() or shutdown() for it, and every handle on the shared fd closes the same fd number: so
 * exactly one handle (the binder's) is ever closed; the others are left inert (see ARCHITECTURE.md).
 *
 * Every accepted stream has a deadline (the pool's handshakeTimeout) from TCP accept to WebSocket OPEN:
 * a stream never taken, taken but never accepted, or a slow (slowloris) handshake is dropped then.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  CTL_SYNC_FD,
  CTL_SYNC_ID,
  CTL_SYNC_PORT,
  CTL_SYNC_SEQ,
  CTL_SYNC_STATUS,
  SYNC_ERR_IN_USE,
  SYNC_ERR_OTHER,
  SYNC_OK,
} from '../src/protocol/layout.js';
import { EV_INCOMING, EV_STREAM_CLOSED, EV_STREAM_STATUS } from '../src/protocol/records.js';
import { encodeJson, decodeJson, type AcceptConfig, type IncomingInfo, type ListenConfig } from '../src/protocol/control.js';
import { StreamPeerTLSStatus } from '../src/enums.js';
import type { WorkerRuntime } from './runtime.js';
import { Connection, kOwner } from './connection.js';

export interface Stream {
  id: number;
  socket: net.Socket;
  serverId: number;
  secure: boolean;
  /**
   * The handshake deadline. One timer from TCP accept to OPEN: when the stream becomes a Connection
   * the timer goes with it (see `conn`), so a connection being opened does not need a second one.
   */
  timer: NodeJS.Timeout;
  /** The Connection reading the upgrade on this stream's socket, once accepted. */
  conn: Connection | null;
}

/** The socket's owner (this stream, then its Connection: the same key, see `kOwner`). */
type TaggedSocket = net.Socket & { [kOwner]?: Stream | Connection };

export class ServerSide {
  readonly #rt: WorkerRuntime;
  readonly #servers = new Map<number, { server: net.Server; binder: boolean }>();
  /** Handles on a shared fd whose server stopped: never closed (see the module comment). */
  readonly #inert: net.Server[] = [];
  readonly streams = new Map<number, Stream>();
  #nextStreamId = 1;
  readonly #contexts = new Map<number, tls.SecureContext>();

  constructor(rt: WorkerRuntime) {
    this.#rt = rt;
    current = this;
  }

  #makeServer(serverId: number): net.Server {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true });
    server.on('connection', (socket: net.Socket) => this.#incoming(serverId, socket));
    return server;
  }

  /** Listens asked for and not bound yet (their socket is being bound). */
  readonly #binding = new Set<number>();
  /** Of those, the ones the main thread gave up waiting for (CMD_UNLISTEN came first): closed once bound. */
  readonly #abandoned = new Set<number>();

  #reply(serverId: number, status: number, port: number, fd: number): void {
    const ctl = this.#rt.ctl;
    Atomics.store(ctl, CTL_SYNC_ID, serverId);
    Atomics.store(ctl, CTL_SYNC_STATUS, status);
    Atomics.store(ctl, CTL_SYNC_PORT, port);
    Atomics.store(ctl, CTL_SYNC_FD, fd);
    Atomics.add(ctl, CTL_SYNC_SEQ, 1);
    Atomics.notify(ctl, CTL_SYNC_SEQ);
  }

  /** CMD_LISTEN: bind, listen, answer through the sync cell. "*" = every interface, IPv6 and IPv4. */
  listen(serverId: number, payload: Uint8Array): void {
    const cfg = decodeJson<ListenConfig>(payload);
    this.#binding.add(serverId);
    const tryListen = (host: string, fallback: string | null): void => {
      const server = this.#makeServer(serverId);
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        if (fallback !== null && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
          tryListen(fallback, null);
          return;
        }
        this.#binding.delete(serverId);
        this.#abandoned.delete(serverId);
        this.#reply(serverId, err.code === 'EADDRINUSE' ? SYNC_ERR_IN_USE : SYNC_ERR_OTHER, 0, -1);
      };
      server.once('error', onError);
      server.listen({ port: cfg.port, host, backlog: 511, exclusive: true }, () => {
        server.removeListener('error', onError);
        server.on('error', () => undefined);
        this.#binding.delete(serverId);
        if (this.#abandoned.delete(serverId)) {
          // listen() timed out on the main thread and cancelled: nobody owns this socket.
          server.close();
          return;
        }
        const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
        this.#servers.set(serverId, { server, binder: true });
        this.#reply(serverId, SYNC_OK, (server.address() as net.AddressInfo).port, fd);
      });
    };
    if (cfg.host === '*') tryListen('::', '0.0.0.0');
    else tryListen(cfg.host, null);
  }

  /** CMD_LISTEN_FD: accept on the binder's socket too. A failure only means this worker does not accept. */
  listenFd(serverId: number, fd: number): void {
    const server = this.#makeServer(serverId);
    let failed = false;
    server.on('error', () => {
      failed = true;
      this.#servers.delete(serverId);
    });
    server.listen({ fd });
    this.#servers.set(serverId, { server, binder: false });
    // Answer (listen() on the main thread waits for it) only once this thread's event loop has registered
    // the fd with its epoll set: libuv does that in its next poll phase, which has run by the second check
    // phase from now. Until then the binder must not close the fd: epoll_ctl(ADD) on a closed fd makes
    // libuv abort() the whole process (seen as a vitest fork dying with SIGABRT under load when a test
    // stopped a server right after listen()).
    setImmediate(() => setImmediate(() => this.#reply(serverId, failed ? SYNC_ERR_OTHER : SYNC_OK, 0, -1)));
  }

  /** CMD_UNLISTEN: stop accepting for this server; drop its streams not yet handed to a peer. */
  unlisten(serverId: number): void {
    const s = this.#servers.get(serverId);
    if (s === undefined && this.#binding.has(serverId)) this.#abandoned.add(serverId);
    if (s !== undefined) {
      this.#servers.delete(serverId);
      s.server.removeAllListeners('connection');
      if (s.binder) {
        // libuv closes the fd inside uv_close, so the port is free when close() returns: answer now
        // (TCPServer.stop() waits for it, as Godot's stop() is synchronous).
        s.server.close();
        this.#reply(serverId, SYNC_OK, 0, -1);
      } else {
        // Closing this handle would close the shared fd number a second time (it may already belong
        // to another socket by then). Keep it inert: any straggler accepted before the binder's close
        // is dropped, and it does not hold the event loop.
        s.server.on('connection', (socket: net.Socket) => socket.destroy());
        s.server.unref();
        this.#inert.push(s.server);
      }
    }
    for (const st of this.streams.values()) if (st.serverId === serverId) this.closeStream(st.id, false);
  }

  #incoming(serverId: number, socket: net.Socket): void {
    if (!this.#servers.has(serverId)) {
      socket.destroy();
      return;
    }
    const id = this.#nextStreamId++;
    const rt = this.#rt;
    // (The timer is set right below: its callback gets the Stream itself.)
    const st: Stream = { id, socket, serverId, secure: false, timer: undefined as unknown as NodeJS.Timeout, conn: null };
    st.timer = setTimeout(deadlinePassed, rt.handshakeTimeoutMs, this, st);
    (socket as TaggedSocket)[kOwner] = st;
    socket.on('error', onStreamError);
    socket.on('close', onStreamClose);
    this.streams.set(id, st);
    rt.live++;
    const info: IncomingInfo = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    rt.pushEvent(id, EV_INCOMING, serverId, encodeJson(info));
  }

  /** Drop a stream (CMD_STREAM_CLOSE, deadline, socket error). Emits EV_STREAM_CLOSED. */
  closeStream(id: number, byError: boolean): void {
    const st = this.streams.get(id);
    if (st === undefined) return;
    this.streams.delete(id);
    clearTimeout(st.timer);
    st.socket.destroy();
    this.#rt.pushEvent(id, EV_STREAM_CLOSED, byError ? 1 : 0, null);
    this.#rt.release();
  }

  setNoDelay(id: number, on: boolean): void {
    this.streams.get(id)?.socket.setNoDelay(on);
  }

  /** CMD_TLS_ACCEPT: server TLS handshake on a taken stream. Status goes back as EV_STREAM_STATUS. */
  tlsAccept(id: number, ctxId: number, payload: Uint8Array): void {
    let ctx = this.#contexts.get(ctxId);
    if (ctx === undefined && payload.byteLength !== 0) {
      const { key, cert } = decodeJson<{ key: string; cert: string }>(payload);
      try {
        ctx = tls.createSecureContext({ key, cert });
      } catch {
        ctx = undefined;
      }
      if (ctx !== undefined) this.#contexts.set(ctxId, ctx);
    }
    const st = this.streams.get(id);
    if (st === undefined) return; // already gone: EV_STREAM_CLOSED is on its way
    if (ctx === undefined || st.secure) {
      this.#rt.pushEvent(id, EV_STREAM_STATUS, StreamPeerTLSStatus.STATUS_ERROR, null);
      this.closeStream(id, true);
      return;
    }
    const raw = st.socket;
    raw.removeListener('error', onStreamError);
    raw.removeListener('close', onStreamClose);
    const sock = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
    // The TLS socket keeps the raw one: untag it (overwrite, never delete: see kOwner).
    (raw as TaggedSocket)[kOwner] = undefined;
    st.socket = sock;
    st.secure = true;
    (sock as TaggedSocket)[kOwner] = st;
    sock.on('error', onStreamError);
    sock.on('close', onStreamClose);
    sock.once('secure', () => {
      if (this.streams.get(id) !== st) return;
      // Nothing reads the stream until a WebSocketPeer accepts it; the request waits in TLS buffers.
      sock.pause();
      this.#rt.pushEvent(id, EV_STREAM_STATUS, StreamPeerTLSStatus.STATUS_CONNECTED, null);
    });
    raw.resume();
  }

  /** CMD_ACCEPT: hand the stream to a new server-side Connection in `slot`. */
  accept(slot: number, payload: Uint8Array): Connection {
    const cfg = decodeJson<AcceptConfig>(payload);
    const st = this.streams.get(cfg.streamId);
    const rt = this.#rt;
    if (st === undefined) return Connection.failed(rt, slot, 'STREAM_GONE');
    this.streams.delete(cfg.streamId);
    st.socket.removeListener('error', onStreamError);
    st.socket.removeListener('close', onStreamClose);
    rt.live--; // the stream becomes a connection (counted again when opened)
    // The connection takes the socket (and its tag) and the deadline timer; it clears the timer once
    // the request is answered, and with it the last reference to this Stream.
    const conn = Connection.accept(rt, slot, st.socket, cfg, st.secure, st.timer);
    st.conn = conn;
    return conn;
  }

  onSocketGone(st: Stream, byError: boolean): void {
    if (this.streams.get(st.id) === st) this.closeStream(st.id, byError);
  }

  /** Shutdown: stop every server and drop every stream. */
  stopAll(): void {
    for (const id of [...this.#servers.keys()]) this.unlisten(id);
    for (const id of [...this.streams.keys()]) this.closeStream(id, false);
  }
}

/** The handshake deadline of a stream passed: drop it, or the Connection it became. */
function deadlinePassed(side: ServerSide, st: Stream): void {
  if (st.conn !== null) st.conn.rawGone('HANDSHAKE_TIMEOUT');
  else side.closeStream(st.id, true);
}

function onStreamError(this: net.Socket): void {
  // 'close' follows; nothing else to do here (an unhandled 'error' would crash the worker).
}

function onStreamClose(this: net.Socket, hadError: boolean): void {
  const st = (this as TaggedSocket)[kOwner];
  if (st !== undefined && !(st instanceof Connection)) current?.onSocketGone(st, hadError);
}

/** The worker's one ServerSide: socket handlers find it here, without a closure per socket. */
let current: ServerSide | null = null;
