import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode } from 'ringsocket';

const pool = new PeerPool();
const server = new TCPServer({ pool });
const port = Number(process.argv[2] ?? 8080);
if (server.listen(port, '127.0.0.1') !== ErrorCode.OK) throw new Error(`cannot listen on 127.0.0.1:${port}`);
console.log(`echo server on ws://127.0.0.1:${server.getLocalPort()}`);
let peers: WebSocketPeer[] = [];
let stopping = false;
process.once('SIGINT', () => (stopping = true));

while (!stopping) {
  await pool.waitForActivity();              // true as soon as the next poll() has something; false after 1 s
  while (server.isConnectionAvailable()) {
    const peer = new WebSocketPeer({ pool });
    peer.acceptStream(server.takeConnection()!);
    peers.push(peer);
  }
  for (const peer of peers) {
    peer.poll();
    while (peer.getReadyState() === State.OPEN && peer.getAvailablePacketCount() > 0) {
      const bytes = peer.getPacket();
      peer.send(bytes, peer.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY);
    }
  }
  peers = peers.filter((peer) => peer.getReadyState() !== State.CLOSED);
}
server.stop();
await pool.close();                          // closes every peer with 1001; the process then exits
