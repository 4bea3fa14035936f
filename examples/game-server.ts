/**
 * A small authoritative game server: a fixed 60 Hz tick that accepts players, drains their inputs,
 * moves them (the server decides positions; clients only send intentions), and sends every client a
 * binary snapshot of all players each tick. The socket work (accept, HTTP upgrade, framing, masking,
 * UTF-8 checks) happens in ringsocket's workers; the tick only polls and copies bytes.
 *
 * It is a `WebSocketMultiplayerPeer` server: one `poll()` per tick for every player (its cost follows
 * what arrived, not the number of players), inputs read with `getPacketInto` into one buffer (no
 * allocation), and the snapshot sent with target 0 — one publication, framed once per I/O worker and
 * written to every socket there.
 *
 * Wire protocol (little-endian):
 * - server → client, first, binary: the player id, 4 bytes int32 (Godot 4's WebSocketMultiplayerPeer
 *   handshake: a Godot client joins as is);
 * - server → client, once, text: `{"type":"welcome","id":<player id>,"tickRate":60,"world":<size>}`
 * - client → server, any number per tick, either
 *   - binary, 12 bytes: `u32 seq, f32 dx, f32 dy`, or
 *   - text JSON: `{"seq":<n>,"dx":<-1..1>,"dy":<-1..1>}`.
 *   dx and dy are clamped to [-1, 1]; one input moves the player by (dx, dy) × `speed`, inside the world.
 *   Malformed inputs are ignored (counted in `badInputs`). At most `maxInputsPerTick` inputs of a player
 *   are applied per tick: when the next input is of a player who reached it, reading stops for this tick
 *   and the rest wait in order (a flooding client is then slowed by TCP backpressure, nothing is dropped).
 * - server → client, every tick, binary snapshot: `u32 tick, u16 count`, then `count` ×
 *   `(u32 id, u32 lastSeq, f32 x, f32 y)` — `lastSeq` is the last input applied, for client reconciliation.
 *   A client whose socket holds more than its outbound buffer (1 MiB) unwritten skips that snapshot (the
 *   next one supersedes it): the multiplayer peer's `slowPeerPolicy` 'skip'. A tick whose I/O workers still
 *   hold `maxQueuedSnapshots` unwritten skips its snapshot for everyone (`getPublishBacklog()`).
 *
 * Run: `node dist/examples/game-server.js --port 8080 --host 127.0.0.1 [--tls-key F --tls-cert F]`.
 * In-process: `startGameServer({ port: 0 })`.
 */
import { ErrorCode, PeerPool, State, TLSOptions, WebSocketMultiplayerPeer, WriteMode, type Pem, type WebSocketPeer } from '../src/index.js';
import { parseServerArgs, runIfMain, stopOnSignal } from './listen.js';

export const SNAPSHOT_HEADER_BYTES = 6;
export const SNAPSHOT_PLAYER_BYTES = 16;
export const INPUT_BYTES = 12;
export const GAME_PROTOCOL = 'game-v1';

export interface GameServerOptions {
  port?: number;
  host?: string;
  tls?: { key: Pem; cert: Pem };
  pool?: PeerPool;
  threads?: number;
  /** Ticks per second. Default 60. */
  tickRate?: number;
  /** The world is a square [0, world) × [0, world). Default 1000. */
  world?: number;
  /** Units one full input (|dx| = 1) moves. Default 4. */
  speed?: number;
  /** Inputs of one player applied per tick. Default 32. */
  maxInputsPerTick?: number;
  /** Most milliseconds `stop()` waits for closing handshakes. Default 3000. */
  stopTimeoutMs?: number;
  /**
   * Snapshots the I/O workers may hold unwritten (`mp.getPublishBacklog()`) before a tick skips its own: when
   * a worker falls behind (more players than its core can write to each tick, or a stalled machine), queued
   * snapshots only grow older, and the next tick's state supersedes a skipped one. Default: 100 ms of ticks
   * (`ceil(tickRate / 10)`, 6 at 60 Hz); `Infinity` never skips.
   */
  maxQueuedSnapshots?: number;
  onJoin?: (id: number, peer: WebSocketPeer) => void;
  onLeave?: (id: number, peer: WebSocketPeer) => void;
}

export interface GameServer {
  readonly port: number;
  readonly url: string;
  /** Players in the game (OPEN peers that were welcomed). */
  readonly players: number;
  /** Ticks run so far. */
  readonly tick: number;
  /** Inputs ignored as malformed. */
  readonly badInputs: number;
  /** Snapshots skipped because a client's socket held more than its outbound buffer (players still in). */
  readonly skippedSnapshots: number;
  /** Ticks whose snapshot was not sent because the I/O workers had `maxQueuedSnapshots` still to write. */
  readonly heldBackSnapshots: number;
  /** The multiplayer peer that serves the game. */
  readonly mp: WebSocketMultiplayerPeer;
  readonly pool: PeerPool;
  /** Close every client with 1001, wait for them (bounded), close the pool if it is the server's own. */
  stop(): Promise<void>;
}

