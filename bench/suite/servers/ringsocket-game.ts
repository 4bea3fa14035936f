/**
 * ringsocket as a game server at scale (S6) would run it: `WebSocketMultiplayerPeer`, one `poll()` per
 * tick (O(workers + packets + events), not O(peers)), every input read with `getPacketInto` into one
 * reusable buffer, and the snapshot sent to every peer with `setTargetPeer(0); putPacket(snapshot)`: one
 * publication, framed once per worker.
 *
 * Godot 4's wire behaviour: each client's first message is its id (4 bytes); the suite's load skips it.
 */
import { ErrorCode, PeerPool, WebSocketMultiplayerPeer } from '../../../src/index.js';
import type { ServerConfig, ServerCounters } from '../protocol.js';
import type { Backend } from './backend.js';

export function createRingsocketGame(cfg: ServerConfig, counters: ServerCounters): Backend {
  const pool = new PeerPool({
    ...(cfg.rsThreads > 0 ? { threads: cfg.rsThreads } : {}),
    ...(cfg.rsYoungMb > 0 ? { workerResourceLimits: { maxYoungGenerationSizeMb: cfg.rsYoungMb } } : {}),
    workerNice: cfg.rsNice,
  });
  const mp = new WebSocketMultiplayerPeer({ pool });
  if (cfg.rsInboundBytes > 0) mp.inboundBufferSize = cfg.rsInboundBytes;
  const buf = new Uint8Array(mp.inboundBufferSize);
  let open = 0;
  mp.on('peer_connected', () => {
    open++;
    counters.opened++;
  });
  mp.on('peer_disconnected', () => {
    open--;
    counters.closed++;
  });
  mp.setTargetPeer(0);

  const poll = (): void => {
    mp.poll();
    let n = mp.getAvailablePacketCount();
    while (n-- > 0) {
      const len = mp.getPacketInto(buf);
      counters.consumed++;
      counters.consumedBytes += len;
    }
  };

  return {
    async listen() {
      const code = mp.createServer(0, '127.0.0.1');
      if (code !== ErrorCode.OK) throw new Error(`WebSocketMultiplayerPeer.createServer failed: ErrorCode ${code}`);
      return mp.getLocalPort();
    },
    openCount: () => open,
    ingest: poll,
    broadcast(data) {
      if (open === 0) return;
      // --rs-skip-behind: a snapshot queued behind others leaves late; skip it while a worker is behind.
      if (cfg.rsSkipBehind >= 0 && mp.getPublishBacklog() > cfg.rsSkipBehind) {
        counters.snapshotsSkipped += open;
        return;
      }
      if (mp.putPacket(data) === ErrorCode.OK) counters.snapshotsSent += open;
      else counters.snapshotsFailed += open;
    },
    async extra() {
      const stats = await pool.stats();
      counters.received = stats.reduce((a, s) => a + s.messagesIn, 0);
      return { threads: pool.threads, workers: stats };
    },
  };
}
