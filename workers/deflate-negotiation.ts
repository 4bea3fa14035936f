/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1) over the `Sec-WebSocket-Extensions` grammar of
 * RFC 6455 §9.1, both sides. Pure functions: strings in, a small plain object out; no zlib here.
 *
 * Server: `serverNegotiate(header, config)` takes the request's header value (repeated headers joined
 * with ", ", as handshake.ts joins them) and answers one of
 *   - `accept`: the first acceptable permessage-deflate offer, its response header value, the parameters;
 *   - `none`: no header, no permessage-deflate offer, or every offer declined (RFC 7692 §5: a server
 *     declines an offer with an unknown parameter, an invalid value, a repeated parameter, or one it cannot
 *     support; it does not refuse the handshake for it). The connection opens without compression;
 *   - `refuse`: the header breaks the RFC 6455 §9.1 grammar: answer 400 (`why` fits handshake.ts's
 *     `refuse(400, why)`, whose error code is then `HTTP_400_BAD_SEC_WEBSOCKET_EXTENSIONS`).
 * Client: `clientOffer(config)` is the request's header value; `clientAccept(header, config)` validates
 * the response's (RFC 7692 §5, §7.1: the client fails the connection on an unknown, repeated or invalid
 * parameter, a parameter it did not allow, or an extension it did not offer) and gives the parameters or
 * a stable error code.
 *
 * Where RFC 7692 and ws (lib/permessage-deflate.js, lib/extension.js) differ, this follows the RFC (the
 * tests list each case): an offer with a bad parameter is declined, not the whole handshake refused (ws:
 * 400); a server asked for a smaller window than its configured one uses the smaller (ws declines); a
 * client told to use a window larger than the one it offered uses its own (ws fails); window bits must be
 * written exactly `8`…`15` (ws reads them with `+value`: `08`, `0xf`, ` 9` pass); empty list elements
 * (`a, , b`) are ignored as RFC 9110 §5.6.1 asks (ws: syntax error); a server_max_window_bits in the
 * response above the one the client offered fails the connection (ws does not check it).
 */

export const EXTENSION_NAME = 'permessage-deflate';

/** One side's wishes. Every field optional; defaults: context takeover both ways, 15-bit windows. */
export interface DeflateConfig {
  /**
   * Server: always answer `server_no_context_takeover` (its compressor starts afresh for each message;
   * lets a worker compress a publication once for many peers and keep no compressor per connection).
   * Client: ask the server for it. Either way an offer that asks for it is accepted.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer `client_no_context_takeover` (no decompressor kept per connection). Client:
   * offer it (the client then compresses each message afresh whatever the answer).
   */
  clientNoContextTakeover?: boolean;
  /** 8…15. Server: the most it compresses with. Client: asks the server for at most that. */
  serverMaxWindowBits?: number;
  /**
   * 8…15. Server: the largest window it lets a client compress with; an offer that cannot limit its
   * window (no `client_max_window_bits`) is then declined. Client: the most it compresses with, offered
   * as `client_max_window_bits=N` (default: the bare `client_max_window_bits`, "I can limit it");
   * `false`: not offered at all (a response that names it then fails). Server: `false` is the default.
   */
  clientMaxWindowBits?: number | false;
}

/** What was agreed: each direction's window and whether its compressor keeps its context. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 8…15: the server compresses with at most this window; the client decompresses with it. */
  serverMaxWindowBits: number;
  /** 8…15: the client compresses with at most this window; the server decompresses with it. */
  clientMaxWindowBits: number;
}

/** One side's view of the params: what its compressor and its decompressor use. */
export interface DeflateDirections {
  /** Window bits of our compressor (outbound messages). */
  deflateWindowBits: number;
  /** Our compressor resets after each message. */
  deflateNoContextTakeover: boolean;
  /** Window bits of our decompressor (inbound messages): the peer's window. */
  inflateWindowBits: number;
  /** The peer resets its compressor after each message: our decompressor may too (and may be shared). */
  inflateNoContextTakeover: boolean;
}

