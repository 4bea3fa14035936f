import { WebSocketPeer, State } from 'ringsocket';

const url = process.argv[2] ?? 'ws://127.0.0.1:8080';
const peer = new WebSocketPeer();            // uses a shared worker pool, created on first use
peer.connectToUrl(url);
let sent = 0;
let echoes = 0;

const tick = setInterval(() => {             // your game loop's tick
  peer.poll();                               // what the network brought becomes visible here
  const state = peer.getReadyState();
  if (state === State.OPEN) {
    while (peer.getAvailablePacketCount() > 0) {
      const bytes = peer.getPacket();        // a Uint8Array you own
      const kind = peer.wasStringPacket() ? 'text' : 'binary';
      console.log(`echo (${kind}): ${new TextDecoder().decode(bytes)}`);
      if (++echoes === 3) peer.close(1000, 'done');
    }
    if (sent < 3) peer.sendText(`hello ${++sent}`);
  } else if (state === State.CLOSED) {
    const code = peer.getCloseCode();        // -1: not a clean close; getFailureReason() says why
    console.log('closed', code, code === -1 ? peer.getFailureReason() : peer.getCloseReason());
    if (code === -1) process.exitCode = 1;
    clearInterval(tick);                     // nothing else holds the process: it exits
  }
}, 16);
