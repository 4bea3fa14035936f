/**
 * The negotiation cases of RFC 7692 §5 and §7.1 (issue 16), shared by the pure-function tests
 * (test/unit/deflate-negotiation.test.ts, with ws as the reference) and the raw-socket ones
 * (test/integration/deflate-negotiation.test.ts, against real ringsocket servers and clients).
 */
import {
  ERR_INVALID_DEFLATE_PARAMETER,
  ERR_INVALID_EXTENSION_HEADER,
  ERR_UNEXPECTED_EXTENSION,
  type DeflateConfig,
  type DeflateParams,
} from '../../dist/workers/deflate-negotiation.js';

export const P = (s: boolean, c: boolean, sb = 15, cb = 15): DeflateParams => ({ serverNoContextTakeover: s, clientNoContextTakeover: c, serverMaxWindowBits: sb, clientMaxWindowBits: cb });
export const DEFAULT = P(false, false);

/** How ws's server answers the same header and options: 'same', or what it does instead. */
export type WsVerdict = 'same' | 'refuse' | DeflateParams;

export interface ServerCase {
  what: string;
  header: string;
  config?: DeflateConfig;
  /** Ours: the params and response, 'none', or 'refuse' (400). */
  expect: { params: DeflateParams; response: string; offer?: number } | 'none' | 'refuse';
  ws?: WsVerdict;
}

export const SERVER_CASES: ServerCase[] = [
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
export const BAD_OFFERS: [string, string, WsVerdict][] = [
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
export const MALFORMED = ['', ' ', ',', 'permessage-deflate;', 'permessage-deflate; ;x', ';', 'permessage-deflate x', 'permessage-deflate; a="', 'permessage-deflate; a="b c"', 'permessage-deflate; a=""', '"permessage-deflate"', 'permessage-deflate; a=b c', 'permessage-deflate; a=', 'permessage-deflate; a="\\"', 'perméssage'];

export interface ClientCase {
  what: string;
  response: string | undefined;
  config?: DeflateConfig | null;
  expect: DeflateParams | null | string; // a string: the error code
  ws?: 'same' | 'fail' | DeflateParams;
}

export const CLIENT_CASES: ClientCase[] = [
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
