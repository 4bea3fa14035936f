/**
 * `ws` WebSocketServer on the main thread: what most Node servers run. S7 turns permessage-deflate on with
 * ws's defaults (`perMessageDeflate: true`: threshold 1024, level 6, zlib on libuv's thread pool).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerConfig, ServerCounters } from '../protocol.js';
import type { Backend } from './backend.js';

export function createWsMain(cfg: ServerConfig, counters: ServerCounters): Backend {
  const clients = new Set<WebSocket>();
  const echo = cfg.mode === 'echo';
  return {
    listen() {
      return new Promise((resolve, reject) => {
        const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: cfg.deflate !== '', clientTracking: false, backlog: 4096 });
        wss.on('error', reject);
        wss.on('connection', (ws) => {
          clients.add(ws);
          counters.opened++;
          ws.on('message', (data: Buffer, isBinary: boolean) => {
            counters.consumed++;
            counters.received++;
            counters.consumedBytes += data.length;
            if (echo) {
              ws.send(data, { binary: isBinary });
              counters.echoed++;
            }
          });
          ws.on('error', () => undefined);
          ws.on('close', () => {
            clients.delete(ws);
            counters.closed++;
          });
        });
        wss.on('listening', () => resolve((wss.address() as AddressInfo).port));
      });
    },
    openCount: () => clients.size,
    ingest() {},
    broadcast(data) {
      for (const ws of clients) {
        ws.send(data, { binary: true });
        counters.snapshotsSent++;
      }
    },
    async extra() {
      return {};
    },
  };
}
