/**
 * Load process for bench/e2e/main-thread-cost: a `ws` server on 127.0.0.1, port 0, that sends `count`
 * binary messages of `size` bytes to each client that connects, once the parent says 'go'.
 *
 * Run by the benchmark through `child_process.fork`; talks to it over the IPC channel:
 * ```
 *  parent                                  this process
 *  fork(load-sender.js, [json options]) ─► listen on 127.0.0.1:0
 *                                       ◄─ { t: 'listening', port }
 *  client connects                      ─► 'connection' (the newest client replaces the previous one)
 *  { t: 'go' }                          ─► send `count` messages, as fast as the socket drains
 *                                       ◄─ { t: 'sent', count, ms }
 *  { t: 'exit' } or IPC disconnect      ─► close and exit
 * ```
 * The messages are framed once here (server frames are unmasked: 2-byte header + payload for payloads
 * under 126 bytes) and written to the connection's socket in batches of `batch` frames. Sending through
 * `ws.send` would cost this process ~1 µs per message; the load must outpace both receivers, and on a
 * 2-core machine its CPU competes with theirs, so it must cost as little as possible. Backpressure:
 * after a `write()` that returns false, wait for 'drain' (at most one batch beyond the socket's
 * high-water mark is queued here). Each payload carries its sequence number (uint32 LE at byte 0)
 * and `0xA5` in every other byte, so the receiver can verify count, order and content.
 *
 * Why not `ringsocket load` (cli/): that is a client measuring a server's round trips; this is a server
 * pushing a one-way stream at a receiver whose main-thread cost is measured, and it must cost almost no
 * CPU per message, so it writes pre-built frames (headers from bench/suite/wire.ts) to the raw socket.
 */
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { isMain } from '../common.js';
import { binaryFrameHeader } from '../suite/wire.js';

export interface LoadSenderOptions {
  count: number;
  size: number;
  batch: number;
}

export type SenderNotice = { t: 'listening'; port: number } | { t: 'connected' } | { t: 'sent'; count: number; ms: number };
export type SenderCommand = { t: 'go' } | { t: 'exit' };

export const PAYLOAD_FILL = 0xa5;

function main(): void {
  const opts = JSON.parse(process.argv[2] ?? '{}') as LoadSenderOptions;
  const { count, size, batch } = opts;
  if (!(count > 0 && size >= 4 && batch > 0)) throw new Error(`load-sender: bad options ${process.argv[2]}`);
  const header = binaryFrameHeader(size, false);
  const frameLen = header.length + size;
  const template = Buffer.alloc(frameLen, PAYLOAD_FILL);
  header.copy(template, 0);
  const send = (m: SenderNotice) => process.send!(m);

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  let current: WebSocket | null = null;
  let goPending = false;

  const pump = (sock: Socket) => {
    const t0 = performance.now();
    let seq = 0;
    const writeMore = (): void => {
      while (seq < count) {
        const k = Math.min(batch, count - seq);
        // A fresh buffer per batch: the socket may hold the previous one until the kernel takes it.
        const buf = Buffer.allocUnsafe(k * frameLen);
        for (let i = 0, off = 0; i < k; i++, off += frameLen) {
          template.copy(buf, off);
          buf.writeUInt32LE(seq++, off + header.length);
        }
        if (sock.destroyed) return;
        if (!sock.write(buf)) {
          sock.once('drain', writeMore);
          return;
        }
      }
      send({ t: 'sent', count, ms: performance.now() - t0 });
    };
    writeMore();
  };

  const start = () => {
    const ws = current;
    if (ws === null) {
      goPending = true;
      return;
    }
    goPending = false;
    pump((ws as unknown as { _socket: Socket })._socket);
  };

  wss.on('connection', (ws) => {
    current = ws;
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (current === ws) current = null;
    });
    send({ t: 'connected' });
    if (goPending) start();
  });
  wss.on('listening', () => send({ t: 'listening', port: (wss.address() as AddressInfo).port }));

  const quit = () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    process.exit(0);
  };
  process.on('message', (m: SenderCommand) => {
    if (m.t === 'go') start();
    else if (m.t === 'exit') quit();
  });
  process.on('disconnect', quit);
}

// Importing this module (for its types and constants) must not start a server.
if (isMain(import.meta.url) && process.send !== undefined) main();
