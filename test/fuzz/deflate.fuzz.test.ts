/**
 * Properties of permessage-deflate (workers/deflate-negotiation.ts, workers/deflate.ts):
 * - negotiation: for any client and server configurations and any list of offers built from valid and
 *   invalid parameters, the server never throws; what it accepts the client takes, and both sides end
 *   with the same params; whenever ws's server accepts the same header, ours accepts too, and when both
 *   took the same offer, with the same params;
 * - compression: any sequence of messages, under any negotiated params, compressed by us and inflated
 *   in random slices by us and by ws (the reference) comes back byte-exact, in order.
 * Run counts: test/helpers/fuzz.ts (FUZZ_RUNS, FUZZ_SEED).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INFLATE_OK, PerMessageDeflate, type InflateSink } from '../../dist/workers/deflate.js';
import { clientAccept, clientOffer, serverNegotiate, type DeflateConfig, type DeflateParams } from '../../dist/workers/deflate-negotiation.js';
import { fuzzParams, fuzzTimeout } from '../helpers/fuzz.js';
import { mulberry32 } from '../helpers/prng.js';
import { fromWs, WsPerMessageDeflate, wsExtension, type WsParams } from '../helpers/ws-deflate.js';

const bits = fc.integer({ min: 8, max: 15 });
const configArb: fc.Arbitrary<DeflateConfig> = fc.record(
  {
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
    serverMaxWindowBits: bits,
    clientMaxWindowBits: fc.oneof(bits, fc.constant(false as const)),
  },
  { requiredKeys: [] },
);

/** One parameter of an offer: valid or not. */
const paramArb = fc.oneof(
  fc.constantFrom('server_no_context_takeover', 'client_no_context_takeover', 'client_max_window_bits', 'server_max_window_bits', 'foo', 'server_no_context_takeover=1'),
  fc.tuple(fc.constantFrom('server_max_window_bits', 'client_max_window_bits'), fc.oneof(bits.map(String), fc.constantFrom('7', '16', 'abc', '"10"', '"9"'))).map(([k, v]) => `${k}=${v}`),
);
const offerArb = fc.array(paramArb, { maxLength: 4 }).map((ps) => ['permessage-deflate', ...ps].join('; '));
const headerArb = fc.array(fc.oneof({ weight: 4, arbitrary: offerArb }, { weight: 1, arbitrary: fc.constant('x-foo; bar') }), { minLength: 1, maxLength: 4 }).map((xs) => xs.join(', '));

/** ws's server on the same header: its params and the index of the offer it took, or null. */
function wsServerPick(header: string, config: DeflateConfig): { params: DeflateParams; offer: number } | null {
  const offers = wsExtension.parse(header)['permessage-deflate'];
  if (offers === undefined) return null;
  let params: WsParams;
  try {
    params = new WsPerMessageDeflate({ ...config, isServer: true }).accept(offers);
  } catch {
    return null;
  }
  return { params: fromWs(params), offer: offers.indexOf(params as never) };
}

