/**
 * The worker half of `ws-worker-postmessage`: a `ws` server in a worker thread that forwards every
 * message to the main thread with postMessage and sends what the main thread posts back. This is
 * the offload a user would write by hand, without shared memory or batching.
 */
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocketServer, type WebSocket } from 'ws';

export type ToMain =
  | { t: 'listening'; port: number }
  | { t: 'open'; id: number }
  | { t: 'close'; id: number }
  | { t: 'msg'; id: number; data: Uint8Array; binary: boolean };

export type ToWorker = { t: 'send'; id: number; data: Uint8Array };

/**
 * Measurement only, not part of the offload: messages the worker received, in shared memory, so the
 * main thread can read the backlog at once (a postMessage'd count would queue behind the backlog).
 */
export interface WorkerCounters {
  received: SharedArrayBuffer;
}

function main(): void {
  const port = parentPort!;
  const clients = new Map<number, WebSocket>();
  let nextId = 1;
  const received = new Int32Array((workerData as WorkerCounters).received);
  const post = (m: ToMain) => port.postMessage(m);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, backlog: 4096 });
  wss.on('connection', (ws) => {
    const id = nextId++;
    clients.set(id, ws);
    post({ t: 'open', id });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      Atomics.add(received, 0, 1);
      // Copy the bytes out: `data` is often a view into ws's whole read chunk, and postMessage clones
      // a view's entire ArrayBuffer (64 KiB per 64 B message, gigabytes within seconds).
      post({ t: 'msg', id, data: new Uint8Array(data), binary: isBinary });
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clients.delete(id);
      post({ t: 'close', id });
    });
  });
  wss.on('listening', () => post({ t: 'listening', port: (wss.address() as AddressInfo).port }));
  port.on('message', (m: ToWorker) => {
    clients.get(m.id)?.send(m.data, { binary: true });
  });
}

if (parentPort !== null) main();
