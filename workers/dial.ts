/** The client side's `ws` options for a CMD_CONNECT (timeouts, limits, TLS trust). */
import tls from 'node:tls';
import type WebSocket from 'ws';
import type { ConnectConfig } from '../src/protocol/control.js';

export function clientOptions(cfg: ConnectConfig, handshakeTimeoutMs: number): WebSocket.ClientOptions {
  const headers: Record<string, string> = {};
  for (const [k, v] of cfg.headers) headers[k] = v;
  const opts: WebSocket.ClientOptions = {
    headers,
    maxPayload: cfg.inboundBufferSize,
    perMessageDeflate: false,
    handshakeTimeout: handshakeTimeoutMs,
    followRedirects: false,
    skipUTF8Validation: false,
    allowSynchronousEvents: true,
  };
  if (cfg.tls !== null) {
    if (cfg.tls.ca !== undefined) opts.ca = cfg.tls.ca;
    if (cfg.tls.unsafe) opts.rejectUnauthorized = false;
    else if (cfg.tls.servername) {
      const name = cfg.tls.servername;
      // @types/ws types this callback wrongly; ws passes it to tls.connect as is.
      (opts as tls.ConnectionOptions).checkServerIdentity = (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(name, cert);
    }
  }
  return opts;
}
