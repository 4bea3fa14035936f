/**
 * TCPServer.getFailureReason() (a ringsocket extra): why listen() returned ERR_CANT_CREATE, from the
 * binding worker's errno, so that "port in use" and "address not local" can be told apart.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, TCPServer } from '../helpers/lib.js';

const pool = new PeerPool({ threads: 1 });
afterAll(() => pool.close());

describe('TCPServer.getFailureReason()', () => {
  it('"" after a successful listen; EADDRINUSE for a port another server holds', () => {
    const a = new TCPServer({ pool });
    expect(a.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    expect(a.getFailureReason()).toBe('');
    const b = new TCPServer({ pool });
    expect(b.listen(a.getLocalPort(), '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
    expect(b.getFailureReason()).toBe('EADDRINUSE');
    a.stop();
    // The same server object listens once the port is free: the reason is cleared.
    expect(b.listen(0, '127.0.0.1')).toBe(ErrorCode.OK);
    expect(b.getFailureReason()).toBe('');
    b.stop();
  });

  it('EADDRNOTAVAIL for an address on no interface of this machine (192.0.2.1, TEST-NET-1)', () => {
    const s = new TCPServer({ pool });
    expect(s.listen(0, '192.0.2.1')).toBe(ErrorCode.ERR_CANT_CREATE);
    expect(s.getFailureReason()).toBe('EADDRNOTAVAIL');
  });

  it('POOL_CLOSED for a closed pool', async () => {
    const p = new PeerPool({ threads: 1 });
    await p.close();
    const s = new TCPServer({ pool: p });
    expect(s.listen(0, '127.0.0.1')).toBe(ErrorCode.ERR_CANT_CREATE);
    expect(s.getFailureReason()).toBe('POOL_CLOSED');
  });
});
