/**
 * Regression: a vitest fork died with SIGABRT ("Worker exited unexpectedly") under load in server-tcp. Cause:
 * every worker accepts on the binder's listening fd (listen({ fd })); when a test stopped a server right
 * after listen(), the binder could close that fd after another worker called listen({ fd }) but before that
 * worker's event loop registered it, and libuv abort()s the process on epoll_ctl(ADD) of a closed fd.
 * No listening fd is shared between workers any more (ARCHITECTURE.md "Listening sockets"); the first test
 * keeps the hazard's proof on plain Node, the others that listen/stop races stay harmless.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, stallWorker, TCPServer } from '../helpers/lib.js';

describe('listen() and stop() racing the workers', () => {
  it('the hazard is real on this Node: a thread whose loop has not registered a shared fd yet aborts the process when the fd is closed', () => {
    const script = fileURLToPath(new URL('../fixtures/shared-fd-abort.mjs', import.meta.url));
    // (Only the exit is checked: the workers' console output can be lost in the abort.)
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBe('SIGABRT');
    // The control: the same threads, the fd left open, exit 0.
    const control = spawnSync(process.execPath, [script, 'keep'], { encoding: 'utf8', timeout: 60_000 });
    expect([control.status, control.signal]).toEqual([0, null]);
    expect(control.stdout).toContain('B survived');
  });

  it('listen() then stop() while a non-binding worker is stalled: nothing aborts, and no socket is left bound once it wakes', async () => {
    const pool = new PeerPool({ threads: 2 });
    try {
      const warm = new TCPServer({ pool }); // both workers booted
      expect(warm.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      warm.stop();
      await stallWorker(pool, 1, 1500); // worker 0 binds; worker 1 is blocked for 1.5 s from now
      const s = new TCPServer({ pool });
      expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      const port = s.getLocalPort();
      s.stop(); // worker 1 gets its bind (reusePort) and the unlisten after it, in order, when it wakes
      await new Promise((r) => setTimeout(r, 2000));
      // The port is free: a plain server binds it exclusively (a late socket left open would refuse it).
      const plain = net.createServer();
      await new Promise<void>((resolve, reject) => {
        plain.once('error', reject);
        plain.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
      });
      await new Promise((r) => plain.close(r));
      const again = new TCPServer({ pool });
      expect(again.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
      again.stop();
    } finally {
      await pool.close();
    }
  });

  it('listen then stop at once, 200 times: the process survives and every listen succeeds', async () => {
    const pool = new PeerPool({ threads: 2 });
    try {
      for (let i = 0; i < 200; i++) {
        const s = new TCPServer({ pool });
        expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
        if (i % 2 === 0) await new Promise((r) => setImmediate(r));
        s.stop();
      }
    } finally {
      await pool.close();
    }
  });
});
