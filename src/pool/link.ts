/**
 * The seams between the pool's engine and the objects it drives, as small interfaces (undici's
 * dispatcher `Handler` is the model): a connection's engine (`PeerEndpoint`) and a server-side stream
 * see a `WorkerLink`, never the pool or the worker handle; the engine sees a `ServerSink` and
 * `StreamEvents`, never `TCPServer` or `StreamPeerTCP`. So no module of `src/` imports one that imports
 * it back, and a ten-line object drives an endpoint in tests.
 */

/** What a connection or a stream needs from the I/O worker that holds it (`WorkerHandle` implements it). */
export interface WorkerLink {
  /** The worker's index in its pool. */
  readonly index: number;
  /** The worker's slot table (see `protocol/layout.ts`, SLOT_*). */
  readonly slots: Int32Array;
  /** The worker exited (its connections are being closed). */
  readonly dead: boolean;
  /** Queue one command record for the worker; its doorbell rings once per burst. */
  command(slot: number, kind: number, aux: number, bytes: Uint8Array | null): void;
  /** Queue one message (CMD_SEND_*), fragmented when larger than a ring record. */
  message(slot: number, kind: number, bytes: Uint8Array): void;
  /** Queue one publication to a topic (CMD_PUBLISH_*), leaving out connection `exclude` (-1: none). */
  publishTo(topic: number, exclude: number, kind: number, bytes: Uint8Array): void;
  /** Ring the worker's doorbell (credit was freed for a slot it waits on). */
  wake(): void;
  /** Server-side streams this worker holds, by stream id: told of TLS progress and closes. */
  readonly streams: Map<number, StreamEvents>;
  /** TLS contexts whose PEMs this worker already has. */
  readonly tlsContexts: Set<number>;
}

/** What the engine tells a server-side stream object (from EV_STREAM_STATUS / EV_STREAM_CLOSED). */
export interface StreamEvents {
  onTlsStatus(status: number): void;
  onClosed(byError: boolean): void;
}

/** A listening server as the engine sees it: told of each connection a worker accepted for it. */
export interface ServerSink {
  /**
   * A worker accepted a connection (stream `id` in that worker). Returns the stream object to tell of
   * its progress, or null if the server does not want it (the engine then closes it).
   */
  incoming(link: WorkerLink, id: number, host: string, port: number): StreamEvents | null;
  /** Every listening socket of the server is gone and its port cannot be bound again: it stopped. */
  lost(): void;
}
