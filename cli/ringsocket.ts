#!/usr/bin/env node
/**
 * The `ringsocket` command: `demo`, `serve`, `load`. See `ringsocket --help` and `ringsocket <command>
 * --help`; exit codes in cli/errors.ts. Failures print one line on stderr: `ringsocket <command>: <why>`.
 */
import { readFileSync } from 'node:fs';
import { CliError, EXIT, stage } from './errors.js';

const USAGE = `Usage: ringsocket <command> [flags]

Commands:
  demo     60 Hz tick loop with simulated clients: ringsocket against ws on the main thread, side by side
  serve    a ringsocket WebSocket server (echo or broadcast) with live counters
  load     a WebSocket latency load generator (open-loop rate or flood), through ringsocket's workers

Run ringsocket <command> --help for its flags.

Exit codes: 0 ok · 1 runtime failure · 2 usage error · 3 cannot connect (every connection refused,
unreachable or its handshake refused) / cannot listen · 5 load finished with errors · 130 interrupted twice`;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      if (cmd === 'help' && rest[0] !== undefined) return run([rest[0], '--help']);
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? EXIT.USAGE : EXIT.OK;
    case '-v':
    case '--version':
      process.stdout.write(`ringsocket ${version()}\n`);
      return EXIT.OK;
    case 'serve':
      return (await import('./serve.js')).serveCommand(rest);
    case 'load':
      return (await import('./load.js')).loadCommand(rest);
    case 'demo':
      return (await import('./demo.js')).demoCommand(rest);
    default:
      throw new CliError(`unknown command ${JSON.stringify(cmd)} (commands: demo, serve, load; see ringsocket --help)`, EXIT.USAGE);
  }
}

const argv = process.argv.slice(2);
let finished = false;
// A pending promise does not hold the event loop: if nothing else does, Node exits (with code 0) in
// the middle of the command. Never let that pass silently. An explicit process.exit(code) with a code
// (a second SIGINT: 130) is not that case: leave its code alone.
process.on('exit', (code) => {
  if (finished || code !== 0) return;
  process.stderr.write(`ringsocket: internal error: the event loop ended before the command finished (while ${stage})\n`);
  process.exitCode = EXIT.RUNTIME;
});
run(argv).then(
  (code) => {
    finished = true;
    // Let the event loop end on its own (pools closed, servers stopped); the code is what we report.
    process.exitCode = code;
  },
  (err: unknown) => {
    finished = true;
    const cmd = argv[0] !== undefined && !argv[0].startsWith('-') ? ` ${argv[0]}` : '';
    if (err instanceof CliError) {
      process.stderr.write(`ringsocket${cmd}: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`ringsocket${cmd}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT.RUNTIME;
    }
    // A failure may leave workers or timers behind: do not wait for them.
    setTimeout(() => process.exit(), 2000).unref();
  },
);
