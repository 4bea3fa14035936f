/**
 * ringsocket: Godot 4-style poll-based WebSocket peers for Node.js, with socket I/O and RFC 6455 framing
 * in worker threads, exchanging packets with the main thread through SharedArrayBuffer rings.
 */
export { WebSocketPeer, type WebSocketPeerOptions } from './websocket-peer.js';
export type { PerMessageDeflateOptions, SlowPeerPolicy } from './peer-settings.js';
export { WebSocketMultiplayerPeer, type WebSocketMultiplayerPeerOptions, type MultiplayerSignal } from './multiplayer-peer.js';
export { PeerPool, getDefaultPool, type PeerPoolOptions, type WorkerStats, type TopicPeer } from './peer-pool.js';
export { TLSOptions, type Pem, type TLSMode } from './tls-options.js';
export { TCPServer, StreamPeerTCP, type TCPServerOptions } from './tcp-server.js';
export { StreamPeerTLS } from './stream-peer-tls.js';
export { State, WriteMode, ErrorCode, StreamPeerTCPStatus, StreamPeerTLSStatus, ConnectionStatus } from './enums.js';
export { type TopicBroker, type BrokerDelivery } from './broker.js';
export { createRedisBroker, type RedisBroker, type RedisBrokerOptions, type RedisBrokerStats } from './redis-broker.js';
