/**
 * workers/deflate-negotiation.ts: every negotiation case of RFC 7692 §5 and §7.1, both sides, driven
 * with header strings (a pure function; its socket tests come with its use in handshake.ts and dial.ts).
 * ws's PerMessageDeflate and header parser are the reference: each case says whether ws agrees, and
 * where it does not, what ws does and which the RFC asks for.
 */
import { describe, expect, it } from 'vitest';
import {
  clientAccept,
  clientOffer,
  directions,
  ERR_INVALID_DEFLATE_PARAMETER,
  ERR_INVALID_EXTENSION_HEADER,
  ERR_UNEXPECTED_EXTENSION,
  parseExtensions,
  serverNegotiate,
  type DeflateConfig,
  type DeflateParams,
} from '../../dist/workers/deflate-negotiation.js';
import { wsClient, wsExtension, wsServer, WsPerMessageDeflate } from '../helpers/ws-deflate.js';

const P = (s: boolean, c: boolean, sb = 15, cb = 15): DeflateParams => ({ serverNoContextTakeover: s, clientNoContextTakeover: c, serverMaxWindowBits: sb, clientMaxWindowBits: cb });
const DEFAULT = P(false, false);

/** How ws's server answers the same header and options: 'same', or what it does instead. */
type WsVerdict = 'same' | 'refuse' | DeflateParams;

interface ServerCase {
  what: string;
  header: string;
  config?: DeflateConfig;
  /** Ours: the params and response, 'none', or 'refuse' (400). */
  expect: { params: DeflateParams; response: string; offer?: number } | 'none' | 'refuse';
  ws?: WsVerdict;
}

