/**
 * WebSocketMultiplayerPeer over real sockets: Godot 4's id handshake (seen by a raw client, a `ws`
 * client and a ringsocket client), one poll for every peer, putPacket to one, every and every-but-one
 * peer (framed once per worker), getPacketInto, signals only inside poll, refuse, disconnect, close,
 * and a worker's death with peers on it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ConnectionStatus, ErrorCode, PeerPool, State, WebSocketMultiplayerPeer, WriteMode, crashWorker, workerOfPeer } from '../helpers/lib.js';
import { rawWebSocket, waitFor, within } from '../helpers/server.js';
import { pollUntil as pollFor, sleep } from '../helpers/net.js';
import { connect } from 'node:net';

/** Poll the multiplayer peers until `cond()` (15 s by default: 1,000 clients join in this file). */
const pollUntil = (mps: WebSocketMultiplayerPeer | WebSocketMultiplayerPeer[], cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> => pollFor(mps, cond, what, timeoutMs);

let pool: PeerPool;
const open: WebSocketMultiplayerPeer[] = [];
const sockets: WebSocket[] = [];

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const mp of open.splice(0)) mp.close();
});

afterAll(async () => {
  await pool.close();
});

function server(configure?: (mp: WebSocketMultiplayerPeer) => void): WebSocketMultiplayerPeer {
  const mp = new WebSocketMultiplayerPeer({ pool });
  configure?.(mp);
  expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.OK);
  open.push(mp);
  return mp;
}

/** A `ws` client of `mp` that records the id it was given and every message after it. */
interface Client {
  ws: WebSocket;
  id: number;
  msgs: Buffer[];
  binary: boolean[];
}

function join(mp: WebSocketMultiplayerPeer): Client {
  const ws = new WebSocket(`ws://127.0.0.1:${mp.getLocalPort()}/`);
  sockets.push(ws);
  const c: Client = { ws, id: 0, msgs: [], binary: [] };
  ws.on('message', (d: Buffer, isBinary) => {
    if (c.id === 0) {
      // Godot 4: the first message is the id, 4 bytes little-endian, binary.
      expect(isBinary).toBe(true);
      expect(d.length).toBe(4);
      c.id = d.readInt32LE(0);
      return;
    }
    c.msgs.push(d);
    c.binary.push(isBinary);
  });
  ws.on('error', () => undefined);
  return c;
}

/** Connect `n` clients and poll until the server reported each with peer_connected. */
async function joinAll(mp: WebSocketMultiplayerPeer, n: number): Promise<{ clients: Client[]; connected: number[] }> {
  const connected: number[] = [];
  const fn = (id: number) => connected.push(id);
  mp.on('peer_connected', fn);
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) clients.push(join(mp));
  await pollUntil(mp, () => connected.length === n && clients.every((c) => c.id !== 0), `${n} clients to join`, 30_000);
  mp.off('peer_connected', fn);
  return { clients, connected };
}

const bytes = (s: string) => new TextEncoder().encode(s);

/** Poll `mp` every millisecond in the background (while a test awaits something else); returns the stop. */
function keepPolling(mp: WebSocketMultiplayerPeer): () => void {
  const t = setInterval(() => mp.poll(), 1);
  return () => clearInterval(t);
}

