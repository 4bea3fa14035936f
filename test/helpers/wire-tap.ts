/**
 * A TCP relay on 127.0.0.1 between a WebSocket client and server that records what crosses the wire:
 * each data message's first-frame RSV1 bit and its bytes on the wire, in each direction. For peers whose
 * sockets a test cannot reach (Chromium, python-websockets): it shows whether what they exchanged with a
 * ringsocket end was compressed (RFC 7692: RSV1 on a compressed message's first frame) and how small.
 * Frames are parsed as they stream through; payloads are counted, never buffered.
 */
import net from 'node:net';
import { once } from 'node:events';

export interface TapMessage {
  /** 1 text, 2 binary. */
  opcode: number;
  /** RSV1 on the first frame: compressed. */
  rsv1: boolean;
  /** Payload bytes on the wire, summed over its frames. */
  wireBytes: number;
  frames: number;
}

/** One direction's frame parser: head skipped up to the blank line, then frames. */
class Direction {
  readonly messages: TapMessage[] = [];
  #inHead = true;
  #head = '';
  #hdr = Buffer.alloc(0);
  #skip = 0;
  #current: TapMessage | null = null;

  push(chunk: Buffer): void {
    let off = 0;
    if (this.#inHead) {
      this.#head += chunk.toString('latin1');
      const end = this.#head.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.#inHead = false;
      off = chunk.length - (this.#head.length - (end + 4));
    }
    while (off < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - off);
        this.#skip -= n;
        off += n;
        continue;
      }
      // Gather a whole header (2–14 bytes) before reading it.
      const take = Math.min(14 - this.#hdr.length, chunk.length - off);
      this.#hdr = Buffer.concat([this.#hdr, chunk.subarray(off, off + take)]);
      const used = this.#header();
      if (used < 0) {
        off += take;
        continue;
      }
      // Bytes gathered past the header are payload: give them back (they all came from this chunk, since
      // what was gathered before was not a whole header).
      off += take - (this.#hdr.length - used);
      this.#hdr = Buffer.alloc(0);
    }
  }

  /** Reads one frame header from #hdr: its length, or -1 when incomplete. Sets #skip to its payload. */
  #header(): number {
    const h = this.#hdr;
    if (h.length < 2) return -1;
    const b0 = h[0]!;
    const b1 = h[1]!;
    let len = b1 & 0x7f;
    let at = 2;
    if (len === 126) {
      if (h.length < 4) return -1;
      len = h.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (h.length < 10) return -1;
      len = Number(h.readBigUInt64BE(2));
      at = 10;
    }
    if ((b1 & 0x80) !== 0) at += 4;
    if (h.length < at) return -1;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (opcode === 1 || opcode === 2) this.#current = { opcode, rsv1: (b0 & 0x40) !== 0, wireBytes: 0, frames: 0 };
    if (opcode < 8 && this.#current !== null) {
      this.#current.wireBytes += len;
      this.#current.frames++;
      if (fin) {
        this.messages.push(this.#current);
        this.#current = null;
      }
    }
    this.#skip = len;
    return at;
  }
}

export interface WireTap {
  port: number;
  /** Client → server data messages. */
  toServer: TapMessage[];
  /** Server → client data messages. */
  toClient: TapMessage[];
  close(): Promise<void>;
}

/** Relay connections made to the returned port on to `targetPort`. */
export async function startWireTap(targetPort: number): Promise<WireTap> {
  const up = new Direction();
  const down = new Direction();
  const socks = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    socks.add(client);
    socks.add(target);
    client.on('data', (d: Buffer) => {
      up.push(d);
      target.write(d);
    });
    target.on('data', (d: Buffer) => {
      down.push(d);
      client.write(d);
    });
    client.on('end', () => target.end());
    target.on('end', () => client.end());
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
    client.on('close', () => socks.delete(client));
    target.on('close', () => socks.delete(target));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    toServer: up.messages,
    toClient: down.messages,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
