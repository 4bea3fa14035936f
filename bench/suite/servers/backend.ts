/**
 * What server.ts needs from each implementation. Event-driven servers (ws, uWS, the worker
 * offload) consume messages in their callbacks; ringsocket consumes them where its main thread polls.
 */
import type { ServerConfig, ServerCounters } from '../protocol.js';

export interface Backend {
  /** Start listening on 127.0.0.1, port 0; resolves with the port. */
  listen(): Promise<number>;
  /** Connections whose WebSocket handshake completed and that are not closed. */
  openCount(): number;
  /** Tick mode, at the start of each tick: take in what arrived (ringsocket polls here). */
  ingest(): void;
  /** Tick mode: send `data` to every open connection (counts snapshotsSent / snapshotsFailed). */
  broadcast(data: Uint8Array): void;
  /** Refresh counters kept elsewhere (another thread) before a mark. */
  sample?(): void;
  /** Implementation-specific figures for the final mark (worker statistics, backlog...). */
  extra(): Promise<Record<string, unknown>>;
}

export type BackendFactory = (cfg: ServerConfig, counters: ServerCounters) => Backend;
