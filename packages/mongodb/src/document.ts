import type { CompletedRecord, HeaderEntry, IdempotencyRecord, InProgressRecord, StoredResponse } from '@oncely/core';
import { Binary, Long } from 'mongodb';

/**
 * One record as a MongoDB document (CONTRACT §2). Epoch-ms instants are BSON `Long` (64-bit
 * integers, exact; a non-integer would be a double), bodies and results are BSON `Binary`
 * (byte-exact; `body: null` is a BSON null), headers an array of `[name, value]` pairs (order and
 * duplicates kept). `expiresAtDate` repeats `expiresAt` as a BSON date for the TTL index.
 */
export interface MongoRecordDocument {
  /** The record id, `namespace:sha256(scope, key)`. */
  _id: string;
  key: string;
  scope: string;
  state: 'in_progress' | 'completed';
  token: string;
  fingerprint: string;
  createdAt: Long | number;
  expiresAt: Long | number;
  /** `expiresAt` as a date, for the TTL index only: expiry is decided by `expiresAt` and `now`. */
  expiresAtDate: Date;
  /** In-progress records only. */
  leaseUntil?: Long | number;
  /** Completed records only. */
  completedAt?: Long | number;
  /** Completed HTTP executions. */
  response?: { status: number; headers: [string, string][]; body: Binary | null };
  /** Completed function-wrapper executions: the serialized return value. */
  result?: Binary;
}

/** A record's fields as written: everything but `_id`, which comes from the filter. */
export type MongoRecordFields = Omit<MongoRecordDocument, '_id'>;

/** The largest date a JavaScript `Date` (and the TTL index) can hold. */
const MAX_DATE_MS = 8.64e15;

function epochMs(value: number): Long | number {
  return Number.isSafeInteger(value) ? Long.fromNumber(value) : value;
}

/**
 * Epoch ms as the `expiresAtDate` BSON date, clamped to the range a `Date` can hold (the same
 * instant otherwise). Monotonic, so `expiresAtDate <= expiryDate(now)` holds for every record with
 * `expiresAt <= now`.
 */
export function expiryDate(epochMs: number): Date {
  return new Date(Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, epochMs)));
}

/** The document for `record`, `_id` included. */
export function toDocument(record: IdempotencyRecord): MongoRecordDocument {
  const base = {
    _id: record.id,
    key: record.key,
    scope: record.scope,
    state: record.state,
    token: record.token,
    fingerprint: record.fingerprint,
    createdAt: epochMs(record.createdAt),
    expiresAt: epochMs(record.expiresAt),
    expiresAtDate: expiryDate(record.expiresAt),
  };
  if (record.state === 'in_progress') return { ...base, leaseUntil: epochMs(record.leaseUntil) };
  const doc: MongoRecordDocument = { ...base, completedAt: epochMs(record.completedAt) };
  if (record.response) {
    const { status, headers, body } = record.response;
    doc.response = {
      status,
      headers: headers.map(([name, value]): [string, string] => [name, value]),
      body: body === null ? null : new Binary(body),
    };
  }
  if (record.result) doc.result = new Binary(record.result);
  return doc;
}

/** Thrown when a document in the collection is not an oncely record. */
export class MalformedDocumentError extends Error {
  override readonly name = 'MalformedDocumentError';
}

/**
 * The record stored in `doc`: fresh objects throughout (bodies copied out of the BSON buffers), so
 * callers can never reach the driver's memory. Tolerates the client's BSON promotion settings
 * (`promoteLongs`, `promoteValues`, `promoteBuffers`, `useBigInt64`).
 */
export function fromDocument(doc: Readonly<Record<string, unknown>>): IdempotencyRecord {
  const id = doc['_id'];
  const where = `document ${typeof id === 'string' ? JSON.stringify(id) : String(id)}`;
  const base = {
    id: text(id, where, '_id'),
    key: text(doc['key'], where, 'key'),
    scope: text(doc['scope'], where, 'scope'),
    token: text(doc['token'], where, 'token'),
    fingerprint: text(doc['fingerprint'], where, 'fingerprint'),
    expiresAt: number(doc['expiresAt'], where, 'expiresAt'),
    createdAt: number(doc['createdAt'], where, 'createdAt'),
  };
  const state = doc['state'];
  if (state === 'in_progress') {
    const record: InProgressRecord = { ...base, state, leaseUntil: number(doc['leaseUntil'], where, 'leaseUntil') };
    return record;
  }
  if (state !== 'completed') throw new MalformedDocumentError(`${where}: state is ${String(state)}, not an oncely record state`);
  const completed: { -readonly [K in keyof CompletedRecord]: CompletedRecord[K] } = {
    ...base,
    state,
    completedAt: number(doc['completedAt'], where, 'completedAt'),
  };
  if (doc['response'] !== undefined && doc['response'] !== null) completed.response = response(doc['response'], where);
  if (doc['result'] !== undefined && doc['result'] !== null) completed.result = bytes(doc['result'], where, 'result');
  return completed;
}

function response(value: unknown, where: string): StoredResponse {
  if (typeof value !== 'object' || value === null) throw new MalformedDocumentError(`${where}: response is not a document`);
  const fields = value as Record<string, unknown>;
  const headers = fields['headers'];
  if (!Array.isArray(headers)) throw new MalformedDocumentError(`${where}: response.headers is not an array`);
  return {
    status: number(fields['status'], where, 'response.status'),
    headers: headers.map((pair: unknown, i): HeaderEntry => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new MalformedDocumentError(`${where}: response.headers.${i} is not a [name, value] pair`);
      return [text(pair[0], where, `response.headers.${i}.0`), text(pair[1], where, `response.headers.${i}.1`)];
    }),
    body: fields['body'] === null ? null : bytes(fields['body'], where, 'response.body'),
  };
}

function text(value: unknown, where: string, field: string): string {
  if (typeof value !== 'string') throw new MalformedDocumentError(`${where}: ${field} is not a string`);
  return value;
}

function number(value: unknown, where: string, field: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Long.isLong(value)) return value.toNumber();
  // Int32 and Double wrappers (promoteValues: false) unwrap with valueOf().
  if (typeof value === 'object' && value !== null && '_bsontype' in value) {
    const unwrapped: unknown = value.valueOf();
    if (typeof unwrapped === 'number') return unwrapped;
  }
  throw new MalformedDocumentError(`${where}: ${field} is not a number`);
}

function bytes(value: unknown, where: string, field: string): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (isBinary(value)) return new Uint8Array(value.buffer.subarray(0, value.position));
  throw new MalformedDocumentError(`${where}: ${field} is not binary`);
}

/** `instanceof Binary`, or a Binary of another loaded copy of `bson`. */
function isBinary(value: unknown): value is Binary {
  return (
    value instanceof Binary ||
    (typeof value === 'object' && value !== null && (value as { _bsontype?: unknown })._bsontype === 'Binary')
  );
}
