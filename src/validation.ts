/**
 * Checks done once at the edge (when the user calls a member), then trusted by the workers.
 */

/**
 * RFC 6455 §7.4.1/§7.4.2: the codes an endpoint may send in a close frame. 1004-1006 and 1015 are
 * reserved and must not be sent; 1016-2999 are unassigned; 3000-4999 are for libraries and applications.
 * @see https://www.rfc-editor.org/rfc/rfc6455#section-7.4
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** RFC 9110 §5.6.2 token (header names, subprotocol names). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

/** RFC 9110 §5.5 field-value characters: visible ASCII, space, tab, obs-text. No CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parse one `Name: value` handshake header line. Null if the name is not a token (no space before the
 * colon, RFC 9110 §5.1), or if the value holds a character a field value may not (CR, LF, NUL or any other
 * control) — header injection must be impossible.
 */
export function parseHeaderLine(line: string): [string, string] | null {
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon);
  if (!isToken(name)) return null;
  const raw = line.slice(colon + 1);
  if (!FIELD_VALUE.test(raw)) return null;
  return [name, raw.replace(/^[ \t]+|[ \t]+$/g, '')];
}

/** The bytes of `data` (a view, not a copy); a TypeError for anything else. */
export function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  throw new TypeError('data must be a Uint8Array, an ArrayBufferView or an ArrayBuffer');
}

/** An integer property in [min, 2^31-1], or a TypeError naming it. */
export function checkSize(v: unknown, name: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0x7fffffff) {
    throw new TypeError(`${name} must be an integer between ${min} and 2^31-1, got ${String(v)}`);
  }
  return v;
}

/** A copy of a list of strings, or a TypeError naming it. */
export function checkStringList(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new TypeError(`${name} must be an array of strings`);
  return v.slice() as string[];
}
