/**
 * What the worker's lower objects see of the runtime above them: small interfaces (undici's dispatcher
 * `Handler` is the model), so that `Connection`, `ServerSide` and `InboundDelivery` import neither the
 * runtime nor each other's internals, and no module of `workers/` imports one that imports it back.
 */

/** An inbound item waiting for credit or ring space. */
export interface PendingItem {
  kind: number;
  isMessage: boolean;
  data: Uint8Array;
  aux: number;
  /** Bytes of `data` already pushed (fragmented delivery). */
  offset: number;
  /** Whether the message was counted against the budget (its first fragment is out). */
  counted: boolean;
}

/** A connection as inbound delivery sees it: its slot, budget, counters and socket's reading. */
export interface InboundTarget {
  readonly slot: number;
  readonly inboundBufferSize: number;
  readonly maxQueuedPackets: number;
  /** Inbound items waiting for credit or ring space (in order). */
  pending: PendingItem[];
  deliveredBytes: number;
  deliveredMsgs: number;
  sentBytes: number;
  sentMsgs: number;
  /** The socket is gone: nothing more can arrive. */
  readonly socketClosed: boolean;
  /** EV_CLOSED is out: the slot is the main thread's again. */
  retired: boolean;
  pauseReading(): void;
  resumeReading(): void;
}

/** What a `Connection` needs from its worker. */
export interface ConnectionHost {
  readonly handshakeTimeoutMs: number;
  readonly closeTimeoutMs: number;
  /** Queue an inbound item (an event, or a message that did not take the fast path). */
  deliver(conn: InboundTarget, item: PendingItem): void;
  /** A whole message from the socket, gathered in a Buffer (it goes through the pending list if need be). */
  deliverMessage(conn: InboundTarget, data: Buffer, isBinary: boolean): void;
  /** The inbound ring's data area: what `reserveMessage`'s offsets point into. */
  readonly inboundTarget: Uint8Array;
  /**
   * A whole message of `len` bytes straight into the ring, when nothing of `conn` waits before it and
   * its credit and the ring's room allow: the payload's offset in `inboundTarget`, or -1 (nothing done).
   * The caller writes the bytes at once, then calls `messageReserved` (or `unreserveMessage`).
   */
  reserveMessage(conn: InboundTarget, isBinary: boolean, len: number): number;
  /** The reserved message's bytes are in: count it (published with the turn's others). */
  messageReserved(conn: InboundTarget, len: number): void;
  /** The reserved message turned out bad (invalid UTF-8): take it back, unpublished. */
  unreserveMessage(): void;
  /** The socket closed: what is pending goes out, then EV_CLOSED. */
  closed(conn: InboundTarget, code: number, reason: string, error: string): void;
  /** Payload bytes written to the socket (write callbacks). */
  noteSent(conn: InboundTarget, bytes: number, msgEnd: boolean): void;
  /** A data message arrived after our close() and was dropped (counted). */
  droppedAfterClose(): void;
  /** A server-side upgrade ended (answered, refused or dropped): one pending handshake less. */
  handshakeEnded(): void;
}

/** What the listener (`ServerSide`) needs from its worker, beyond what its connections need. */
export interface ListenerHost extends ConnectionHost {
  /** The control block: the sync reply cell that `TCPServer.listen`/`stop` wait on. */
  readonly ctl: Int32Array;
  readonly maxPendingHandshakes: number;
  /** Push a stream event (EV_INCOMING, EV_STREAM_*), in order behind any that wait. */
  pushEvent(id: number, kind: number, aux: number, data: Uint8Array | null): void;
  /** A stream was accepted: the worker holds one more thing. */
  acquire(): void;
  /** A stream or connection is gone. */
  release(): void;
  /** A stream becomes a connection: its count goes over (the runtime counts the connection). */
  handOver(): void;
  /** A TCP connection was closed at accept (too many pending handshakes). */
  handshakeRefused(): void;
}
