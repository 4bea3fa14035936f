/**
 * fast-check settings shared by the fuzz tests (test/fuzz): a fixed seed and small run counts by default,
 * so CI stays short and reproducible; longer or different runs locally with
 *   FUZZ_RUNS=2000 FUZZ_SEED=12345 npx vitest run test/fuzz
 * (FUZZ_RUNS multiplies nothing: it replaces every property's default run count; FUZZ_SEED=random picks a
 * fresh seed). On failure fast-check prints the seed and the counterexample's path, to replay with
 * FUZZ_SEED=<seed> (and `path` in fuzzParams if you want to go straight to it).
 */
import type { Parameters } from 'fast-check';

const runsEnv = process.env.FUZZ_RUNS;
const seedEnv = process.env.FUZZ_SEED;

/** The seed every property uses (FUZZ_SEED, default 0x5eed; `random` = a new one each run, printed). */
export const FUZZ_SEED: number =
  seedEnv === undefined || seedEnv === '' ? 0x5eed : seedEnv === 'random' ? (Math.random() * 2 ** 31) | 0 : Number(seedEnv) | 0;

if (seedEnv === 'random') console.log(`fuzz seed ${FUZZ_SEED}`);

/** fast-check parameters: `defaultRuns` unless FUZZ_RUNS is set. */
export function fuzzParams<T>(defaultRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  const runs = runsEnv === undefined || runsEnv === '' ? defaultRuns : Number(runsEnv);
  if (!Number.isInteger(runs) || runs < 1) throw new TypeError(`FUZZ_RUNS must be a positive integer, got ${runsEnv}`);
  // Bound the whole assert, shrinking included (a synchronous property would otherwise hold the test
  // file far past its timeout while it shrinks a long counterexample). A failure found before the limit
  // is still reported, with the smallest counterexample reached so far.
  return { numRuns: runs, seed: FUZZ_SEED, interruptAfterTimeLimit: 45_000 * Math.max(1, runs / defaultRuns), markInterruptAsFailure: false, ...extra };
}

/** Time budget for a test with `defaultRuns` runs of about `msPerRun` each (grows with FUZZ_RUNS). */
export function fuzzTimeout(defaultRuns: number, msPerRun: number, floorMs = 60_000): number {
  const runs = runsEnv === undefined || runsEnv === '' ? defaultRuns : Number(runsEnv);
  return Math.max(floorMs, runs * msPerRun * 4);
}
