import { ErrorCode, WebSocketMultiplayerPeer } from 'ringsocket';

const mp = new WebSocketMultiplayerPeer();   // Godot's many-peer class: one poll() for every peer
const port = Number(process.argv[2] ?? 8080);
if (mp.createServer(port, '127.0.0.1') !== ErrorCode.OK) throw new Error(`cannot listen on 127.0.0.1:${port}`);
console.log(`relay server on ws://127.0.0.1:${mp.getLocalPort()}`);
mp.on('peer_connected', (id) => console.log(`peer ${id} joined`)); // each client first gets its id (4 bytes)
mp.on('peer_disconnected', (id) => console.log(`peer ${id} left`));

const packet = new Uint8Array(65536);        // one buffer for every packet: no allocation per read
const tick = setInterval(() => {
  mp.poll();                                 // costs what arrived, not the number of peers
  while (mp.getAvailablePacketCount() > 0) {
    const n = mp.getPacketInto(packet);
    mp.setTargetPeer(-mp.getPacketPeer());   // everyone but the sender: framed once per I/O worker
    mp.putPacket(packet.subarray(0, n));
  }
}, 16);

process.once('SIGINT', () => {               // Ctrl-C: close every peer with 1001; the process exits on its own
  clearInterval(tick);
  mp.close();
});