export interface PlayerState {
  id: number;
  lastSeq: number;
  x: number;
  y: number;
}

/** Decode a snapshot (for clients and tests). */
export function decodeSnapshot(bytes: Uint8Array): { tick: number; players: PlayerState[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tick = dv.getUint32(0, true);
  const count = dv.getUint16(4, true);
  if (bytes.byteLength !== SNAPSHOT_HEADER_BYTES + count * SNAPSHOT_PLAYER_BYTES) throw new Error(`bad snapshot length ${bytes.byteLength} for ${count} players`);
  const players: PlayerState[] = [];
  for (let i = 0, o = SNAPSHOT_HEADER_BYTES; i < count; i++, o += SNAPSHOT_PLAYER_BYTES) {
    players.push({ id: dv.getUint32(o, true), lastSeq: dv.getUint32(o + 4, true), x: dv.getFloat32(o + 8, true), y: dv.getFloat32(o + 12, true) });
  }
  return { tick, players };
}

/** Encode a binary input (for clients and tests). */
export function encodeInput(seq: number, dx: number, dy: number): Uint8Array {
  const b = new Uint8Array(INPUT_BYTES);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, seq >>> 0, true);
  dv.setFloat32(4, dx, true);
  dv.setFloat32(8, dy, true);
  return b;
}

interface Player {
  id: number;
  lastSeq: number;
  x: number;
  y: number;
  /** Inputs applied this tick. */
  inputs: number;
}

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();
const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
/** Inputs are at most this big: the peers' inbound limit, and the one buffer they are read into. */
const MAX_INPUT_BYTES = 4096;

/** Parse one input; null when malformed. */
function parseInput(bytes: Uint8Array, text: boolean): { seq: number; dx: number; dy: number } | null {
  let seq: unknown;
  let dx: unknown;
  let dy: unknown;
  if (text) {
    try {
      const o = JSON.parse(decoder.decode(bytes)) as Record<string, unknown> | null;
      if (o === null || typeof o !== 'object') return null;
      ({ seq, dx, dy } = o);
    } catch {
      return null;
    }
  } else {
    if (bytes.byteLength !== INPUT_BYTES) return null;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    seq = dv.getUint32(0, true);
    dx = dv.getFloat32(4, true);
    dy = dv.getFloat32(8, true);
  }
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) return null;
  if (typeof dx !== 'number' || typeof dy !== 'number' || !Number.isFinite(dx) || !Number.isFinite(dy)) return null;
  return { seq, dx: clamp(dx, -1, 1), dy: clamp(dy, -1, 1) };
}

