/**
 * @internal The pool's topics as the main thread keeps them: who is subscribed (to answer
 * `getSubscriberCount` and `publish`'s count at once), and how many members each worker holds, so that a
 * publication crosses to each worker that has members as ONE record whatever their number. The members
 * themselves live in the workers (workers/fanout.ts), which frame a publication once and write the same
 * bytes to each member's socket.
 *
 * A topic has a number that both sides use; named topics (`publish('room-1', …)`) are found by name,
 * anonymous ones (a `WebSocketMultiplayerPeer`'s "every peer") only by their object. A named topic
 * nobody is subscribed to is forgotten (its workers forgot it already: a member list that empties is
 * dropped there too).
 */
import { CMD_PUBLISH_BINARY, CMD_PUBLISH_TEXT, CMD_SUBSCRIBE, CMD_UNSUBSCRIBE } from '../protocol/records.js';
import type { WorkerLink } from './link.js';

/** A connection as topics see it (`TopicMember` is one). */
export interface TopicMember {
  /** Bound to a worker slot that has not closed. */
  readonly live: boolean;
  /** Dropped by the user: nothing more goes to it. */
  readonly detached: boolean;
  readonly link: WorkerLink | null;
  readonly slot: number;
  /** The topics it is a member of (null: none, so an idle connection holds no list). */
  topics: Topic[] | null;
}

export class Topic {
  readonly id: number;
  /** null for an anonymous topic. */
  readonly name: string | null;
  readonly members = new Set<TopicMember>();
  /** Members per worker, by worker index. */
  readonly perWorker: number[] = [];

  constructor(id: number, name: string | null) {
    this.id = id;
    this.name = name;
  }
}

export class TopicTable {
  readonly #byName = new Map<string, Topic>();
  #nextId = 1;
  readonly #workers: () => readonly WorkerLink[];
  /**
   * Told when a named topic gets its first member (true) and loses its last (false): a broker
   * (`PeerPool.useBroker`) subscribes this node to the topic's channel only while it has members here.
   */
  onNamedActive: ((name: string, active: boolean) => void) | null = null;

  constructor(workers: () => readonly WorkerLink[]) {
    this.#workers = workers;
  }

  /** The topic called `name` (made if `create`), or undefined. */
  named(name: string, create: boolean): Topic | undefined {
    let t = this.#byName.get(name);
    if (t === undefined && create) {
      t = new Topic(this.#nextId++, name);
      this.#byName.set(name, t);
    }
    return t;
  }

  /** The names of the named topics that have members now. */
  names(): IterableIterator<string> {
    return this.#byName.keys();
  }

  /** A topic of its own for one owner (a multiplayer peer's "every peer"). */
  anonymous(): Topic {
    return new Topic(this.#nextId++, null);
  }

  /** Add `ep` (a live connection); false if it was a member already or is not live. */
  subscribe(ep: TopicMember, t: Topic): boolean {
    if (!ep.live || ep.detached || t.members.has(ep)) return false;
    t.members.add(ep);
    (ep.topics ??= []).push(t);
    const w = ep.link!.index;
    t.perWorker[w] = (t.perWorker[w] ?? 0) + 1;
    ep.link!.command(ep.slot, CMD_SUBSCRIBE, t.id, null);
    if (t.members.size === 1 && t.name !== null) this.onNamedActive?.(t.name, true);
    return true;
  }

  /** Remove `ep` from `t`; false if it was not a member. */
  unsubscribe(ep: TopicMember, t: Topic): boolean {
    if (!this.#forget(ep, t)) return false;
    const list = ep.topics!;
    list.splice(list.indexOf(t), 1);
    if (list.length === 0) ep.topics = null;
    if (ep.live) ep.link!.command(ep.slot, CMD_UNSUBSCRIBE, t.id, null);
    return true;
  }

  /**
   * `ep` left or is closing: out of every topic at once. The worker needs no word of it: it drops a
   * connection from its member lists when the socket closes, and publishes to none that is closing.
   */
  leaveAll(ep: TopicMember): void {
    const list = ep.topics;
    if (list === null) return;
    ep.topics = null;
    for (const t of list) this.#forget(ep, t);
  }

  #forget(ep: TopicMember, t: Topic): boolean {
    if (!t.members.delete(ep)) return false;
    const w = ep.link!.index;
    t.perWorker[w] = (t.perWorker[w] ?? 1) - 1;
    if (t.members.size === 0 && t.name !== null) {
      this.#byName.delete(t.name);
      this.onNamedActive?.(t.name, false);
    }
    return true;
  }

  /**
   * Queue `bytes` for every member of `t` but `exclude`: one record per worker that holds members.
   * Returns the number of members it was queued for.
   */
  publish(t: Topic, text: boolean, bytes: Uint8Array, exclude: TopicMember | null): number {
    let n = t.members.size;
    if (n === 0) return 0;
    let skipWorker = -1;
    let skipSlot = -1;
    if (exclude !== null && t.members.has(exclude)) {
      n--;
      skipWorker = exclude.link!.index;
      skipSlot = exclude.slot;
    }
    const kind = text ? CMD_PUBLISH_TEXT : CMD_PUBLISH_BINARY;
    const workers = this.#workers();
    for (let i = 0; i < workers.length; i++) {
      const members = t.perWorker[i] ?? 0;
      if (members === 0 || (i === skipWorker && members === 1)) continue;
      const h = workers[i]!;
      if (h.dead) continue;
      h.publishTo(t.id, i === skipWorker ? skipSlot : -1, kind, bytes);
    }
    return n;
  }
}
