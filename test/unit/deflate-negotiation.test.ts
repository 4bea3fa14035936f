/**
 * workers/deflate-negotiation.ts: every negotiation case of RFC 7692 §5 and §7.1, both sides, driven
 * with header strings (a pure function; its socket tests come with its use in handshake.ts and dial.ts).
 * ws's PerMessageDeflate and header parser are the reference: each case says whether ws agrees, and
 * where it does not, what ws does and which the RFC asks for.
 */
import { describe, expect, it } from 'vitest';
import { clientAccept, clientOffer, directions, parseExtensions, serverNegotiate, type DeflateConfig } from '../../dist/workers/deflate-negotiation.js';
import { BAD_OFFERS, CLIENT_CASES, MALFORMED, P, SERVER_CASES } from '../helpers/deflate-cases.js';
import { wsClient, wsExtension, wsServer, WsPerMessageDeflate } from '../helpers/ws-deflate.js';

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
