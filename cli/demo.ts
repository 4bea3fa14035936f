/**
 * `ringsocket demo`: runs examples/demo.ts (compiled to dist/examples/demo.js), the 60 Hz side-by-side
 * demo of ringsocket against `ws` on the main thread.
 *
 * If the demo module exports an entry function — `runDemo(argv)`, `main(argv)` or a default export —
 * it is imported and called with the words after `demo`. A demo without such an export is a script
 * that runs when loaded; it is then run as a child process with those words, after a note on stderr.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from './errors.js';

export const DEMO_USAGE = `Usage: ringsocket demo [flags of the demo]

Runs a ringsocket server loop and simulated clients on 127.0.0.1 with a 60 Hz loop doing simulated
work, then the same with a ws server on the main thread, and prints a side-by-side summary (tick
lateness, messages/s, RTT). The flags after "demo" go to the demo (e.g. --clients N --seconds S).

Exit codes: 0 ok · 1 the demo failed or is not built`;

const DEMO_URL = new URL('../examples/demo.js', import.meta.url);
const ENTRY_NAMES = ['runDemo', 'main', 'default'] as const;

/** Which entry function the compiled demo exports, read from its source (importing it would run it). */
export function demoEntry(source: string): (typeof ENTRY_NAMES)[number] | null {
  if (/^export\s+(async\s+)?function\s+runDemo\b/m.test(source) || /^export\s*\{[^}]*\brunDemo\b[^}]*\}/m.test(source)) return 'runDemo';
  if (/^export\s+(async\s+)?function\s+main\b/m.test(source) || /^export\s*\{[^}]*\bmain\b[^}]*\}/m.test(source)) return 'main';
  if (/^export\s+default\b/m.test(source)) return 'default';
  return null;
}

export async function demoCommand(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(DEMO_USAGE + '\n');
    return EXIT.OK;
  }
  const file = fileURLToPath(DEMO_URL);
  if (!existsSync(file)) throw new CliError(`the demo is not built (no ${file}); run npm run build`, EXIT.RUNTIME);
  const entry = demoEntry(readFileSync(file, 'utf8'));
  if (entry !== null) {
    const mod = (await import(DEMO_URL.href)) as Record<string, unknown>;
    const fn = mod[entry];
    if (typeof fn !== 'function') throw new CliError(`examples/demo.js: export ${entry} is not a function`, EXIT.RUNTIME);
    const r: unknown = await (fn as (argv: string[]) => unknown)([...argv]);
    return typeof r === 'number' && Number.isInteger(r) ? r : EXIT.OK;
  }
  process.stderr.write('ringsocket demo: examples/demo.js exports no runDemo(argv) entry yet; running it as a script\n');
  const child = spawn(process.execPath, [file, ...argv], { stdio: 'inherit' });
  const forward = (s: NodeJS.Signals) => child.kill(s);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise<number>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal !== null ? EXIT.INTERRUPTED : EXIT.RUNTIME));
    });
    child.on('error', (err) => reject(new CliError(`cannot run the demo: ${err.message}`, EXIT.RUNTIME)));
  });
}
