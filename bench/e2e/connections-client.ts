/**
 * Load generator for bench/e2e/connections: raw `net` sockets that each complete a WebSocket opening
 * handshake, echo one masked frame through the server, then stay open until told to reset.
 *
 * Run by the benchmark through `child_process.fork` (one or more processes, each under its fd limit and
 * dialling from its own loopback source address and its own choice of source ports):
 * ```
 *  parent                                    this process
 *  fork(connections-client.js, [json])  ──►  (nothing yet)
 *                                        ◄── { t: 'ready', pid, nofile }
 *  { t: 'open' }                         ──► `count` connections, `batch` at a time: TCP connect, GET
 *                                             upgrade, wait for 101 + the right Sec-WebSocket-Accept
 *                                        ◄── { t: 'opened', ok, failed, ms, errors }
 *  { t: 'echo' }                         ──► per connection, `batch` at a time: one masked binary frame
 *                                             of `size` bytes, wait for the unmasked echo, verify it
 *                                        ◄── { t: 'echoed', ok, bad, ms }
 *  { t: 'progress' }                     ──► ◄── { t: 'progress', ... } (for timeout messages)
 *  { t: 'reset' }                        ──► RST every socket (no TIME_WAIT left behind)
 *                                        ◄── { t: 'reset', n }
 *  { t: 'exit' } or IPC disconnect       ──► exit
 * ```
 * A connection that closes after its handshake, or receives a byte it did not ask for while held,
 * is counted (`dropped`, `unexpected`): the benchmark checks both are 0 before it reports.
 * Per-connection state is one small object; socket handlers are module-level functions that find it
 * through a symbol (no closures per connection: 50,000 of them add up here too).
 */
import net from 'node:net';
import { randomFillSync } from 'node:crypto';
import { isMain, openFilesLimit } from '../common.js';

export interface ClientOptions {
  port: number;
  host: string;
  /**
   * Source address of every socket of this process (a distinct 127.x.y.z per process and run), or ''
   * to let connect() pick address and port. With an address, this process also picks the source
   * ports itself, counting up from `firstLocalPort` (skipping any in use): the kernel's own choice
   * (connect() autobind, or bind to port 0) searches the port range and slows down as thousands of
   * ports towards the one server port are taken — seconds of system time at 10,000, which would be
   * charged to the server's opening rate.
   */
  localAddress: string;
  firstLocalPort: number;
  count: number;
  batch: number;
  /** Payload bytes of the echoed frame (< 126: the echo is a 2-byte header + payload). */
  size: number;
  /** First connection number (written into each payload so a crossed echo is caught). */
  idBase: number;
}

export interface ClientProgress {
  started: number;
  opened: number;
  failed: number;
  echoed: number;
  bad: number;
  /** Closed by the server (or the network) after their handshake. */
  dropped: number;
  /** Bytes received while nothing was expected. */
  unexpected: number;
}

export type ClientNotice =
  | { t: 'ready'; pid: number; nofile: number }
  | { t: 'opened'; ok: number; failed: number; ms: number; errors: Record<string, number> }
  | { t: 'echoed'; ok: number; bad: number; ms: number }
  | ({ t: 'progress' } & ClientProgress)
  | { t: 'reset'; n: number };
export type ClientCommand = { t: 'open' } | { t: 'echo' } | { t: 'progress' } | { t: 'reset' } | { t: 'exit' };

/** RFC 6455 §1.3 sample key and its accept value; any valid key will do, the server does not mind reuse. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
export const ECHO_FILL = 0x5a;

const ST_CONNECTING = 0;
const ST_HANDSHAKE = 1;
const ST_OPEN = 2;
const ST_ECHO = 3;
const ST_FAILED = 4;

const kConn = Symbol('connections-client.conn');

interface Conn {
  id: number;
  sock: net.Socket;
  state: number;
  buf: Buffer | null;
}
type TaggedSocket = net.Socket & { [kConn]: Conn };
/** Owner of sockets abandoned for a busy source port: their events change nothing. */
const RETIRED: Conn = { id: -1, sock: null as unknown as net.Socket, state: ST_FAILED, buf: null };

