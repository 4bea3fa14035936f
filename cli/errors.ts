/**
 * Exit codes of the `ringsocket` command and the errors that carry them. Every failure the user can
 * cause or meet ends as one line on stderr (`ringsocket <command>: <message>`) and one of these codes.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success (`load`: every message answered, no connection lost; `serve`: stopped by SIGINT/SIGTERM) |
 * | 1 | runtime failure (unexpected error, output file not writable, a demo that failed) |
 * | 2 | usage error (unknown flag, missing or malformed value, conflicting flags, bad URL) |
 * | 3 | cannot connect: `load` opened no connection at all (refused, unreachable, DNS, timeout, TLS, or the handshake refused with an HTTP error), `serve` could not listen |
 * | 4 | `load`: a `--threshold` was breached (checked before the errors: a breach wins) |
 * | 5 | `load` ran but saw errors (failed or dropped connections, unanswered or mismatched echoes) |
 * | 130 | interrupted twice (second SIGINT/SIGTERM while stopping) |
 */
export const EXIT = {
  OK: 0,
  RUNTIME: 1,
  USAGE: 2,
  NETWORK: 3,
  THRESHOLD: 4,
  LOAD_ERRORS: 5,
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure with a one-line message and the exit code it maps to. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A bad command line: unknown flag, missing value, malformed number, conflicting flags. Exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
    this.name = 'UsageError';
  }
}

/** What the command is doing now (for the message if the process ends before the command does). */
export let stage = 'starting';
export function setStage(s: string): void {
  stage = s;
}

/**
 * Await `p` with the event loop held (a ref'd timer). Workaround for PeerPool.close(): a worker's
 * 'idle' notice that arrives while close() awaits worker.terminate() makes the pool unref the worker,
 * undoing terminate()'s own ref, and the process can exit before close() resolves.
 */
export async function holdingLoop<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1000);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}
