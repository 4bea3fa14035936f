/**
 * @internal How ringsocket's own classes reach a `WebSocketPeer`'s connection engine without a public
 * back door and without importing websocket-peer.ts (which imports the pool: the pool's topic calls and
 * `WebSocketMultiplayerPeer` would close an import circle). websocket-peer.ts fills these in when it
 * loads; a `WebSocketPeer` exists only once it has.
 */
import type { EndpointGroup, PeerEndpoint } from './peer-endpoint.js';
import type { PoolEngine } from './pool/engine.js';
import type { State } from './enums.js';

/** A peer as the pool's topic calls take it: any `WebSocketPeer`. */
export interface TopicPeer {
  getReadyState(): State;
}

export interface PeerAccess {
  /** The peer's current connection engine and the engine of its pool; null if `peer` is not a WebSocketPeer or has none. */
  endpoint(peer: unknown): { ep: PeerEndpoint; engine: PoolEngine } | null;
  /** Put the peer's next connections in `group` (see EndpointGroup), named `id` there. */
  setGroup(peer: unknown, group: EndpointGroup | null, id: number): void;
  /** Apply what arrived (open, close) to the peer's state, as its `poll()` does, without draining the rings. */
  sync(peer: unknown): void;
}

export const peerAccess: PeerAccess = {
  endpoint: () => null,
  setGroup: () => undefined,
  sync: () => undefined,
};
