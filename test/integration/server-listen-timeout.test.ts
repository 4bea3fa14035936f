/**
 * Regression: TCPServer.listen() gives up after 10 s when the binding worker does not answer (here it is
 * stalled by a test hook). The worker's late answer to that call must not be taken for the answer to
 * the next listen() (it once was: the next call returned OK with the abandoned socket's port), and the
 * socket the worker binds late must be closed, not left listening with no owner.
 */
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, stallWorker, TCPServer } from '../helpers/lib.js';
import { freePort } from '../cli/run-cli.js';


/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  const sock = net.connect(port, '127.0.0.1');
  try {
    await Promise.race([once(sock, 'connect'), once(sock, 'error').then(([e]) => Promise.reject(e as Error))]);
    return true;
  } catch {
    return false;
  } finally {
    sock.destroy();
  }
}

describe('TCPServer.listen when the binding worker does not answer in time', () => {
  it('returns ERR_CANT_CREATE; the next listen gets its own answer; the late socket is closed', { timeout: 40_000 }, async () => {
    const pool = new PeerPool({ threads: 1 });
    const servers: TCPServer[] = [];
    try {
      // Boot the worker first, so the stall starts with it idle.
      const warm = new TCPServer({ pool });
      expect(warm.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      warm.stop();
      const abandonedPort = await freePort();
      await stallWorker(pool, 0, 12_500);

      const first = new TCPServer({ pool });
      servers.push(first);
      const t0 = performance.now();
      expect(first.listen(abandonedPort, '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(9_500);
      expect(first.isListening()).toBe(false);

      // Still stalled: this call's wait sees the late answer to the first call come in before its own.
      const second = new TCPServer({ pool });
      servers.push(second);
      expect(second.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      expect(second.getLocalPort()).not.toBe(abandonedPort);
      expect(await accepts(second.getLocalPort())).toBe(true);

      // The socket bound for the first call was closed by the worker: its port is free to listen on again.
      expect(await accepts(abandonedPort)).toBe(false);
      const third = new TCPServer({ pool });
      servers.push(third);
      expect(third.listen(abandonedPort, '127.0.0.1')).toBe(ErrorCode.OK);
      expect(third.getLocalPort()).toBe(abandonedPort);
    } finally {
      for (const s of servers) s.stop();
      await pool.close();
    }
  });
});
