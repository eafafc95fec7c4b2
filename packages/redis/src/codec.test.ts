import type { CompletedRecord, IdempotencyRecord, InProgressRecord } from '@oncely/core';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodedExpiresAt, encodeRecord, FORMAT_VERSION, TOKEN_OFFSET, tokenField } from './codec';

/** Any JavaScript string: code points, graphemes, and raw UTF-16 code units (lone surrogates included). */
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }).map((units) => String.fromCharCode(...units)),
);
const anyNumber = fc.oneof(fc.double(), fc.integer({ min: 0, max: 2 ** 53 }), fc.constantFrom(-0, 4102444800123));
const bytes = fc.uint8Array({ maxLength: 300 });
const headers = fc.array(fc.tuple(anyString, anyString), { maxLength: 6 });

const inProgress: fc.Arbitrary<InProgressRecord> = fc.record({
  id: fc.constant('oncely:abc'),
  key: anyString,
  scope: anyString,
  state: fc.constant('in_progress' as const),
  token: anyString,
  fingerprint: anyString,
  leaseUntil: anyNumber,
  expiresAt: anyNumber,
  createdAt: anyNumber,
});

const completed: fc.Arbitrary<CompletedRecord> = fc
  .tuple(
    inProgress,
    anyNumber,
    fc.option(fc.record({ status: anyNumber, headers, body: fc.option(bytes, { nil: null }) }), { nil: undefined }),
    fc.option(bytes, { nil: undefined }),
  )
  .map(([base, completedAt, response, result]) => {
    const { leaseUntil: _lease, ...rest } = base;
    return {
      ...rest,
      state: 'completed' as const,
      completedAt,
      ...(response ? { response } : {}),
      ...(result ? { result } : {}),
    };
  });

describe('record format v1', () => {
  it('round-trips every record exactly: any string (lone surrogates too), any number, any bytes', () => {
    fc.assert(
      fc.property(fc.oneof(inProgress, completed), (record: IdempotencyRecord) => {
        const encoded = encodeRecord(record);
        expect(decodeRecord(record.id, encoded)).toEqual(record);
        expect(Object.is(encodedExpiresAt(encoded), record.expiresAt)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the header the scripts read at fixed offsets: version, expiresAt (float64 BE), token field', () => {
    fc.assert(
      fc.property(fc.oneof(inProgress, completed), (record) => {
        const encoded = encodeRecord(record);
        const field = tokenField(record.token);
        expect(encoded[0]).toBe(FORMAT_VERSION);
        expect(Object.is(encoded.readDoubleBE(1), record.expiresAt)).toBe(true);
        expect(encoded.subarray(TOKEN_OFFSET, TOKEN_OFFSET + field.length).equals(field)).toBe(true);
      }),
    );
  });

  it('gives distinct token fields to distinct tokens (a lone surrogate is not its replacement character)', () => {
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        expect(tokenField(a).equals(tokenField(b))).toBe(a === b);
      }),
    );
    expect(tokenField('\ud800').equals(tokenField('\ufffd'))).toBe(false);
  });

  it('keeps the token an update replaced in the bytes (so each write is unique) but out of the record', () => {
    fc.assert(
      fc.property(fc.oneof(inProgress, completed), anyString, (record, replaced) => {
        const encoded = encodeRecord(record, replaced);
        expect(decodeRecord(record.id, encoded)).toEqual(record);
        expect(encoded.equals(encodeRecord(record))).toBe(replaced === '');
      }),
    );
  });

  it('keeps body: null, an empty body, and an absent response or result apart', () => {
    const base = { id: 'x', key: 'k', scope: 's', token: 't', fingerprint: '', expiresAt: 2, createdAt: 1, state: 'completed' as const, completedAt: 1 };
    const variants: CompletedRecord[] = [
      base,
      { ...base, response: { status: 200, headers: [], body: null } },
      { ...base, response: { status: 200, headers: [], body: new Uint8Array(0) } },
      { ...base, result: new Uint8Array(0) },
    ];
    for (const record of variants) expect(decodeRecord('x', encodeRecord(record))).toStrictEqual(record);
  });

  it('decodes bodies into fresh memory: mutating a decoded body never touches the encoded value', () => {
    const record: CompletedRecord = {
      id: 'x', key: 'k', scope: 's', token: 't', fingerprint: '', expiresAt: 2, createdAt: 1, state: 'completed', completedAt: 1,
      response: { status: 200, headers: [], body: new Uint8Array([1, 2, 3]) },
    };
    const encoded = encodeRecord(record);
    const decoded = decodeRecord('x', encoded) as CompletedRecord;
    (decoded.response?.body as Uint8Array)[0] = 99;
    expect((decodeRecord('x', encoded) as CompletedRecord).response?.body).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('refuses values that are not version-1 records, and truncated ones', () => {
    const encoded = encodeRecord({ id: 'x', key: 'k', scope: 's', token: 't', fingerprint: 'f', state: 'in_progress', leaseUntil: 3, expiresAt: 2, createdAt: 1 });
    expect(() => decodeRecord('x', Buffer.from('{"json":true}'))).toThrow(/not an oncely record/);
    expect(() => decodeRecord('x', encoded.subarray(0, encoded.length - 1))).toThrow(/truncated/);
  });

  it('refuses malformed records instead of writing them', () => {
    const good: InProgressRecord = { id: 'x', key: 'k', scope: 's', token: 't', fingerprint: 'f', state: 'in_progress', leaseUntil: 3, expiresAt: 2, createdAt: 1 };
    expect(() => encodeRecord({ ...good, state: 'done' } as unknown as IdempotencyRecord)).toThrow(TypeError);
    expect(() => encodeRecord({ ...good, expiresAt: '2' } as unknown as IdempotencyRecord)).toThrow(TypeError);
    expect(() => encodeRecord({ ...good, key: undefined } as unknown as IdempotencyRecord)).toThrow(TypeError);
    expect(() => encodeRecord({ ...good, token: 'x'.repeat(40_000) })).toThrow(TypeError);
  });
});