describe('WebSocketMultiplayerPeer server', () => {
  it('gives each peer a distinct random id >= 2 as its first message (a raw client sees one binary frame of 4 bytes)', async () => {
    const mp = server();
    const seen: number[] = [];
    mp.on('peer_connected', (id) => seen.push(id));
    const stop = keepPolling(mp);
    const raw = await rawWebSocket(mp.getLocalPort()).finally(stop);
    await pollUntil(mp, () => seen.length === 1, 'peer_connected');
    await waitFor(() => raw.frames().length >= 1, 'the id frame');
    const [f] = raw.frames();
    expect(f!.opcode).toBe(2);
    expect(f!.fin).toBe(true);
    expect(f!.payload.length).toBe(4);
    expect(f!.payload.readInt32LE(0)).toBe(seen[0]);
    expect(seen[0]).toBeGreaterThanOrEqual(2);
    expect(mp.getUniqueId()).toBe(1);
    expect(mp.isServer()).toBe(true);
    expect(mp.getConnectionStatus()).toBe(ConnectionStatus.CONNECTION_CONNECTED);
    expect(mp.getPeer(seen[0]!)?.getReadyState()).toBe(State.OPEN);
    expect(mp.getPeerAddress(seen[0]!)).toBe('127.0.0.1');
    expect(mp.getPeerPort(seen[0]!)).toBe(raw.localPort);
    raw.destroy();
  });

  it('1,000 clients: every one joins once, every message reaches every client byte-exact and in order; -n leaves out n; n reaches n only', async () => {
    const mp = server();
    const { clients, connected } = await joinAll(mp, 1000);
    expect(new Set(connected).size).toBe(1000);
    expect(new Set(clients.map((c) => c.id))).toEqual(new Set(connected));
    for (const id of connected) expect(id).toBeGreaterThanOrEqual(2);

    // Sizes around the frame-length encodings (a publication larger than the outbound budget too).
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 100_000];
    const sent: Buffer[] = [];
    mp.setTargetPeer(0);
    for (let i = 0; i < sizes.length; i++) {
      const b = Buffer.alloc(sizes[i]!);
      for (let k = 0; k < b.length; k++) b[k] = (i * 31 + k * 7) & 0xff;
      sent.push(b);
      expect(mp.putPacket(b)).toBe(ErrorCode.OK);
    }
    expect(mp.send(bytes('text to all'), WriteMode.TEXT)).toBe(ErrorCode.OK);
    const left = clients[7]!;
    mp.setTargetPeer(-left.id);
    expect(mp.putPacket(bytes('all but one'))).toBe(ErrorCode.OK);
    const only = clients[9]!;
    mp.setTargetPeer(only.id);
    expect(mp.getTargetPeer()).toBe(only.id);
    expect(mp.putPacket(bytes('just you'))).toBe(ErrorCode.OK);
    mp.setTargetPeer(123); // nobody has id 123 (ids are random in [2, 2^31))
    expect(mp.putPacket(bytes('x'))).toBe(connected.includes(123) ? ErrorCode.OK : ErrorCode.ERR_INVALID_PARAMETER);

    const expected = (c: Client) => sizes.length + 1 + (c === left ? 0 : 1) + (c === only ? 1 : 0);
    await pollUntil(mp, () => clients.every((c) => c.msgs.length >= expected(c)), 'every broadcast at every client', 60_000);
    for (const c of clients) {
      expect(c.msgs.length).toBe(expected(c));
      for (let i = 0; i < sizes.length; i++) {
        expect(c.binary[i]).toBe(true);
        expect(c.msgs[i]!.equals(sent[i]!)).toBe(true);
      }
      expect(c.binary[sizes.length]).toBe(false);
      expect(c.msgs[sizes.length]!.toString()).toBe('text to all');
      if (c !== left) expect(c.msgs[sizes.length + 1]!.toString()).toBe('all but one');
      if (c === only) expect(c.msgs.at(-1)!.toString()).toBe('just you');
    }
    // Framed once per worker: one frame per publication in the workers that hold the peers.
    const st = await pool.stats();
    const frames = st.reduce((a, s) => a + s.fanoutFrames, 0);
    const writes = st.reduce((a, s) => a + s.fanoutWrites, 0);
    const holding = new Set(connected.map((id) => workerOfPeer(mp.getPeer(id)))).size;
    expect(frames).toBe((sizes.length + 2) * holding);
    expect(writes).toBe((sizes.length + 1) * 1000 + 999);
  }, 120_000);

  it('reads every client packet from one queue, naming its sender; getPacketInto copies without a new array and refuses a buffer too small', async () => {
    const mp = server();
    const { clients } = await joinAll(mp, 20);
    for (const c of clients) {
      c.ws.send(`hello from ${c.id}`);
      c.ws.send(Buffer.alloc(300, c.id & 0xff));
    }
    await pollUntil(mp, () => mp.getAvailablePacketCount() === 40, '40 packets');
    const small = new Uint8Array(10);
    const big = new Uint8Array(1000);
    const perPeer = new Map<number, string[]>();
    let n = 0;
    while (mp.getAvailablePacketCount() > 0) {
      const len = mp.peekPacketLength();
      const next = mp.peekPacketPeer();
      expect(mp.getPacketInto(small)).toBe(-len); // too small: stays queued
      expect(mp.getPacketError()).toBe(ErrorCode.ERR_OUT_OF_MEMORY);
      expect(mp.peekPacketLength()).toBe(len);
      expect(mp.getPacketInto(big, 7)).toBe(len);
      expect(mp.getPacketError()).toBe(ErrorCode.OK);
      const from = mp.getPacketPeer();
      expect(from).toBe(next);
      const body = Buffer.from(big.subarray(7, 7 + len));
      const list = perPeer.get(from) ?? [];
      list.push(mp.wasStringPacket() ? `t:${body.toString()}` : `b:${body.length}:${body[0]}:${body.every((x) => x === body[0])}`);
      perPeer.set(from, list);
      n++;
    }
    expect(n).toBe(40);
    expect(mp.peekPacketLength()).toBe(-1);
    expect(mp.getPacketInto(big)).toBe(0);
    expect(mp.getPacketError()).toBe(ErrorCode.ERR_UNAVAILABLE);
    for (const c of clients) expect(perPeer.get(c.id)).toEqual([`t:hello from ${c.id}`, `b:300:${c.id & 0xff}:true`]);
  });

  it('emits its signals only inside poll(), and peer_disconnected when a client leaves (its packets stay readable)', async () => {
    const mp = server();
    let inPoll = false;
    const outside: string[] = [];
    const gone: number[] = [];
    const joined: number[] = [];
    mp.on('peer_connected', (id) => (inPoll ? joined.push(id) : outside.push(`c${id}`)));
    mp.on('peer_disconnected', (id) => (inPoll ? gone.push(id) : outside.push(`d${id}`)));
    const c = join(mp);
    const deadline = Date.now() + 10_000;
    const pollWatched = () => {
      inPoll = true;
      mp.poll();
      inPoll = false;
    };
    while (joined.length === 0 && Date.now() < deadline) {
      pollWatched();
      await sleep(2);
    }
    // The id frame was written before peer_connected, but reaches the client's 'message' a little later.
    await waitFor(() => c.id !== 0, 'the id at the client');
    expect(joined).toEqual([c.id]);
    c.ws.send('last words');
    await sleep(50);
    c.ws.close(4000, 'bye');
    while (gone.length === 0 && Date.now() < deadline) {
      pollWatched();
      await sleep(2);
    }
    expect(gone).toEqual([c.id]);
    expect(outside).toEqual([]);
    expect(mp.getPacket()).toEqual(bytes('last words'));
    expect(mp.getPacketPeer()).toBe(c.id);
    expect(mp.getPeer(c.id)).toBeNull();
    expect(() => mp.on('nope' as 'peer_connected', () => undefined)).toThrow(TypeError);
  });

  it('disconnectPeer closes with 1000: peer_disconnected on the next poll, or at once and silently with force', async () => {
    const mp = server();
    const { clients } = await joinAll(mp, 2);
    const [a, b] = clients as [Client, Client];
    const gone: number[] = [];
    mp.on('peer_disconnected', (id) => gone.push(id));
    const closedA = new Promise<number>((r) => a.ws.once('close', (code) => r(code)));
    const closedB = new Promise<number>((r) => b.ws.once('close', (code) => r(code)));
    mp.disconnectPeer(a.id);
    mp.disconnectPeer(b.id, true);
    expect(mp.getPeer(b.id)).toBeNull();
    mp.poll();
    expect(gone).toEqual([a.id]);
    expect(await within(closedA, 10_000, 'a closed')).toBe(1000);
    expect(await within(closedB, 10_000, 'b closed')).toBe(1000);
    await sleep(50);
    mp.poll();
    expect(gone).toEqual([a.id]);
  });

  it('refuseNewConnections: new connections are dropped, peers already in stay', async () => {
    const mp = server();
    const { clients } = await joinAll(mp, 1);
    mp.refuseNewConnections = true;
    const late = new WebSocket(`ws://127.0.0.1:${mp.getLocalPort()}/`);
    sockets.push(late);
    let failed = false;
    late.on('error', () => (failed = true));
    late.on('close', () => (failed = true));
    let joined = 0;
    mp.on('peer_connected', () => joined++);
    await pollUntil(mp, () => failed, 'the late client to be turned away');
    expect(joined).toBe(0);
    mp.setTargetPeer(0);
    mp.putPacket(bytes('still here'));
    await pollUntil(mp, () => clients[0]!.msgs.length === 1, 'the old client to get a broadcast');
  });

  it('close(): every peer gets 1001, the server stops, DISCONNECTED with id 0, nothing readable', async () => {
    const mp = server();
    const { clients } = await joinAll(mp, 3);
    clients[0]!.ws.send('unread');
    await pollUntil(mp, () => mp.getAvailablePacketCount() === 1, 'a packet');
    const codes = Promise.all(clients.map((c) => new Promise<number>((r) => c.ws.once('close', (code) => r(code)))));
    const port = mp.getLocalPort();
    mp.close();
    expect(mp.getConnectionStatus()).toBe(ConnectionStatus.CONNECTION_DISCONNECTED);
    expect(mp.getUniqueId()).toBe(0);
    expect(mp.getAvailablePacketCount()).toBe(0);
    expect(mp.getPacket().byteLength).toBe(0);
    expect(mp.getPacketError()).toBe(ErrorCode.ERR_UNCONFIGURED);
    expect(mp.putPacket(bytes('x'))).toBe(ErrorCode.ERR_UNCONFIGURED);
    expect(await within(codes, 10_000, 'the closes')).toEqual([1001, 1001, 1001]);
    const refused = await new Promise<boolean>((r) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on('error', () => r(true));
      ws.on('open', () => {
        ws.terminate();
        r(false);
      });
    });
    expect(refused).toBe(true);
    // And it can serve again.
    expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.OK);
    expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.ERR_ALREADY_IN_USE);
  });

  it('a slow client under slowPeerPolicy skip: it misses publications (counted), the others get every one', async () => {
    const mp = server((m) => {
      m.outboundBufferSize = 256 * 1024;
    });
    const { clients } = await joinAll(mp, 5);
    const slow = clients[0]!;
    const sock = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    sock.pause();
    const msg = Buffer.alloc(8 * 1024, 1);
    mp.setTargetPeer(0);
    // 16 MiB to each client: far past what the kernel buffers for the paused one (~4 MiB here), in bursts
    // of 80 KiB that a client that reads never lets pile up past its 256 KiB budget, even on a busy machine.
    const N = 2000;
    for (let i = 0; i < N; i++) {
      msg.writeUInt32LE(i, 0);
      expect(mp.putPacket(msg)).toBe(ErrorCode.OK);
      if (i % 10 === 9) {
        mp.poll();
        await sleep(5);
      }
    }
    const others = clients.slice(1);
    await pollUntil(mp, () => others.every((c) => c.msgs.length === N), 'every publication at the other clients', 60_000);
    for (const c of others) for (let i = 0; i < N; i += 97) expect(c.msgs[i]!.readUInt32LE(0)).toBe(i);
    const skipped = mp.getPeer(slow.id)!.getSkippedPacketCount();
    expect(skipped).toBeGreaterThan(0);
    const st = await pool.stats();
    expect(st.reduce((a, s) => a + s.fanoutSkipped, 0)).toBeGreaterThanOrEqual(skipped);
    // It reads again: what it gets is whole messages, in order, N - skipped of them.
    sock.resume();
    await pollUntil(mp, () => slow.msgs.length === N - skipped, 'the slow client to catch up', 30_000);
    let last = -1;
    for (const m of slow.msgs) {
      expect(m.length).toBe(msg.length);
      const i = m.readUInt32LE(0);
      expect(i).toBeGreaterThan(last);
      last = i;
    }
  }, 120_000);

  it("a slow client under slowPeerPolicy close is closed with 1008; the others are unaffected", async () => {
    const mp = server((m) => {
      m.outboundBufferSize = 256 * 1024;
      m.slowPeerPolicy = 'close';
    });
    const { clients } = await joinAll(mp, 3);
    const slow = clients[0]!;
    const sock = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    sock.pause();
    const gone: number[] = [];
    mp.on('peer_disconnected', (id) => gone.push(id));
    const msg = Buffer.alloc(8 * 1024, 2);
    mp.setTargetPeer(0);
    const N = 2000; // as above
    for (let i = 0; i < N; i++) {
      mp.putPacket(msg);
      if (i % 10 === 9) {
        mp.poll();
        await sleep(5);
      }
    }
    await pollUntil(mp, () => clients.slice(1).every((c) => c.msgs.length === N), 'the others to get everything', 60_000);
    const st = await pool.stats();
    expect(st.reduce((a, s) => a + s.fanoutClosed, 0)).toBeGreaterThanOrEqual(1);
    // The client sees the 1008 once it reads again (the close frame is behind what it did not read);
    // its answer ends the closing handshake, and the server reports the peer gone.
    const code = new Promise<number>((r) => slow.ws.once('close', (c) => r(c)));
    sock.resume();
    const stop = keepPolling(mp);
    expect(await within(code, 30_000, 'the close at the slow client').finally(stop)).toBe(1008);
    await pollUntil(mp, () => gone.includes(slow.id), 'the slow peer to be disconnected');
    expect(gone).toEqual([slow.id]);
  }, 120_000);
});

