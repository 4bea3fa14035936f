/**
 * The pool's engine, behind the public `PeerPool`: the workers' lifecycle (spawn, death, respawn,
 * holding the process), slots, the drain of every inbound ring into the connection engines, the
 * doorbells rung once per burst, `waitForActivity`, and the listening servers.
 */
import { releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs';
import {
  CTL_INBOUND_BLOCKED,
  CTL_SYNC_ID,
  CTL_SYNC_PORT,
  CTL_SYNC_SEQ,
  CTL_SYNC_STATUS,
  SYNC_OK,
  listenFailureReason,
  WAKE_INT32S,
  SLOT_FIELDS,
} from '../protocol/layout.js';
import {
  CMD_LISTEN,
  CMD_STREAM_CLOSE,
  CMD_UNLISTEN,
  EV_CLOSED,
  EV_INCOMING,
  EV_MSG_BINARY,
  EV_MSG_TEXT,
  EV_OPEN,
  EV_LISTEN,
  EV_STREAM_CLOSED,
  EV_STREAM_STATUS,
  KIND_MASK,
} from '../protocol/records.js';
import { decodeJson, encodeJson, type CloseInfo, type IncomingInfo, type ListenConfig, type OpenInfo, type WorkerControl, type WorkerNotice, type WorkerStats } from '../protocol/control.js';
import type { PeerEndpoint } from '../peer-endpoint.js';
import { ErrorCode } from '../enums.js';
import type { ServerSink, WorkerLink } from './link.js';
import type { ResolvedPoolOptions } from './options.js';
import { WorkerHandle } from './worker-handle.js';
import { WakeWaiter } from '../protocol/wake.js';

/** Most milliseconds `listen()` blocks waiting for the binding worker's answer (it may still be booting). */
const LISTEN_WAIT_MS = 10_000;
/** Consecutive deaths before 'ready' after which the pool stops respawning (a crash loop). */
const MAX_BOOT_FAILURES = 3;

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

/**
 * Block until the worker's sync reply for `serverId` (see CTL_SYNC_ID) is in the control block, for at
 * most `ms`. `seq` is CTL_SYNC_SEQ as read before the command was sent. Replies to other calls (a late
 * answer to one that timed out) are skipped.
 */
function awaitReply(ctl: Int32Array, serverId: number, seq: number, ms: number): boolean {
  const deadline = performance.now() + ms;
  let seen = seq;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    if (Atomics.wait(ctl, CTL_SYNC_SEQ, seen, left) === 'timed-out') return false;
    seen = Atomics.load(ctl, CTL_SYNC_SEQ);
    if (Atomics.load(ctl, CTL_SYNC_ID) === serverId) return true;
  }
}

/** @internal */
export class PoolEngine {
  readonly #o: ResolvedPoolOptions;
  readonly #handles: WorkerHandle[] = [];
  #bootFailures = 0;
  #closed = false;
  #broken = '';
  #bellQueued = false;
  /** The wake cell shared with every worker (src/protocol/wake.ts), and our half of it. */
  readonly #wake = new Int32Array(new SharedArrayBuffer(WAKE_INT32S * 4));
  readonly #waiter = new WakeWaiter(this.#wake);

  constructor(o: ResolvedPoolOptions) {
    this.#o = o;
    for (let i = 0; i < o.threads; i++) this.#spawn(i);
  }

  get threads(): number {
    return this.#o.threads;
  }

