/**
 * What every example server does first: make (or take) a pool, listen, and work out the URL to print.
 */
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
    throw new Error(`${name}: listen(${options.port ?? 8080}, ${host}) failed: ${ErrorCode[err]}`);
  }
  const port = server.getLocalPort();
  const shownHost = host === '*' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { pool, ownPool, server, tlsOptions, port, url: `${tlsOptions === null ? 'ws' : 'wss'}://${shownHost}:${port}` };
}
