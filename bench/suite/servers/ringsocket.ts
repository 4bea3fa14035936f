/**
 * ringsocket as a user would run it: a TCPServer, every accepted stream handed to a WebSocketPeer
 * with acceptStream, and the main thread polling every peer in a loop (Godot's server loop).
 *
 * Outside tick mode the loop is either flat out (`immediate`: setImmediate between passes) or
 * `paced` (one pass every pacedMs). In tick mode nothing runs between ticks: each tick's ingest()
 * accepts, polls and drains every peer once.
 *
 * Packets are read with `getPacketInto` into one reusable buffer (`--rs-read into`, the default) or with
 * `getPacket` (`--rs-read packet`, a new Uint8Array each). S6 (`game` mode) is another server: see
 * ringsocket-game.ts (WebSocketMultiplayerPeer).
 */
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../../../src/index.js';
import type { ServerConfig, ServerCounters } from '../protocol.js';
import type { Backend } from './backend.js';
import { createRingsocketGame } from './ringsocket-game.js';

interface Entry {
  peer: WebSocketPeer;
  open: boolean;
}

export function createRingsocket(cfg: ServerConfig, counters: ServerCounters): Backend {
  if (cfg.mode === 'game') return createRingsocketGame(cfg, counters);
  const pool = new PeerPool({
    ...(cfg.rsThreads > 0 ? { threads: cfg.rsThreads } : {}),
    ...(cfg.rsYoungMb > 0 ? { workerResourceLimits: { maxYoungGenerationSizeMb: cfg.rsYoungMb } } : {}),
    workerNice: cfg.rsNice,
    // Measuring the spin of waitForActivity (issue #15 item 2): RS_WAIT_SPIN_US in the environment.
    ...(process.env.RS_WAIT_SPIN_US !== undefined ? { waitSpinMicros: Number(process.env.RS_WAIT_SPIN_US) } : {}),
    ...(process.env.RS_WORKER_SPIN_US !== undefined ? { workerSpinMicros: Number(process.env.RS_WORKER_SPIN_US) } : {}),
  });
  const server = new TCPServer({ pool });
  const entries: Entry[] = [];
  const failures = new Map<string, number>();
  let open = 0;
  const echo = cfg.mode === 'echo';
  const into = cfg.rsRead !== 'packet';
  // One buffer for every read: no packet can be longer than a peer's inboundBufferSize.
  const buf = new Uint8Array(cfg.rsInboundBytes > 0 ? cfg.rsInboundBytes : 65535);

  const pass = (): void => {
    while (server.isConnectionAvailable()) {
      const stream = server.takeConnection();
      if (stream === null) break;
      const peer = new WebSocketPeer({ pool });
      if (cfg.rsInboundBytes > 0) peer.inboundBufferSize = cfg.rsInboundBytes;
      // S7: as a user turns it on (defaults: threshold 1024, level 6, hibernateAfterMs 10 s).
      if (cfg.deflate !== '') peer.perMessageDeflate = true;
      const code = peer.acceptStream(stream);
      if (code === ErrorCode.OK) entries.push({ peer, open: false });
      else failures.set(`acceptStream ${code}`, (failures.get(`acceptStream ${code}`) ?? 0) + 1);
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const p = e.peer;
      p.poll();
      const state = p.getReadyState();
      if (state === State.OPEN) {
        if (!e.open) {
          e.open = true;
          open++;
          counters.opened++;
        }
        let n = p.getAvailablePacketCount();
        if (into) {
          while (n-- > 0) {
            const len = p.getPacketInto(buf);
            counters.consumed++;
            counters.consumedBytes += len;
            if (echo) {
              if (p.send(buf.subarray(0, len)) === ErrorCode.OK) counters.echoed++;
              else counters.sendFailed++;
            }
          }
        } else {
          while (n-- > 0) {
            const pkt = p.getPacket();
            counters.consumed++;
            counters.consumedBytes += pkt.byteLength;
            if (echo) {
              if (p.send(pkt) === ErrorCode.OK) counters.echoed++;
              else counters.sendFailed++;
            }
          }
        }
      } else if (state === State.CLOSED) {
        if (e.open) open--;
        counters.closed++;
        const why = p.getFailureReason() || `code ${p.getCloseCode()}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
        entries[i] = entries[entries.length - 1]!;
        entries.pop();
        i--;
      }
    }
  };

  return {
    async listen() {
      const code = server.listen(0, '127.0.0.1');
      if (code !== ErrorCode.OK) throw new Error(`TCPServer.listen failed: ErrorCode ${code}`);
      if (cfg.mode !== 'tick') {
        if (cfg.rsLoop === 'wait') {
          // Sleep until a worker publishes something (PeerPool.waitForActivity), then one pass.
          const loop = async (): Promise<void> => {
            for (;;) {
              pass();
              await pool.waitForActivity(100);
            }
          };
          void loop();
        } else if (cfg.rsLoop === 'immediate') {
          const loop = (): void => {
            pass();
            setImmediate(loop);
          };
          setImmediate(loop);
        } else {
          const loop = (): void => {
            pass();
            setTimeout(loop, cfg.pacedMs);
          };
          setTimeout(loop, cfg.pacedMs);
        }
      }
      return server.getLocalPort();
    },
    openCount: () => open,
    ingest: pass,
    broadcast(data) {
      for (const e of entries) {
        if (!e.open) continue;
        if (e.peer.send(data) === ErrorCode.OK) counters.snapshotsSent++;
        else counters.snapshotsFailed++;
      }
    },
    async extra() {
      const stats = await pool.stats();
      counters.received = stats.reduce((a, s) => a + s.messagesIn, 0);
      return { threads: pool.threads, workers: stats, closeReasons: Object.fromEntries(failures) };
    },
  };
}
