/**
 * The main thread's inbound queue of one peer (PeerEndpoint), fed from a real ring as PoolEngine.pump()
 * feeds it: packets wait as (slab, offset, length) numbers and become a Uint8Array in take(). Runs of
 * packets share a slab segment; packets over SLAB_MAX_PACKET and reassembled fragments are segments of
 * their own. No sockets: the worker side is a RingProducer in this thread.
 */
import { describe, expect, it } from 'vitest';
import { allocRing, RingConsumer, RingProducer, SLAB_BYTES, SLAB_MAX_PACKET } from '../../dist/src/protocol/ring.js';
import { EV_MSG_BINARY, EV_MSG_TEXT, FLAG_FIRST, FLAG_LAST } from '../../dist/src/protocol/records.js';
import { PeerEndpoint, ARRIVED_OPEN } from '../../dist/src/peer-endpoint.js';
import { byteAt, mulberry32 } from '../helpers/prng.js';

const SLOT = 3;

/** An endpoint bound to slot 3 of a stand-in worker link (its slot table is real shared memory). */
function endpoint() {
  const slots = new Int32Array(new SharedArrayBuffer(64 * 32));
  let wakes = 0;
  const ep = new PeerEndpoint();
  const link = { index: 0, slots, dead: false, command: () => undefined, message: () => undefined, publishTo: () => undefined, wake: () => wakes++, streams: new Map(), tlsContexts: new Set<number>() };
  ep.bind(link, SLOT);
  ep.arrived = ARRIVED_OPEN;
  return { ep, slots, wakes: () => wakes };
}

function fill(dst: Uint8Array, at: number, seq: number, len: number): void {
  for (let i = 0; i < len; i++) dst[at + i] = byteAt(seq, i);
}

function isPacket(p: Uint8Array, seq: number, len: number): boolean {
  if (p.byteLength !== len) return false;
  for (let i = 0; i < len; i++) if (p[i] !== byteAt(seq, i)) return false;
  return true;
}

interface Sent {
  seq: number;
  len: number;
  text: boolean;
}

/** Push messages into the ring as the worker does (fragmenting those over maxRecordPayload), drain them into `ep`. */
function deliver(p: RingProducer, c: RingConsumer, ep: PeerEndpoint, msgs: Sent[]): void {
  for (const m of msgs) {
    const kind = m.text ? EV_MSG_TEXT : EV_MSG_BINARY;
    const whole = new Uint8Array(m.len);
    fill(whole, 0, m.seq, m.len);
    let off = 0;
    do {
      const n = Math.min(p.maxRecordPayload, m.len - off);
      const flags = (off === 0 ? FLAG_FIRST : 0) | (off + n === m.len ? FLAG_LAST : 0);
      const at = p.reserve(n, SLOT, kind | flags, off === 0 ? m.len : 0);
      if (at < 0) throw new Error('ring full in the test');
      p.data.set(whole.subarray(off, off + n), at);
      off += n;
    } while (off < m.len);
  }
  p.publish();
  c.begin();
  while (c.next()) ep.onMessageRecord(c, (c.kind & 0xff) === EV_MSG_TEXT);
  c.release();
  ep.reveal();
}

