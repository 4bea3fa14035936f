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

/**
 * Parse one `Name: value` handshake header line. Null if the name is not a token, or if the line holds
 * CR, LF or NUL anywhere — header injection must be impossible.
 */
export function parseHeaderLine(line: string): [string, string] | null {
  if (/[\r\n\0]/.test(line)) return null;
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon).trim();
  if (!isToken(name)) return null;
  return [name, line.slice(colon + 1).trim()];
}
