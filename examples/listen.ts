/**
 * What every example server does first: make (or take) a pool, listen, and work out the URL to print.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, PeerPool, TCPServer, TLSOptions, type Pem } from '../src/index.js';

export interface ListenOptions {
  port?: number;
  host?: string;
  tls?: { key: Pem; cert: Pem };
  pool?: PeerPool;
  threads?: number;
}

export interface Listening {
  pool: PeerPool;
  /** Whether we made the pool (and so must close it on stop). */
  ownPool: boolean;
  server: TCPServer;
  tlsOptions: TLSOptions | null;
  port: number;
  url: string;
}

/** Listen or throw (closing a pool we made). `name` prefixes the error message. */
export function listenOrThrow(options: ListenOptions, name: string): Listening {
  const host = options.host ?? '127.0.0.1';
  const ownPool = options.pool === undefined;
  const pool = options.pool ?? new PeerPool(options.threads === undefined ? {} : { threads: options.threads });
  const tlsOptions = options.tls === undefined ? null : TLSOptions.server(options.tls.key, options.tls.cert);
  const server = new TCPServer({ pool });
  const err = server.listen(options.port ?? 8080, host);
  if (err !== ErrorCode.OK) {
    if (ownPool) void pool.close();
    throw new Error(`${name}: listen(${options.port ?? 8080}, ${host}) failed: ${ErrorCode[err]} (${server.getFailureReason() || 'no reason'})`);
  }
  const port = server.getLocalPort();
  const shownHost = host === '*' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { pool, ownPool, server, tlsOptions, port, url: `${tlsOptions === null ? 'ws' : 'wss'}://${shownHost}:${port}` };
}

/** Command-line options every example server takes, plus `extra` string options. */
export function parseServerArgs(extra: string[] = []): { port: number; host: string; tls?: { key: Buffer; cert: Buffer }; threads?: number; values: Record<string, string | undefined> } {
  const options: Record<string, { type: 'string'; default?: string }> = {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'tls-key': { type: 'string' },
    'tls-cert': { type: 'string' },
    threads: { type: 'string' },
  };
  for (const name of extra) options[name] = { type: 'string' };
  const values = parseArgs({ options }).values as Record<string, string | undefined>;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port: ${values.port}`);
  const key = values['tls-key'];
  const cert = values['tls-cert'];
  if ((key === undefined) !== (cert === undefined)) throw new Error('--tls-key and --tls-cert go together');
  return {
    port,
    host: values.host!,
    ...(key !== undefined && cert !== undefined ? { tls: { key: readFileSync(key), cert: readFileSync(cert) } } : {}),
    ...(values.threads !== undefined ? { threads: Number(values.threads) } : {}),
    values,
  };
}

/**
 * On SIGINT/SIGTERM: say what is being closed, then `stop()`. No process.exit(): once the listener, the
 * peers and the pool are closed, nothing holds the event loop.
 */
export function stopOnSignal(name: string, describe: (signal: NodeJS.Signals) => string, stop: () => Promise<void>): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.log(describe(signal));
    stop().then(
      () => console.log(`${name} stopped`),
      (err: unknown) => {
        console.error(`${name}: stop failed`, err);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** True when this module is the program node was started with (not imported). */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === metaUrl;
  } catch {
    return false;
  }
}

/** Run `main` if `metaUrl` is the program's entry; report a failure as exit code 1. */
export function runIfMain(metaUrl: string, main: () => Promise<void>): void {
  if (!isMain(metaUrl)) return;
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
