import { ErrorCode, PeerPool, State, TCPServer, WebSocketPeer, WriteMode } from 'ringsocket';

const pool = new PeerPool({ handshakeTimeout: 3000 }); // ms from TCP accept to our answer (then 503)
const server = new TCPServer({ pool });
const port = Number(process.argv[2] ?? 8080);
const allowed = process.argv[3] ?? 'https://game.example'; // the page's origin, as the browser sends it
if (server.listen(port, '127.0.0.1') !== ErrorCode.OK) throw new Error(`cannot listen on 127.0.0.1:${port}`);
console.log(`echo server on ws://127.0.0.1:${server.getLocalPort()} for pages from ${allowed}`);
const peers: WebSocketPeer[] = [];

const tick = setInterval(() => {
  while (server.isConnectionAvailable()) {
    const peer = new WebSocketPeer({ pool });
    peer.handshakeApproval = true;           // valid requests wait for our answer
    peer.acceptStream(server.takeConnection()!);
    peers.push(peer);
  }
  for (const peer of peers) {
    peer.poll();
    if (peer.hasPendingHandshake()) {        // CONNECTING; the request is readable
      const origin = peer.getRequestHeaders().find(([name]) => name.toLowerCase() === 'origin')?.[1];
      if (origin === allowed) peer.acceptHandshake(); // the 101: OPEN on a later poll
      else peer.rejectHandshake(403, 'origin not allowed'); // HTTP 403, socket closed; CLOSED now
      continue;
    }
    while (peer.getReadyState() === State.OPEN && peer.getAvailablePacketCount() > 0) {
      const bytes = peer.getPacket();
      peer.send(bytes, peer.wasStringPacket() ? WriteMode.TEXT : WriteMode.BINARY);
    }
  }
  for (let i = peers.length - 1; i >= 0; i--) if (peers[i]!.getReadyState() === State.CLOSED) peers.splice(i, 1);
}, 16);

process.once('SIGINT', () => {
  clearInterval(tick);
  server.stop();
  void pool.close();
});
