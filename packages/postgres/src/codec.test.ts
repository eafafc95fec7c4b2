import { describe, expect, it } from 'vitest';
import type { CompletedRecord, InProgressRecord } from '@oncely/core';
import { type RecordRow, COLUMNS, decodeBytea, recordBytes, recordParams, ROW_TYPES, rowToRecord } from './codec';

const claim: InProgressRecord = {
  id: 'oncely:abc',
  key: 'k 🦄',
  scope: 'tenant',
  state: 'in_progress',
  token: 't1',
  fingerprint: 'v1:aa',
  leaseUntil: Number.MAX_SAFE_INTEGER - 1,
  expiresAt: Number.MAX_SAFE_INTEGER,
  createdAt: 0,
};

/** What PostgreSQL would hand back for these parameters, through the store's type parsers. */
function asRow(params: ReturnType<typeof recordParams>): RecordRow {
  const row: Record<string, unknown> = {};
  COLUMNS.forEach((column, i) => {
    const value = params[i];
    row[column] = value instanceof Buffer ? new Uint8Array(value) : column === 'response_headers' && typeof value === 'string' ? JSON.parse(value) : value;
  });
  return row as unknown as RecordRow;
}

describe('codec', () => {
  it('round-trips an in-progress record, numbers exact up to 2^53 - 1', () => {
    expect(rowToRecord(asRow(recordParams(claim)))).toEqual(claim);
  });

  it('round-trips completed records: null body distinct from empty, headers in order with duplicates, results', () => {
    const response: CompletedRecord = {
      ...claim,
      state: 'completed',
      completedAt: 5,
      response: { status: 201, headers: [['link', 'a'], ['content-type', 'x'], ['link', 'b']], body: null },
    };
    const withEmpty: CompletedRecord = { ...response, response: { status: 200, headers: [], body: new Uint8Array(0) } };
    const result: CompletedRecord = { ...claim, state: 'completed', completedAt: 5, result: new Uint8Array([0, 255]) };
    const bare: CompletedRecord = { ...claim, state: 'completed', completedAt: 5 };
    for (const record of [response, withEmpty, result, bare]) {
      const { leaseUntil: _ignored, ...completed } = record as CompletedRecord & { leaseUntil?: number };
      expect(rowToRecord(asRow(recordParams(record)))).toEqual(completed);
    }
  });

  it('refuses times that are not whole epoch milliseconds', () => {
    expect(() => recordParams({ ...claim, expiresAt: 1.5 })).toThrow(TypeError);
    expect(() => recordParams({ ...claim, leaseUntil: Number.NaN })).toThrow(TypeError);
    expect(() => rowToRecord({ ...asRow(recordParams(claim)), expires_at: '9007199254740993' })).toThrow(TypeError);
  });

  it('counts bytes as stored: UTF-8 text, bodies, 8 per number', () => {
    const params = recordParams({ ...claim, key: 'é' });
    const text = 'oncely:abc'.length + 2 + 'tenant'.length + 'in_progress'.length + 2 + 5;
    const numbers = String(claim.leaseUntil).length + String(claim.expiresAt).length + 1;
    expect(recordBytes(params)).toBe(text + numbers);
  });

  it('decodes bytea in hex and in the legacy escape format', () => {
    expect(decodeBytea('\\x00ff10')).toEqual(new Uint8Array([0, 255, 16]));
    expect(decodeBytea('\\x')).toEqual(new Uint8Array(0));
    expect(decodeBytea('a\\\\b\\000\\377')).toEqual(new Uint8Array([97, 92, 98, 0, 255]));
  });

  it('parses with its own type parsers, whatever pg.types says: int8 stays text, int4 a number, jsonb parsed', () => {
    expect(ROW_TYPES.getTypeParser(20)('9007199254740991')).toBe('9007199254740991');
    expect(ROW_TYPES.getTypeParser(23)('201')).toBe(201);
    expect(ROW_TYPES.getTypeParser(3802)('[["a","b"]]')).toEqual([['a', 'b']]);
    expect(ROW_TYPES.getTypeParser(16)('t')).toBe(true);
    expect(ROW_TYPES.getTypeParser(25)('text')).toBe('text');
  });
});