describe('PeerEndpoint inbound queue', () => {
  it('hands out every packet in order with its bytes and text flag: slab runs, own buffers, fragments, growth', () => {
    const sab = allocRing(1 << 22); // records up to 1 MiB: 1.5 MB messages arrive as 2 fragments
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    const { ep, slots } = endpoint();
    const rnd = mulberry32(11);
    const sizes = [0, 1, 64, 200, 4096, SLAB_MAX_PACKET, SLAB_MAX_PACKET + 1, 100_000, 1_500_000];
    let seq = 0;
    let expectSeq = 0;
    const sent: Sent[] = [];
    let consumed = 0;
    const buffers = new Set<ArrayBufferLike>();
    for (let round = 0; round < 60; round++) {
      const burst: Sent[] = [];
      // Bursts of 1..40: the queue grows past its first 4 entries, and segments span several bursts.
      const n = 1 + Math.floor(rnd() * 40);
      for (let k = 0; k < n; k++) {
        const len = sizes[Math.floor(rnd() * sizes.length)]!;
        if (len > 50_000 && rnd() < 0.9) continue; // mostly small ones, as in real traffic
        burst.push({ seq: seq++, len, text: rnd() < 0.3 });
      }
      deliver(p, c, ep, burst);
      sent.push(...burst);
      // Take some (not always all): packets from earlier bursts wait behind the new ones.
      let take = round % 3 === 2 ? ep.available() : Math.floor(rnd() * (ep.available() + 1));
      while (take-- > 0) {
        const want = sent[expectSeq]!;
        expect(ep.nextIsText()).toBe(want.text);
        const pkt = ep.take();
        expect(isPacket(pkt, want.seq, want.len)).toBe(true);
        if (want.len <= SLAB_MAX_PACKET) {
          expect(pkt.buffer.byteLength).toBe(SLAB_BYTES);
          expect(pkt.byteOffset % 8).toBe(0);
        } else {
          expect(pkt.byteOffset).toBe(0);
          expect(pkt.buffer.byteLength).toBe(want.len);
        }
        buffers.add(pkt.buffer);
        consumed += want.len;
        expectSeq++;
      }
    }
    while (ep.available() > 0) {
      const want = sent[expectSeq++]!;
      expect(ep.nextIsText()).toBe(want.text);
      expect(isPacket(ep.take(), want.seq, want.len)).toBe(true);
      consumed += want.len;
    }
    expect(expectSeq).toBe(sent.length);
    expect(sent.length).toBeGreaterThan(500);
    // The mix did happen: fragmented messages and packets with a buffer of their own among slab ones.
    expect(sent.some((m) => m.len > p.maxRecordPayload)).toBe(true);
    expect(sent.filter((m) => m.len > SLAB_MAX_PACKET && m.len <= p.maxRecordPayload).length).toBeGreaterThan(3);
    // Credit went back to the worker's slot: bytes and messages consumed.
    expect(ep.consumedMsgs).toBe(sent.length);
    expect(ep.consumedBytes).toBe(consumed >>> 0);
    expect(Atomics.load(slots, SLOT * 8 + 1)).toBe(sent.length);
    // Several slabs were used, and packets of one slab were handed out from it.
    expect([...buffers].filter((b) => b.byteLength === SLAB_BYTES).length).toBeGreaterThan(1);
  });

  it('packets taken earlier keep their bytes while later ones arrive and the ring is reused', () => {
    const sab = allocRing(1 << 14);
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    const { ep } = endpoint();
    const kept: { seq: number; pkt: Uint8Array }[] = [];
    let seq = 0;
    for (let round = 0; round < 200; round++) {
      const burst: Sent[] = [];
      for (let k = 0; k < 5; k++) burst.push({ seq: seq++, len: 100 + ((round * 7 + k) % 300), text: false });
      deliver(p, c, ep, burst);
      while (ep.available() > 0) kept.push({ seq: kept.length, pkt: ep.take() });
    }
    for (const k of kept) expect(isPacket(k.pkt, k.seq, k.pkt.byteLength)).toBe(true);
    // No two packets overlap in memory.
    const byBuf = new Map<ArrayBufferLike, Uint8Array[]>();
    for (const { pkt } of kept) byBuf.set(pkt.buffer, [...(byBuf.get(pkt.buffer) ?? []), pkt]);
    for (const list of byBuf.values()) {
      list.sort((a, b) => a.byteOffset - b.byteOffset);
      for (let i = 1; i < list.length; i++) expect(list[i]!.byteOffset).toBeGreaterThanOrEqual(list[i - 1]!.byteOffset + list[i - 1]!.byteLength);
    }
  });

  it('an emptied queue is given back after 64 polls find it empty, and works again after', () => {
    const sab = allocRing(1 << 16);
    const p = new RingProducer(sab);
    const c = new RingConsumer(sab);
    const { ep } = endpoint();
    // 100 packets grow the queue past 64 entries (a small one is kept for good).
    deliver(p, c, ep, Array.from({ length: 100 }, (_, i) => ({ seq: i, len: 64, text: i % 2 === 0 })));
    for (let i = 0; i < 100; i++) expect(isPacket(ep.take(), i, 64)).toBe(true);
    for (let i = 0; i < 64; i++) ep.reveal();
    deliver(p, c, ep, [{ seq: 500, len: 10, text: true }]);
    expect(ep.available()).toBe(1);
    expect(ep.nextIsText()).toBe(true);
    expect(isPacket(ep.take(), 500, 10)).toBe(true);
  });
});