export function startGameServer(options: GameServerOptions = {}): GameServer {
  const tickRate = options.tickRate ?? 60;
  const world = options.world ?? 1000;
  const speed = options.speed ?? 4;
  const maxInputs = options.maxInputsPerTick ?? 32;
  const stopTimeoutMs = options.stopTimeoutMs ?? 3000;
  const periodMs = 1000 / tickRate;
  const host = options.host ?? '127.0.0.1';
  const ownPool = options.pool === undefined;
  const pool = options.pool ?? new PeerPool(options.threads === undefined ? {} : { threads: options.threads });

  const mp = new WebSocketMultiplayerPeer({ pool });
  mp.supportedProtocols = [GAME_PROTOCOL];
  mp.inboundBufferSize = MAX_INPUT_BYTES; // inputs are tiny: refuse anything bigger (1009)
  mp.outboundBufferSize = 1 << 20;
  const tls = options.tls === undefined ? null : TLSOptions.server(options.tls.key, options.tls.cert);
  const err = mp.createServer(options.port ?? 8080, host, tls);
  if (err !== ErrorCode.OK) {
    if (ownPool) void pool.close();
    throw new Error(`game server: createServer(${options.port ?? 8080}, ${host}) failed: ${ErrorCode[err]}`);
  }
  const port = mp.getLocalPort();
  const shownHost = host === '*' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `${tls === null ? 'ws' : 'wss'}://${shownHost}:${port}`;

  const players = new Map<number, Player>();
  let tick = 0;
  let badInputs = 0;
  let heldBack = 0;
  const maxQueued = options.maxQueuedSnapshots ?? Math.ceil(tickRate / 10);
  // One buffer for every input, one for the snapshot (grown as needed): send copies, so both are reused.
  const input = new Uint8Array(MAX_INPUT_BYTES);
  let snap = new Uint8Array(SNAPSHOT_HEADER_BYTES + 64 * SNAPSHOT_PLAYER_BYTES);

  mp.on('peer_connected', (id) => {
    // Spawn on a spiral so that players do not start on top of each other.
    const n = players.size + 1;
    const p: Player = { id, lastSeq: 0, x: clamp(world / 2 + Math.cos(n) * n * 10, 0, world), y: clamp(world / 2 + Math.sin(n) * n * 10, 0, world), inputs: 0 };
    players.set(id, p);
    mp.setTargetPeer(id);
    mp.send(encoder.encode(JSON.stringify({ type: 'welcome', id, tickRate, world })), WriteMode.TEXT);
    options.onJoin?.(id, mp.getPeer(id)!);
  });
  mp.on('peer_disconnected', (id) => {
    players.delete(id);
    options.onLeave?.(id, mp.getPeer(id)!);
  });

  const step = (): void => {
    tick++;
    // 1. Every player at once: new ones (peer_connected), gone ones, and the inputs that arrived.
    mp.poll();
    for (const p of players.values()) p.inputs = 0;
    while (mp.getAvailablePacketCount() > 0) {
      // A player at its cap for this tick: its input and everything behind it wait for the next tick.
      const next = players.get(mp.peekPacketPeer());
      if (next !== undefined && next.inputs >= maxInputs) break;
      const n = mp.getPacketInto(input);
      const p = players.get(mp.getPacketPeer());
      if (p === undefined) continue; // it left; its last inputs no longer matter
      p.inputs++;
      const parsed = parseInput(input.subarray(0, n), mp.wasStringPacket());
      if (parsed === null) {
        badInputs++;
        continue;
      }
      p.lastSeq = parsed.seq;
      p.x = clamp(p.x + parsed.dx * speed, 0, world);
      p.y = clamp(p.y + parsed.dy * speed, 0, world);
    }
    // 2. One snapshot for everyone: one publication, framed once per I/O worker. Unless the workers are
    //    still writing earlier ones: this one would queue behind them and leave late.
    if (mp.getPublishBacklog() > maxQueued) {
      heldBack++;
      return;
    }
    const size = SNAPSHOT_HEADER_BYTES + players.size * SNAPSHOT_PLAYER_BYTES;
    if (snap.byteLength < size) snap = new Uint8Array(size * 2);
    const dv = new DataView(snap.buffer);
    dv.setUint32(0, tick >>> 0, true);
    dv.setUint16(4, players.size, true);
    let o = SNAPSHOT_HEADER_BYTES;
    for (const p of players.values()) {
      dv.setUint32(o, p.id, true);
      dv.setUint32(o + 4, p.lastSeq, true);
      dv.setFloat32(o + 8, p.x, true);
      dv.setFloat32(o + 12, p.y, true);
      o += SNAPSHOT_PLAYER_BYTES;
    }
    mp.setTargetPeer(0);
    mp.putPacket(snap.subarray(0, size));
  };

  // Fixed timestep without drift: each tick is scheduled against the ideal time line; after a stall,
  // late ticks are run back to back (at most 5) rather than silently skipped.
  let nextAt = performance.now() + periodMs;
  let timer: NodeJS.Timeout | null = null;
  let running = true;
  const loop = (): void => {
    if (!running) return;
    const now = performance.now();
    let n = 0;
    while (now >= nextAt && n < 5) {
      step();
      nextAt += periodMs;
      n++;
    }
    if (now >= nextAt) nextAt = now + periodMs; // too far behind: resynchronise
    timer = setTimeout(loop, Math.max(0, nextAt - performance.now()));
  };
  timer = setTimeout(loop, periodMs);

  let stopping: Promise<void> | null = null;
  const stop = async (): Promise<void> => {
    running = false;
    if (timer !== null) clearTimeout(timer);
    // close() sends every player 1001; the workers finish the closing handshakes. Wait for them (bounded).
    const peers = [...players.keys()].map((id) => mp.getPeer(id)!);
    mp.close();
    players.clear();
    const deadline = Date.now() + stopTimeoutMs;
    while (peers.some((p) => p.getReadyState() !== State.CLOSED) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
      for (const p of peers) p.poll();
    }
    for (const p of peers) p.close(-1);
    if (ownPool) await pool.close();
  };

  return {
    port,
    url,
    pool,
    mp,
    get players() {
      return players.size;
    },
    get tick() {
      return tick;
    },
    get badInputs() {
      return badInputs;
    },
    get heldBackSnapshots() {
      return heldBack;
    },
    get skippedSnapshots() {
      let n = 0;
      for (const id of players.keys()) n += mp.getPeer(id)?.getSkippedPacketCount() ?? 0;
      return n;
    },
    stop: () => (stopping ??= stop()),
  };
}

async function main(): Promise<void> {
  const a = parseServerArgs();
  const game = startGameServer({
    port: a.port,
    host: a.host,
    ...(a.tls !== undefined ? { tls: a.tls } : {}),
    ...(a.threads !== undefined ? { threads: a.threads } : {}),
  });
  stopOnSignal('game server', (signal) => `${signal}: closing ${game.players} player(s) with 1001 after ${game.tick} ticks`, () => game.stop());
  // Printed last: whoever reads the URL may signal us at once, so the handlers must be in place.
  console.log(`game server listening on ${game.url} (subprotocol ${GAME_PROTOCOL})`);
}

runIfMain(import.meta.url, main);
