import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAYED_HEADERS, headerValue, pickHeaders, replayedHeaderFilter } from './headers';

describe('headerValue', () => {
  it('reads a Fetch Headers object, case-insensitively', () => {
    const headers = new Headers({ 'Idempotency-Key': 'abc', 'X-Multi': 'a' });
    headers.append('x-multi', 'b');
    expect(headerValue(headers, 'idempotency-key')).toBe('abc');
    expect(headerValue(headers, 'IDEMPOTENCY-KEY')).toBe('abc');
    expect(headerValue(headers, 'x-multi')).toBe('a, b');
    expect(headerValue(headers, 'absent')).toBeUndefined();
  });

  it('reads a Node-style object: lower-case fast path, any case otherwise, arrays joined', () => {
    expect(headerValue({ 'idempotency-key': 'abc' }, 'Idempotency-Key')).toBe('abc');
    expect(headerValue({ 'Idempotency-Key': 'abc' }, 'idempotency-key')).toBe('abc');
    expect(headerValue({ 'X-Forwarded-For': ['1.1.1.1', '2.2.2.2'] }, 'x-forwarded-for')).toBe('1.1.1.1, 2.2.2.2');
    expect(headerValue({ other: 'x', missing: undefined }, 'missing')).toBeUndefined();
    expect(headerValue({ other: 'x' }, 'idempotency-key')).toBeUndefined();
  });

  it('reads [name, value] pairs, case-insensitively, repeated names joined in order', () => {
    const pairs: [string, string][] = [
      ['Accept', 'text/plain'],
      ['idempotency-key', 'k1'],
      ['ACCEPT', 'application/json'],
    ];
    expect(headerValue(pairs, 'accept')).toBe('text/plain, application/json');
    expect(headerValue(pairs, 'Idempotency-Key')).toBe('k1');
    expect(headerValue(pairs, 'absent')).toBeUndefined();
  });

  it('reads a Map of pairs (an Iterable of [name, value]) case-insensitively too', () => {
    const map = new Map([['Idempotency-Key', 'k1']]);
    expect(headerValue(map, 'idempotency-key')).toBe('k1');
  });

  it('gives undefined without headers', () => {
    expect(headerValue(undefined, 'idempotency-key')).toBeUndefined();
  });

  it('keeps an empty value distinct from an absent header', () => {
    expect(headerValue({ 'idempotency-key': '' }, 'idempotency-key')).toBe('');
    expect(headerValue(new Headers({ 'idempotency-key': '' }), 'idempotency-key')).toBe('');
  });
});

describe('replayedHeaderFilter', () => {
  it('keeps the default allow-list, in any case', () => {
    const keep = replayedHeaderFilter();
    for (const name of DEFAULT_REPLAYED_HEADERS) {
      expect(keep(name)).toBe(true);
      expect(keep(name.toUpperCase())).toBe(true);
    }
    expect(DEFAULT_REPLAYED_HEADERS).toEqual(
      expect.arrayContaining(['content-type', 'content-encoding', 'content-language', 'location', 'etag', 'last-modified', 'link', 'cache-control']),
    );
  });

  it('drops headers that are not allow-listed, and keeps user-named ones', () => {
    expect(replayedHeaderFilter()('x-request-id')).toBe(false);
    expect(replayedHeaderFilter()('date')).toBe(false);
    const keep = replayedHeaderFilter(['X-Request-Id']);
    expect(keep('x-request-id')).toBe(true);
    expect(keep('X-REQUEST-ID')).toBe(true);
    expect(keep('x-other')).toBe(false);
  });

  it('never lets set-cookie, hop-by-hop headers or content-length through, even when listed', () => {
    const forbidden = [
      'set-cookie',
      'Set-Cookie',
      'set-cookie2',
      'content-length',
      'Content-Length',
      'connection',
      'keep-alive',
      'proxy-authenticate',
      'proxy-authorization',
      'te',
      'trailer',
      'transfer-encoding',
      'Transfer-Encoding',
      'upgrade',
      'idempotent-replayed',
    ];
    const keep = replayedHeaderFilter(forbidden);
    for (const name of forbidden) expect(keep(name), name).toBe(false);
  });

  it('pickHeaders keeps accepted headers only, names lower-cased, order and values kept', () => {
    const keep = replayedHeaderFilter(['x-custom']);
    const picked = pickHeaders(
      [
        ['Content-Type', 'application/json'],
        ['Set-Cookie', 'session=secret'],
        ['X-Custom', 'One'],
        ['Content-Length', '12'],
        ['x-custom', 'Two'],
        ['X-Powered-By', 'me'],
      ],
      keep,
    );
    expect(picked).toEqual([
      ['content-type', 'application/json'],
      ['x-custom', 'One'],
      ['x-custom', 'Two'],
    ]);
  });
});
