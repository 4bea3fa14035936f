/**
 * The private fields of Node the workers rely on (workers/internals.ts), checked on real
 * objects over 127.0.0.1: a Node update that moves one fails here, by name, before anything else.
 */
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { forgetPeername, hasCachedPeername } from '../../dist/workers/internals.js';

describe('workers/internals: private fields of Node', () => {
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