describe('WebSocketMultiplayerPeer handshake approval', () => {
  it('handshake_request shows the request; accepted peers join, refused ones get the status and never join, unanswered ones are dropped at the timeout', async () => {
    const mp = server((m) => {
      m.handshakeApproval = true;
      m.handshakeTimeout = 1;
    });
    const requests: number[] = [];
    const joined: number[] = [];
    mp.on('handshake_request', (id) => requests.push(id));
    mp.on('peer_connected', (id) => joined.push(id));
    const url = `ws://127.0.0.1:${mp.getLocalPort()}/game?room=1`;
    const good = new WebSocket(url, { headers: { Origin: 'https://good.example' } });
    const bad = new WebSocket(url, { headers: { Origin: 'https://evil.example' } });
    const silent = new WebSocket(url, { headers: { Origin: 'https://slow.example' } });
    sockets.push(good, bad, silent);
    let badStatus = 0;
    bad.on('unexpected-response', (_req, res) => {
      badStatus = res.statusCode ?? 0;
      res.resume();
    });
    bad.on('error', () => undefined);
    let silentClosed = false;
    silent.on('error', () => (silentClosed = true));
    silent.on('close', () => (silentClosed = true));
    let goodId = 0;
    good.on('message', (d: Buffer) => (goodId ||= d.readInt32LE(0)));
    const answered = new Set<number>();
    let silentId = 0;
    await pollUntil(mp, () => {
      for (const id of requests) {
        if (answered.has(id)) continue;
        const origin = mp.getPeer(id)!.getRequestHeaders().find(([n]) => n.toLowerCase() === 'origin')?.[1];
        expect(mp.getPeer(id)!.getRequestPath()).toBe('/game?room=1');
        expect(mp.getPeer(id)!.getReadyState()).toBe(State.CONNECTING);
        if (origin === 'https://good.example') expect(mp.acceptHandshake(id)).toBe(ErrorCode.OK);
        else if (origin === 'https://evil.example') expect(mp.rejectHandshake(id, 403, 'origin not allowed')).toBe(ErrorCode.OK);
        else silentId = id; // never answered
        answered.add(id);
      }
      return goodId !== 0 && badStatus !== 0 && silentClosed;
    }, 'the three outcomes');
    expect(requests.length).toBe(3);
    expect(joined).toEqual([goodId]);
    expect(badStatus).toBe(403);
    expect(mp.getPeer(silentId)).toBeNull();
    expect(mp.acceptHandshake(silentId)).toBe(ErrorCode.ERR_DOES_NOT_EXIST);
    expect(mp.rejectHandshake(goodId)).toBe(ErrorCode.ERR_DOES_NOT_EXIST);
  });
});

