/**
 * The pool's listening servers: which workers hold a listening socket of each, the synchronous
 * `listen()` and `stop()`, and the re-binds after a worker's death. No listening socket is shared
 * between workers (ARCHITECTURE.md "Listening sockets").
 */
import { SYNC_OK, listenFailureReason } from '../protocol/layout.js';
import { CMD_LISTEN, CMD_UNLISTEN } from '../protocol/records.js';
import { encodeJson, type ListenConfig } from '../protocol/control.js';
import { awaitSyncReply, syncSeq } from '../protocol/sync-reply.js';
import { ErrorCode } from '../enums.js';
import type { ServerSink } from './link.js';
import type { WorkerHandle } from './worker-handle.js';

/** Most milliseconds `stop()` blocks for each worker's answer. */
const LISTEN_WAIT_MS = 10_000;

/**
 * Whether every worker can bind a listening socket of its own on one port: Node's `reusePort` (libuv's
 * UV_TCP_REUSEPORT, from Node 22.12 / 23.1; Node 20 ignores the option), load-balanced by the kernel on
 * Linux. Elsewhere one worker listens per server (see ARCHITECTURE.md "Listening sockets").
 */
function reusePortAvailable(): boolean {
  if (process.platform !== 'linux') return false;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** One listening TCPServer as the pool sees it. */
interface ServerEntry {
  sink: ServerSink;
  port: number;
  host: string;
  /** Every worker binds a socket of its own on the port (SO_REUSEPORT); otherwise one worker listens. */
  reusePort: boolean;
  /** Workers that hold a listening socket of it. */
  bound: Set<WorkerHandle>;
  /** Workers asked to bind one whose answer (EV_LISTEN) has not come. */
  binding: Set<WorkerHandle>;
}

/** @internal */
export class ServerTable {
  readonly #servers = new Map<number, ServerEntry>();
  #nextServerId = 1;
  #reusePort = reusePortAvailable();
  readonly #workers: () => readonly WorkerHandle[];
  readonly #flush: () => void;
  /** Why new servers are refused ("" if they are not). */
  readonly #refusal: () => string;
  readonly #waitMs: number;

  constructor(workers: () => readonly WorkerHandle[], flush: () => void, refusal: () => string, waitMs: number) {
    this.#workers = workers;
    this.#flush = flush;
    this.#refusal = refusal;
    this.#waitMs = waitMs;
  }

  /**
   * Bind a listening socket in one worker, waiting for its answer (Godot's listen() is
   * synchronous); with reusePort, every other worker then binds a socket of its own on the same port.
   */
  listen(sink: ServerSink, port: number, host: string): { code: ErrorCode; serverId: number; port: number; reason: string } {
    const fail = (code: ErrorCode, reason: string) => ({ code, serverId: 0, port: 0, reason });
    if (this.#refusal() !== '') return fail(ErrorCode.ERR_CANT_CREATE, 'POOL_CLOSED');
    const live = this.#workers().filter((h) => !h.dead);
    const binder = live[0];
    if (binder === undefined) return fail(ErrorCode.ERR_CANT_CREATE, 'NO_WORKER');
    const serverId = this.#nextServerId++;
    const seq = syncSeq(binder.ctl);
    const reusePort = this.#reusePort;
    const cfg: ListenConfig = { port, host, reusePort, probe: reusePort, sync: true };
    binder.command(serverId, CMD_LISTEN, 0, encodeJson(cfg));
    this.#flush();
    // Bounded: a worker that is still starting answers within its boot time (300-500 ms on a busy
    // 2-core machine). Not tied to handshakeTimeout: a pool with a short one (e.g. 500 ms) made right
    // before listen() would time out while its worker boots, and fail with ERR_CANT_CREATE.
    const reply = awaitSyncReply(binder.ctl, serverId, seq, this.#waitMs);
    if (reply === null) {
      // Given up: should the worker bind it later, it closes it (CMD_UNLISTEN of a listen not bound yet).
      binder.command(serverId, CMD_UNLISTEN, 0, null);
      this.#flush();
      return fail(ErrorCode.ERR_CANT_CREATE, 'LISTEN_TIMEOUT');
    }
    // The worker's errno (EADDRINUSE, EADDRNOTAVAIL, EACCES…) becomes TCPServer.getFailureReason().
    if (reply.status !== SYNC_OK) return fail(ErrorCode.ERR_CANT_CREATE, listenFailureReason(reply.status));
    const boundPort = reply.port;
    const s: ServerEntry = { sink, port: boundPort, host, reusePort, bound: new Set([binder]), binding: new Set() };
    this.#servers.set(serverId, s);
    if (reusePort) for (const h of live) if (h !== binder) this.#bindIn(serverId, s, h);
    this.#flush();
    this.#recountListening();
    return { code: ErrorCode.OK, serverId, port: boundPort, reason: '' };
  }

  /** Ask worker `h` to bind a socket of server `s` (answered by EV_LISTEN). */
  #bindIn(serverId: number, s: ServerEntry, h: WorkerHandle): void {
    // Probe (a plain bind first) only when no socket of ours holds the port: a stranger may have taken
    // it, and SO_REUSEPORT alone would share it with a stranger that set it too.
    const probe = s.reusePort && s.bound.size === 0 && s.binding.size === 0;
    const cfg: ListenConfig = { port: s.port, host: s.host, reusePort: s.reusePort, probe, sync: false };
    h.command(serverId, CMD_LISTEN, 0, encodeJson(cfg));
    s.binding.add(h);
  }

  /**
   * Worker `dead` is gone, and its listening sockets with it (only its own: no socket is shared between
   * workers). A server that has none left and none being bound is bound again at once in a survivor
   * if there is one, else in the replacement (`workerStarted`); with no replacement coming it is lost.
   */
  workerLost(dead: WorkerHandle, respawn: boolean, closing: boolean): void {
    // (Not while the pool closes: its servers are lost with their workers.)
    const survivor = closing ? undefined : this.#workers().find((x) => !x.dead && x.ready);
    for (const [id, s] of [...this.#servers]) {
      s.bound.delete(dead);
      s.binding.delete(dead);
      if (s.bound.size !== 0 || s.binding.size !== 0) continue;
      if (survivor !== undefined) this.#bindIn(id, s, survivor);
      else if (!respawn) this.#lose(id, s);
    }
    this.#flush();
    this.#recountListening();
  }

  /** Replacement worker `h` started: with reusePort it binds every server; otherwise the ones nobody holds. */
  workerStarted(h: WorkerHandle): void {
    for (const [id, s] of this.#servers) {
      if (s.reusePort || (s.bound.size === 0 && s.binding.size === 0)) this.#bindIn(id, s, h);
    }
    this.#flush();
    this.#recountListening();
  }

  /** EV_LISTEN: a worker's answer to a bind nobody waited for. */
  answer(h: WorkerHandle, serverId: number, status: number): void {
    const s = this.#servers.get(serverId);
    // Not ours any more: the server stopped (the worker was told, and closes what it bound late).
    if (s === undefined || !s.binding.delete(h)) return;
    if (status === SYNC_OK) s.bound.add(h);
    if (s.bound.size === 0 && s.binding.size === 0) this.#lose(serverId, s);
    this.#recountListening();
  }

  /**
   * Server `serverId` has no listening socket left and none coming (its port could not be bound again:
   * another socket took it; or the pool is closed): it stops, as if `stop()` had been called.
   */
  #lose(serverId: number, s: ServerEntry): void {
    this.#servers.delete(serverId);
    for (const h of this.#workers()) if (!h.dead) h.command(serverId, CMD_UNLISTEN, 0, null);
    this.#flush();
    s.sink.lost();
  }

  /** `listening` of every worker: the servers it holds or binds a socket for (it refs the worker). */
  #recountListening(): void {
    for (const h of this.#workers()) {
      let n = 0;
      for (const s of this.#servers.values()) if (s.bound.has(h) || s.binding.has(h)) n++;
      h.listening = n;
      h.updateRef();
    }
  }

  /**
   * Whether a worker holds a listening socket of `serverId` now (as of the last worker exit
   * event and `pump()`): false while its port is bound again after a worker's death.
   */
  bound(serverId: number): boolean {
    const s = this.#servers.get(serverId);
    return s !== undefined && s.bound.size !== 0;
  }

  /**
   * Stop accepting for `serverId` in every worker. Waits (bounded) for each worker that holds
   * a socket of it to close it, so that the port is free and nothing is accepted after
   * `TCPServer.stop()` returns. (A bind still under way closes its socket as soon as it is bound.)
   */
  unlisten(serverId: number): void {
    const s = this.#servers.get(serverId);
    if (s === undefined) return;
    this.#servers.delete(serverId);
    const waits = [...s.bound].filter((h) => !h.dead).map((h) => ({ h, seq: syncSeq(h.ctl) }));
    for (const h of this.#workers()) if (!h.dead) h.command(serverId, CMD_UNLISTEN, 0, null);
    this.#flush();
    this.#recountListening();
    for (const w of waits) if (!w.h.dead) awaitSyncReply(w.h.ctl, serverId, w.seq, LISTEN_WAIT_MS);
  }

  /** The sink of server `serverId` (undefined once it stopped). */
  sinkOf(serverId: number): ServerSink | undefined {
    return this.#servers.get(serverId)?.sink;
  }

  /** Test hook (src/testing.ts): new servers listen in one worker (as on Node 20) even where reusePort exists. */
  set reusePort(on: boolean) {
    this.#reusePort = on && reusePortAvailable();
  }

  /** Whether new servers get a socket in every worker (reusePort). */
  get reusePort(): boolean {
    return this.#reusePort;
  }
}