describe('negotiation properties', () => {
  it('client offer → server → client: same params on both sides', () => {
    fc.assert(
      fc.property(configArb, configArb, (client, server) => {
        const s = serverNegotiate(clientOffer(client), server);
        if (s.kind !== 'accept') {
          // Only the server's demand for a client window limit the client did not offer declines it.
          expect(s.kind).toBe('none');
          expect(client.clientMaxWindowBits).toBe(false);
          return;
        }
        const c = clientAccept(s.response, client);
        expect(c).toEqual({ ok: true, params: s.params });
        const p = s.params;
        if (client.serverNoContextTakeover || server.serverNoContextTakeover) expect(p.serverNoContextTakeover).toBe(true);
        if (client.clientNoContextTakeover || server.clientNoContextTakeover) expect(p.clientNoContextTakeover).toBe(true);
        expect(p.serverMaxWindowBits).toBeLessThanOrEqual(Math.min(client.serverMaxWindowBits ?? 15, server.serverMaxWindowBits ?? 15));
        if (typeof client.clientMaxWindowBits === 'number') expect(p.clientMaxWindowBits).toBeLessThanOrEqual(client.clientMaxWindowBits);
      }),
      fuzzParams(500),
    );
  });

  it('any offers: never throws; accepts whenever ws accepts; same params when both take the same offer', () => {
    fc.assert(
      fc.property(headerArb, configArb, (header, config) => {
        const ours = serverNegotiate(header, config);
        expect(ours.kind).not.toBe('refuse'); // the grammar is valid by construction
        const ws = wsServerPick(header, config);
        if (ws === null) return;
        expect(ours.kind).toBe('accept');
        // ws, told clientMaxWindowBits: false, drops an offered client_max_window_bits=N from its answer and
        // inflates with 15; we echo N (both valid: the client compresses with ≤ N either way).
        const clientBits = config.clientMaxWindowBits === false && ours.kind === 'accept' ? ours.params.clientMaxWindowBits : ws.params.clientMaxWindowBits;
        if (ours.kind === 'accept' && ours.offer === ws.offer) expect(ours.params).toEqual({ ...ws.params, clientMaxWindowBits: clientBits });
        if (ours.kind === 'accept') expect(clientAccept(ours.response, {})).toEqual({ ok: true, params: ours.params });
      }),
      fuzzParams(1000),
    );
  });
});

const paramsArb: fc.Arbitrary<DeflateParams> = fc.record({ serverNoContextTakeover: fc.boolean(), clientNoContextTakeover: fc.boolean(), serverMaxWindowBits: bits, clientMaxWindowBits: bits });
const messageArb = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.string({ unit: 'binary', maxLength: 1500 }).map((s) => new Uint8Array(Buffer.from(s.repeat(3)))),
  fc.tuple(fc.nat(40_000), fc.nat(255)).map(([n, b]) => new Uint8Array(n).fill(b)),
);

class Collect implements InflateSink {
  parts: Buffer[] = [];
  inflated(bytes: Uint8Array, start: number, end: number): void {
    this.parts.push(Buffer.from(bytes.subarray(start, end)));
  }
}

describe('compression properties', () => {
  it(
    'messages come back byte-exact and in order, through us (random slices) and through ws',
    async () => {
      await fc.assert(
        fc.asyncProperty(paramsArb, fc.array(messageArb, { minLength: 1, maxLength: 8 }), fc.integer(), async (params, messages, seed) => {
          const rand = mulberry32(seed);
          const server = new PerMessageDeflate(params, true, { maxPayload: 0, threshold: 0 });
          const client = new PerMessageDeflate(params, false, { maxPayload: 0, threshold: 0 });
          const ws = new WsPerMessageDeflate({ isServer: false, threshold: 0 });
          ws.params = { server_max_window_bits: params.serverMaxWindowBits, client_max_window_bits: params.clientMaxWindowBits };
          if (params.serverNoContextTakeover) ws.params.server_no_context_takeover = true;
          for (const m of messages) {
            const c = server.compress(m)!;
            const sink = new Collect();
            let at = 0;
            while (at < c.length) {
              const n = 1 + Math.floor(rand() * c.length);
              expect(client.inflate(c, at, Math.min(c.length, at + n), sink)).toBe(INFLATE_OK);
              at += n;
            }
            expect(client.inflateEnd(sink)).toBe(INFLATE_OK);
            expect(Buffer.concat(sink.parts).equals(m)).toBe(true);
            const viaWs = await new Promise<Buffer>((res, rej) => ws.decompress(c, true, (e, out) => (e ? rej(e) : res(out!))));
            expect(viaWs.equals(m)).toBe(true);
          }
          server.close();
          client.close();
          ws.cleanup();
        }),
        fuzzParams(150),
      );
    },
    fuzzTimeout(150, 40),
  );
});
