/**
 * Server side in a worker: listening sockets, accepted TCP streams waiting to be taken and accepted by
 * the main thread, and their optional TLS handshake.
 *
 * Every listening socket here is this worker's own: bound here, closed here, never shared by fd with
 * another thread (a handle on a shared fd closes that fd number for every thread when its worker dies
 * or ends; see ARCHITECTURE.md "Listening sockets"). Where Node has `reusePort` (22.12+ / 23.1+, Linux)
 * every worker binds its own socket on a server's port and the kernel spreads connections over them;
 * elsewhere one worker listens for the server.
 *
 * Every accepted stream has a deadline (the pool's handshakeTimeout) from TCP accept to WebSocket OPEN:
 * a stream never taken, taken but never accepted, or a slow (slowloris) handshake is dropped then.
 */
import net from 'node:net';
import tls from 'node:tls';
import { SYNC_OK, listenFailureStatus } from '../src/protocol/layout.js';
import { syncReply } from '../src/protocol/sync-reply.js';
import { EV_INCOMING, EV_LISTEN, EV_STREAM_CLOSED, EV_STREAM_STATUS } from '../src/protocol/records.js';
import {
  encodeJson,
  decodeJson,
  type AcceptConfig,
  type IncomingInfo,
  type ListenConfig,
  type ListenResult,
} from '../src/protocol/control.js';
import { StreamPeerTLSStatus } from '../src/enums.js';
import type { ListenerHost } from './hosts.js';
import { Connection } from './connection.js';
import { kOwner } from './socket-events.js';

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
  readonly #rt: ListenerHost;
  /** This worker's listening socket per server. */
  readonly #servers = new Map<number, net.Server>();
  readonly streams = new Map<number, Stream>();
  /**
   * TCP connections not yet upgraded: every stream, and every Connection made from one until its request
   * is answered (`handshakeEnded`). Bounded by the pool's maxPendingHandshakes (see #incoming).
   */
  pendingHandshakes = 0;
  #nextStreamId = 1;
  readonly #contexts = new Map<number, tls.SecureContext>();

  constructor(rt: ListenerHost) {
    this.#rt = rt;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the module's one ServerSide (see `current`)
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

  #reply(serverId: number, status: number, port: number): void {
    syncReply(this.#rt.ctl, serverId, status, port);
  }

  /** Answer a CMD_LISTEN: through the sync cell (`listen()` waits for it) or as an EV_LISTEN record. */
  #answer(serverId: number, cfg: ListenConfig, status: number, port: number): void {
    if (cfg.sync) {
      this.#reply(serverId, status, port);
    } else {
      const r: ListenResult = { port };
      this.#rt.pushEvent(serverId, EV_LISTEN, status, encodeJson(r));
    }
  }

  /**
   * CMD_LISTEN: bind and listen; answer as `cfg.sync` says. "*" = every interface, IPv6 and IPv4.
   * `cfg.reusePort`: SO_REUSEPORT, the pool's other workers bind the same port too. `cfg.probe`: first
   * check with a plain bind that nobody holds the port (SO_REUSEPORT alone would share it silently
   * with any other socket of this user that also set it, such as another ringsocket server).
   */
  listen(serverId: number, payload: Uint8Array): void {
    const cfg = decodeJson<ListenConfig>(payload);
    this.#binding.add(serverId);
    const fail = (err: NodeJS.ErrnoException): void => {
      this.#binding.delete(serverId);
      this.#abandoned.delete(serverId);
      this.#answer(serverId, cfg, listenFailureStatus(err.code), 0);
    };
    const bind = (host: string, port: number, reusePort: boolean, onError: (err: NodeJS.ErrnoException) => void, onBound: (server: net.Server) => void): void => {
      const server = this.#makeServer(serverId);
      const onErr = (err: NodeJS.ErrnoException): void => {
        server.close();
        onError(err);
      };
      server.once('error', onErr);
      const opts: net.ListenOptions & { reusePort?: boolean } = { port, host, backlog: 511, exclusive: true };
      if (reusePort) opts.reusePort = true;
      server.listen(opts, () => {
        server.removeListener('error', onErr);
        server.on('error', () => undefined);
        onBound(server);
      });
    };
    const bound = (server: net.Server): void => {
      this.#binding.delete(serverId);
      if (this.#abandoned.delete(serverId)) {
        // The main thread gave up on this listen (timed out, or stopped): nobody owns this socket.
        server.close();
        return;
      }
      const port = (server.address() as net.AddressInfo).port;
      this.#servers.get(serverId)?.close(); // (none: the pool asks a worker once per server)
      this.#servers.set(serverId, server);
      this.#answer(serverId, cfg, SYNC_OK, port);
    };
    const tryListen = (host: string, fallback: string | null): void => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if (fallback !== null && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) tryListen(fallback, null);
        else fail(err);
      };
      if (cfg.reusePort && cfg.probe) {
        // A plain bind first: it fails if any socket holds the port, SO_REUSEPORT or not. Closed at once
        // (libuv closes the fd inside close()), then the real bind takes the port it got.
        bind(host, cfg.port, false, onError, (probe) => {
          const port = (probe.address() as net.AddressInfo).port;
          probe.close();
          bind(host, port, true, fail, bound);
        });
      } else {
        bind(host, cfg.port, cfg.reusePort, onError, bound);
      }
    };
    if (cfg.host === '*') tryListen('::', '0.0.0.0');
    else tryListen(cfg.host, null);
  }

  /** CMD_UNLISTEN: stop accepting for this server; drop its streams not yet handed to a peer. */
  unlisten(serverId: number): void {
    // A bind under way: close its socket once bound.
    if (this.#binding.has(serverId)) this.#abandoned.add(serverId);
    const server = this.#servers.get(serverId);
    if (server !== undefined) {
      this.#servers.delete(serverId);
      // libuv closes the fd inside uv_close, so the port is free when close() returns: answer now
      // (TCPServer.stop() waits for it, as Godot's stop() is synchronous).
      server.close();
      this.#reply(serverId, SYNC_OK, 0);
    }
    for (const st of this.streams.values()) if (st.serverId === serverId) this.closeStream(st.id, false);
  }

  #incoming(serverId: number, socket: net.Socket): void {
    if (!this.#servers.has(serverId)) {
      socket.destroy();
      return;
    }
    const rt = this.#rt;
    if (this.pendingHandshakes >= rt.maxPendingHandshakes) {
      // Too many connections that have not upgraded: close this one at once (it holds no fd after this).
      rt.handshakeRefused();
      socket.destroy();
      return;
    }
    this.pendingHandshakes++;
    const id = this.#nextStreamId++;
    // (The timer is set right below: its callback gets the Stream itself.)
    const st: Stream = { id, socket, serverId, secure: false, timer: undefined as unknown as NodeJS.Timeout, conn: null };
    st.timer = setTimeout(deadlinePassed, rt.handshakeTimeoutMs, this, st);
    (socket as TaggedSocket)[kOwner] = st;
    socket.on('error', onStreamError);
    socket.on('close', onStreamClose);
    this.streams.set(id, st);
    rt.acquire();
    const info: IncomingInfo = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    rt.pushEvent(id, EV_INCOMING, serverId, encodeJson(info));
  }

  /** Drop a stream (CMD_STREAM_CLOSE, deadline, socket error). Emits EV_STREAM_CLOSED. */
  closeStream(id: number, byError: boolean): void {
    const st = this.streams.get(id);
    if (st === undefined) return;
    this.streams.delete(id);
    this.pendingHandshakes--;
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
    rt.handOver(); // the stream becomes a connection (counted again when opened)
    // The connection takes the socket (and its tag) and the deadline timer; it clears the timer once
    // the request is answered, and with it the last reference to this Stream.
    const conn = Connection.accept(rt, slot, st.socket, cfg, st.secure, st.timer);
    st.conn = conn;
    return conn;
  }

  /** A Connection made from a stream answered its request, or failed before: one fewer pending. */
  handshakeEnded(): void {
    this.pendingHandshakes--;
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
