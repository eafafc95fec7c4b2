import type { CompletedRecord, IdempotencyRecord } from '@oncely/core';
import * as fc from 'fast-check';
import { BSON, Binary, Double, Int32, Long } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { fromDocument, MalformedDocumentError, toDocument } from './document';

const instant = fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_123 }), fc.double({ min: 0, max: 4.2e12, noNaN: true }));
const bytes = fc.uint8Array({ maxLength: 64 });
const text = fc.string({ unit: 'binary', maxLength: 16 }).filter((value) => !value.includes('\u0000'));

const recordArbitrary: fc.Arbitrary<IdempotencyRecord> = fc.oneof(
  fc.record({
    id: text, key: text, scope: text, token: text, fingerprint: text,
    createdAt: instant, expiresAt: instant, state: fc.constant('in_progress' as const), leaseUntil: instant,
  }),
  fc.record(
    {
      id: text, key: text, scope: text, token: text, fingerprint: text,
      createdAt: instant, expiresAt: instant, state: fc.constant('completed' as const), completedAt: instant,
      response: fc.record({
        status: fc.integer({ min: 100, max: 599 }),
        headers: fc.array(fc.tuple(text, text)),
        body: fc.option(bytes, { nil: null }),
      }),
      result: bytes,
    },
    { requiredKeys: ['id', 'key', 'scope', 'token', 'fingerprint', 'createdAt', 'expiresAt', 'state', 'completedAt'] },
  ),
);

/** Through BSON and back, as the driver would send and receive it. */
function throughBson(record: IdempotencyRecord, options: BSON.DeserializeOptions = {}): IdempotencyRecord {
  return fromDocument(BSON.deserialize(BSON.serialize(toDocument(record)), options));
}

describe('document codec', () => {
  it('round-trips any record through BSON exactly (integer instants as Long, others as double)', () => {
    fc.assert(
      fc.property(recordArbitrary, (record) => {
        expect(throughBson(record)).toEqual(record);
      }),
    );
  });

  it('round-trips whatever the BSON promotion settings', () => {
    const settings: BSON.DeserializeOptions[] = [
      { promoteLongs: false },
      { promoteValues: false },
      { promoteBuffers: true },
      { useBigInt64: true },
    ];
    fc.assert(
      fc.property(recordArbitrary, fc.constantFrom(...settings), (record, options) => {
        expect(throughBson(record, options)).toEqual(record);
      }),
    );
  });

  it('writes integer instants as Long, expiresAtDate as a Date, bodies as Binary, null bodies as null', () => {
    const record: CompletedRecord = {
      id: 'i', key: 'k', scope: 's', token: 't', fingerprint: 'v1:f', state: 'completed',
      createdAt: 1, expiresAt: 4_102_444_800_123, completedAt: 2,
      response: { status: 200, headers: [['link', 'a'], ['link', 'b']], body: null },
    };
    const doc = toDocument(record);
    expect(doc.expiresAt).toEqual(Long.fromNumber(4_102_444_800_123));
    expect(doc.expiresAtDate).toEqual(new Date(4_102_444_800_123));
    expect(doc.response?.body).toBeNull();
    expect(toDocument({ ...record, response: { status: 200, headers: [], body: new Uint8Array([1]) } }).response?.body).toBeInstanceOf(Binary);
  });

  it('returns fresh bytes, not views of the BSON buffer', () => {
    const record: CompletedRecord = {
      id: 'i', key: 'k', scope: 's', token: 't', fingerprint: '', state: 'completed',
      createdAt: 1, expiresAt: 2, completedAt: 2, result: new Uint8Array([1, 2, 3]),
    };
    const decoded = throughBson(record) as CompletedRecord;
    expect(decoded.result?.buffer.byteLength).toBe(3);
  });

  it('unwraps Int32 and Double wrappers', () => {
    const doc = { ...toDocument({ id: 'i', key: 'k', scope: 's', token: 't', fingerprint: '', state: 'in_progress', createdAt: 1, expiresAt: 2, leaseUntil: 3 }) };
    expect(fromDocument({ ...doc, createdAt: new Int32(1), expiresAt: new Double(2), leaseUntil: 3n })).toMatchObject({ createdAt: 1, expiresAt: 2, leaseUntil: 3 });
  });

  it('refuses documents that are not oncely records', () => {
    const good = toDocument({ id: 'i', key: 'k', scope: 's', token: 't', fingerprint: '', state: 'in_progress', createdAt: 1, expiresAt: 2, leaseUntil: 3 });
    const broken: Record<string, unknown>[] = [
      { ...good, state: 'done' },
      { ...good, token: 42 },
      { ...good, expiresAt: '2' },
      { ...good, state: 'completed', completedAt: 1, response: { status: 200, headers: [['a']], body: null } },
      { ...good, state: 'completed', completedAt: 1, result: 'text' },
    ];
    for (const doc of broken) expect(() => fromDocument(doc)).toThrow(MalformedDocumentError);
  });
});