describe('WebSocketMultiplayerPeer client', () => {
  it('joins a ringsocket server: peer_connected(1) once the id arrived, unique id = the server-side id, packets both ways from peer 1', async () => {
    const srv = server();
    const cli = new WebSocketMultiplayerPeer({ pool });
    open.push(cli);
    const ids: number[] = [];
    srv.on('peer_connected', (id) => ids.push(id));
    const up: number[] = [];
    cli.on('peer_connected', (id) => up.push(id));
    expect(cli.createClient(`ws://127.0.0.1:${srv.getLocalPort()}/`)).toBe(ErrorCode.OK);
    expect(cli.getConnectionStatus()).toBe(ConnectionStatus.CONNECTION_CONNECTING);
    expect(cli.createClient('ws://127.0.0.1:1/')).toBe(ErrorCode.ERR_ALREADY_IN_USE);
    await pollUntil([srv, cli], () => up.length === 1 && ids.length === 1, 'both sides connected');
    expect(up).toEqual([1]);
    expect(cli.getUniqueId()).toBe(ids[0]);
    expect(cli.isServer()).toBe(false);
    expect(cli.getConnectionStatus()).toBe(ConnectionStatus.CONNECTION_CONNECTED);
    expect(cli.putPacket(bytes('up'))).toBe(ErrorCode.OK);
    srv.setTargetPeer(0);
    srv.putPacket(bytes('down'));
    await pollUntil([srv, cli], () => srv.getAvailablePacketCount() === 1 && cli.getAvailablePacketCount() === 1, 'a packet each way');
    expect(srv.getPacket()).toEqual(bytes('up'));
    expect(srv.getPacketPeer()).toBe(ids[0]);
    expect(cli.getPacket()).toEqual(bytes('down'));
    expect(cli.getPacketPeer()).toBe(1);
    // The server drops it: the client sees peer_disconnected(1) and is DISCONNECTED.
    const down: number[] = [];
    cli.on('peer_disconnected', (id) => down.push(id));
    srv.disconnectPeer(ids[0]!);
    await pollUntil([srv, cli], () => down.length === 1, 'the client to see the server leave');
    expect(down).toEqual([1]);
    expect(cli.getConnectionStatus()).toBe(ConnectionStatus.CONNECTION_DISCONNECTED);
    expect(cli.getUniqueId()).toBe(0);
  });

  it('a server whose first message is not a 4-byte id >= 2: the client closes it and never reports peer_connected', async () => {
    for (const first of [Buffer.from([1, 2, 3]), Buffer.from([1, 0, 0, 0]), Buffer.from([0, 0, 0, 0x80]), Buffer.from([2, 0, 0, 0, 0])]) {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await new Promise((r) => wss.once('listening', r));
      const closedAt = new Promise<number>((r) => wss.once('connection', (ws) => {
        ws.send(first, { binary: true });
        ws.once('close', (code) => r(code));
      }));
      const cli = new WebSocketMultiplayerPeer({ pool });
      open.push(cli);
      let up = 0;
      cli.on('peer_connected', () => up++);
      expect(cli.createClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`)).toBe(ErrorCode.OK);
      await pollUntil(cli, () => cli.getConnectionStatus() === ConnectionStatus.CONNECTION_DISCONNECTED, 'the client to give up');
      expect(up).toBe(0);
      expect(await within(closedAt, 10_000, 'the close')).toBe(1000);
      await new Promise((r) => wss.close(r));
    }
  });

  it('a server that never sends the id: DISCONNECTED after handshakeTimeout', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const cli = new WebSocketMultiplayerPeer({ pool });
    open.push(cli);
    cli.handshakeTimeout = 0.3;
    const t0 = Date.now();
    expect(cli.createClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`)).toBe(ErrorCode.OK);
    await pollUntil(cli, () => cli.getConnectionStatus() === ConnectionStatus.CONNECTION_DISCONNECTED, 'the timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    for (const ws of wss.clients) ws.terminate();
    await new Promise((r) => wss.close(r));
  });
});

describe('publications larger than a ring record', () => {
  it('cross in fragments and reach every client whole (4 KiB rings: 1 KiB records)', async () => {
    const small = new PeerPool({ threads: 2, outboundRingSize: 4096, inboundRingSize: 4096 });
    try {
      const mp = new WebSocketMultiplayerPeer({ pool: small });
      expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.OK);
      const { clients } = await joinAll(mp, 10);
      const sent = [5000, 1023, 1024, 1025, 20_000].map((n, i) => Buffer.alloc(n, i + 1));
      mp.setTargetPeer(0);
      for (const b of sent) expect(mp.putPacket(b)).toBe(ErrorCode.OK);
      await pollUntil(mp, () => clients.every((c) => c.msgs.length === sent.length), 'every piece at every client');
      for (const c of clients) sent.forEach((b, i) => expect(c.msgs[i]!.equals(b)).toBe(true));
      mp.close();
    } finally {
      await small.close();
    }
  });
});

