/**
 * ws's own permessage-deflate (lib/permessage-deflate.js) and header parser (lib/extension.js), loaded by
 * path (ws's `exports` map hides lib/): the reference the deflate tests compare against.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DeflateParams } from '../../dist/workers/deflate-negotiation.js';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('ws')), 'lib');

export interface WsPmdOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number | boolean;
  clientMaxWindowBits?: number | boolean;
  threshold?: number;
  isServer?: boolean;
  maxPayload?: number;
  concurrencyLimit?: number;
  zlibDeflateOptions?: object;
}
export type WsParams = Record<string, number | true>;
export interface WsPmd {
  offer(): WsParams;
  accept(configs: Record<string, (string | true)[]>[]): WsParams;
  compress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, cb: (err: (Error & { code?: string }) | null, out?: Buffer) => void): void;
  cleanup(): void;
  params: WsParams | null;
}
export const WsPerMessageDeflate = require(join(lib, 'permessage-deflate.js')) as new (o: WsPmdOptions) => WsPmd;
export const wsExtension = require(join(lib, 'extension.js')) as {
  parse(header: string): Record<string, Record<string, (string | true)[]>[]>;
  format(ext: Record<string, WsParams | WsParams[]>): string;
};
/** ws's close code of an error (its `kStatusCode` symbol). */
export function wsStatusCode(err: object): number | undefined {
  const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  return sym === undefined ? undefined : ((err as Record<symbol, number>)[sym] as number);
}

/** ws's accepted params as ours. */
export function fromWs(p: WsParams): DeflateParams {
  return {
    serverNoContextTakeover: p.server_no_context_takeover === true,
    clientNoContextTakeover: p.client_no_context_takeover === true,
    serverMaxWindowBits: typeof p.server_max_window_bits === 'number' ? p.server_max_window_bits : 15,
    clientMaxWindowBits: typeof p.client_max_window_bits === 'number' ? p.client_max_window_bits : 15,
  };
}

/** ws as a server: the accepted params, or 'refuse' (ws answers 400), or 'none' (no permessage-deflate offer). */
export function wsServer(header: string, opts: WsPmdOptions): DeflateParams | 'refuse' | 'none' {
  try {
    const offers = wsExtension.parse(header);
    const pmd = offers['permessage-deflate'];
    if (pmd === undefined) return 'none';
    return fromWs(new WsPerMessageDeflate({ ...opts, isServer: true }).accept(pmd));
  } catch {
    return 'refuse';
  }
}

/** ws as a client (websocket.js's checks, then acceptAsClient): the params, or 'fail'. */
export function wsClient(header: string, opts: WsPmdOptions): DeflateParams | 'fail' {
  try {
    const ext = wsExtension.parse(header);
    const names = Object.keys(ext);
    if (names.length !== 1 || names[0] !== 'permessage-deflate') return 'fail';
    return fromWs(new WsPerMessageDeflate({ ...opts, isServer: false }).accept(ext['permessage-deflate']!));
  } catch {
    return 'fail';
  }
}
