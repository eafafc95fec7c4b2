import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toHex, utf8 } from './bytes';
import { builtinCrypto, frame, framedHasher, type NativeCrypto } from './hash';
import { sha256 } from './sha256';

// Record ids and fingerprints are persisted: a change to any digest below is a breaking change (a
// stored fingerprint would no longer match its retry, a stored record would no longer be found).
// Pinned from the pure-JS implementation (frame + sha256) before the native path existed.
const RECORD_IDS: readonly [namespace: string, scope: string, key: string, id: string][] = [
  ['oncely', 'acct_1', 'k-1', 'oncely:217927dad1c24319182ea2f890c6528fa287f9d3993e3a2d75176b65e66fee0c'],
  ['app.v2', '租户', '🔑é\u0000x', 'app.v2:8c05837caa8536c1f686391e9fcf85e07fd173af9a99847869f205351dc70fe4'],
  ['oncely', 's\uD800', 'k\uDC00y', 'oncely:5f6f04854a89fe0ec32098e2361be242f21166e036e924d0b5e8759cd7b81c5f'],
  ['oncely', 's', 'k'.repeat(300), 'oncely:e368a10585803c30c2b169a047cbab924560a87720cedf357e07fe26907f728a'],
];

type FingerprintModule = typeof import('./fingerprint');
type Case = readonly [name: string, run: (fp: FingerprintModule['fingerprint']) => Promise<string>, digest: string];
const json = { 'content-type': 'application/json' };
const FINGERPRINTS: readonly Case[] = [
  [
    'raw JSON, query sorted, non-ASCII',
    (fp) => fp({ method: 'post', url: '/v1/charges?b=2&a=1', headers: json, rawBody: utf8('{"b":1, "a":[2,{"z":"é","y":null}]}') }),
    'v1:5a8bc4f20649dd838347a02ab73796bf1ab32ee7fa6062ac9254eb56f916f628',
  ],
  [
    'parsed object',
    (fp) => fp({ method: 'POST', url: '/v1/charges', parsedBody: { amount: 1999, currency: 'eur', note: '租户🔑' } }),
    'v1:8ec5213158bd47fabe770a5a1f5bbb2992ba09c2d9115e40009545b2d8f940e8',
  ],
  [
    'raw bytes',
    (fp) => fp({ method: 'PUT', url: '/x', headers: { 'content-type': 'application/octet-stream' }, rawBody: Uint8Array.of(0, 255, 58, 49) }),
    'v1:2d21a6e508d248bbf3d7b60dbc2bdf0abc08164d3427a7c3705a009d1b05a2a1',
  ],
  ['no body', (fp) => fp({ method: 'POST', url: '/x' }), 'v1:50aee712dfa9435a36ccde081a50c021994522695149572e1f8f35641009b8df'],
  [
    'parsed string with a lone surrogate',
    (fp) => fp({ method: 'POST', url: '/x', parsedBody: 'hello \uD800 wörld' }),
    'v1:581ef5d2291c423f0290c1bba224ebceac26544b1c6dc62622dbd49ee11ff4a5',
  ],
  [
    'included headers and excluded paths',
    (fp) =>
      fp(
        { method: 'POST', url: '/x', headers: { 'Accept-Language': 'fr-CH', ...json }, rawBody: utf8('{"a":1,"ts":5}') },
        { includeHeaders: ['accept-language', 'x-missing'], excludeJsonPaths: ['ts'] },
      ),
    'v1:a052a3a3796380a8b230213df5d81e28491eb8be146af4d54dedd03e75c50ebe',
  ],
  [
    'invalid JSON, hashed as bytes',
    (fp) => fp({ method: 'POST', url: '/x', headers: json, rawBody: utf8('{"a":') }),
    'v1:2a9eb49433720ede674758fea4c03be6405e638f2098f6897ef73a333a9e975e',
  ],
  [
    'JSON over the synchronous limit (Web Crypto)',
    (fp) => fp({ method: 'POST', url: '/x', headers: json, rawBody: utf8(JSON.stringify({ data: 'x'.repeat(70_000) })) }),
    'v1:b9d9701f750a2c2c1a6663cdd2731455a2577100ece8211b6e30f262fcba4b7d',
  ],
  [
    'bytes over the synchronous limit (Web Crypto)',
    (fp) => fp({ method: 'POST', url: '/x', rawBody: new Uint8Array(100_000).fill(7) }),
    'v1:5fa1d2d04b57afc70d2574b3993ffa42febcb9d5ff485d24f4f32fbef1712615',
  ],
  ['custom string', (fp) => fp({ method: 'POST', url: '/x' }, () => 'tenant-1:abc'), 'custom:dd2b1976f0cb6d8e28c0224cde712b733d11897e41bc57cd34db3a35002e65e9'],
  ['custom bytes', (fp) => fp({ method: 'POST', url: '/x' }, () => Uint8Array.of(1, 2, 3)), 'custom:039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81'],
];

