/**
 * uWebSockets.js (@trufflesuite/uws-js-unofficial, the native build for Node 20) on the main thread.
 * The package silently falls back to a `ws`-based implementation when its binary does not load; this
 * refuses to run in that case rather than measure the fallback under uWS's name.
 */
import { createRequire } from 'node:module';
import type { ServerConfig, ServerCounters } from '../protocol.js';
import type { Backend } from './backend.js';

type Uws = typeof import('@trufflesuite/uws-js-unofficial');
type UwsSocket = import('@trufflesuite/uws-js-unofficial').WebSocket<unknown>;

const require = createRequire(import.meta.url);

function loadNative(): Uws {
  const uws = require('@trufflesuite/uws-js-unofficial') as Uws;
  if (!String(uws.App).includes('[native code]')) {
    throw new Error('uws-main: @trufflesuite/uws-js-unofficial loaded its JavaScript fallback, not the native binary');
  }
  return uws;
}

/** uWS send() results (docs/index.d.ts): 1 sent, 0 buffered (backpressure), 2 dropped. */
const DROPPED = 2;
/** S6 (game mode): every client subscribes to it and the snapshot is one `app.publish`. */
const TOPIC = 'snapshot';

export function createUwsMain(cfg: ServerConfig, counters: ServerCounters): Backend {
  const uws = loadNative();
  const clients = new Set<UwsSocket>();
  const echo = cfg.mode === 'echo';
  const game = cfg.mode === 'game';
  // uWS compresses a message only when asked (ringsocket and ws: every message from 1024 bytes).
  const compress = cfg.deflate !== '';
  let app: import('@trufflesuite/uws-js-unofficial').TemplatedApp | null = null;
  return {
    listen() {
      return new Promise((resolve, reject) => {
        app = uws.App();
        app
          .ws('/*', {
            // S7: a shared compressor and decompressor (no context takeover), or dedicated ones with 32 KiB
            // windows (memLevel 8, ws's and ringsocket's default) when the client asks for context takeover.
            compression:
              cfg.deflate === 'no-context'
                ? uws.SHARED_COMPRESSOR | uws.SHARED_DECOMPRESSOR
                : cfg.deflate === 'takeover'
                  ? uws.DEDICATED_COMPRESSOR_256KB | uws.DEDICATED_DECOMPRESSOR
                  : uws.DISABLED,
            maxPayloadLength: 64 * 1024,
            // Never drop (the default 64 KiB would drop echoes under a flood), never time out idle peers.
            maxBackpressure: 64 * 1024 * 1024,
            idleTimeout: 0,
            open: (ws) => {
              clients.add(ws);
              if (game) ws.subscribe(TOPIC);
              counters.opened++;
            },
            message: (ws, message, isBinary) => {
              counters.consumed++;
              counters.received++;
              counters.consumedBytes += message.byteLength;
              if (echo) {
                // `message` is valid during this callback only; send() copies it.
                if (ws.send(message, isBinary, compress) === DROPPED) counters.sendFailed++;
                else counters.echoed++;
              }
            },
            close: (ws) => {
              clients.delete(ws);
              counters.closed++;
            },
          })
          .listen('127.0.0.1', 0, (token) => {
            if (token === false) reject(new Error('uws-main: listen failed'));
            else resolve(uws.us_socket_local_port(token as unknown as import('@trufflesuite/uws-js-unofficial').us_socket));
          });
      });
    },
    openCount: () => clients.size,
    ingest() {},
    broadcast(data) {
      if (game) {
        // One publication, framed once by uWS; it reports only whether anyone was subscribed.
        if (clients.size > 0) {
          app!.publish(TOPIC, data, true);
          counters.snapshotsSent += clients.size;
        }
        return;
      }
      for (const ws of clients) {
        if (ws.send(data, true) === DROPPED) counters.snapshotsFailed++;
        else counters.snapshotsSent++;
      }
    },
    async extra() {
      return {};
    },
  };
}
