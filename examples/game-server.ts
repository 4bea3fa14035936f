/**
 * A small authoritative game server: a fixed 60 Hz tick that accepts players, drains their inputs,
 * moves them (the server decides positions; clients only send intentions), and sends every client a
 * binary snapshot of all players each tick. The socket work (accept, HTTP upgrade, framing, masking,
 * UTF-8 checks) happens in ringsocket's workers; the tick only polls and copies bytes.
 *
 * Wire protocol (little-endian):
 * - server → client, once, text: `{"type":"welcome","id":<player id>,"tickRate":60,"world":<size>}`
 * - client → server, any number per tick, either
 *   - binary, 12 bytes: `u32 seq, f32 dx, f32 dy`, or
 *   - text JSON: `{"seq":<n>,"dx":<-1..1>,"dy":<-1..1>}`.
 *   dx and dy are clamped to [-1, 1]; one input moves the player by (dx, dy) × `speed`, inside the world.
 *   Malformed inputs are ignored (counted in `badInputs`). At most `maxInputsPerTick` inputs of a player
 *   are applied per tick; the rest wait (a flooding client is slowed by TCP backpressure, not dropped).
 * - server → client, every tick, binary snapshot: `u32 tick, u16 count`, then `count` ×
 *   `(u32 id, u32 lastSeq, f32 x, f32 y)` — `lastSeq` is the last input applied, for client reconciliation.
 *   A client whose outbound buffer is full skips that snapshot (the next one supersedes it).
 *
 * Run: `node dist/examples/game-server.js --port 8080 --host 127.0.0.1 [--tls-key F --tls-cert F]`.
 * In-process: `startGameServer({ port: 0 })`.
 */
import {
  ErrorCode,
  PeerPool,
  State,
  StreamPeerTLS,
  StreamPeerTLSStatus,
  WebSocketPeer,
  type Pem,
} from '../src/index.js';
import { listenOrThrow, parseServerArgs, runIfMain, stopOnSignal } from './listen.js';

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
  /** Snapshots skipped because a client's outbound buffer was full. */
  readonly skippedSnapshots: number;
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
  peer: WebSocketPeer;
  /** 0 until the peer is OPEN and welcomed. */
  id: number;
  lastSeq: number;
  x: number;
  y: number;
}

const decoder = new TextDecoder('utf-8');
const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

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
  const { pool, ownPool, server, tlsOptions, port, url } = listenOrThrow(options, 'game server');

  let players: Player[] = [];
  let tlsPending: StreamPeerTLS[] = [];
  let nextId = 1;
  let tick = 0;
  let welcomed = 0;
  let badInputs = 0;
  let skipped = 0;
  // One snapshot buffer, grown as needed; putPacket copies, so it is reused every tick.
  let snap = new Uint8Array(SNAPSHOT_HEADER_BYTES + 64 * SNAPSHOT_PLAYER_BYTES);

  const addPeer = (stream: Parameters<WebSocketPeer['acceptStream']>[0]): void => {
    const peer = new WebSocketPeer({ pool });
    peer.supportedProtocols = [GAME_PROTOCOL];
    peer.inboundBufferSize = 4096; // inputs are tiny: refuse anything bigger (1009)
    peer.outboundBufferSize = 1 << 20;
    if (peer.acceptStream(stream) === ErrorCode.OK) players.push({ peer, id: 0, lastSeq: 0, x: 0, y: 0 });
  };

  const step = (): void => {
    tick++;
    // 1. New connections (wss: TLS first, then the WebSocket handshake).
    while (server.isConnectionAvailable()) {
      const tcp = server.takeConnection()!;
      if (tlsOptions === null) addPeer(tcp);
      else {
        const tls = new StreamPeerTLS();
        if (tls.acceptStream(tcp, tlsOptions) === ErrorCode.OK) tlsPending.push(tls);
        else tcp.disconnectFromHost();
      }
    }
    if (tlsPending.length !== 0) {
      tlsPending = tlsPending.filter((tls) => {
        tls.poll();
        const s = tls.getStatus();
        if (s === StreamPeerTLSStatus.STATUS_CONNECTED) addPeer(tls);
        return s === StreamPeerTLSStatus.STATUS_HANDSHAKING;
      });
    }
    // 2. Poll, welcome, drain and apply inputs.
    let leaving = false;
    for (const p of players) {
      const peer = p.peer;
      peer.poll();
      const state = peer.getReadyState();
      if (state === State.CLOSED) {
        leaving = true;
        continue;
      }
      if (state !== State.OPEN) continue;
      if (p.id === 0) {
        p.id = nextId++;
        // Spawn on a spiral so that players do not start on top of each other.
        p.x = clamp(world / 2 + Math.cos(p.id) * p.id * 10, 0, world);
        p.y = clamp(world / 2 + Math.sin(p.id) * p.id * 10, 0, world);
        welcomed++;
        peer.sendText(JSON.stringify({ type: 'welcome', id: p.id, tickRate, world }));
        options.onJoin?.(p.id, peer);
      }
      for (let n = 0; n < maxInputs && peer.getAvailablePacketCount() > 0; n++) {
        const bytes = peer.getPacket();
        const input = parseInput(bytes, peer.wasStringPacket());
        if (input === null) {
          badInputs++;
          continue;
        }
        p.lastSeq = input.seq;
        p.x = clamp(p.x + input.dx * speed, 0, world);
        p.y = clamp(p.y + input.dy * speed, 0, world);
      }
    }
    if (leaving) {
      players = players.filter((p) => {
        if (p.peer.getReadyState() !== State.CLOSED) return true;
        if (p.id !== 0) {
          welcomed--;
          options.onLeave?.(p.id, p.peer);
        }
        return false;
      });
    }
    // 3. One snapshot for everyone.
    const size = SNAPSHOT_HEADER_BYTES + welcomed * SNAPSHOT_PLAYER_BYTES;
    if (snap.byteLength < size) snap = new Uint8Array(size * 2);
    const dv = new DataView(snap.buffer);
    dv.setUint32(0, tick >>> 0, true);
    dv.setUint16(4, welcomed, true);
    let o = SNAPSHOT_HEADER_BYTES;
    for (const p of players) {
      if (p.id === 0) continue;
      dv.setUint32(o, p.id, true);
      dv.setUint32(o + 4, p.lastSeq, true);
      dv.setFloat32(o + 8, p.x, true);
      dv.setFloat32(o + 12, p.y, true);
      o += SNAPSHOT_PLAYER_BYTES;
    }
    const bytes = snap.subarray(0, size);
    for (const p of players) {
      if (p.id === 0 || p.peer.getReadyState() !== State.OPEN) continue;
      if (p.peer.putPacket(bytes) === ErrorCode.ERR_OUT_OF_MEMORY) skipped++;
    }
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
    server.stop();
    for (const tls of tlsPending) tls.disconnectFromStream();
    tlsPending = [];
    for (const p of players) p.peer.close(1001, 'server shutting down');
    const deadline = Date.now() + stopTimeoutMs;
    while (players.length !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
      players = players.filter((p) => {
        p.peer.poll();
        return p.peer.getReadyState() !== State.CLOSED;
      });
    }
    for (const p of players) p.peer.close(-1);
    players = [];
    welcomed = 0;
    if (ownPool) await pool.close();
  };

  return {
    port,
    url,
    pool,
    get players() {
      return welcomed;
    },
    get tick() {
      return tick;
    },
    get badInputs() {
      return badInputs;
    },
    get skippedSnapshots() {
      return skipped;
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
