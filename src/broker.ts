/**
 * Topics across processes and hosts: the broker interface a `PeerPool` publishes through
 * (`pool.useBroker(broker)`). A broker carries a node's publications to the other nodes and hands the
 * pool what they published, for the topics this node's peers subscribe to. The pool tells it which
 * topics those are: `subscribe(topic)` when the first local subscriber joins, `unsubscribe(topic)` when
 * the last leaves (src/pool/topics.ts counts them). The Redis implementation is src/redis-broker.ts;
 * another engine (NATS…) implements the same five calls.
 */

/** What a broker calls for each publication of another node (on the main thread). */
export type BrokerDelivery = (topic: string, bytes: Uint8Array, isText: boolean) => void;

export interface TopicBroker {
  /**
   * Called by `pool.useBroker(this)`: from now on, hand every remote publication of a subscribed topic to
   * `deliver`. A broker serves one pool at a time (attaching a second one throws).
   */
  attach(deliver: BrokerDelivery): void;
  /** Called by `pool.useBroker(null)` (or another broker): stop delivering. */
  detach(): void;
  /**
   * Send a publication of this node to the other nodes (never back to this one: the pool has delivered
   * it locally already). Must not throw for a broker that is down: count the failure instead.
   */
  publish(topic: string, bytes: Uint8Array, isText: boolean): void;
  /** This node now has subscribers to `topic` (its first one joined). */
  subscribe(topic: string): void;
  /** This node has no subscriber to `topic` any more (its last one left). */
  unsubscribe(topic: string): void;
}
