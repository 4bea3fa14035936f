/**
 * examples/game-server: an authoritative 60 Hz loop on a WebSocketMultiplayerPeer. `ws` clients join, get
 * their id (Godot's 4-byte first message) and a welcome with it,
 * send inputs (binary and JSON), and receive a binary snapshot of every player each tick.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { PeerPool, stallWorker } from '../helpers/lib.js';
import { GAME_PROTOCOL, decodeSnapshot, encodeInput, startGameServer, type GameServer, type PlayerState } from '../../dist/examples/game-server.js';
import { closed, openWs, waitFor, within } from '../helpers/server.js';

let pool: PeerPool;
let game: GameServer;

beforeAll(() => {
  pool = new PeerPool({ threads: 2 });
  game = startGameServer({ port: 0, host: '127.0.0.1', pool, speed: 4, world: 1000 });
});

afterAll(async () => {
  await game.stop();
  await pool.close();
});

/** A player: its welcome, and the latest snapshot it received. */
interface Player {
  ws: WebSocket;
  id: number;
  snapshots: number;
  last: { tick: number; players: PlayerState[] } | null;
  ticks: number[];
}

async function join(path = '/play', url = game.url): Promise<Player> {
  const p: Player = { ws: null as unknown as WebSocket, id: 0, snapshots: 0, last: null, ticks: [] };
  let onWelcome!: () => void;
  const welcomed = new Promise<void>((resolve) => (onWelcome = resolve));
  // Listen from construction: the welcome may arrive in the same read as the 101.
  let godotId = 0;
  const { ws } = await openWs(`${url}${path}`, [GAME_PROTOCOL], {}, (data, isBinary) => {
    if (godotId === 0) {
      // WebSocketMultiplayerPeer's handshake (Godot 4): the id, 4 bytes little-endian, comes first.
      expect(isBinary).toBe(true);
      expect(data.length).toBe(4);
      godotId = data.readInt32LE(0);
      return;
    }
    if (!isBinary) {
      const m = JSON.parse(data.toString()) as { type: string; id: number; tickRate: number; world: number };
      if (m.type === 'welcome' && m.tickRate === 60 && m.world === 1000 && m.id === godotId) p.id = m.id;
      onWelcome();
      return;
    }
    // The welcome comes first, then one snapshot per tick.
    if (p.id === 0) throw new Error('a snapshot arrived before the welcome');
    p.last = decodeSnapshot(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    p.snapshots++;
    if (p.ticks.length < 1000) p.ticks.push(p.last.tick);
  });
  p.ws = ws;
  expect(ws.protocol).toBe(GAME_PROTOCOL);
  await within(welcomed, 5000, 'the welcome');
  expect(p.id).toBeGreaterThan(0);
  return p;
}

const me = (p: Player, of: Player = p): PlayerState | undefined => p.last?.players.find((s) => s.id === of.id);

describe('game server', () => {
  it('welcomes each player with a distinct id and snapshots everyone to everyone', async () => {
    const a = await join();
    const b = await join();
    expect(a.id).toBeGreaterThan(0);
    expect(b.id).not.toBe(a.id);
    await waitFor(() => me(a, b) !== undefined && me(b, a) !== undefined, 'each to see the other in a snapshot');
    expect(game.players).toBe(2);
    // Snapshot ticks only go forward, one snapshot per tick.
    await waitFor(() => a.snapshots >= 10, 'ten snapshots');
    for (let i = 1; i < a.ticks.length; i++) expect(a.ticks[i]!).toBeGreaterThan(a.ticks[i - 1]!);
    a.ws.close();
    b.ws.close();
    await waitFor(() => game.players === 0, 'both to leave');
  });

  it('applies binary and JSON inputs authoritatively (clamped), and reports the last input seq', async () => {
    const a = await join();
    const b = await join();
    await waitFor(() => me(a) !== undefined && me(b) !== undefined, 'first snapshots');
    const a0 = me(a)!;
    const b0 = me(b)!;
    // a: 5 binary inputs to the right; b: 3 JSON inputs down, with an out-of-range dy clamped to 1.
    for (let s = 1; s <= 5; s++) a.ws.send(encodeInput(s, 1, 0));
    for (let s = 1; s <= 3; s++) b.ws.send(JSON.stringify({ seq: s, dx: 0, dy: s === 3 ? 50 : 1 }));
    await waitFor(() => me(a)?.lastSeq === 5 && me(b)?.lastSeq === 3, 'inputs applied');
    // Both see the same, server-decided positions.
    await waitFor(() => me(a, b)?.lastSeq === 3 && me(b, a)?.lastSeq === 5, 'each to see the other moved');
    expect(me(a)!.x).toBeCloseTo(Math.min(1000, a0.x + 5 * 4), 3);
    expect(me(a)!.y).toBeCloseTo(a0.y, 3);
    expect(me(b)!.x).toBeCloseTo(b0.x, 3);
    expect(me(b)!.y).toBeCloseTo(Math.min(1000, b0.y + 3 * 4), 3);
    expect(me(b, a)).toEqual(me(a));
    a.ws.close();
    b.ws.close();
    await waitFor(() => game.players === 0, 'both to leave');
  });

  it('ignores malformed inputs and keeps the player in the world bounds', async () => {
    const a = await join();
    await waitFor(() => me(a) !== undefined, 'first snapshot');
    const bad0 = game.badInputs;
    a.ws.send('not json');
    a.ws.send(JSON.stringify({ seq: 1, dx: 'left', dy: 0 }));
    a.ws.send(new Uint8Array(5)); // wrong binary size
    a.ws.send(encodeInput(2, Number.NaN, 0));
    await waitFor(() => game.badInputs - bad0 === 4, 'four bad inputs counted');
    // Run far past the left edge: 400 inputs of -1 move 1600 units, the world is 1000 wide.
    for (let s = 3; s < 403; s++) a.ws.send(encodeInput(s, -1, -1));
    await waitFor(() => me(a)?.lastSeq === 402, 'all inputs applied', 15_000);
    expect(me(a)!.x).toBe(0);
    expect(me(a)!.y).toBe(0);
    a.ws.close();
    await waitFor(() => game.players === 0, 'to leave');
  });

  it('a player who leaves disappears from the others\' snapshots', async () => {
    const a = await join();
    const b = await join();
    await waitFor(() => me(a, b) !== undefined, 'a to see b');
    const seen = closed(b.ws);
    b.ws.close(1000);
    await seen;
    await waitFor(() => a.last !== null && me(a, b) === undefined, 'b to vanish from a\'s snapshots');
    expect(a.last!.players.map((p) => p.id)).toEqual([a.id]);
    a.ws.close();
    await waitFor(() => game.players === 0, 'to leave');
  });

  it('an input larger than the 4 KiB inbound limit gets the sender closed with 1009; others play on', async () => {
    const a = await join();
    const b = await join();
    const seen = closed(b.ws);
    b.ws.send(new Uint8Array(5000));
    expect((await within(seen, 5000, 'b closed')).code).toBe(1009);
    const before = a.snapshots;
    await waitFor(() => a.snapshots > before + 5, 'a to keep receiving snapshots');
    await waitFor(() => me(a, b) === undefined, 'b gone from snapshots');
    a.ws.close();
    await waitFor(() => game.players === 0, 'to leave');
  });

  it('wss: TLS first, then the same game', async () => {
    const fixture = (f: string): string => readFileSync(new URL(`../fixtures/${f}`, import.meta.url), 'utf8');
    const secure = startGameServer({ port: 0, host: '127.0.0.1', pool, tls: { key: fixture('server-key.pem'), cert: fixture('server-cert.pem') } });
    try {
      expect(secure.url).toMatch(/^wss:\/\//);
      let welcome = '';
      let snapshot: { tick: number; players: PlayerState[] } | null = null;
      let idMessage = 0;
      const { ws } = await openWs(`${secure.url}/play`, [GAME_PROTOCOL], { ca: fixture('ca-cert.pem') }, (d, isBinary) => {
        if (idMessage === 0) idMessage = d.readInt32LE(0);
        else if (!isBinary) welcome = d.toString();
        else snapshot = decodeSnapshot(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      });
      await waitFor(() => welcome !== '' && snapshot !== null, 'welcome and a snapshot over TLS');
      const id = (JSON.parse(welcome) as { id: number }).id;
      expect(id).toBe(idMessage);
      expect(snapshot!.players.map((p) => p.id)).toEqual([id]);
      ws.close();
      await waitFor(() => secure.players === 0, 'to leave');
    } finally {
      await secure.stop();
    }
  });
});

describe('game server whose I/O worker falls behind', () => {
  it('holds back the snapshots of ticks while the worker has maxQueuedSnapshots unwritten: clients get fresh ones after, not the queue', async () => {
    const own = new PeerPool({ threads: 1 });
    const g = startGameServer({ port: 0, host: '127.0.0.1', pool: own, maxQueuedSnapshots: 3 });
    try {
      const a = await join('/play', g.url);
      await waitFor(() => a.snapshots > 5, 'snapshots');
      expect(g.heldBackSnapshots).toBe(0);
      // The worker's thread blocked for 600 ms (36 ticks at 60 Hz): after 3 queued, ticks hold theirs back.
      await stallWorker(own, 0, 600);
      const before = a.ticks.length;
      await waitFor(() => g.heldBackSnapshots >= 20, 'ticks holding back their snapshot', 5000);
      await waitFor(() => a.ticks.length > before + 10, 'snapshots after the stall', 5000);
      // What arrived from the stall on: the 3 queued ones, then fresh ticks. A tick number jumps by at least
      // the 20 held back somewhere in it.
      const after = a.ticks.slice(before);
      const jumps = after.slice(1).map((t, i) => t - after[i]!);
      expect(Math.max(...jumps)).toBeGreaterThanOrEqual(20);
      a.ws.close();
    } finally {
      await g.stop();
      await own.close();
    }
  });
});
