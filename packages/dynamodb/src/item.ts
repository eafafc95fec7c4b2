import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { CompletedRecord, HeaderEntry, IdempotencyRecord, InProgressRecord, StoredResponse } from '@oncely/core';

/** The table's partition key: a String attribute holding the record id. */
export const DYNAMODB_PARTITION_KEY = 'pk';

/**
 * The attribute DynamoDB's TTL sweeper reads: the record's `expiresAt` in epoch SECONDS, rounded up
 * (so the sweeper never removes a record before it expired). Garbage collection only — DynamoDB
 * deletes expired items typically within a few days, and every decision reads `expiresAtMs`.
 */
export const DYNAMODB_TTL_ATTRIBUTE = 'ttl';

/** Attribute names of a record's item. */
export const ATTRIBUTES = {
  pk: DYNAMODB_PARTITION_KEY,
  key: 'key',
  scope: 'scope',
  state: 'state',
  token: 'token',
  fingerprint: 'fingerprint',
  createdAt: 'createdAt',
  expiresAtMs: 'expiresAtMs',
  ttl: DYNAMODB_TTL_ATTRIBUTE,
  leaseUntil: 'leaseUntil',
  completedAt: 'completedAt',
  status: 'status',
  headers: 'headers',
  body: 'body',
  result: 'result',
} as const;

/** A record as a DynamoDB item (low-level `AttributeValue`s). */
export type RecordItem = Record<string, AttributeValue>;

/**
 * The item of a record. Layout (see the README, "Table layout"):
 *
 * | attribute | type | |
 * | --- | --- | --- |
 * | `pk` | S | record id (partition key) |
 * | `key`, `scope`, `state`, `token`, `fingerprint` | S | as in the record |
 * | `createdAt`, `expiresAtMs` | N | epoch ms, exact |
 * | `ttl` | N | epoch seconds, `ceil(expiresAt / 1000)`: DynamoDB TTL, garbage collection only |
 * | `leaseUntil` | N | in progress only |
 * | `completedAt` | N | completed only |
 * | `status` | N | HTTP responses only |
 * | `headers` | L of L [S name, S value] | HTTP responses only: order and duplicates kept |
 * | `body` | B | HTTP responses with a stored body (may be empty); absent when `body` is null |
 * | `result` | B | function-wrapper results (may be empty) |
 */
export function toItem(record: IdempotencyRecord): RecordItem {
  const item: RecordItem = {
    [ATTRIBUTES.pk]: { S: record.id },
    [ATTRIBUTES.key]: { S: record.key },
    [ATTRIBUTES.scope]: { S: record.scope },
    [ATTRIBUTES.state]: { S: record.state },
    [ATTRIBUTES.token]: { S: record.token },
    [ATTRIBUTES.fingerprint]: { S: record.fingerprint },
    [ATTRIBUTES.createdAt]: number('createdAt', record.createdAt),
    [ATTRIBUTES.expiresAtMs]: number('expiresAt', record.expiresAt),
    [ATTRIBUTES.ttl]: { N: String(ttlSeconds(record.expiresAt)) },
  };
  if (record.state === 'in_progress') {
    item[ATTRIBUTES.leaseUntil] = number('leaseUntil', record.leaseUntil);
    return item;
  }
  item[ATTRIBUTES.completedAt] = number('completedAt', record.completedAt);
  if (record.response) {
    const { status, headers, body } = record.response;
    item[ATTRIBUTES.status] = number('response.status', status);
    item[ATTRIBUTES.headers] = { L: headers.map(([name, value]) => ({ L: [{ S: name }, { S: value }] })) };
    if (body !== null) item[ATTRIBUTES.body] = { B: body };
  }
  if (record.result) item[ATTRIBUTES.result] = { B: record.result };
  return item;
}

/** `expiresAt` (epoch ms) as the TTL attribute's epoch seconds, rounded up. */
export function ttlSeconds(expiresAt: number): number {
  return Math.ceil(expiresAt / 1000);
}

function number(field: string, value: number): AttributeValue {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`dynamoStore: record field ${field} must be a finite number, got ${String(value)}.`);
  }
  return { N: String(value) };
}

/** Thrown by {@link fromItem} for an item that is not a record this store wrote. */
export class MalformedItemError extends Error {
  override readonly name = 'MalformedItemError';
}

/**
 * The record of an item written by {@link toItem}: fresh objects, bytes copied into plain
 * `Uint8Array`s. Throws {@link MalformedItemError} for anything else.
 */
export function fromItem(item: Readonly<RecordItem>): IdempotencyRecord {
  const base = {
    id: readString(item, ATTRIBUTES.pk),
    key: readString(item, ATTRIBUTES.key),
    scope: readString(item, ATTRIBUTES.scope),
    token: readString(item, ATTRIBUTES.token),
    fingerprint: readString(item, ATTRIBUTES.fingerprint),
    expiresAt: readNumber(item, ATTRIBUTES.expiresAtMs),
    createdAt: readNumber(item, ATTRIBUTES.createdAt),
  };
  const state = readString(item, ATTRIBUTES.state);
  if (state === 'in_progress') {
    const record: InProgressRecord = { ...base, state, leaseUntil: readNumber(item, ATTRIBUTES.leaseUntil) };
    return record;
  }
  if (state !== 'completed') throw new MalformedItemError(`attribute ${ATTRIBUTES.state} is ${JSON.stringify(state)}`);
  let record: CompletedRecord = { ...base, state, completedAt: readNumber(item, ATTRIBUTES.completedAt) };
  if (item[ATTRIBUTES.status] !== undefined) record = { ...record, response: readResponse(item) };
  if (item[ATTRIBUTES.result] !== undefined) record = { ...record, result: readBytes(item, ATTRIBUTES.result) };
  return record;
}

function readResponse(item: Readonly<RecordItem>): StoredResponse {
  const list = item[ATTRIBUTES.headers]?.L;
  if (!list) throw new MalformedItemError(`attribute ${ATTRIBUTES.headers} is not a List`);
  const headers = list.map((entry, index): HeaderEntry => {
    const pair = entry.L;
    const name = pair?.[0]?.S;
    const value = pair?.[1]?.S;
    if (pair?.length !== 2 || name === undefined || value === undefined) {
      throw new MalformedItemError(`header ${index} is not a List of two Strings`);
    }
    return [name, value];
  });
  const body = item[ATTRIBUTES.body] === undefined ? null : readBytes(item, ATTRIBUTES.body);
  return { status: readNumber(item, ATTRIBUTES.status), headers, body };
}

function readString(item: Readonly<RecordItem>, name: string): string {
  const value = item[name]?.S;
  if (value === undefined) throw new MalformedItemError(`attribute ${name} is missing or not a String`);
  return value;
}

function readNumber(item: Readonly<RecordItem>, name: string): number {
  const text = item[name]?.N;
  const value = text === undefined ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new MalformedItemError(`attribute ${name} is missing or not a Number`);
  return value;
}

function readBytes(item: Readonly<RecordItem>, name: string): Uint8Array {
  const value = item[name]?.B;
  if (!(value instanceof Uint8Array)) throw new MalformedItemError(`attribute ${name} is missing or not Binary`);
  return new Uint8Array(value);
}