  get peerCount(): number {
    let n = 0;
    for (const h of this.#handles) n += h.count;
    return n;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the pool refuses new peers ("" if it does not). */
  get brokenReason(): string {
    return this.#closed ? 'POOL_CLOSED' : this.#broken;
  }

  // ---- workers' lifecycle -------------------------------------------------------------------------

  #spawn(index: number): void {
    const h = new WorkerHandle(index, this.#o, this.#wake.buffer as SharedArrayBuffer, this.#bell);
    this.#handles[index] = h;
    h.worker.on('message', (n: WorkerNotice) => {
      if (n.t === 'ready') {
        h.ready = true;
        this.#bootFailures = 0;
      } else if (n.t === 'idle' && !this.#closed) {
        // (After close() began, the pool itself holds the process until the workers are gone.)
        // Idle only counts if no connect was issued after the ones the worker had processed.
        h.lastIdleOpens = n.opens;
        h.updateRef();
      }
    });
    h.worker.on('error', (err) => {
      h.lastError = err instanceof Error ? err.message : String(err);
    });
    h.worker.on('exit', () => this.#onExit(h));
  }

  #onExit(h: WorkerHandle): void {
    if (h.dead) return;
    try {
      (h.remote as unknown as Remote<WorkerControl>)[releaseProxy]();
    } catch {
      // the port may already be closed
    }
    h.markDead();
    if (this.#handles[h.index] !== h) return;
    // Records already published are valid: hand them over before closing what is left.
    this.#drain(h);
    const info: CloseInfo = { reason: '', error: this.#closed ? 'POOL_CLOSED' : 'WORKER_DIED' };
    for (let slot = 0; slot < h.endpoints.length; slot++) {
      const ep = h.endpoints[slot];
      if (ep !== undefined) ep.onClosed(-1, info);
    }
    h.endpoints.length = 0;
    h.count = 0;
    this.#waiter.interrupt();
    for (const st of h.streams.values()) st.onClosed(true);
    h.streams.clear();
    let respawn = !this.#closed;
    if (respawn && !h.ready && ++this.#bootFailures >= MAX_BOOT_FAILURES) {
      this.#broken = `workers die while starting (${h.lastError || 'no error message'})`;
      respawn = false;
    }
    // Servers first: one that lost its only socket is bound again in a survivor now, without waiting
    // for the replacement to boot.
    this.#serversLost(h, respawn);
    if (!respawn) return;
    this.#spawn(h.index);
    this.#serversGained(this.#handles[h.index]!);
  }

  /**
   * Give `ep` a slot in `into` (server side: the worker that holds the stream), or else in the least
   * loaded worker. Returns false if the pool cannot take it.
   */
  attach(ep: PeerEndpoint, into?: WorkerLink): boolean {
    if (this.#closed || this.#broken !== '') return false;
    let best: WorkerHandle | undefined;
    if (into !== undefined) {
      best = this.#handles[into.index];
      if (best !== into) return false;
    } else {
      for (const h of this.#handles) {
        if (h.dead) continue;
        if (h.count >= h.maxSlots) continue;
        if (best === undefined || h.count < best.count) best = h;
      }
    }
    if (best === undefined || best.dead || best.count >= best.maxSlots) return false;
    const slot = best.freeSlots.length !== 0 ? best.freeSlots.pop()! : best.endpoints.length;
    const base = slot * SLOT_FIELDS;
    // The worker retired this slot (EV_CLOSED) before we reuse it, so nobody else writes here now.
    for (let i = 0; i < SLOT_FIELDS; i++) Atomics.store(best.slots, base + i, 0);
    best.endpoints[slot] = ep;
    best.count++;
    best.opensIssued++;
    best.updateRef();
    ep.bind(best, slot);
    return true;
  }

  // ---- servers ----------------------------------------------------------------------------------

  readonly #servers = new Map<number, ServerEntry>();
  #nextServerId = 1;
  #reusePort = reusePortAvailable();

  /**
   * Bind a listening socket in one worker, waiting for its answer (Godot's listen() is
   * synchronous); with reusePort, every other worker then binds a socket of its own on the same port.
   */
  listenServer(sink: ServerSink, port: number, host: string): { code: ErrorCode; serverId: number; port: number; reason: string } {
    const fail = (code: ErrorCode, reason: string) => ({ code, serverId: 0, port: 0, reason });
    if (this.#closed || this.#broken !== '') return fail(ErrorCode.ERR_CANT_CREATE, 'POOL_CLOSED');
    const live = this.#handles.filter((h) => !h.dead);
    const binder = live[0];
    if (binder === undefined) return fail(ErrorCode.ERR_CANT_CREATE, 'NO_WORKER');
    const serverId = this.#nextServerId++;
    const seq = Atomics.load(binder.ctl, CTL_SYNC_SEQ);
    const reusePort = this.#reusePort;
    const cfg: ListenConfig = { port, host, reusePort, probe: reusePort, sync: true };
    binder.command(serverId, CMD_LISTEN, 0, encodeJson(cfg));
    this.flush();
    // Bounded: a worker that is still starting answers within its boot time (300-500 ms on a busy
    // 2-core machine). Not tied to handshakeTimeout: a pool with a short one (e.g. 500 ms) made right
    // before listen() would time out while its worker boots, and fail with ERR_CANT_CREATE.
    if (!awaitReply(binder.ctl, serverId, seq, Math.max(LISTEN_WAIT_MS, this.#o.handshakeTimeout))) {
      // Given up: should the worker bind it later, it closes it (CMD_UNLISTEN of a listen not bound yet).
      binder.command(serverId, CMD_UNLISTEN, 0, null);
      this.flush();
      return fail(ErrorCode.ERR_CANT_CREATE, 'LISTEN_TIMEOUT');
    }
    const status = Atomics.load(binder.ctl, CTL_SYNC_STATUS);
    // The worker's errno (EADDRINUSE, EADDRNOTAVAIL, EACCES…) becomes TCPServer.getFailureReason().
    if (status !== SYNC_OK) return fail(ErrorCode.ERR_CANT_CREATE, listenFailureReason(status));
    const boundPort = Atomics.load(binder.ctl, CTL_SYNC_PORT);
    const s: ServerEntry = { sink, port: boundPort, host, reusePort, bound: new Set([binder]), binding: new Set() };
    this.#servers.set(serverId, s);
    if (reusePort) for (const h of live) if (h !== binder) this.#bindIn(serverId, s, h);
    this.flush();
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
   * if there is one, else in the replacement (`#serversGained`); with no replacement coming it is lost.
   */
  #serversLost(dead: WorkerHandle, respawn: boolean): void {
    // (Not while the pool closes: its servers are lost with their workers.)
    const survivor = this.#closed ? undefined : this.#handles.find((x) => !x.dead && x.ready);
    for (const [id, s] of [...this.#servers]) {
      s.bound.delete(dead);
      s.binding.delete(dead);
      if (s.bound.size !== 0 || s.binding.size !== 0) continue;
      if (survivor !== undefined) this.#bindIn(id, s, survivor);
      else if (!respawn) this.#lose(id, s);
    }
    this.flush();
    this.#recountListening();
  }

  /** Replacement worker `h` started: with reusePort it binds every server; otherwise the ones nobody holds. */
  #serversGained(h: WorkerHandle): void {
    for (const [id, s] of this.#servers) {
      if (s.reusePort || (s.bound.size === 0 && s.binding.size === 0)) this.#bindIn(id, s, h);
    }
    this.flush();
    this.#recountListening();
  }

  /** EV_LISTEN: a worker's answer to a bind nobody waited for. */
  #listenAnswer(h: WorkerHandle, serverId: number, status: number): void {
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
    for (const h of this.#handles) if (!h.dead) h.command(serverId, CMD_UNLISTEN, 0, null);
    this.flush();
    s.sink.lost();
  }

  /** `listening` of every worker: the servers it holds or binds a socket for (it refs the worker). */
  #recountListening(): void {
    for (const h of this.#handles) {
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
  serverBound(serverId: number): boolean {
    const s = this.#servers.get(serverId);
    return s !== undefined && s.bound.size !== 0;
  }

  /**
   * Stop accepting for `serverId` in every worker. Waits (bounded) for each worker that holds
   * a socket of it to close it, so that the port is free and nothing is accepted after
   * `TCPServer.stop()` returns. (A bind still under way closes its socket as soon as it is bound.)
   */
  unlistenServer(serverId: number): void {
    const s = this.#servers.get(serverId);
    if (s === undefined) return;
    this.#servers.delete(serverId);
    const waits = [...s.bound].filter((h) => !h.dead).map((h) => ({ h, seq: Atomics.load(h.ctl, CTL_SYNC_SEQ) }));
    for (const h of this.#handles) if (!h.dead) h.command(serverId, CMD_UNLISTEN, 0, null);
    this.flush();
    this.#recountListening();
    for (const w of waits) if (!w.h.dead) awaitReply(w.h.ctl, serverId, w.seq, LISTEN_WAIT_MS);
  }

  /** Test hook (src/testing.ts): new servers listen in one worker (as on Node 20) even where reusePort exists. */
  set reusePort(on: boolean) {
    this.#reusePort = on && reusePortAvailable();
  }

  /** Whether new servers get a socket in every worker (reusePort). */
  get reusePort(): boolean {
    return this.#reusePort;
  }

  // ---- outbound: one doorbell per worker per burst -------------------------------------------------

  /** A worker has news: ring every dirty worker's doorbell once, at the end of this burst. */
  readonly #bell = (): void => {
    if (!this.#bellQueued) {
      this.#bellQueued = true;
      queueMicrotask(this.#ringAll);
    }
  };

  readonly #ringAll = (): void => {
    this.#bellQueued = false;
    this.flush();
  };

  /** Publish queued commands and ring the doorbells of workers that have news. */
  flush(): void {
    for (const h of this.#handles) if (!h.dead) h.publish();
  }

  // ---- inbound ------------------------------------------------------------------------------------

  /** See `PeerPool.waitForActivity`. */
  waitForActivity(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return this.#waiter.wait(this.#hasActivity, this.#isClosed, timeoutMs);
  }

  /** Whether any live worker's inbound ring holds records not drained yet. */
  readonly #hasActivity = (): boolean => {
    for (const h of this.#handles) if (!h.dead && h.inbound.hasUnread()) return true;
    return false;
  };

  readonly #isClosed = (): boolean => this.#closed;

  /** Drain every worker's inbound ring into the endpoints. Cheap when nothing arrived. */
  pump(): void {
    const hs = this.#handles;
    for (let i = 0; i < hs.length; i++) this.#drain(hs[i]!);
  }

  #drain(h: WorkerHandle): void {
    const c = h.inbound;
    if (!c.begin()) return;
    const endpoints = h.endpoints;
    while (c.next()) {
      const slot = c.slot;
      const kind = c.kind & KIND_MASK;
      if (kind >= EV_INCOMING) {
        this.#streamEvent(h, kind, slot, c.aux, c.viewPayload());
        continue;
      }
      const ep = endpoints[slot];
      if (ep === undefined) continue;
      if (kind === EV_MSG_BINARY || kind === EV_MSG_TEXT) {
        ep.onMessageRecord(c, kind === EV_MSG_TEXT);
      } else if (kind === EV_OPEN) {
        ep.onOpen(decodeJson<OpenInfo>(c.viewPayload()));
      } else if (kind === EV_CLOSED) {
        ep.onClosed(c.aux, decodeJson<CloseInfo>(c.viewPayload()));
        endpoints[slot] = undefined;
        h.freeSlots.push(slot);
        h.count--;
      }
    }
    c.release();
    // The worker stores the flag, then looks at our read position; we store the position, then look
    // at the flag. One of the two sees the other.
    if (Atomics.load(h.ctl, CTL_INBOUND_BLOCKED) !== 0) h.wake();
  }

  #streamEvent(h: WorkerHandle, kind: number, id: number, aux: number, payload: Uint8Array): void {
    if (kind === EV_INCOMING) {
      const info = decodeJson<IncomingInfo>(payload);
      const stream = this.#servers.get(aux)?.sink.incoming(h, id, info.host, info.port) ?? null;
      if (stream !== null) h.streams.set(id, stream);
      else h.command(id, CMD_STREAM_CLOSE, 0, null);
    } else if (kind === EV_STREAM_STATUS) {
      h.streams.get(id)?.onTlsStatus(aux);
    } else if (kind === EV_STREAM_CLOSED) {
      const st = h.streams.get(id);
      h.streams.delete(id);
      st?.onClosed(aux !== 0);    } else if (kind === EV_LISTEN) {
      this.#listenAnswer(h, id, aux);
    }
  }

  // ---- control plane ------------------------------------------------------------------------------

  stats(): Promise<WorkerStats[]> {
    return Promise.all(this.#handles.filter((h) => !h.dead).map((h) => h.call((r) => r.stats() as Promise<WorkerStats>)));
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.interrupt();
    // Hold the process until close() is done: an 'idle' notice must not unref a worker we still wait for.
    for (const h of this.#handles) if (!h.dead) h.worker.ref();
    this.flush();
    await Promise.all(
      this.#handles.map(async (h) => {
        if (h.dead) return;
        try {
          await h.call((r) => r.shutdown(timeoutMs));
        } catch {
          // already gone: its peers are closed by #onExit
        }
      }),
    );
    this.pump();
    await Promise.all(this.#handles.map((h) => (h.dead ? undefined : h.worker.terminate())));
  }

  /** Test hook (src/testing.ts): make worker `index` crash with an uncaught exception. */
  crashWorker(index: number): Promise<number> {
    const h = this.#handles[index];
    if (h === undefined) throw new RangeError(`no worker ${index}`);
    void h.call((r) => r.crash() as unknown as Promise<void>).catch(() => undefined);
    return h.exited;
  }

  /** Test hook (src/testing.ts): block worker `index`'s thread for `ms` (resolves when the stall begins). */
  async stallWorker(index: number, ms: number): Promise<void> {
    const h = this.#handles[index];
    if (h === undefined) throw new RangeError(`no worker ${index}`);
    await h.call((r) => r.stall(ms) as unknown as Promise<void>);
  }
}
