import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIdempotencyError } from './errors';
import { MAX_KEY_LENGTH, parseKey } from './parse-key';

/** The InvalidKeyError parseKey throws for `raw` (fails the test if it returns instead). */
function rejection(raw: string): unknown {
  try {
    parseKey(raw);
  } catch (error) {
    return error;
  }
  throw new Error(`parseKey accepted ${JSON.stringify(raw.slice(0, 40))}`);
}

function expectInvalid(raw: string): void {
  const error = rejection(raw);
  expect(isIdempotencyError(error, 'invalid_key'), String(error)).toBe(true);
}

/** RFC 8941 sf-string form of `key`: `\` and `"` escaped, wrapped in double quotes. */
const quote = (key: string): string => `"${key.replace(/[\\"]/g, (char) => `\\${char}`)}"`;

/** 1-255 characters of visible ASCII (0x21-0x7E). */
const visibleKey = fc
  .array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: MAX_KEY_LENGTH })
  .map((codes) => String.fromCharCode(...codes));

describe('parseKey', () => {
  it('accepts bare keys as they are', () => {
    expect(parseKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseKey('a')).toBe('a');
    expect(parseKey('!~{}[]:;,./?<>|\\')).toBe('!~{}[]:;,./?<>|\\');
    expect(parseKey('a"b')).toBe('a"b');
  });

  it('unquotes RFC 8941 strings, with \\" and \\\\ escapes', () => {
    expect(parseKey('"abc"')).toBe('abc');
    expect(parseKey('"a\\"b"')).toBe('a"b');
    expect(parseKey('"a\\\\b"')).toBe('a\\b');
    expect(parseKey('"\\\\\\""')).toBe('\\"');
  });

  it('trims surrounding spaces and tabs, bare or quoted', () => {
    expect(parseKey('  abc  ')).toBe('abc');
    expect(parseKey('\t abc\t ')).toBe('abc');
    expect(parseKey(' \t"abc"\t ')).toBe('abc');
  });

  it('accepts exactly 255 characters and rejects 256', () => {
    expect(MAX_KEY_LENGTH).toBe(255);
    expect(parseKey('k'.repeat(255))).toBe('k'.repeat(255));
    expect(parseKey(`"${'k'.repeat(255)}"`)).toBe('k'.repeat(255));
    expectInvalid('k'.repeat(256));
    expectInvalid(`"${'k'.repeat(256)}"`);
  });

  it('accepts a quoted 255-character key whose every character is escaped', () => {
    const key = '\\'.repeat(255);
    expect(quote(key)).toHaveLength(512);
    expect(parseKey(quote(key))).toBe(key);
  });

  it('rejects empty keys', () => {
    expectInvalid('');
    expectInvalid('""');
    expectInvalid('   ');
    expectInvalid('\t');
    expectInvalid('  ""  ');
  });

  it('rejects spaces inside, control characters and non-ASCII', () => {
    expectInvalid('a b');
    expectInvalid('"a b"');
    expectInvalid('a\tb');
    expectInvalid('"a\tb"');
    expectInvalid('a\u0000b');
    expectInvalid('a\u001fb');
    expectInvalid('a\u007fb');
    expectInvalid('"a\u007fb"');
    expectInvalid('a\nb');
    expectInvalid('clé');
    expectInvalid('"clé"');
    expectInvalid('ключ');
    expectInvalid('key-😀');
  });

  it('rejects malformed quoted strings', () => {
    expectInvalid('"abc'); // unterminated
    expectInvalid('"'); // a lone quote
    expectInvalid('"abc\\"'); // the closing quote is escaped
    expectInvalid('"abc"def'); // text after the closing quote
    expectInvalid('"abc""'); // a second closing quote
    expectInvalid('"a\\b"'); // only \" and \\ may be escaped
    expectInvalid('"a\\'); // a dangling backslash
    expectInvalid('"a\\n"');
  });

  it('rejects very long raw input without looking further', () => {
    expectInvalid('k'.repeat(10_000));
    expectInvalid(`"${'k'.repeat(10_000)}"`);
    expectInvalid(`${' '.repeat(10_000)}abc`);
    expectInvalid('x'.repeat(5_000_000));
  });

  it('throws InvalidKeyError instances with status 400 and an actionable message', () => {
    const error = rejection('a b') as Error & { status: number; code: string };
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_key');
    expect(error.message).toMatch(/visible ASCII/);
  });

  it('property: every visible-ASCII key of 1-255 characters parses to itself bare, and back from its quoted form', () => {
    fc.assert(
      fc.property(visibleKey, (key) => {
        // A bare value starting with a double quote is read as an sf-string (CONTRACT §5: quoted
        // keys are unquoted first), so only the quoted form is checked for those.
        if (!key.startsWith('"')) expect(parseKey(key)).toBe(key);
        expect(parseKey(quote(key))).toBe(key);
        expect(parseKey(` \t${quote(key)}\t `)).toBe(key);
      }),
      { numRuns: 500 },
    );
  });

  it('property: anything outside visible ASCII makes a bare key invalid', () => {
    const bad = fc.oneof(fc.integer({ min: 0x00, max: 0x20 }), fc.integer({ min: 0x7f, max: 0xffff })).map((code) => String.fromCharCode(code));
    const shortKey = visibleKey.map((key) => key.slice(0, MAX_KEY_LENGTH - 3));
    fc.assert(
      fc.property(shortKey, bad, fc.nat(), (key, char, at) => {
        // 'a' + key + char + 'z' is at most 255 characters, so only the character can be at fault.
        const index = at % (key.length + 1);
        expectInvalid(`a${key.slice(0, index)}${char}${key.slice(index)}z`);
      }),
      { numRuns: 300 },
    );
  });
});
