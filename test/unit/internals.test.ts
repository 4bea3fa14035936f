/**
 * The private fields of Node and `ws` the workers rely on (workers/internals.ts), checked on real
 * objects over 127.0.0.1: a Node or `ws` update that moves one fails here, by name, before anything else.
 */
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { forgetPeername, hasCachedPeername, wsSetSocket, wsSocket } from '../../dist/workers/internals.js';

describe('workers/internals: private fields of Node and ws', () => {
  it('wsSetSocket + wsSocket: a null-address WebSocket becomes the server end of an accepted socket and echoes', async () => {
    const server = net.createServer({ pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const raw = net.connect(port, '127.0.0.1');
    const [sock] = await accepted;
    const ws = new WebSocket(null as unknown as string, undefined, { autoPong: true } as WebSocket.ClientOptions);
    expect(wsSocket(ws)).toBe(null);
    sock.resume(); // as Connection.accept does before reading the upgrade
    wsSetSocket(ws, sock, Buffer.alloc(0), { maxPayload: 1024, skipUTF8Validation: false, allowSynchronousEvents: true });
    expect(wsSocket(ws)).toBe(sock);
    ws.on('message', (d: Buffer, binary: boolean) => ws.send(d, { binary }));
    // A masked client text frame "hi" (FIN, opcode 1, mask key 0): the echo comes back unmasked.
    raw.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
    const [reply] = (await once(raw, 'data')) as [Buffer];
    expect([...reply]).toEqual([0x81, 0x02, 0x68, 0x69]);
    raw.destroy();
    ws.terminate();
    server.close();
  }, 10_000);

  it('forgetPeername: Node caches the peer address on first read; forgetting it leaves the socket working', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const raw = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [sock] = await accepted;
    expect(sock.remoteAddress).toBe('127.0.0.1');
    expect(hasCachedPeername(sock)).toBe(true);
    forgetPeername(sock);
    expect(hasCachedPeername(sock)).toBe(false);
    expect(sock.remotePort).toBe(raw.localPort); // asked afresh
    raw.destroy();
    server.close();
  });
});