export function directions(p: DeflateParams, isServer: boolean): DeflateDirections {
  return isServer
    ? { deflateWindowBits: p.serverMaxWindowBits, deflateNoContextTakeover: p.serverNoContextTakeover, inflateWindowBits: p.clientMaxWindowBits, inflateNoContextTakeover: p.clientNoContextTakeover }
    : { deflateWindowBits: p.clientMaxWindowBits, deflateNoContextTakeover: p.clientNoContextTakeover, inflateWindowBits: p.serverMaxWindowBits, inflateNoContextTakeover: p.serverNoContextTakeover };
}

// ---- the header grammar (RFC 6455 §9.1, with RFC 9110 list rules) ----

/** A parameter's value: a string (token, or quoted-string unquoted) or `true` when it has none. */
export type ParamValue = string | true;
export interface ExtensionElement {
  name: string;
  /** In order, repeats kept. */
  params: [string, ParamValue][];
}

/** RFC 9110 tchar, by char code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const isTchar = (c: number): boolean => c < 128 && TCHAR[c] === 1;
const isOws = (c: number): boolean => c === 0x20 || c === 0x09;

export class ExtensionSyntaxError extends SyntaxError {}

/**
 * Parse a `Sec-WebSocket-Extensions` value into its elements, in order. Throws `ExtensionSyntaxError`
 * when the value breaks the grammar:
 *   extension-list = 1#extension ; empty elements ignored (RFC 9110 §5.6.1), at least one required
 *   extension = token *( OWS ";" OWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * A quoted-string must unescape to a token (RFC 6455 §9.1).
 */
export function parseExtensions(header: string): ExtensionElement[] {
  const out: ExtensionElement[] = [];
  const n = header.length;
  let i = 0;
  const fail = (what: string): never => {
    throw new ExtensionSyntaxError(`${what} at index ${i} of Sec-WebSocket-Extensions`);
  };
  const skipOws = (): void => {
    while (i < n && isOws(header.charCodeAt(i))) i++;
  };
  const token = (): string => {
    const s = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    if (i === s) fail('token expected');
    return header.slice(s, i);
  };
  for (;;) {
    skipOws();
    if (i === n) break;
    if (header.charCodeAt(i) === 0x2c) {
      i++; // an empty list element
      continue;
    }
    const el: ExtensionElement = { name: token(), params: [] };
    skipOws();
    while (i < n && header.charCodeAt(i) === 0x3b) {
      i++;
      skipOws();
      const name = token();
      skipOws();
      let value: ParamValue = true;
      if (i < n && header.charCodeAt(i) === 0x3d) {
        i++;
        skipOws();
        if (i < n && header.charCodeAt(i) === 0x22) {
          i++;
          let v = '';
          for (;;) {
            if (i === n) fail('unterminated quoted-string');
            const c = header.charCodeAt(i);
            if (c === 0x22) break;
            if (c === 0x5c) {
              i++;
              if (i === n) fail('unterminated quoted-string');
            }
            const d = header.charCodeAt(i);
            if (!isTchar(d)) fail('quoted value is not a token');
            v += header[i];
            i++;
          }
          i++; // the closing quote
          if (v === '') fail('empty quoted value');
          value = v;
        } else value = token();
        skipOws();
      }
      el.params.push([name, value]);
    }
    out.push(el);
    if (i === n) break;
    if (header.charCodeAt(i) !== 0x2c) fail('"," or ";" expected');
    i++;
  }
  if (out.length === 0) fail('no extension');
  return out;
}

