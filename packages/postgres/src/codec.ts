import type { CompletedRecord, HeaderEntry, IdempotencyRecord, StoredResponse } from '@oncely/core';

/** The table's columns, in the order of the parameters {@link recordParams} produces. */
export const COLUMNS = [
  'id',
  'key',
  'scope',
  'state',
  'token',
  'fingerprint',
  'lease_until',
  'expires_at',
  'created_at',
  'completed_at',
  'response_status',
  'response_headers',
  'response_body',
  'result',
] as const;

/** A row as the store's own type parsers hand it over (see {@link ROW_TYPES}). */
export interface RecordRow {
  readonly id: string;
  readonly key: string;
  readonly scope: string;
  readonly state: string;
  readonly token: string;
  readonly fingerprint: string;
  readonly lease_until: string | null;
  readonly expires_at: string;
  readonly created_at: string;
  readonly completed_at: string | null;
  readonly response_status: number | null;
  readonly response_headers: unknown;
  readonly response_body: Uint8Array | null;
  readonly result: Uint8Array | null;
}

/** The fourteen query parameters of a record, in {@link COLUMNS} order. */
export type RecordParams = readonly [
  id: string,
  key: string,
  scope: string,
  state: string,
  token: string,
  fingerprint: string,
  leaseUntil: string | null,
  expiresAt: string,
  createdAt: string,
  completedAt: string | null,
  responseStatus: number | null,
  responseHeaders: string | null,
  responseBody: Buffer | null,
  result: Buffer | null,
];

const OID_BOOL = 16;
const OID_BYTEA = 17;
const OID_INT4 = 23;
const OID_JSON = 114;
const OID_JSONB = 3802;

const identity = (value: string): string => value;

/**
 * Per-query type parsers (pg's `types` query option), so what the store reads never depends on the
 * global `pg.types.setTypeParser` calls an application may have made (int8 as BigInt, bytea as
 * text, ...). `bigint` stays a string here and becomes an exact number in {@link rowToRecord}.
 */
export const ROW_TYPES = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === 'binary') return identity;
    switch (oid) {
      case OID_BYTEA:
        return decodeBytea;
      case OID_INT4:
        return Number;
      case OID_BOOL:
        return (value: string) => value === 't';
      case OID_JSON:
      case OID_JSONB:
        return JSON.parse;
      default:
        return identity;
    }
  },
};

/** `bytea` text output (hex, the default since PostgreSQL 9.0, or the legacy escape format) to fresh bytes. */
export function decodeBytea(text: string): Uint8Array {
  if (text.startsWith('\\x')) {
    const bytes = new Uint8Array((text.length - 2) >>> 1);
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).write(text.slice(2), 'hex');
    return bytes;
  }
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      out.push(text.charCodeAt(i));
    } else if (text[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else {
      out.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    }
  }
  return Uint8Array.from(out);
}

function epochText(value: number, field: string): string {
  if (!Number.isSafeInteger(value)) {
    throw new TypeError(`@oncely/postgres: ${field} must be a whole number of epoch milliseconds, got ${String(value)}.`);
  }
  return String(value);
}

function epoch(value: unknown, field: string, id: string): number {
  const parsed = Number(value);
  if (value === null || value === undefined || !Number.isSafeInteger(parsed)) {
    throw new TypeError(`@oncely/postgres: row ${JSON.stringify(id)} has no exact ${field} (${String(value)}).`);
  }
  return parsed;
}

/** A view of `bytes` that pg sends as a binary parameter, without copying. */
function asBuffer(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The record as query parameters, in {@link COLUMNS} order. Headers become a JSON array of pairs. */
export function recordParams(record: IdempotencyRecord): RecordParams {
  const completed = record.state === 'completed' ? record : undefined;
  const response = completed?.response;
  return [
    record.id,
    record.key,
    record.scope,
    record.state,
    record.token,
    record.fingerprint,
    record.state === 'in_progress' ? epochText(record.leaseUntil, 'leaseUntil') : null,
    epochText(record.expiresAt, 'expiresAt'),
    epochText(record.createdAt, 'createdAt'),
    completed ? epochText(completed.completedAt, 'completedAt') : null,
    response ? response.status : null,
    response ? JSON.stringify(response.headers.map(([name, value]) => [name, value])) : null,
    asBuffer(response?.body),
    asBuffer(completed?.result),
  ];
}

/**
 * Bytes the record occupies as stored: UTF-8 text, bodies, header JSON, and 8 bytes per number.
 * What `maxRecordBytes` is compared with.
 */
export function recordBytes(params: RecordParams): number {
  let total = 0;
  for (const value of params) {
    if (value === null) continue;
    if (typeof value === 'string') total += Buffer.byteLength(value, 'utf8');
    else if (typeof value === 'number') total += 8;
    else total += value.byteLength;
  }
  return total;
}

function headerList(value: unknown, id: string): HeaderEntry[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (!Array.isArray(parsed)) throw new TypeError(`@oncely/postgres: row ${JSON.stringify(id)} has malformed response_headers.`);
  return parsed.map((pair: unknown): HeaderEntry => {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new TypeError(`@oncely/postgres: row ${JSON.stringify(id)} has malformed response_headers.`);
    }
    return [pair[0], pair[1]];
  });
}

/** A row back to a record, every number exact and every byte array fresh. */
export function rowToRecord(row: RecordRow): IdempotencyRecord {
  const base = {
    id: row.id,
    key: row.key,
    scope: row.scope,
    token: row.token,
    fingerprint: row.fingerprint,
    expiresAt: epoch(row.expires_at, 'expires_at', row.id),
    createdAt: epoch(row.created_at, 'created_at', row.id),
  };
  if (row.state === 'in_progress') {
    return { ...base, state: 'in_progress', leaseUntil: epoch(row.lease_until, 'lease_until', row.id) };
  }
  if (row.state !== 'completed') throw new TypeError(`@oncely/postgres: row ${JSON.stringify(row.id)} has unknown state ${JSON.stringify(row.state)}.`);
  let record: CompletedRecord = { ...base, state: 'completed', completedAt: epoch(row.completed_at, 'completed_at', row.id) };
  if (row.response_status !== null) {
    const response: StoredResponse = { status: row.response_status, headers: headerList(row.response_headers, row.id), body: row.response_body };
    record = { ...record, response };
  }
  if (row.result !== null) record = { ...record, result: row.result };
  return record;
}