describe('a worker dies under a multiplayer server', () => {
  it('its peers leave with peer_disconnected; the server listens again, new peers join and get broadcasts', async () => {
    const own = new PeerPool({ threads: 2 });
    try {
      const mp = new WebSocketMultiplayerPeer({ pool: own });
      expect(mp.createServer(0, '127.0.0.1')).toBe(ErrorCode.OK);
      const { clients, connected } = await joinAll(mp, 20);
      const byWorker = new Map<number, number[]>();
      for (const id of connected) {
        const w = workerOfPeer(mp.getPeer(id));
        byWorker.set(w, [...(byWorker.get(w) ?? []), id]);
      }
      const victim = [...byWorker.keys()][0]!;
      const doomed = new Set(byWorker.get(victim));
      const gone: number[] = [];
      mp.on('peer_disconnected', (id) => gone.push(id));
      await crashWorker(own, victim);
      let listening = false;
      const probe = (): void => {
        const sock = connect(mp.getLocalPort(), '127.0.0.1');
        sock.on('connect', () => {
          listening = true;
          sock.destroy();
        });
        sock.on('error', () => setTimeout(probe, 5));
      };
      probe();
      await pollUntil(mp, () => gone.length === doomed.size, 'the dead worker’s peers to leave');
      expect(new Set(gone)).toEqual(doomed);
      const survivors = clients.filter((c) => !doomed.has(c.id));
      // The listening socket may have died with the worker: wait until it is bound again.
      await pollUntil(mp, () => listening, 'the port to accept again');
      const { clients: fresh } = await joinAll(mp, 5);
      mp.setTargetPeer(0);
      mp.putPacket(bytes('after the death'));
      const everyone = [...survivors, ...fresh];
      await pollUntil(mp, () => everyone.every((c) => c.msgs.some((m) => m.toString() === 'after the death')), 'the broadcast to every live client');
      expect(mp.getSubscriberCount('nothing')).toBe(0);
      mp.close();
      for (const c of [...clients, ...fresh]) c.ws.terminate();
    } finally {
      await own.close();
    }
  }, 60_000);
});