/** Format elements back into a header value (parameters without a value bare, others as tokens). */
export function formatExtensions(elements: ExtensionElement[]): string {
  return elements.map((e) => [e.name, ...e.params.map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; ')).join(', ');
}

// ---- permessage-deflate parameters ----

const WINDOW = /^(?:8|9|1[0-5])$/;

/** One offer's (or response's) parameters once checked, or why they are not valid. */
interface Checked {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** undefined: absent. */
  serverMaxWindowBits: number | undefined;
  /** undefined: absent; true: present without a value (valid in an offer only). */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * RFC 7692 §7: known names only, each at most once, the no-context-takeover ones without a value, the
 * window bits 8…15 (a bare `client_max_window_bits` only in an offer). Returns an error message or the
 * parameters.
 */
function checkParams(params: [string, ParamValue][], offer: boolean): Checked | string {
  const c: Checked = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: undefined, clientMaxWindowBits: undefined };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `duplicate parameter "${name}"`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter "${name}" takes no value`;
        if (name === 'server_no_context_takeover') c.serverNoContextTakeover = true;
        else c.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW.test(value)) return `invalid value for "${name}"`;
        c.serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        if (value === true) {
          if (!offer) return `parameter "${name}" needs a value in a response`;
          c.clientMaxWindowBits = true;
        } else {
          if (!WINDOW.test(value)) return `invalid value for "${name}"`;
          c.clientMaxWindowBits = Number(value);
        }
        break;
      default:
        return `unknown parameter "${name}"`;
    }
  }
  return c;
}

function checkConfig(config: DeflateConfig): void {
  for (const k of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
    const v = config[k];
    if (k === 'clientMaxWindowBits' && v === false) continue;
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > 15)) throw new RangeError(`perMessageDeflate.${k} must be an integer from 8 to 15, got ${String(v)}`);
  }
}

// ---- server ----

export type ServerNegotiation =
  | { kind: 'accept'; params: DeflateParams; /** The response's `Sec-WebSocket-Extensions` value. */ response: string; /** Index of the accepted offer among the permessage-deflate offers. */ offer: number; declined: string[] }
  | { kind: 'none'; /** Why each offer was declined (empty: none made). */ declined: string[] }
  | { kind: 'refuse'; status: 400; why: 'bad sec-websocket-extensions'; detail: string };

/**
 * The server's answer to a request's `Sec-WebSocket-Extensions` value (undefined: the header is absent).
 * Offers are tried in the client's order of preference; each one it cannot accept is declined (its
 * reason in `declined`).
 */
export function serverNegotiate(header: string | undefined, config: DeflateConfig): ServerNegotiation {
  checkConfig(config);
  if (header === undefined) return { kind: 'none', declined: [] };
  let elements: ExtensionElement[];
  try {
    elements = parseExtensions(header);
  } catch (err) {
    if (err instanceof ExtensionSyntaxError) return { kind: 'refuse', status: 400, why: 'bad sec-websocket-extensions', detail: err.message };
    throw err;
  }
  const declined: string[] = [];
  let index = -1;
  for (const el of elements) {
    if (el.name !== EXTENSION_NAME) continue;
    index++;
    const c = checkParams(el.params, true);
    if (typeof c === 'string') {
      declined.push(c);
      continue;
    }
    // The client's window: the server may limit it only if the client said it can limit it.
    const limit = config.clientMaxWindowBits === false || config.clientMaxWindowBits === undefined ? 15 : config.clientMaxWindowBits;
    let clientBits = 15;
    let sayClientBits = false;
    if (c.clientMaxWindowBits === undefined) {
      if (limit < 15) {
        declined.push('client cannot limit its window (no client_max_window_bits) and clientMaxWindowBits is set');
        continue;
      }
    } else {
      const offered = c.clientMaxWindowBits === true ? 15 : c.clientMaxWindowBits;
      clientBits = Math.min(offered, limit);
      sayClientBits = clientBits < 15 || c.clientMaxWindowBits !== true;
    }
    // The server's window: the smaller of what the client allows and what we are configured to use.
    const serverBits = Math.min(c.serverMaxWindowBits ?? 15, config.serverMaxWindowBits ?? 15);
    const params: DeflateParams = {
      serverNoContextTakeover: c.serverNoContextTakeover || config.serverNoContextTakeover === true,
      clientNoContextTakeover: c.clientNoContextTakeover || config.clientNoContextTakeover === true,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    };
    const out: [string, ParamValue][] = [];
    if (params.serverNoContextTakeover) out.push(['server_no_context_takeover', true]);
    if (params.clientNoContextTakeover) out.push(['client_no_context_takeover', true]);
    if (c.serverMaxWindowBits !== undefined || serverBits < 15) out.push(['server_max_window_bits', String(serverBits)]);
    if (sayClientBits) out.push(['client_max_window_bits', String(clientBits)]);
    return { kind: 'accept', params, response: formatExtensions([{ name: EXTENSION_NAME, params: out }]), offer: index, declined };
  }
  return { kind: 'none', declined };
}

// ---- client ----

/** The request's `Sec-WebSocket-Extensions` value: one permessage-deflate offer from `config`. */
export function clientOffer(config: DeflateConfig): string {
  checkConfig(config);
  const p: [string, ParamValue][] = [];
  if (config.serverNoContextTakeover) p.push(['server_no_context_takeover', true]);
  if (config.clientNoContextTakeover) p.push(['client_no_context_takeover', true]);
  if (config.serverMaxWindowBits !== undefined) p.push(['server_max_window_bits', String(config.serverMaxWindowBits)]);
  if (config.clientMaxWindowBits !== false) p.push(['client_max_window_bits', config.clientMaxWindowBits === undefined ? true : String(config.clientMaxWindowBits)]);
  return formatExtensions([{ name: EXTENSION_NAME, params: p }]);
}

/** Stable failure reasons of `clientAccept` (what `getFailureReason()` would show). */
export const ERR_INVALID_EXTENSION_HEADER = 'WS_ERR_INVALID_EXTENSION_HEADER';
export const ERR_UNEXPECTED_EXTENSION = 'WS_ERR_UNEXPECTED_EXTENSION';
export const ERR_INVALID_DEFLATE_PARAMETER = 'WS_ERR_INVALID_DEFLATE_PARAMETER';

export type ClientNegotiation =
  | { ok: true; /** null: the server declined (no compression). */ params: DeflateParams | null }
  | { ok: false; /** Fail the connection (RFC 6455 §4.1: _Fail the WebSocket Connection_; no close frame). */ error: string; message: string };

/**
 * Check the response's `Sec-WebSocket-Extensions` value (undefined: absent) against what the client
 * offered (`config`; null: it offered nothing).
 */
export function clientAccept(header: string | undefined, config: DeflateConfig | null): ClientNegotiation {
  if (header === undefined) return { ok: true, params: null };
  let elements: ExtensionElement[];
  try {
    elements = parseExtensions(header);
  } catch (err) {
    if (err instanceof ExtensionSyntaxError) return { ok: false, error: ERR_INVALID_EXTENSION_HEADER, message: err.message };
    throw err;
  }
  if (config === null) return { ok: false, error: ERR_UNEXPECTED_EXTENSION, message: `the server accepted "${elements[0]!.name}", which was not offered` };
  checkConfig(config);
  const other = elements.find((e) => e.name !== EXTENSION_NAME);
  if (other !== undefined) return { ok: false, error: ERR_UNEXPECTED_EXTENSION, message: `the server accepted "${other.name}", which was not offered` };
  if (elements.length > 1) return { ok: false, error: ERR_UNEXPECTED_EXTENSION, message: `the server accepted ${EXTENSION_NAME} ${elements.length} times` };
  const c = checkParams(elements[0]!.params, false);
  if (typeof c === 'string') return { ok: false, error: ERR_INVALID_DEFLATE_PARAMETER, message: c };
  if (c.clientMaxWindowBits !== undefined && config.clientMaxWindowBits === false) {
    return { ok: false, error: ERR_INVALID_DEFLATE_PARAMETER, message: 'client_max_window_bits was not offered' };
  }
  if (config.serverMaxWindowBits !== undefined && c.serverMaxWindowBits !== undefined && c.serverMaxWindowBits > config.serverMaxWindowBits) {
    return { ok: false, error: ERR_INVALID_DEFLATE_PARAMETER, message: `server_max_window_bits=${c.serverMaxWindowBits} is above the ${config.serverMaxWindowBits} offered` };
  }
  const answered = typeof c.clientMaxWindowBits === 'number' ? c.clientMaxWindowBits : 15;
  return {
    ok: true,
    params: {
      serverNoContextTakeover: c.serverNoContextTakeover,
      clientNoContextTakeover: c.clientNoContextTakeover || config.clientNoContextTakeover === true,
      serverMaxWindowBits: c.serverMaxWindowBits ?? 15,
      clientMaxWindowBits: Math.min(answered, config.clientMaxWindowBits === false ? 15 : (config.clientMaxWindowBits ?? 15)),
    },
  };
}