/**
 * Fresh copies of the hashing modules, loaded with the runtime's built-in crypto (wrapped to count
 * its use) or without any (`process.getBuiltinModule` absent, as on edge runtimes).
 */
async function load(native: boolean): Promise<{ hash: typeof import('./hash'); fingerprint: FingerprintModule; nativeCalls: () => number }> {
  const real = builtinCrypto() as NativeCrypto;
  let calls = 0;
  const counted: NativeCrypto = {
    createHash: (algorithm) => {
      calls++;
      return real.createHash(algorithm);
    },
    hash: (algorithm, data, encoding) => {
      calls++;
      return (real.hash as NonNullable<NativeCrypto['hash']>)(algorithm, data, encoding);
    },
  };
  vi.resetModules();
  vi.stubGlobal('process', { ...process, getBuiltinModule: native ? (id: string) => (id === 'crypto' ? counted : undefined) : undefined });
  try {
    return { hash: await import('./hash'), fingerprint: await import('./fingerprint'), nativeCalls: () => calls };
  } finally {
    vi.unstubAllGlobals();
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

const pureHex = (fields: readonly (string | Uint8Array)[]): string => toHex(sha256(frame(fields)));

/** Any UTF-16: paired and lone surrogates included (UTF-8 encoders write U+FFFD for a lone one). */
const anyText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((codes) => String.fromCharCode(...codes)),
);
const anyFields = fc.array(fc.oneof(anyText, fc.uint8Array({ maxLength: 200 })), { maxLength: 6 });

describe('persisted digests', () => {
  it('this runtime has a native SHA-256 (so the tests below cover both paths)', () => {
    expect(typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule).toBe('function');
    expect(typeof builtinCrypto()?.createHash).toBe('function');
  });

  for (const native of [true, false]) {
    const path = native ? 'native SHA-256' : 'pure-JS SHA-256';

    it(`record ids are unchanged (${path})`, async () => {
      const { hash, nativeCalls } = await load(native);
      const before = nativeCalls();
      for (const [namespace, scope, key, id] of RECORD_IDS) expect(hash.recordId(namespace, scope, key)).toBe(id);
      expect(nativeCalls() - before).toBe(native ? RECORD_IDS.length : 0);
    });

    it(`fingerprints are unchanged (${path})`, async () => {
      const { fingerprint, nativeCalls } = await load(native);
      const before = nativeCalls();
      for (const [name, run, digest] of FINGERPRINTS) expect([name, await run(fingerprint.fingerprint)]).toEqual([name, digest]);
      if (native) expect(nativeCalls()).toBeGreaterThan(before);
      else expect(nativeCalls()).toBe(0);
    });
  }
});

describe('framedHasher', () => {
  const real = builtinCrypto() as NativeCrypto;
  const hashers = {
    'one-shot hash': framedHasher(real),
    'createHash only': framedHasher({ createHash: real.createHash }),
    'pure JS (no built-in)': framedHasher(undefined),
  };
  const lengths = (fields: readonly (string | Uint8Array)[]): number[] =>
    fields.map((field) => (typeof field === 'string' ? utf8(field).byteLength : field.byteLength));

  it('property: every implementation gives the digest of frame(fields)', () => {
    fc.assert(
      fc.property(anyFields, (fields) => {
        const expected = pureHex(fields);
        for (const [name, hasher] of Object.entries(hashers)) expect([name, hasher(fields, lengths(fields))]).toEqual([name, expected]);
      }),
      { numRuns: 1000 },
    );
  });

  it('does not use a built-in that disagrees with the pure-JS digest', () => {
    const wrong: NativeCrypto = {
      createHash: () => ({ update: () => undefined, digest: () => '00'.repeat(32) }),
      hash: () => '00'.repeat(32),
    };
    const fields = ['scope', 'key'];
    expect(framedHasher(wrong)(fields, lengths(fields))).toBe(pureHex(fields));
  });

  it('does not use a built-in that throws', () => {
    const broken: NativeCrypto = {
      createHash: () => {
        throw new Error('no sha256 here');
      },
    };
    const fields = ['a', Uint8Array.of(1)];
    expect(framedHasher(broken)(fields, lengths(fields))).toBe(pureHex(fields));
  });
});
