/**
 * `ringsocket demo`: runs the side-by-side demo of examples/demo.ts (ringsocket against `ws` on the
 * main thread, 60 Hz loop with simulated work) by calling its exported `runDemo(argv)`.
 *
 * The flags are checked here first with the command's strict parser (unknown flag, missing or
 * non-numeric value: exit 2), then passed to `runDemo` as `--name value` (the last occurrence wins). The demo module is imported only
 * then: importing it does not run it (it runs itself only as the program's entry), but it looks at
 * process.argv for its internal `--echo-server` child mode, which must never come from the user.
 */
import { flagsHelp, parseArgs, type FlagSpecs } from './args.js';
import { CliError, EXIT, setStage, UsageError } from './errors.js';

/** The flags of examples/demo.ts's runDemo (each a positive integer there). */
export const DEMO_FLAGS: FlagSpecs = {
  clients: { kind: 'int', min: 1, max: 100_000, help: 'simulated clients (connections)', defaultText: '400' },
  seconds: { kind: 'int', min: 1, max: 3600, help: 'seconds of loop per implementation', defaultText: '10' },
  work: { kind: 'int', min: 1, max: 1000, meta: 'MS', help: 'simulated game work per tick, ms (busy-wait)', defaultText: '8' },
  hz: { kind: 'int', min: 1, max: 1000, help: 'loop frequency', defaultText: '60' },
  size: { kind: 'int', min: 8, max: 65535, meta: 'B', help: 'message size in bytes (8 carry the send time)', defaultText: '64' },
  'per-tick': { kind: 'int', min: 1, max: 1000, meta: 'K', help: 'messages per client per tick', defaultText: '1' },
};

export const DEMO_USAGE = `Usage: ringsocket demo [--clients N] [--seconds S] [--work MS] [--hz HZ] [--size B] [--per-tick K]

Runs a 60 Hz loop with simulated work on this process's main thread, talking to an echo server (a
child process) through N ringsocket peers, then the same loop with N ws clients on the main thread,
and prints a side-by-side summary: tick lateness p50/p99/max, messages/s, RTT, main-thread busy
time besides the game work. A status line per second while it runs. Defaults take about 25 s.

Flags:
${flagsHelp(DEMO_FLAGS)}

Exit codes: 0 ok · 1 the demo failed · 2 usage error`;

export async function demoCommand(argv: readonly string[]): Promise<number> {
  const { flags, positionals, help } = parseArgs(argv, DEMO_FLAGS, 'demo');
  if (help) {
    process.stdout.write(DEMO_USAGE + '\n');
    return EXIT.OK;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (demo takes flags only)`);
  setStage('running the demo');
  const { runDemo } = await import('../examples/demo.js');
  try {
    await runDemo(Object.entries(flags).flatMap(([name, v]) => [`--${name}`, String(v)]));
  } catch (err) {
    throw new CliError(`the demo failed: ${err instanceof Error ? err.message : String(err)}`, EXIT.RUNTIME);
  }
  return EXIT.OK;
}