function main(): void {
  const o = JSON.parse(process.argv[2] ?? '{}') as ClientOptions;
  if (!(o.count > 0 && o.batch > 0 && o.size > 4 && o.size < 126 && o.port > 0)) throw new Error(`connections-client: bad options ${process.argv[2]}`);
  const send = (m: ClientNotice) => process.send!(m);
  const request = Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
  const conns: Conn[] = [];
  const p: ClientProgress = { started: 0, opened: 0, failed: 0, echoed: 0, bad: 0, dropped: 0, unexpected: 0 };
  const errors: Record<string, number> = {};
  /** Connections of the current batch still waiting for their handshake or their echo. */
  let inFlight = 0;
  let onBatchDone: (() => void) | null = null;

  const settle = (): void => {
    if (--inFlight === 0 && onBatchDone !== null) {
      const f = onBatchDone;
      onBatchDone = null;
      f();
    }
  };

  const fail = (c: Conn, why: string): void => {
    if (c.state === ST_FAILED) return;
    const wasWaiting = c.state === ST_CONNECTING || c.state === ST_HANDSHAKE;
    const wasEcho = c.state === ST_ECHO;
    c.state = ST_FAILED;
    c.buf = null;
    errors[why] = (errors[why] ?? 0) + 1;
    if (wasWaiting) {
      p.failed++;
      settle();
    } else {
      p.dropped++;
      if (wasEcho) {
        p.bad++;
        settle();
      }
    }
    c.sock?.destroy();
  };

  function onConnect(this: net.Socket): void {
    const c = (this as TaggedSocket)[kConn];
    c.state = ST_HANDSHAKE;
    this.write(request);
  }

  function onData(this: net.Socket, chunk: Buffer): void {
    const c = (this as TaggedSocket)[kConn];
    if (c.state === ST_HANDSHAKE) {
      const buf = c.buf === null ? chunk : Buffer.concat([c.buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        c.buf = buf;
        if (buf.length > 8192) fail(c, 'RESPONSE_TOO_LARGE');
        return;
      }
      const head = buf.toString('latin1', 0, end);
      c.buf = null;
      if (!head.startsWith('HTTP/1.1 101')) {
        fail(c, `HTTP_${head.slice(9, 12)}`);
        return;
      }
      const accept = /\r\nsec-websocket-accept:[ \t]*(\S+)/i.exec(head);
      if (accept === null || accept[1] !== ACCEPT) {
        fail(c, 'BAD_ACCEPT');
        return;
      }
      if (buf.length > end + 4) p.unexpected += buf.length - end - 4;
      c.state = ST_OPEN;
      p.opened++;
      settle();
      return;
    }
    if (c.state === ST_ECHO) {
      const buf = c.buf === null ? chunk : Buffer.concat([c.buf, chunk]);
      const want = 2 + o.size;
      if (buf.length < want) {
        c.buf = buf;
        return;
      }
      c.buf = null;
      if (buf.length > want) p.unexpected += buf.length - want;
      const ok = buf[0] === 0x82 && buf[1] === o.size && buf.readUInt32LE(2) === c.id && buf[6] === ECHO_FILL && buf[want - 1] === ECHO_FILL;
      c.state = ST_OPEN;
      if (ok) p.echoed++;
      else {
        p.bad++;
        errors.BAD_ECHO = (errors.BAD_ECHO ?? 0) + 1;
      }
      settle();
      return;
    }
    // ST_OPEN (held) or failed: nothing is expected (no heartbeat is configured on the server).
    p.unexpected += chunk.length;
  }

  function onError(this: net.Socket, err: NodeJS.ErrnoException): void {
    const c = (this as TaggedSocket)[kConn];
    if (c.state === ST_CONNECTING && err.code === 'EADDRINUSE' && o.localAddress !== '' && c.sock === this) {
      // That source port is taken (by someone else's socket): leave this socket, dial from the next one.
      (this as TaggedSocket)[kConn] = RETIRED;
      this.destroy();
      if (++portRetries > 10_000) {
        c.sock = this;
        fail(c, 'NO_FREE_SOURCE_PORT');
        return;
      }
      dial(c);
      return;
    }
    fail(c, err.code ?? err.message);
  }

  function onClose(this: net.Socket): void {
    const c = (this as TaggedSocket)[kConn];
    if (c.state !== ST_FAILED) fail(c, c.state === ST_OPEN || c.state === ST_ECHO ? 'CLOSED_BY_SERVER' : 'CLOSED_DURING_HANDSHAKE');
  }

  let nextLocalPort = o.firstLocalPort;
  let portRetries = 0;
  const dial = (c: Conn): void => {
    let sock: net.Socket;
    if (o.localAddress === '') sock = net.connect({ port: o.port, host: o.host, noDelay: true });
    else {
      if (nextLocalPort > 65535) {
        fail(c, 'OUT_OF_SOURCE_PORTS');
        return;
      }
      sock = net.connect({ port: o.port, host: o.host, localAddress: o.localAddress, localPort: nextLocalPort++, noDelay: true });
    }
    c.sock = sock;
    (sock as TaggedSocket)[kConn] = c;
    sock.on('connect', onConnect);
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
  };

  const openOne = (): void => {
    const id = o.idBase + conns.length;
    const c: Conn = { id, sock: null as unknown as net.Socket, state: ST_CONNECTING, buf: null };
    conns.push(c);
    dial(c);
    p.started++;
    inFlight++;
  };

  const runBatches = (each: (next: number) => number, total: number, done: () => void): void => {
    let next = 0;
    const step = (): void => {
      if (next >= total) {
        done();
        return;
      }
      const end = Math.min(total, next + o.batch);
      inFlight = 0;
      for (; next < end; ) next = each(next);
      if (inFlight === 0) setImmediate(step);
      else onBatchDone = step;
    };
    step();
  };

  const open = (): void => {
    const t0 = performance.now();
    runBatches(
      (i) => {
        openOne();
        return i + 1;
      },
      o.count,
      () => send({ t: 'opened', ok: p.opened, failed: p.failed, ms: performance.now() - t0, errors }),
    );
  };

  const frame = Buffer.alloc(6 + o.size);
  const echo = (): void => {
    const t0 = performance.now();
    const okBefore = p.echoed;
    const badBefore = p.bad;
    runBatches(
      (i) => {
        const c = conns[i]!;
        if (c.state !== ST_OPEN) return i + 1;
        // Client frames are masked (RFC 6455 §5.3): FIN + binary, MASK + length, 4-byte key, payload ^ key.
        frame[0] = 0x82;
        frame[1] = 0x80 | o.size;
        randomFillSync(frame, 2, 4);
        const payload = Buffer.alloc(o.size, ECHO_FILL);
        payload.writeUInt32LE(c.id >>> 0, 0);
        for (let k = 0; k < o.size; k++) frame[6 + k] = payload[k]! ^ frame[2 + (k & 3)]!;
        c.state = ST_ECHO;
        inFlight++;
        c.sock.write(Buffer.from(frame));
        return i + 1;
      },
      conns.length,
      () => send({ t: 'echoed', ok: p.echoed - okBefore, bad: p.bad - badBefore, ms: performance.now() - t0 }),
    );
  };

  const reset = (): void => {
    let n = 0;
    for (const c of conns) {
      if (c.state === ST_FAILED) continue;
      c.state = ST_FAILED; // our own doing: not a drop
      c.sock.resetAndDestroy();
      n++;
    }
    send({ t: 'reset', n });
  };

  process.on('message', (m: ClientCommand) => {
    if (m.t === 'open') open();
    else if (m.t === 'echo') echo();
    else if (m.t === 'progress') send({ t: 'progress', ...p });
    else if (m.t === 'reset') reset();
    else if (m.t === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'ready', pid: process.pid, nofile: openFilesLimit() });
}

// Importing this module (for its types) must not start a load generator.
if (isMain(import.meta.url) && process.send !== undefined) main();
