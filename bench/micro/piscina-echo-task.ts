/**
 * The trivial piscina task of bench/micro/ring.bench: returns its argument. What a `run()` costs
 * around it — structured clone both ways, a MessagePort message each way, the pool's bookkeeping — is
 * what the benchmark measures against one ring push + pop.
 */
export default function echo(payload: Uint8Array): Uint8Array {
  return payload;
}
