/**
 * Edge checks done once when the user calls a member (dist/src/validation.js): close codes (RFC 6455
 * §7.4), tokens (RFC 9110 §5.6.2) and handshake header lines (no header injection).
 */
import { describe, expect, it } from 'vitest';
import { isToken, isValidCloseCode, parseHeaderLine } from '../../dist/src/validation.js';

describe('isValidCloseCode', () => {
  it.each([
    [0, false],
    [999, false],
    [1000, true],
    [1001, true],
    [1002, true],
    [1003, true],
    [1004, false], // reserved
    [1005, false], // "no status received": never sent
    [1006, false], // "abnormal closure": never sent
    [1007, true],
    [1011, true],
    [1014, true],
    [1015, false], // "TLS handshake failure": never sent
    [1016, false], // unassigned from here to 2999
    [2000, false],
    [2999, false],
    [3000, true], // registered libraries/frameworks
    [3999, true],
    [4000, true], // private use
    [4999, true],
    [5000, false],
    [65535, false],
    [-1, false],
  ])('%i -> %s', (code, valid) => {
    expect(isValidCloseCode(code)).toBe(valid);
  });
});

describe('isToken', () => {
  it.each(['a', 'X-Custom-Header', 'chat.v2', "!#$%&'*+-.^_`|~", 'Z9'])('accepts %j', (s) => {
    expect(isToken(s)).toBe(true);
  });

  it.each(['', 'a b', 'a:b', 'a,b', 'a;b', 'a/b', '(a)', '"a"', 'a\tb', 'a\r\n', 'é', 'a\0', '{a}', 'a=b', 'a?', 'a@b', '[a]', 'a\\b'])(
    'refuses %j',
    (s) => {
      expect(isToken(s)).toBe(false);
    },
  );
});

describe('parseHeaderLine', () => {
  it('refuses control characters other than tab in the value (RFC 9110 field-value)', () => {
    for (const c of ['\x01', '\x08', '\x0b', '\x1f', '\x7f']) expect(parseHeaderLine(`X-A: a${c}b`)).toBeNull();
    expect(parseHeaderLine('X-A: a\tb')).toEqual(['X-A', 'a\tb']);
    expect(parseHeaderLine('X-A: caf\u00e9')).toEqual(['X-A', 'caf\u00e9']);
  });

  it('splits name and value and trims the value', () => {
    expect(parseHeaderLine('X-Foo: bar')).toEqual(['X-Foo', 'bar']);
    expect(parseHeaderLine('X-Foo:bar')).toEqual(['X-Foo', 'bar']);
    expect(parseHeaderLine('X-Foo:   bar baz \t ')).toEqual(['X-Foo', 'bar baz']);
    // RFC 9110 §5.1: no whitespace in or around the field name.
    expect(parseHeaderLine('  X-Foo: bar')).toBeNull();
    expect(parseHeaderLine('X-Foo : bar')).toBeNull();
    expect(parseHeaderLine('X-Empty:')).toEqual(['X-Empty', '']);
    expect(parseHeaderLine('X-Empty:    ')).toEqual(['X-Empty', '']);
  });

  it('keeps colons after the first one in the value', () => {
    expect(parseHeaderLine('X-Url: http://a:1/b')).toEqual(['X-Url', 'http://a:1/b']);
  });

  it.each([
    ['CR in the value', 'X-A: b\rc'],
    ['LF in the value', 'X-A: b\nc'],
    ['CRLF injecting a header', 'X-A: b\r\nX-Evil: 1'],
    ['NUL in the value', 'X-A: b\0c'],
    ['CR at the end', 'X-A: b\r'],
    ['LF at the end', 'X-A: b\n'],
    ['NUL at the end', 'X-A: b\0'],
    ['CR at the start', '\rX-A: b'],
    ['LF at the start', '\nX-A: b'],
    ['NUL at the start', '\0X-A: b'],
    ['CR in the name', 'X-\rA: b'],
    ['LF in the name', 'X-\nA: b'],
    ['NUL in the name', 'X-\0A: b'],
    ['CR right before the colon', 'X-A\r: b'],
  ])('refuses %s', (_what, line) => {
    expect(parseHeaderLine(line)).toBeNull();
  });

  it.each([
    ['a missing colon', 'X-A b'],
    ['an empty line', ''],
    ['an empty name', ': b'],
    ['a blank name', '   : b'],
    ['a name with a space inside', 'X A: b'],
    ['a name with a tab inside', 'X\tA: b'],
    ['a name that is not a token', 'X(A): b'],
    ['a non-ASCII name', 'Näme: b'],
  ])('refuses %s', (_what, line) => {
    expect(parseHeaderLine(line)).toBeNull();
  });
});
