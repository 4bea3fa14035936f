import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode } from 'ringsocket';

const pool = new PeerPool();                 // I/O workers: accept, TLS, HTTP upgrade, framing
const server = new TCPServer({ pool });
const port = Number(process.argv[2] ?? 8080);
if (server.listen(port, '127.0.0.1') !== ErrorCode.OK) throw new Error(`cannot listen on 127.0.0.1:${port}`);
console.log(`echo server on ws://127.0.0.1:${server.getLocalPort()}`);
const peers: WebSocketPeer[] = [];

const tick = setInterval(() => {             // the Godot server loop
  while (server.isConnectionAvailable()) {
    const peer = new WebSocketPeer({ pool });
    peer.acceptStream(server.takeConnection()!); // wss: StreamPeerTLS.acceptStream(conn, TLSOptions.server(key, cert)) first
    peers.push(peer);
  }
  for (const peer of peers) {
    peer.poll();
    while (peer.getReadyState() === State.OPEN && peer.getAvailablePacketCount() > 0) {
      const bytes = peer.getPacket();
      peer.send(bytes, peer.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY); // echo, same type
    }
  }
  for (let i = peers.length - 1; i >= 0; i--) if (peers[i]!.getReadyState() === State.CLOSED) peers.splice(i, 1);
}, 16);

process.once('SIGINT', () => {               // Ctrl-C: stop, close every peer with 1001, exit on its own
  clearInterval(tick);
  server.stop();
  void pool.close();
});
