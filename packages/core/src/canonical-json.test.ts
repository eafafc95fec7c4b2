import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonIterative } from './canonical-json';

/** A small deterministic PRNG, so a shuffle is reproducible from fast-check's seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/**
 * A deep copy of a JSON value whose objects have their own keys inserted in another order.
 * Built with defineProperty so a `__proto__` key stays an own data property.
 */
function shuffledCopy(value: unknown, random: () => number): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffledCopy(item, random));
  if (typeof value !== 'object' || value === null) return value;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    Object.defineProperty(copy, key, {
      value: shuffledCopy((value as Record<string, unknown>)[key], random),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

describe('canonicalJson', () => {
  it('sorts object keys recursively and writes no whitespace', () => {
    expect(canonicalJson({ b: { d: 1, c: [true, null] }, a: [{ z: 1, y: 'two' }] })).toBe(
      '{"a":[{"y":"two","z":1}],"b":{"c":[true,null],"d":1}}',
    );
  });

  it('gives the same text whatever the key order', () => {
    expect(canonicalJson({ amount: 100, currency: 'eur', meta: { a: 1, b: 2 } })).toBe(
      canonicalJson({ meta: { b: 2, a: 1 }, currency: 'eur', amount: 100 }),
    );
  });

  it('keeps array order', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson([3, 1, 2])).not.toBe(canonicalJson([1, 2, 3]));
    expect(canonicalJson([{ b: 1 }, { a: 1 }])).toBe('[{"b":1},{"a":1}]');
  });

  it('sorts keys by UTF-16 code units (RFC 8785), not by code points or locale', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB00 in UTF-16.
    expect(canonicalJson({ '\ufb00': 1, '😀': 2, é: 3, z: 4, A: 5, a: 6 })).toBe('{"A":5,"a":6,"z":4,"é":3,"😀":2,"ﬀ":1}');
  });

  it('writes scalars as JSON does', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
    expect(canonicalJson(1.5e300)).toBe('1.5e+300');
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson({ '"': 1 })).toBe('{"\\"":1}');
  });

  it('drops undefined, function and symbol members, and writes them as null in arrays, as JSON.stringify does', () => {
    const value = { a: undefined, b: () => 1, c: Symbol('s'), d: 1 };
    expect(canonicalJson(value)).toBe('{"d":1}');
    expect(canonicalJson(value)).toBe(JSON.stringify(value));
    const array = [undefined, () => 1, 2];
    expect(canonicalJson(array)).toBe('[null,null,2]');
    expect(canonicalJson(array)).toBe(JSON.stringify(array));
  });

  it('honours toJSON (Date), nested too', () => {
    const at = new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 6));
    expect(canonicalJson(at)).toBe('"2030-01-02T03:04:05.006Z"');
    expect(canonicalJson({ z: { toJSON: () => ({ y: 1, x: 2 }) }, at })).toBe('{"at":"2030-01-02T03:04:05.006Z","z":{"x":2,"y":1}}');
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { b: 1, a: 2 };
    expect(canonicalJson({ x: shared, y: [shared, shared] })).toBe('{"x":{"a":2,"b":1},"y":[{"a":2,"b":1},{"a":2,"b":1}]}');
  });

  it('throws TypeError on BigInt, cycles and non-finite numbers', () => {
    expect(() => canonicalJson(10n)).toThrow(TypeError);
    expect(() => canonicalJson({ amount: 10n })).toThrow(TypeError);
    const cycle: Record<string, unknown> = { a: 1 };
    cycle['self'] = cycle;
    expect(() => canonicalJson(cycle)).toThrow(TypeError);
    const arrayCycle: unknown[] = [];
    arrayCycle.push({ inner: arrayCycle });
    expect(() => canonicalJson(arrayCycle)).toThrow(TypeError);
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ x: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => canonicalJson([Number.NEGATIVE_INFINITY])).toThrow(TypeError);
  });

  it('property: key order never matters', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        expect(canonicalJson(shuffledCopy(value, prng(seed)))).toBe(canonicalJson(value));
      }),
      { numRuns: 300 },
    );
  });

  it('property: objects with the same members in any insertion order agree', () => {
    fc.assert(
      fc.property(fc.object({ values: [fc.string(), fc.integer(), fc.boolean(), fc.constant(null)], maxDepth: 3 }), fc.integer(), (value, seed) => {
        expect(canonicalJson(shuffledCopy(value, prng(seed)))).toBe(canonicalJson(value));
      }),
      { numRuns: 200 },
    );
  });

  it('property: canonical JSON parses back to what JSON.stringify describes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(value)));
        expect(text).not.toMatch(/^\s|\s$/);
      }),
      { numRuns: 300 },
    );
  });

  it('property: canonical JSON is a fixed point (canonicalising its parse gives the same text)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});

describe('canonicalJson on hostile depth', () => {
  it('writes a value nested 200,000 levels deep without touching the call stack', () => {
    const depth = 200_000;
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
    const text = canonicalJson(value);
    // 100,000 arrays of 2 characters, 100,000 objects of 6 ({"k": and }), and the 1.
    expect(text.length).toBe(800_001);
    expect(text.startsWith('{"k":[{"k":[')).toBe(true);
    expect(text.endsWith('}]}]}')).toBe(true);
    // Every opening (100,000 × '{"k":' and 100,000 × '[') comes first, then the 1, then the closings.
    expect(text.slice(600_000, 600_003)).toBe('1]}');
  });

  describe('the fast path and the iterative writer agree', () => {
    /** JSON values, plus what JSON.stringify drops or converts: undefined, functions, symbols, toJSON, holes. */
    const loose = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom(
          undefined,
          () => 1,
          Symbol('s'),
          new Date(0),
          { toJSON: (key: string) => `key:${key}` },
          { toJSON: 1, a: 2 },
          new String('ab'),
          new Number(1),
          new Boolean(false),
          Object.assign(Object.create(null) as object, { a: 1, b: [2] }),
          new (class Point {
            x = 1;
            y = 2;
          })(),
          { 9: 'a', 10: 'b', a: 1 },
          { a: { b: { c: [1, 'x', true, null] } }, b: 2 },
        ),
        fc.array(tie('value'), { maxLength: 5 }),
        fc.sparseArray(tie('value'), { maxLength: 5 }),
        fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('value'), { maxKeys: 5 }),
      ),
    })).value;

    const both = (value: unknown): [string, string] => [canonicalJson(value), canonicalJsonIterative(value)];
    /** A copy of a JSON value with every object's keys inserted in canonical order. */
    const sortedCopy = (value: unknown): unknown => JSON.parse(canonicalJson(value)) as unknown;

    it('property: on JSON data whose keys are already in order (written by JSON.stringify)', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const sorted = sortedCopy(value);
          const [fast, iterative] = both(sorted);
          expect(fast).toBe(iterative);
        }),
        { numRuns: 1000 },
      );
    });

    it('property: on any value, including toJSON, undefined, functions, symbols and holes', () => {
      fc.assert(
        fc.property(loose, (value) => {
          fc.pre(value !== undefined && typeof value !== 'function' && typeof value !== 'symbol');
          const [fast, iterative] = both(value);
          expect(fast).toBe(iterative);
        }),
        { numRuns: 1000 },
      );
    });

    it('at and around the depth where the fast path hands over', () => {
      for (let depth = 60; depth <= 70; depth++) {
        let array: unknown = 1;
        let object: unknown = { z: 1, a: [null] };
        for (let i = 0; i < depth; i++) {
          array = [array, i];
          object = { b: object, a: i };
        }
        const [fastArray, iterativeArray] = both(array);
        expect(fastArray).toBe(iterativeArray);
        expect(JSON.parse(fastArray)).toEqual(array);
        const [fastObject, iterativeObject] = both(object);
        expect(fastObject).toBe(iterativeObject);
      }
    });

    it('a cycle below a shallow prefix, or a bad value deep inside, still throws the TypeError', () => {
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = { inner: [cyclic] };
      expect(() => canonicalJson({ wrap: cyclic })).toThrow(/cycle/);
      expect(() => canonicalJson({ a: [{ b: Number.NaN }] })).toThrow(/NaN has no JSON form/);
      expect(() => canonicalJson({ a: [{ b: 10n }] })).toThrow(/bigint has no JSON form/);
    });
  });
});
