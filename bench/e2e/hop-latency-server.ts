/**
 * Server process of bench/e2e/hop-latency: an echo server of one kind, its port sent over IPC.
 * - `ws`: a ws WebSocketServer on the main thread.
 * - `ringsocket-wait`: TCPServer + WebSocketPeer; the main loop sleeps in `pool.waitForActivity()`.
 * - `ringsocket-immediate`: the same loop polling flat out (setImmediate between passes).
 */
import WebSocket, { WebSocketServer } from 'ws';
import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer } from '../../src/index.js';

export type HopServerKind = 'ws' | 'ringsocket-wait' | 'ringsocket-immediate';

function startWs(): void {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('listening', () => process.send!((wss.address() as { port: number }).port));
  wss.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary })));
}

function startRingsocket(wait: boolean): void {
  const pool = new PeerPool({ threads: 1 });
  const server = new TCPServer({ pool });
  if (server.listen(0, '127.0.0.1') !== ErrorCode.OK) throw new Error('listen failed');
  process.send!(server.getLocalPort());
  const peers: WebSocketPeer[] = [];
  const pass = (): void => {
    while (server.isConnectionAvailable()) {
      const peer = new WebSocketPeer({ pool });
      if (peer.acceptStream(server.takeConnection()!) === ErrorCode.OK) peers.push(peer);
    }
    for (const p of peers) {
      p.poll();
      if (p.getReadyState() !== State.OPEN) continue;
      for (let n = p.getAvailablePacketCount(); n > 0; n--) p.send(p.getPacket());
    }
  };
  if (wait) {
    void (async () => {
      for (;;) {
        pass();
        await pool.waitForActivity(100);
      }
    })();
  } else {
    const loop = (): void => {
      pass();
      setImmediate(loop);
    };
    loop();
  }
}

const kind = process.argv[2] as HopServerKind;
if (kind === 'ws') startWs();
else if (kind === 'ringsocket-wait' || kind === 'ringsocket-immediate') startRingsocket(kind === 'ringsocket-wait');
else throw new TypeError(`unknown server kind ${kind}`);
process.on('disconnect', () => process.exit(0));