const SERVER_CASES: ServerCase[] = [
  { what: 'a bare offer, defaults', header: 'permessage-deflate', expect: { params: DEFAULT, response: 'permessage-deflate' } },
  { what: 'the bare client_max_window_bits (what browsers send)', header: 'permessage-deflate; client_max_window_bits', expect: { params: DEFAULT, response: 'permessage-deflate' } },
  {
    what: 'bare client_max_window_bits, server limits the client window',
    header: 'permessage-deflate; client_max_window_bits',
    config: { clientMaxWindowBits: 10 },
    expect: { params: P(false, false, 15, 10), response: 'permessage-deflate; client_max_window_bits=10' },
  },
  {
    what: 'client_max_window_bits=12 offered, server limits to 10',
    header: 'permessage-deflate; client_max_window_bits=12',
    config: { clientMaxWindowBits: 10 },
    expect: { params: P(false, false, 15, 10), response: 'permessage-deflate; client_max_window_bits=10' },
  },
  {
    what: 'client_max_window_bits=9 offered, server would allow 10: the client uses 9 (ws declines the offer)',
    header: 'permessage-deflate; client_max_window_bits=9',
    config: { clientMaxWindowBits: 10 },
    expect: { params: P(false, false, 15, 9), response: 'permessage-deflate; client_max_window_bits=9' },
    ws: 'refuse',
  },
  {
    what: 'client_max_window_bits=9 offered, no server limit: echoed',
    header: 'permessage-deflate; client_max_window_bits=9',
    expect: { params: P(false, false, 15, 9), response: 'permessage-deflate; client_max_window_bits=9' },
  },
  {
    what: 'server limits the client window, the offer cannot limit it: declined (ws refuses the handshake)',
    header: 'permessage-deflate',
    config: { clientMaxWindowBits: 10 },
    expect: 'none',
    ws: 'refuse',
  },
  {
    what: 'server_max_window_bits=10 offered',
    header: 'permessage-deflate; server_max_window_bits=10',
    expect: { params: P(false, false, 10), response: 'permessage-deflate; server_max_window_bits=10' },
  },
  {
    what: 'server_max_window_bits=12 offered, server configured 10: 10',
    header: 'permessage-deflate; server_max_window_bits=12',
    config: { serverMaxWindowBits: 10 },
    expect: { params: P(false, false, 10), response: 'permessage-deflate; server_max_window_bits=10' },
  },
  {
    what: 'server_max_window_bits=10 offered, server configured 12: 10 (ws declines the offer)',
    header: 'permessage-deflate; server_max_window_bits=10',
    config: { serverMaxWindowBits: 12 },
    expect: { params: P(false, false, 10), response: 'permessage-deflate; server_max_window_bits=10' },
    ws: 'refuse',
  },
  {
    what: 'no window offered, server configured 9: the server says so unasked (RFC 7692 §7.1.2.1)',
    header: 'permessage-deflate',
    config: { serverMaxWindowBits: 9 },
    expect: { params: P(false, false, 9), response: 'permessage-deflate; server_max_window_bits=9' },
  },
  {
    what: 'the smallest windows, 8 each way',
    header: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8',
    expect: { params: P(false, false, 8, 8), response: 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=8' },
  },
  { what: 'server_no_context_takeover asked', header: 'permessage-deflate; server_no_context_takeover', expect: { params: P(true, false), response: 'permessage-deflate; server_no_context_takeover' } },
  { what: 'client_no_context_takeover offered: echoed', header: 'permessage-deflate; client_no_context_takeover', expect: { params: P(false, true), response: 'permessage-deflate; client_no_context_takeover' } },
  {
    what: 'server configured for no context takeover both ways, unasked (RFC 7692 §7.1.1.1, §7.1.1.2)',
    header: 'permessage-deflate; client_max_window_bits',
    config: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    expect: { params: P(true, true), response: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' },
  },
  {
    what: 'all four parameters',
    header: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=13',
    expect: { params: P(true, true, 11, 13), response: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=13' },
  },
  {
    what: 'several offers: the first acceptable one, in the client order',
    header: 'permessage-deflate; client_max_window_bits=9, permessage-deflate',
    expect: { params: P(false, false, 15, 9), response: 'permessage-deflate; client_max_window_bits=9', offer: 0 },
  },
  {
    what: 'several offers: the first declined for the server limit, the second taken',
    header: 'permessage-deflate, permessage-deflate; client_max_window_bits',
    config: { clientMaxWindowBits: 9 },
    expect: { params: P(false, false, 15, 9), response: 'permessage-deflate; client_max_window_bits=9', offer: 1 },
  },
  {
    what: 'several offers, five invalid ones declined, the sixth taken (ws refuses the handshake: 400)',
    header:
      'permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=abc, ' +
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=11',
    expect: { params: P(false, false, 11), response: 'permessage-deflate; server_max_window_bits=11', offer: 5 },
    ws: 'refuse',
  },
  {
    what: 'other extensions around it are ignored',
    header: 'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits, foo; bar=1',
    expect: { params: DEFAULT, response: 'permessage-deflate' },
  },
  { what: 'no permessage-deflate offer', header: 'x-webkit-deflate-frame; no_context_takeover', expect: 'none' },
  { what: 'a quoted value', header: 'permessage-deflate; server_max_window_bits="10"', expect: { params: P(false, false, 10), response: 'permessage-deflate; server_max_window_bits=10' } },
  { what: 'a quoted value with a quoted-pair', header: 'permessage-deflate; server_max_window_bits="1\\0"', expect: { params: P(false, false, 10), response: 'permessage-deflate; server_max_window_bits=10' } },
  {
    what: 'whitespace around ; and , (ws refuses leading whitespace, which an HTTP parser strips anyway)',
    header: ' permessage-deflate ;\tclient_max_window_bits ,  foo',
    expect: { params: DEFAULT, response: 'permessage-deflate' },
    ws: 'refuse',
  },
  { what: 'whitespace around ; and , (no leading whitespace)', header: 'permessage-deflate ;\tclient_max_window_bits ,  foo', expect: { params: DEFAULT, response: 'permessage-deflate' } },
  {
    what: 'empty list elements are ignored (RFC 9110 §5.6.1; ws: syntax error, 400)',
    header: 'foo, , permessage-deflate,',
    expect: { params: DEFAULT, response: 'permessage-deflate' },
    ws: 'refuse',
  },
];

// Offers a server must decline (RFC 7692 §5): one permessage-deflate offer with a bad parameter.
const BAD_OFFERS: [string, string, WsVerdict][] = [
  ['server_max_window_bits=7', 'invalid value', 'refuse'],
  ['server_max_window_bits=16', 'invalid value', 'refuse'],
  ['server_max_window_bits=abc', 'invalid value', 'refuse'],
  ['server_max_window_bits', 'invalid value', 'refuse'],
  ['client_max_window_bits=7', 'invalid value', 'refuse'],
  ['client_max_window_bits=16', 'invalid value', 'refuse'],
  ['client_max_window_bits="abc"', 'invalid value', 'refuse'],
  ['server_max_window_bits=08', 'invalid value', P(false, false, 8)], // ws reads +"08"
  ['server_max_window_bits=0xf', 'invalid value', P(false, false, 15)], // ws reads +"0xf"
  ['client_max_window_bits=010', 'invalid value', P(false, false, 15, 10)],
  ['server_no_context_takeover=1', 'takes no value', 'refuse'],
  ['client_no_context_takeover="x"', 'takes no value', 'refuse'],
  ['server_no_context_takeover; server_no_context_takeover', 'duplicate parameter', 'refuse'],
  ['client_max_window_bits; client_max_window_bits=10', 'duplicate parameter', 'refuse'],
  ['server_max_window_bits=10; server_max_window_bits=10', 'duplicate parameter', 'refuse'],
  ['foo', 'unknown parameter', 'refuse'],
  ['Server_No_Context_Takeover', 'unknown parameter', 'refuse'],
];

// Headers that break RFC 6455 §9.1: the handshake is refused with 400 (as ws).
const MALFORMED = ['', ' ', ',', 'permessage-deflate;', 'permessage-deflate; ;x', ';', 'permessage-deflate x', 'permessage-deflate; a="', 'permessage-deflate; a="b c"', 'permessage-deflate; a=""', '"permessage-deflate"', 'permessage-deflate; a=b c', 'permessage-deflate; a=', 'permessage-deflate; a="\\"', 'perméssage'];

describe('deflate negotiation, server side (RFC 7692 §5, §7.1)', () => {
  for (const c of SERVER_CASES) {
    it(c.what, () => {
      const got = serverNegotiate(c.header, c.config ?? {});
      if (c.expect === 'none' || c.expect === 'refuse') expect(got.kind).toBe(c.expect);
      else {
        expect(got).toMatchObject({ kind: 'accept', params: c.expect.params, response: c.expect.response });
        if (c.expect.offer !== undefined) expect(got.kind === 'accept' && got.offer).toBe(c.expect.offer);
      }
      // ws, the reference.
      const ws = wsServer(c.header, c.config ?? {});
      const verdict = c.ws ?? 'same';
      if (verdict === 'same') expect(ws).toEqual(c.expect === 'none' || c.expect === 'refuse' ? c.expect : c.expect.params);
      else expect(ws).toEqual(verdict);
      // Whatever we accept, a client that made the offer takes our response and agrees on the params.
      if (got.kind === 'accept') {
        expect(clientAccept(got.response, {})).toEqual({ ok: true, params: got.params });
      }
    });
  }

  for (const [param, why, ws] of BAD_OFFERS) {
    it(`declines the offer "permessage-deflate; ${param}" (${why}), does not refuse the handshake; ws: ${ws === 'refuse' ? '400' : 'accepts it'}`, () => {
      const got = serverNegotiate(`permessage-deflate; ${param}`, {});
      expect(got.kind).toBe('none');
      expect(got.kind === 'none' && got.declined[0]).toContain(why);
      expect(wsServer(`permessage-deflate; ${param}`, {})).toEqual(ws);
      // Followed by a valid offer, that one is taken.
      const next = serverNegotiate(`permessage-deflate; ${param}, permessage-deflate; server_no_context_takeover`, {});
      expect(next).toMatchObject({ kind: 'accept', params: P(true, false), offer: 1 });
    });
  }

  for (const header of MALFORMED) {
    it(`refuses the handshake with 400 for the malformed header ${JSON.stringify(header)} (as ws)`, () => {
      const got = serverNegotiate(header, {});
      expect(got).toMatchObject({ kind: 'refuse', status: 400, why: 'bad sec-websocket-extensions' });
      expect(wsServer(header, {})).toBe('refuse');
    });
  }

  it('no header: no compression', () => {
    expect(serverNegotiate(undefined, { serverNoContextTakeover: true })).toEqual({ kind: 'none', declined: [] });
  });

  it('refuses a bad configuration', () => {
    expect(() => serverNegotiate('permessage-deflate', { serverMaxWindowBits: 16 })).toThrow(RangeError);
    expect(() => serverNegotiate('permessage-deflate', { clientMaxWindowBits: 7 })).toThrow(RangeError);
  });
});

describe('the header grammar agrees with ws on what both accept', () => {
  const headers = [
    'permessage-deflate',
    'a; b, c; d=1; e="f", a',
    'permessage-deflate; client_max_window_bits; server_max_window_bits="1\\0", x-foo; y',
    'a ; b=c ,d',
  ];
  for (const h of headers) {
    it(JSON.stringify(h), () => {
      const ours = parseExtensions(h);
      const ws = wsExtension.parse(h);
      // ws groups by name; regroup ours the same way.
      const grouped: Record<string, Record<string, (string | true)[]>[]> = {};
      for (const e of ours) {
        const params: Record<string, (string | true)[]> = {};
        for (const [k, v] of e.params) (params[k] ??= []).push(v);
        (grouped[e.name] ??= []).push(params);
      }
      expect(JSON.parse(JSON.stringify(grouped))).toEqual(JSON.parse(JSON.stringify(ws)));
    });
  }
});

interface ClientCase {
  what: string;
  response: string | undefined;
  config?: DeflateConfig | null;
  expect: DeflateParams | null | string; // a string: the error code
  ws?: 'same' | 'fail' | DeflateParams;
}

const CLIENT_CASES: ClientCase[] = [
  { what: 'no header: the server declined', response: undefined, expect: null },
  { what: 'plain acceptance', response: 'permessage-deflate', expect: DEFAULT },
  {
    what: 'every parameter',
    response: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    expect: P(true, true, 10, 9),
  },
  { what: 'quoted values', response: 'permessage-deflate; server_max_window_bits="10"; client_max_window_bits="9"', expect: P(false, false, 10, 9) },
  { what: 'client_max_window_bits without a value (valid in an offer only)', response: 'permessage-deflate; client_max_window_bits', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'client_max_window_bits when the client did not offer it', response: 'permessage-deflate; client_max_window_bits=10', config: { clientMaxWindowBits: false }, expect: ERR_INVALID_DEFLATE_PARAMETER },
  {
    what: 'client_max_window_bits above the offered one: the client keeps its own (ws fails)',
    response: 'permessage-deflate; client_max_window_bits=12',
    config: { clientMaxWindowBits: 10 },
    expect: P(false, false, 15, 10),
    ws: 'fail',
  },
  { what: 'client_max_window_bits below the offered one', response: 'permessage-deflate; client_max_window_bits=9', config: { clientMaxWindowBits: 10 }, expect: P(false, false, 15, 9) },
  { what: 'no client_max_window_bits answered to a numeric offer: the offered one', response: 'permessage-deflate', config: { clientMaxWindowBits: 10 }, expect: P(false, false, 15, 10) },
  {
    what: 'server_max_window_bits above the one offered (ws does not check)',
    response: 'permessage-deflate; server_max_window_bits=12',
    config: { serverMaxWindowBits: 10 },
    expect: ERR_INVALID_DEFLATE_PARAMETER,
    ws: P(false, false, 12),
  },
  { what: 'server_max_window_bits below the one offered', response: 'permessage-deflate; server_max_window_bits=9', config: { serverMaxWindowBits: 10 }, expect: P(false, false, 9) },
  { what: 'server_no_context_takeover unasked (allowed)', response: 'permessage-deflate; server_no_context_takeover', expect: P(true, false) },
  {
    what: 'client_no_context_takeover offered, not echoed: the client resets anyway, as its offer said (ws keeps its context; both are allowed, RFC 7692 §7.1.1.2)',
    response: 'permessage-deflate',
    config: { clientNoContextTakeover: true },
    expect: P(false, true),
    ws: DEFAULT,
  },
  { what: 'an unknown parameter', response: 'permessage-deflate; foo', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'a duplicate parameter', response: 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'server_max_window_bits=7', response: 'permessage-deflate; server_max_window_bits=7', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'server_max_window_bits=16', response: 'permessage-deflate; server_max_window_bits=16', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'server_max_window_bits=abc', response: 'permessage-deflate; server_max_window_bits=abc', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'client_max_window_bits=16', response: 'permessage-deflate; client_max_window_bits=16', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'a value on server_no_context_takeover', response: 'permessage-deflate; server_no_context_takeover=true', expect: ERR_INVALID_DEFLATE_PARAMETER },
  { what: 'an extension not offered', response: 'x-webkit-deflate-frame', expect: ERR_UNEXPECTED_EXTENSION },
  { what: 'permessage-deflate and one not offered', response: 'permessage-deflate, foo', expect: ERR_UNEXPECTED_EXTENSION },
  { what: 'permessage-deflate accepted twice (ws takes the first)', response: 'permessage-deflate, permessage-deflate', expect: ERR_UNEXPECTED_EXTENSION, ws: DEFAULT },
  { what: 'an extension when none was offered', response: 'permessage-deflate', config: null, expect: ERR_UNEXPECTED_EXTENSION, ws: 'fail' },
  { what: 'a malformed header', response: 'permessage-deflate;', expect: ERR_INVALID_EXTENSION_HEADER },
  { what: 'an empty header', response: '', expect: ERR_INVALID_EXTENSION_HEADER },
];

describe('deflate negotiation, client side (RFC 7692 §5, §7.1)', () => {
  const configs: DeflateConfig[] = [
    {},
    { serverNoContextTakeover: true },
    { clientNoContextTakeover: true, clientMaxWindowBits: 10 },
    { serverMaxWindowBits: 9, clientMaxWindowBits: false },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
  ];
  for (const config of configs) {
    it(`offers what ws offers for ${JSON.stringify(config)}`, () => {
      const ws = new WsPerMessageDeflate({ ...config, isServer: false }).offer();
      expect(clientOffer(config)).toBe(wsExtension.format({ 'permessage-deflate': ws }));
    });
  }
  it('the default offer is what browsers send', () => {
    expect(clientOffer({})).toBe('permessage-deflate; client_max_window_bits');
  });

  for (const c of CLIENT_CASES) {
    it(c.what, () => {
      const config = c.config === undefined ? {} : c.config;
      const got = clientAccept(c.response, config);
      if (typeof c.expect === 'string') expect(got).toMatchObject({ ok: false, error: c.expect });
      else expect(got).toEqual({ ok: true, params: c.expect });
      if (c.response === undefined) return;
      const ws = config === null ? 'fail' : wsClient(c.response, config);
      const verdict = c.ws ?? 'same';
      if (verdict === 'same') expect(ws).toEqual(typeof c.expect === 'string' ? 'fail' : c.expect);
      else expect(ws).toEqual(verdict);
    });
  }
});

describe('both sides', () => {
  it('each side sees the same params from its end', () => {
    const s = serverNegotiate(clientOffer({ clientNoContextTakeover: true, serverMaxWindowBits: 10 }), { serverNoContextTakeover: true, clientMaxWindowBits: 12 });
    expect(s.kind).toBe('accept');
    if (s.kind !== 'accept') return;
    const c = clientAccept(s.response, { clientNoContextTakeover: true, serverMaxWindowBits: 10 });
    expect(c).toEqual({ ok: true, params: s.params });
    expect(s.params).toEqual(P(true, true, 10, 12));
    expect(directions(s.params, true)).toEqual({ deflateWindowBits: 10, deflateNoContextTakeover: true, inflateWindowBits: 12, inflateNoContextTakeover: true });
    expect(directions(s.params, false)).toEqual({ deflateWindowBits: 12, deflateNoContextTakeover: true, inflateWindowBits: 10, inflateNoContextTakeover: true });
  });
});
