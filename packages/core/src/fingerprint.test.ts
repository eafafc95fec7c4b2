import { describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import { fingerprint, fingerprintsDiffer, type FingerprintOption, type RequestFacts } from './fingerprint';

const JSON_HEADERS = { 'content-type': 'application/json' };
const base: RequestFacts = { method: 'POST', url: '/charges', headers: JSON_HEADERS, rawBody: utf8('{"amount":100,"currency":"eur"}') };
const fp = (overrides: Partial<RequestFacts> = {}, option?: FingerprintOption): Promise<string> => fingerprint({ ...base, ...overrides }, option);

describe('fingerprint', () => {
  it("is 'v1:' + 64 lower-case hex, and deterministic", async () => {
    const value = await fp();
    expect(value).toMatch(/^v1:[0-9a-f]{64}$/);
    expect(await fp()).toBe(value);
  });

  it('ignores the case of the method, but not the method', async () => {
    expect(await fp({ method: 'post' })).toBe(await fp({ method: 'POST' }));
    expect(await fp({ method: 'Post' })).toBe(await fp());
    expect(await fp({ method: 'PATCH' })).not.toBe(await fp());
  });

  it('ignores the order of query parameters, but not their names or values', async () => {
    const sorted = await fp({ url: '/charges?a=1&b=2' });
    expect(await fp({ url: '/charges?b=2&a=1' })).toBe(sorted);
    expect(await fp({ url: '/charges?a=1&b=3' })).not.toBe(sorted);
    expect(await fp({ url: '/charges?a=1&c=2' })).not.toBe(sorted);
    expect(await fp({ url: '/charges?a=1' })).not.toBe(sorted);
    expect(await fp({ url: '/charges' })).not.toBe(sorted);
    // Repeated names keep all their values.
    expect(await fp({ url: '/charges?a=1&a=2' })).toBe(await fp({ url: '/charges?a=2&a=1' }));
    expect(await fp({ url: '/charges?a=1&a=2' })).not.toBe(await fp({ url: '/charges?a=1' }));
  });

  it('takes the path into account', async () => {
    expect(await fp({ url: '/refunds' })).not.toBe(await fp());
    expect(await fp({ url: '/charges/1' })).not.toBe(await fp({ url: '/charges/2' }));
  });

  it('canonicalises JSON bodies: key order and whitespace do not matter, values do', async () => {
    const reordered = await fp({ rawBody: utf8('{ "currency" : "eur",\n  "amount": 100 }') });
    expect(reordered).toBe(await fp());
    expect(await fp({ rawBody: utf8('{"amount":101,"currency":"eur"}') })).not.toBe(await fp());
  });

  it('treats +json media types and content-type parameters as JSON', async () => {
    const canonical = await fp();
    expect(await fp({ headers: { 'content-type': 'application/merge-patch+json' }, rawBody: utf8('{"currency":"eur","amount":100}') })).toBe(
      await fp({ headers: { 'content-type': 'application/merge-patch+json' } }),
    );
    expect(await fp({ headers: { 'Content-Type': 'Application/JSON; charset=utf-8' }, rawBody: utf8('{"currency":"eur", "amount":100}') })).toBe(canonical);
  });

  it('gives raw JSON bytes and the same object parsed by a framework the same fingerprint', async () => {
    const { rawBody: _ignored, ...withoutRaw } = base;
    const parsed = await fingerprint({ ...withoutRaw, parsedBody: { currency: 'eur', amount: 100 } });
    expect(parsed).toBe(await fp());
    // A framework may not even pass the content-type along.
    expect(await fingerprint({ method: 'post', url: '/charges', parsedBody: { amount: 100, currency: 'eur' } })).toBe(parsed);
  });

  it('hashes non-JSON bodies byte for byte, so whitespace matters there', async () => {
    const text = { headers: { 'content-type': 'text/plain' } };
    const a = await fp({ ...text, rawBody: utf8('{"amount":100}') });
    expect(await fp({ ...text, rawBody: utf8('{"amount":100}') })).toBe(a);
    expect(await fp({ ...text, rawBody: utf8('{"amount": 100}') })).not.toBe(a);
    expect(await fp({ headers: {}, rawBody: utf8('{"amount": 100}') })).not.toBe(await fp({ headers: {}, rawBody: utf8('{"amount":100}') }));
    const binary = { headers: { 'content-type': 'application/octet-stream' } };
    expect(await fp({ ...binary, rawBody: Uint8Array.of(0, 1, 2, 255) })).not.toBe(await fp({ ...binary, rawBody: Uint8Array.of(0, 1, 2, 254) }));
  });

  it('falls back to raw bytes, without throwing, when a JSON content-type carries invalid JSON', async () => {
    const broken = await fp({ rawBody: utf8('{"amount":100,') });
    expect(broken).toMatch(/^v1:[0-9a-f]{64}$/);
    expect(await fp({ rawBody: utf8('{"amount": 100,') })).not.toBe(broken);
    // Invalid UTF-8 too.
    expect(await fp({ rawBody: Uint8Array.of(0x7b, 0xff, 0x7d) })).toMatch(/^v1:[0-9a-f]{64}$/);
  });

  it('never throws on a JSON body nested deeper than the call stack (CONTRACT §10: bad input is never a 500)', async () => {
    const depth = 20_000;
    const deep = utf8(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const value = await fp({ rawBody: deep });
    expect(value).toMatch(/^v1:[0-9a-f]{64}$/);
    expect(await fp({ rawBody: deep })).toBe(value);
  });

  it('distinguishes an empty body from no body and from a JSON null', async () => {
    const { rawBody: _ignored, ...withoutRaw } = base;
    const none = await fingerprint({ ...withoutRaw, headers: {} });
    expect(await fp({ rawBody: new Uint8Array(0), headers: {} })).not.toBe(none);
    expect(await fp({ rawBody: utf8('""'), headers: {} })).not.toBe(await fp({ rawBody: utf8(''), headers: {} }));
  });

  it('includes named headers only when asked, case-insensitively', async () => {
    const fr = { ...JSON_HEADERS, 'accept-language': 'fr' };
    const en = { ...JSON_HEADERS, 'accept-language': 'en' };
    expect(await fp({ headers: fr })).toBe(await fp({ headers: en }));
    const option = { includeHeaders: ['Accept-Language'] };
    expect(await fp({ headers: fr }, option)).not.toBe(await fp({ headers: en }, option));
    expect(await fp({ headers: fr }, option)).toBe(await fp({ headers: { 'Accept-Language': 'fr', 'Content-Type': 'application/json' } }, option));
    // An absent included header is not the same as no header list at all, but is stable.
    expect(await fp({}, option)).toBe(await fp({}, option));
  });

  it('excludes JSON paths: dotted, with a leading $., and array indices', async () => {
    const body = (sentAt: string, b: number, ts: number): Uint8Array =>
      utf8(JSON.stringify({ amount: 1, meta: { sentAt, source: 'app' }, a: { b, c: 1 }, items: [{ ts, sku: 'x' }, { ts: 5, sku: 'y' }] }));
    const option = { excludeJsonPaths: ['meta.sentAt', '$.a.b', 'items.0.ts'] };
    const first = await fp({ rawBody: body('2030-01-01', 1, 1) }, option);
    expect(await fp({ rawBody: body('2030-01-02', 2, 2) }, option)).toBe(first);
    // Without the option, each of those fields matters.
    expect(await fp({ rawBody: body('2030-01-02', 1, 1) })).not.toBe(await fp({ rawBody: body('2030-01-01', 1, 1) }));
    // Fields next to an excluded one still matter.
    expect(await fp({ rawBody: utf8(JSON.stringify({ amount: 2, meta: { sentAt: 'x', source: 'app' } })) }, option)).not.toBe(
      await fp({ rawBody: utf8(JSON.stringify({ amount: 1, meta: { sentAt: 'x', source: 'app' } })) }, option),
    );
    // The same exclusion applies to a parsed body.
    const { rawBody: _ignored, ...withoutRaw } = base;
    expect(
      await fingerprint({ ...withoutRaw, parsedBody: { amount: 1, meta: { sentAt: 'y', source: 'app' }, a: { b: 9, c: 1 }, items: [{ ts: 7, sku: 'x' }, { ts: 5, sku: 'y' }] } }, option),
    ).toBe(first);
  });

  it('excludes a whole array element by index without shifting the others', async () => {
    const option = { excludeJsonPaths: ['items.1'] };
    expect(await fp({ rawBody: utf8('{"items":[1,2,3]}') }, option)).toBe(await fp({ rawBody: utf8('{"items":[1,9,3]}') }, option));
    expect(await fp({ rawBody: utf8('{"items":[1,2,3]}') }, option)).not.toBe(await fp({ rawBody: utf8('{"items":[1,3]}') }, option));
  });

  it("hashes a custom function's output with a 'custom:' prefix", async () => {
    const custom = (request: RequestFacts): string => request.url;
    const value = await fp({}, custom);
    expect(value).toMatch(/^custom:[0-9a-f]{64}$/);
    expect(await fp({ rawBody: utf8('{"other":true}') }, custom)).toBe(value);
    expect(await fp({ url: '/other' }, custom)).not.toBe(value);
    expect(await fp({}, async () => utf8('/charges'))).toBe(value);
  });

  it("gives '' when fingerprinting is off", async () => {
    expect(await fp({}, false)).toBe('');
  });
});

describe('fingerprintsDiffer', () => {
  const a = `v1:${'a'.repeat(64)}`;
  const b = `v1:${'b'.repeat(64)}`;

  it('differs for the same algorithm with different digests, not for equal ones', () => {
    expect(fingerprintsDiffer(a, b)).toBe(true);
    expect(fingerprintsDiffer(a, a)).toBe(false);
    expect(fingerprintsDiffer(`custom:${'1'.repeat(64)}`, `custom:${'2'.repeat(64)}`)).toBe(true);
  });

  it("never differs when either side is '' (fingerprinting off)", () => {
    expect(fingerprintsDiffer('', a)).toBe(false);
    expect(fingerprintsDiffer(a, '')).toBe(false);
    expect(fingerprintsDiffer('', '')).toBe(false);
  });

  it('never differs across algorithm prefixes (no mass key_reused after an upgrade)', () => {
    expect(fingerprintsDiffer(a, `v2:${'b'.repeat(64)}`)).toBe(false);
    expect(fingerprintsDiffer(a, `custom:${'b'.repeat(64)}`)).toBe(false);
  });

  it('compares real fingerprints of different requests as different', async () => {
    expect(fingerprintsDiffer(await fp(), await fp({ url: '/refunds' }))).toBe(true);
    expect(fingerprintsDiffer(await fp(), await fp({ method: 'post' }))).toBe(false);
  });
});
