/**
 * @internal How the server-side classes find each other without public back doors: a stream object
 * (StreamPeerTCP / StreamPeerTLS) registers a StreamRef here; `WebSocketPeer.acceptStream` and
 * `StreamPeerTLS.acceptStream` look it up. A user's look-alike object is simply not found
 * (ERR_INVALID_PARAMETER).
 */
import type { PoolEngine } from './pool/engine.js';
import type { StreamEvents, WorkerLink } from './pool/link.js';

export interface StreamRef {
  /** The engine of the pool whose worker holds the stream. */
  engine: PoolEngine;
  /** The worker that holds it. */
  link: WorkerLink;
  /** Stream id in its worker. */
  id: number;
  secure: boolean;
  /** Can it be handed to a WebSocketPeer (or wrapped in TLS) now? */
  usable(): boolean;
  /** It was handed over: the stream object no longer owns the connection. */
  consume(): void;
}

/**
 * What TCP and TLS streams share: where the stream is (engine, worker, id) and its hand-over to a peer.
 * Each kind adds its state, when it is `usable`, and what it makes of the engine's events.
 */
export abstract class StreamRefBase implements StreamRef, StreamEvents {
  readonly engine: PoolEngine;
  readonly link: WorkerLink;
  readonly id: number;
  abstract readonly secure: boolean;
  handedOver = false;

  constructor(engine: PoolEngine, link: WorkerLink, id: number) {
    this.engine = engine;
    this.link = link;
    this.id = id;
  }

  abstract usable(): boolean;
  abstract onTlsStatus(status: number): void;
  abstract onClosed(byError: boolean): void;

  consume(): void {
    this.handedOver = true;
    this.link.streams.delete(this.id);
  }
}

const refs = new WeakMap<object, StreamRef>();

export function registerStream(obj: object, ref: StreamRef): void {
  refs.set(obj, ref);
}

export function lookupStream(obj: unknown): StreamRef | undefined {
  return typeof obj === 'object' && obj !== null ? refs.get(obj) : undefined;
}
