/**
 * The public API, pinned: the package root's exports and every public member of its classes, checked
 * both at run time and by the type checker (`npm run typecheck` compiles this file; `expectTypeOf`
 * fails it when a member appears or disappears). A change here is a change of the contract users write
 * against: make it deliberately, with the README.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as root from '../../dist/src/index.js';
import type { PeerPool, RedisBroker, TopicBroker, StreamPeerTCP, StreamPeerTLS, TCPServer, TLSOptions, WebSocketMultiplayerPeer, WebSocketPeer } from '../../dist/src/index.js';

const EXPORTS = [
  'ConnectionStatus',
  'ErrorCode',
  'PeerPool',
  'State',
  'StreamPeerTCP',
  'StreamPeerTCPStatus',
  'StreamPeerTLS',
  'StreamPeerTLSStatus',
  'TCPServer',
  'TLSOptions',
  'WebSocketMultiplayerPeer',
  'WebSocketPeer',
  'WriteMode',
  'createRedisBroker',
  'getDefaultPool',
] as const;

// useBroker: topics across nodes (issue 17).
type PeerPoolMembers = 'threads' | 'peerCount' | 'closed' | 'waitForActivity' | 'subscribe' | 'unsubscribe' | 'publish' | 'useBroker' | 'getSubscriberCount' | 'getPublishBacklog' | 'stats' | 'close';
// The broker interface any engine implements, and the Redis one (issue 17).
type TopicBrokerMembers = 'attach' | 'detach' | 'publish' | 'subscribe' | 'unsubscribe';
type RedisBrokerMembers = TopicBrokerMembers | 'nodeId' | 'sharded' | 'stats' | 'close';
type WebSocketPeerMembers =
  | 'handshakeHeaders'
  | 'heartbeatInterval'
  | 'inboundBufferSize'
  | 'maxQueuedPackets'
  | 'outboundBufferSize'
  | 'supportedProtocols'
  | 'slowPeerPolicy'
  | 'connectToUrl'
  | 'acceptStream'
  | 'poll'
  | 'getReadyState'
  | 'getAvailablePacketCount'
  | 'getPacket'
  | 'getPacketError'
  | 'peekPacketLength'
  | 'getPacketInto'
  | 'getSkippedPacketCount'
  | 'wasStringPacket'
  | 'send'
  | 'sendText'
  | 'putPacket'
  | 'close'
  | 'getCloseCode'
  | 'getCloseReason'
  | 'getFailureReason'
  | 'getConnectedHost'
  | 'getConnectedPort'
  | 'getCurrentOutboundBufferedAmount'
  | 'getRequestedUrl'
  | 'getSelectedProtocol'
  | 'setNoDelay'
  // Not in Godot: the upgrade in the user's hands (issue 14 item 5).
  | 'handshakeApproval'
  | 'hasPendingHandshake'
  | 'getRequestPath'
  | 'getRequestHeaders'
  | 'acceptHandshake'
  | 'rejectHandshake'
  // Not in Godot: permessage-deflate (issue 16).
  | 'perMessageDeflate'
  | 'getSelectedExtensions';
type WebSocketMultiplayerPeerMembers =
  | 'supportedProtocols'
  | 'handshakeHeaders'
  | 'inboundBufferSize'
  | 'outboundBufferSize'
  | 'maxQueuedPackets'
  | 'handshakeTimeout'
  | 'refuseNewConnections'
  | 'slowPeerPolicy'
  | 'handshakeApproval'
  | 'perMessageDeflate'
  | 'on'
  | 'off'
  | 'createServer'
  | 'createClient'
  | 'poll'
  | 'getAvailablePacketCount'
  | 'getPacket'
  | 'getPacketInto'
  | 'peekPacketLength'
  | 'peekPacketPeer'
  | 'getPacketPeer'
  | 'wasStringPacket'
  | 'getPacketError'
  | 'putPacket'
  | 'send'
  | 'setTargetPeer'
  | 'getTargetPeer'
  | 'subscribe'
  | 'unsubscribe'
  | 'publish'
  | 'getSubscriberCount'
  | 'getPublishBacklog'
  | 'useBroker'
  | 'acceptHandshake'
  | 'rejectHandshake'
  | 'getPeer'
  | 'getPeerAddress'
  | 'getPeerPort'
  | 'disconnectPeer'
  | 'getUniqueId'
  | 'getConnectionStatus'
  | 'getMaxPacketSize'
  | 'getLocalPort'
  | 'isServer'
  | 'close';
type TCPServerMembers = 'listen' | 'getFailureReason' | 'isListening' | 'getLocalPort' | 'isConnectionAvailable' | 'takeConnection' | 'stop';
type StreamPeerTCPMembers = 'getStatus' | 'getConnectedHost' | 'getConnectedPort' | 'poll' | 'setNoDelay' | 'disconnectFromHost';
type StreamPeerTLSMembers = 'acceptStream' | 'poll' | 'getStatus' | 'disconnectFromStream';
type TLSOptionsMembers = 'mode' | 'trustedChain' | 'commonNameOverride' | 'key' | 'certificate' | 'isServer' | 'isUnsafe';

describe('public API', () => {
  it('the package root exports exactly these names (no engine, no test hooks)', () => {
    expect(Object.keys(root).sort()).toEqual([...EXPORTS].sort());
    expectTypeOf<keyof typeof root>().toEqualTypeOf<(typeof EXPORTS)[number]>();
  });

  it('each class shows only what users call', () => {
    expectTypeOf<keyof PeerPool>().toEqualTypeOf<PeerPoolMembers>();
    expectTypeOf<keyof WebSocketPeer>().toEqualTypeOf<WebSocketPeerMembers>();
    expectTypeOf<keyof WebSocketMultiplayerPeer>().toEqualTypeOf<WebSocketMultiplayerPeerMembers>();
    expectTypeOf<keyof TCPServer>().toEqualTypeOf<TCPServerMembers>();
    expectTypeOf<keyof StreamPeerTCP>().toEqualTypeOf<StreamPeerTCPMembers>();
    expectTypeOf<keyof StreamPeerTLS>().toEqualTypeOf<StreamPeerTLSMembers>();
    expectTypeOf<keyof TLSOptions>().toEqualTypeOf<TLSOptionsMembers>();
    expectTypeOf<keyof TopicBroker>().toEqualTypeOf<TopicBrokerMembers>();
    expectTypeOf<keyof RedisBroker>().toEqualTypeOf<RedisBrokerMembers>();
  });

  it('at run time too: the prototypes hold no internal methods', () => {
    const own = (c: { prototype: object }) => Object.getOwnPropertyNames(c.prototype).filter((n) => n !== 'constructor').sort();
    expect(own(root.PeerPool)).toEqual(['threads', 'peerCount', 'closed', 'waitForActivity', 'subscribe', 'unsubscribe', 'publish', 'useBroker', 'getSubscriberCount', 'getPublishBacklog', 'stats', 'close'].sort());
    const mpMembers: WebSocketMultiplayerPeerMembers[] = ['supportedProtocols', 'handshakeHeaders', 'inboundBufferSize', 'outboundBufferSize', 'maxQueuedPackets', 'handshakeTimeout', 'refuseNewConnections', 'slowPeerPolicy', 'handshakeApproval', 'perMessageDeflate', 'on', 'off', 'createServer', 'createClient', 'poll', 'getAvailablePacketCount', 'getPacket', 'getPacketInto', 'peekPacketLength', 'peekPacketPeer', 'getPacketPeer', 'wasStringPacket', 'getPacketError', 'putPacket', 'send', 'setTargetPeer', 'getTargetPeer', 'subscribe', 'unsubscribe', 'publish', 'getSubscriberCount', 'getPublishBacklog', 'useBroker', 'acceptHandshake', 'rejectHandshake', 'getPeer', 'getPeerAddress', 'getPeerPort', 'disconnectPeer', 'getUniqueId', 'getConnectionStatus', 'getMaxPacketSize', 'getLocalPort', 'isServer', 'close'];
    // With what it inherits (PeerSettings: the settings it shares with WebSocketPeer).
    const all = (c: { prototype: object }): string[] => {
      const names = new Set<string>();
      for (let p: object | null = c.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
        for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor') names.add(n);
      }
      return [...names].sort();
    };
    expect(all(root.WebSocketMultiplayerPeer)).toEqual(mpMembers.sort());
    expect(own(root.TCPServer)).toEqual(['listen', 'getFailureReason', 'isListening', 'getLocalPort', 'isConnectionAvailable', 'takeConnection', 'stop'].sort());
    expect(own(root.StreamPeerTCP)).toEqual(['getStatus', 'getConnectedHost', 'getConnectedPort', 'poll', 'setNoDelay', 'disconnectFromHost'].sort());
    expect(own(root.StreamPeerTLS)).toEqual(['acceptStream', 'poll', 'getStatus', 'disconnectFromStream'].sort());
  });
});
