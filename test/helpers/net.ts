import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type ServerOptions } from 'ws';
import { State, type WebSocketPeer } from './lib.js';

/** A real `ws` server on 127.0.0.1, port 0. */
export async function startWsServer(opts: ServerOptions = {}): Promise<{ wss: WebSocketServer; url: string; port: number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** An echo server: every message comes back with the same type. */
export async function startEchoServer(opts: ServerOptions = {}) {
  const s = await startWsServer(opts);
  s.wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  return s;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Anything with Godot's poll(): a WebSocketPeer, a WebSocketMultiplayerPeer. */
export interface Pollable {
  poll(): unknown;
}

/**
 * Poll `peers` every `everyMs` until `cond()` holds, or fail after `timeoutMs` with `what`.
 * This is the Godot loop: poll, then look.
 */
export async function pollUntil(peers: Pollable | Pollable[], cond: () => boolean, what: string, timeoutMs = 10_000, everyMs = 1): Promise<void> {
  const list = Array.isArray(peers) ? peers : [peers];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of list) p.poll();
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(everyMs);
  }
}

export async function openPeer(peer: WebSocketPeer, url: string): Promise<void> {
  const err = peer.connectToUrl(url);
  if (err !== 0) throw new Error(`connectToUrl returned ${err}`);
  await pollUntil(peer, () => peer.getReadyState() !== State.CONNECTING, `${url} to open`);
  if (peer.getReadyState() !== State.OPEN) throw new Error(`peer did not open: ${peer.getFailureReason()}`);
}
