/**
 * Configuration mistakes throw a TypeError at once, naming the option (one test per message); the
 * property setters leave the old value when they refuse; TLSOptions factories; Godot's enum numbers.
 * No sockets: the PeerPool errors are thrown before any worker starts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, PeerPool, State, StreamPeerTCPStatus, StreamPeerTLSStatus, TLSOptions, WebSocketPeer, WriteMode } from '../helpers/lib.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/** [label, value] rows: `%j` would print NaN and Infinity as null, `%s` would print '1' as 1. */
const rows = (values: unknown[]): [string, unknown][] => values.map((v) => [typeof v === 'string' ? `'${v}'` : String(v), v]);

/** Assign through the setter with a value the types would refuse. */
function assign(target: object, name: string, value: unknown): void {
  (target as Record<string, unknown>)[name] = value;
}

describe('new PeerPool(options): one TypeError per option, thrown before any worker starts', () => {
  it.each([
    ['threads', { threads: 0 }, /^options\.threads must be an integer >= 1, got 0$/],
    ['threads', { threads: 1.5 }, /^options\.threads must be an integer >= 1, got 1\.5$/],
    ['threads', { threads: '2' }, /^options\.threads must be an integer/],
    ['inboundRingSize', { inboundRingSize: 5000 }, /^options\.inboundRingSize must be a power of two between 4096 and 2\^30, got 5000$/],
    ['inboundRingSize', { inboundRingSize: 2 ** 31 }, /^options\.inboundRingSize must be a power of two/],
    ['outboundRingSize', { outboundRingSize: 1024 }, /^options\.outboundRingSize must be an integer >= 4096, got 1024$/],
    ['maxPeersPerWorker', { maxPeersPerWorker: 0 }, /^options\.maxPeersPerWorker must be an integer >= 1, got 0$/],
    ['maxPendingHandshakes', { maxPendingHandshakes: 0 }, /^options\.maxPendingHandshakes must be an integer >= 1, got 0$/],
    ['handshakeTimeout', { handshakeTimeout: -1 }, /^options\.handshakeTimeout must be an integer >= 1, got -1$/],
    ['closeTimeout', { closeTimeout: 'x' }, /^options\.closeTimeout must be an integer >= 1, got x$/],
    ['workerNice', { workerNice: -1 }, /^options\.workerNice must be an integer between 0 and 19, got -1$/],
    ['workerNice', { workerNice: 20 }, /^options\.workerNice must be an integer between 0 and 19, got 20$/],
    ['workerNice', { workerNice: 2.5 }, /^options\.workerNice must be an integer between 0 and 19, got 2\.5$/],
    ['workerResourceLimits', { workerResourceLimits: 12 }, /^options\.workerResourceLimits must be an object$/],
    ['workerResourceLimits', { workerResourceLimits: null }, /^options\.workerResourceLimits must be an object$/],
    ['workerResourceLimits', { workerResourceLimits: { maxYoungGenerationSizeMb: 0 } }, /^options\.workerResourceLimits\.maxYoungGenerationSizeMb must be a positive number, got 0$/],
    ['waitSpinMicros', { waitSpinMicros: -1 }, /^options\.waitSpinMicros must be an integer between 0 and 10000, got -1$/],
    ['waitSpinMicros', { waitSpinMicros: 1.5 }, /^options\.waitSpinMicros must be an integer between 0 and 10000, got 1.5$/],
    ['workerSpinMicros', { workerSpinMicros: 10001 }, /^options\.workerSpinMicros must be an integer between 0 and 10000, got 10001$/],
    ['workerResourceLimits', { workerResourceLimits: { stackSizeMb: '4' } }, /^options\.workerResourceLimits\.stackSizeMb must be a positive number, got 4$/],
    ['workerResourceLimits', { workerResourceLimits: { maxOldGenerationSizeMb: Infinity } }, /^options\.workerResourceLimits\.maxOldGenerationSizeMb must be a positive number, got Infinity$/],
    ['workerResourceLimits', { workerResourceLimits: { youngMb: 4 } }, /^options\.workerResourceLimits\.youngMb is not a limit \(one of maxYoungGenerationSizeMb, maxOldGenerationSizeMb, codeRangeSizeMb, stackSizeMb\)$/],
  ])('%s: %j', (_name, options, message) => {
    let err: unknown;
    try {
      new PeerPool(options as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(message);
  });

  it('options that are not an object', () => {
    expect(() => new PeerPool(null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => new PeerPool(5 as never)).toThrow(TypeError);
  });

  it('accepts the smallest valid values (the checks are not over-strict)', async () => {
    const pool = new PeerPool({ threads: 1, inboundRingSize: 4096, outboundRingSize: 8192, maxPeersPerWorker: 1, handshakeTimeout: 1, closeTimeout: 1 });
    try {
      expect(pool.threads).toBe(1);
      expect(pool.peerCount).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe('WebSocketPeer property setters', () => {
  const sizes = ['inboundBufferSize', 'maxQueuedPackets', 'outboundBufferSize'] as const;
  const defaults = { inboundBufferSize: 65535, maxQueuedPackets: 4096, outboundBufferSize: 65535 };

  it.each(sizes)('%s: default, accepts 1 and 2^31-1', (name) => {
    const peer = new WebSocketPeer();
    expect(peer[name]).toBe(defaults[name]);
    peer[name] = 1;
    expect(peer[name]).toBe(1);
    peer[name] = 0x7fffffff;
    expect(peer[name]).toBe(0x7fffffff);
  });

  for (const name of sizes) {
    it.each(rows([0, -1, 1.5, NaN, '1', Infinity, 2 ** 31, null, undefined]))(`${name} = %s throws a TypeError naming it and keeps the old value`, (_label, bad) => {
      const peer = new WebSocketPeer();
      peer[name] = 1234;
      expect(() => assign(peer, name, bad)).toThrow(TypeError);
      expect(() => assign(peer, name, bad)).toThrow(new RegExp(`^${name} must be an integer between 1 and 2\\^31-1`));
      expect(peer[name]).toBe(1234);
    });
  }

  it('heartbeatInterval: default 0, accepts 0 and fractions of a second', () => {
    const peer = new WebSocketPeer();
    expect(peer.heartbeatInterval).toBe(0);
    peer.heartbeatInterval = 0.25;
    expect(peer.heartbeatInterval).toBe(0.25);
    peer.heartbeatInterval = 0;
    expect(peer.heartbeatInterval).toBe(0);
  });

  it.each(rows([-1, NaN, Infinity, -Infinity, '1', null]))('heartbeatInterval = %s throws a TypeError and keeps the old value', (_label, bad) => {
    const peer = new WebSocketPeer();
    peer.heartbeatInterval = 2.5;
    expect(() => assign(peer, 'heartbeatInterval', bad)).toThrow(TypeError);
    expect(() => assign(peer, 'heartbeatInterval', bad)).toThrow(/^heartbeatInterval must be a finite number >= 0/);
    expect(peer.heartbeatInterval).toBe(2.5);
  });

  for (const name of ['handshakeHeaders', 'supportedProtocols'] as const) {
    it.each([['not an array', 'X-A: b'], ['an array with a number', ['a', 2]], ['null', null], ['an array-like object', { length: 0 }], ['an array with undefined', [undefined]]])(
      `${name}: %s throws a TypeError and keeps the old value`,
      (_what, bad) => {
        const peer = new WebSocketPeer();
        const good = name === 'handshakeHeaders' ? ['X-A: 1'] : ['chat'];
        peer[name] = good;
        expect(() => assign(peer, name, bad)).toThrow(new TypeError(`${name} must be an array of strings`));
        expect(peer[name]).toEqual(good);
      },
    );

    it(`${name}: default [], stored and returned as copies`, () => {
      const peer = new WebSocketPeer();
      expect(peer[name]).toEqual([]);
      const input = ['a', 'b'];
      peer[name] = input;
      input.push('c');
      expect(peer[name]).toEqual(['a', 'b']);
      peer[name].push('d');
      expect(peer[name]).toEqual(['a', 'b']);
    });
  }
});

describe('TLSOptions', () => {
  const key = fixture('server-key.pem');
  const cert = fixture('server-cert.pem');
  const ca = fixture('ca-cert.pem');

  it('server() without a key or a certificate throws a TypeError', () => {
    expect(() => TLSOptions.server(undefined as never, cert)).toThrow(new TypeError('TLSOptions.server needs a key and a certificate'));
    expect(() => TLSOptions.server(key, undefined as never)).toThrow(new TypeError('TLSOptions.server needs a key and a certificate'));
    expect(() => TLSOptions.server(null as never, null as never)).toThrow(TypeError);
    expect(() => TLSOptions.server('', cert)).toThrow(TypeError);
    expect(() => TLSOptions.server(key, new Uint8Array(0))).toThrow(TypeError);
    expect(() => TLSOptions.server(42 as never, cert)).toThrow(new TypeError('key must be a PEM string or Uint8Array'));
  });

  it('server(key, cert) keeps both as text', () => {
    const o = TLSOptions.server(Buffer.from(key), cert);
    expect(o.isServer()).toBe(true);
    expect(o.isUnsafe()).toBe(false);
    expect(o.key).toBe(key);
    expect(o.certificate).toBe(cert);
    expect(o.trustedChain).toBeUndefined();
  });

  it('client() accepts a string PEM', () => {
    const o = TLSOptions.client(ca);
    expect(o.mode).toBe('client');
    expect(o.isServer()).toBe(false);
    expect(o.isUnsafe()).toBe(false);
    expect(o.trustedChain).toBe(ca);
    expect(o.commonNameOverride).toBe('');
  });

  it('client() accepts a Uint8Array PEM, also a view at a non-zero byteOffset, and stores its text', () => {
    expect(TLSOptions.client(new TextEncoder().encode(ca)).trustedChain).toBe(ca);
    // A view into a larger buffer: only its own bytes are the PEM.
    const big = new Uint8Array(ca.length + 20).fill(0x41);
    big.set(new TextEncoder().encode(ca), 10);
    const view = big.subarray(10, 10 + ca.length);
    expect(view.byteOffset).toBe(10);
    expect(TLSOptions.client(view).trustedChain).toBe(ca);
  });

  it('client() without a chain uses the system CAs; a commonNameOverride is kept; a non-string one throws', () => {
    const o = TLSOptions.client(undefined, 'localhost');
    expect(o.trustedChain).toBeUndefined();
    expect(o.commonNameOverride).toBe('localhost');
    expect(() => TLSOptions.client(ca, 5 as never)).toThrow(new TypeError('commonNameOverride must be a string'));
    expect(() => TLSOptions.client(5 as never)).toThrow(new TypeError('trustedChain must be a PEM string or Uint8Array'));
  });

  it('clientUnsafe() is unsafe; instances are frozen', () => {
    const o = TLSOptions.clientUnsafe(ca);
    expect(o.isUnsafe()).toBe(true);
    expect(o.trustedChain).toBe(ca);
    expect(Object.isFrozen(o)).toBe(true);
    expect(() => assign(o, 'trustedChain', 'x')).toThrow(TypeError);
  });
});

describe("enums have Godot's numbers", () => {
  it('State and WriteMode', () => {
    expect([State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED]).toEqual([0, 1, 2, 3]);
    expect([WriteMode.TEXT, WriteMode.BINARY]).toEqual([0, 1]);
    expect(State[3]).toBe('CLOSED');
    expect(WriteMode[1]).toBe('BINARY');
  });

  it('StreamPeerTCP and StreamPeerTLS statuses', () => {
    expect([StreamPeerTCPStatus.STATUS_NONE, StreamPeerTCPStatus.STATUS_CONNECTING, StreamPeerTCPStatus.STATUS_CONNECTED, StreamPeerTCPStatus.STATUS_ERROR]).toEqual([0, 1, 2, 3]);
    expect([
      StreamPeerTLSStatus.STATUS_DISCONNECTED,
      StreamPeerTLSStatus.STATUS_HANDSHAKING,
      StreamPeerTLSStatus.STATUS_CONNECTED,
      StreamPeerTLSStatus.STATUS_ERROR,
      StreamPeerTLSStatus.STATUS_ERROR_HOSTNAME_MISMATCH,
    ]).toEqual([0, 1, 2, 3, 4]);
  });

  it.each([
    ['OK', 0],
    ['FAILED', 1],
    ['ERR_UNAVAILABLE', 2],
    ['ERR_UNCONFIGURED', 3],
    ['ERR_PARAMETER_RANGE_ERROR', 5],
    ['ERR_OUT_OF_MEMORY', 6],
    ['ERR_FILE_EOF', 18],
    ['ERR_CANT_CREATE', 20],
    ['ERR_ALREADY_IN_USE', 22],
    ['ERR_TIMEOUT', 24],
    ['ERR_CANT_CONNECT', 25],
    ['ERR_CONNECTION_ERROR', 27],
    ['ERR_INVALID_DATA', 30],
    ['ERR_INVALID_PARAMETER', 31],
    ['ERR_DOES_NOT_EXIST', 33],
    ['ERR_BUSY', 44],
    ['ERR_BUG', 47],
    ['ERR_PRINTER_ON_FIRE', 48],
  ])('ErrorCode.%s = %i', (name, value) => {
    expect((ErrorCode as unknown as Record<string, number>)[name]).toBe(value);
    expect(ErrorCode[value]).toBe(name);
  });

  it('ErrorCode has every value 0..48 exactly once, and nothing else', () => {
    const names = Object.keys(ErrorCode).filter((k) => Number.isNaN(Number(k)));
    const values = names.map((n) => (ErrorCode as unknown as Record<string, number>)[n]!);
    expect(names.length).toBe(49);
    expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 49 }, (_, i) => i));
    expect(new Set(values).size).toBe(49);
  });
});
