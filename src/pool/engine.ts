/**
 * The pool's engine, behind the public `PeerPool`: the workers' lifecycle (spawn, death, respawn,
 * holding the process), slots, the drain of every inbound ring into the connection engines, the
 * doorbells rung once per burst, `waitForActivity`, and the listening servers.
 */
import { releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs';
import { CTL_INBOUND_BLOCKED, WAKE_INT32S } from '../protocol/layout.js';
import { clearSlot } from '../protocol/credit.js';
import {
  CMD_STREAM_CLOSE,
  EV_CLOSED,
  EV_INCOMING,
  EV_MSG_BINARY,
  EV_MSG_TEXT,
  EV_OPEN,
  EV_REQUEST,
  EV_LISTEN,
  EV_STREAM_CLOSED,
  EV_STREAM_STATUS,
  KIND_MASK,
} from '../protocol/records.js';
import { decodeJson, type CloseInfo, type IncomingInfo, type OpenInfo, type RequestInfo, type WorkerControl, type WorkerNotice, type WorkerStats } from '../protocol/control.js';
import type { PeerEndpoint } from '../peer-endpoint.js';
import type { WorkerLink } from './link.js';
import type { ResolvedPoolOptions } from './options.js';
import { WorkerHandle } from './worker-handle.js';
import { ServerTable } from './servers.js';
import { WakeWaiter } from '../protocol/wake.js';
import { TopicTable } from './topics.js';

/** Most milliseconds `listen()` blocks waiting for the binding worker's answer (it may still be booting). */
const LISTEN_WAIT_MS = 10_000;
/** Consecutive deaths before 'ready' after which the pool stops respawning (a crash loop). */
const MAX_BOOT_FAILURES = 3;

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
    // listen() waits, bounded, for the binding worker: one that is still starting answers within its
    // boot time (300-500 ms on a busy 2-core machine). Never below 10 s: a pool with a short
    // handshakeTimeout (e.g. 500 ms) made right before listen() would time out while its worker boots.
    this.topics = new TopicTable(() => this.#handles);
    this.servers = new ServerTable(() => this.#handles, () => this.flush(), () => this.brokenReason, Math.max(LISTEN_WAIT_MS, o.handshakeTimeout));
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

  /** The largest publication backlog of any worker (WorkerHandle.publishBacklog). */
  get publishBacklog(): number {
    let n = 0;
    for (const h of this.#handles) if (h !== undefined) n = Math.max(n, h.publishBacklog);
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
      if (ep !== undefined) {
        ep.onClosed(-1, info);
        this.topics.leaveAll(ep);
      }
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
    this.servers.workerLost(h, respawn, this.#closed);
    if (!respawn) return;
    this.#spawn(h.index);
    this.servers.workerStarted(this.#handles[h.index]!);
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
    // The worker retired this slot (EV_CLOSED) before we reuse it, so nobody else writes here now.
    clearSlot(best.slots, slot);
    best.endpoints[slot] = ep;
    best.count++;
    best.opensIssued++;
    best.updateRef();
    ep.bind(best, slot);
    return true;
  }

  // ---- topics (pool/topics.ts) -------------------------------------------------------------------

  readonly topics: TopicTable;

  // ---- servers (pool/servers.ts) ------------------------------------------------------------------

  readonly servers: ServerTable;

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
    return this.#waiter.wait(this.#hasActivity, this.#isClosed, timeoutMs, this.#o.waitSpinMicros);
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
        continue;
      }
      const ev = ep.eventRecord(c);
      if (ev === null) continue;
      if (kind === EV_OPEN) {
        ep.onOpen(decodeJson<OpenInfo>(ev.payload));
      } else if (kind === EV_REQUEST) {
        ep.onRequest(decodeJson<RequestInfo>(ev.payload));
      } else if (kind === EV_CLOSED) {
        ep.onClosed(ev.aux, decodeJson<CloseInfo>(ev.payload));
        if (ep.topics !== null) this.topics.leaveAll(ep);
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
      const stream = this.servers.sinkOf(aux)?.incoming(h, id, info.host, info.port) ?? null;
      if (stream !== null) h.streams.set(id, stream);
      else h.command(id, CMD_STREAM_CLOSE, 0, null);
    } else if (kind === EV_STREAM_STATUS) {
      h.streams.get(id)?.onTlsStatus(aux);
    } else if (kind === EV_STREAM_CLOSED) {
      const st = h.streams.get(id);
      h.streams.delete(id);
      st?.onClosed(aux !== 0);    } else if (kind === EV_LISTEN) {
      this.servers.answer(h, id, aux);
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
