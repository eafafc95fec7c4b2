import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import { frame, randomToken, recordId, sha256Hex } from './hash';

describe('recordId', () => {
  it("is 'namespace:' + 64 lower-case hex, whatever the key holds", () => {
    expect(recordId('oncely', 'tenant_1', 'key-1')).toMatch(/^oncely:[0-9a-f]{64}$/);
    expect(recordId('app.v2', 'tenant:1', 'a:b\u0000"\'; DROP TABLE x; --')).toMatch(/^app\.v2:[0-9a-f]{64}$/);
    expect(recordId('oncely', '租户', '🔑'.repeat(300))).toMatch(/^oncely:[0-9a-f]{64}$/);
  });

  it('is the same for the same input', () => {
    expect(recordId('oncely', 's', 'k')).toBe(recordId('oncely', 's', 'k'));
  });

  it('differs for (scope, key) pairs that naive concatenation would confuse', () => {
    expect(recordId('oncely', 'ab', 'c')).not.toBe(recordId('oncely', 'a', 'bc'));
    expect(recordId('oncely', 'a:', 'b')).not.toBe(recordId('oncely', 'a', ':b'));
    expect(recordId('oncely', '1:a', '')).not.toBe(recordId('oncely', '', '1:a'));
    expect(recordId('oncely', 's', 'k')).not.toBe(recordId('oncely', 'k', 's'));
  });

  it('differs by namespace only in its prefix', () => {
    const a = recordId('one', 's', 'k');
    const b = recordId('two', 's', 'k');
    expect(a.slice(4)).toBe(b.slice(4));
    expect(a).not.toBe(b);
  });

  it('is the SHA-256 of the framed pair', async () => {
    expect(recordId('ns', 'ab', 'c')).toBe(`ns:${await sha256Hex(utf8('2:ab1:c'))}`);
  });

  it('property: distinct (scope, key) pairs get distinct ids', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (s1, k1, s2, k2) => {
        fc.pre(s1 !== s2 || k1 !== k2);
        expect(recordId('n', s1, k1)).not.toBe(recordId('n', s2, k2));
      }),
      { numRuns: 300 },
    );
  });
});

describe('frame', () => {
  it('prefixes each field with its UTF-8 byte length', () => {
    expect(new TextDecoder().decode(frame(['ab', 'c']))).toBe('2:ab1:c');
    expect(new TextDecoder().decode(frame(['é', '']))).toBe('2:é0:');
    expect(Array.from(frame(['a', Uint8Array.of(0, 255), 'b']))).toEqual([...utf8('1:a2:'), 0, 255, ...utf8('1:b')]);
  });
});

describe('sha256Hex', () => {
  it('hashes small (pure JS) and large (Web Crypto) inputs alike', async () => {
    expect(await sha256Hex(utf8('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const large = new Uint8Array(100_000).fill(97);
    const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', large));
    expect(await sha256Hex(large)).toBe(Array.from(expected, (byte) => byte.toString(16).padStart(2, '0')).join(''));
  });
});

describe('randomToken', () => {
  it('is 32 lower-case hex characters (128 bits)', () => {
    expect(randomToken()).toMatch(/^[0-9a-f]{32}$/);
  });

  it('never repeats, across refills of its random pool', () => {
    const tokens = Array.from({ length: 2000 }, () => randomToken());
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
