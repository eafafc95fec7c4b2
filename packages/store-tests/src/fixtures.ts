import { randomToken, utf8 } from '@oncely/core';
import type { CompletedRecord, HeaderEntry, IdempotencyRecord, InProgressRecord } from '@oncely/core';
import { expect } from 'vitest';
import type { StoreCheckContext } from './options';

/** Prefix of every record id the suite writes, so an operator can find (and purge) them. */
export const CONFORMANCE_ID_PREFIX = 'oncely-conformance:';

/** A fresh random record id, `oncely-conformance:<32 hex>`: no two checks or runs ever share one. */
export function conformanceId(): string {
  return `${CONFORMANCE_ID_PREFIX}${randomToken()}`;
}

/** A fresh random 128-bit fencing token (hex). */
export function freshToken(): string {
  return randomToken();
}

/**
 * How long the suite's records live: at least a minute of real time, and far more than the store's
 * expiry granularity. Long enough that a backend's native TTL never removes a record a check still
 * expects; checks simulate expiry by passing a later `now`, never by sleeping.
 */
export function retentionMs(ctx: Pick<StoreCheckContext, 'expiryGranularityMs'>): number {
  return Math.max(60_000, 40 * ctx.expiryGranularityMs);
}

/** The earliest `now` at which the suite asserts that a record expiring at `expiresAt` has expired. */
export function afterExpiry(ctx: Pick<StoreCheckContext, 'expiryGranularityMs'>, expiresAt: number): number {
  return expiresAt + 2 * ctx.expiryGranularityMs;
}

/** The latest `now` at which the suite asserts that a record expiring at `expiresAt` is still live. */
export function beforeExpiry(ctx: Pick<StoreCheckContext, 'expiryGranularityMs'>, expiresAt: number): number {
  return expiresAt - 2 * ctx.expiryGranularityMs;
}

/** Headers in a deliberate, unsorted order, with a repeated name (`link`), an empty and a Latin-1 value. */
export const SAMPLE_HEADERS: readonly HeaderEntry[] = Object.freeze(
  (
    [
      ['content-type', 'application/json; charset=utf-8'],
      ['link', '<https://api.example.com/charges?page=2>; rel="next"'],
      ['etag', 'W/"0815"'],
      ['link', '<https://api.example.com/charges?page=1>; rel="prev"'],
      ['x-empty', ''],
      ['x-latin1', 'caf\u00e9 na\u00efve \u00ff'],
      ['cache-control', 'no-store, max-age=0'],
      ['a-sorts-first', 'order is kept, not sorted'],
    ] satisfies [string, string][]
  ).map(([name, value]): HeaderEntry => Object.freeze([name, value] as const)),
);

/**
 * Keys and scopes a store must round-trip: emoji (ZWJ sequences, modifiers), CJK, right-to-left
 * scripts, combining marks (NFD and NFC forms kept distinct), zero-width characters, astral and
 * non-characters, control characters other than U+0000, and characters that are syntax somewhere.
 */
export const UNICODE_SAMPLES: readonly string[] = [
  'emoji 🦄 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇨🇭',
  'CJK 東京都渋谷区 한국어 日本語のキー 𠜎𠜱',
  'RTL مرحبا بالعالم שלום עולם \u200fmixed\u200e LTR',
  'combining e\u0301 \u00e9 a\u0308\u0304 Z\u0351\u0356\u0335 \u1100\u1161\u11a8',
  'invisible [\u200b\u200c\u200d\u2060\ufeff\u00ad]',
  'astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 🀄 \u{1f9ec} \u{10fffd} \u{10ffff} \ufffe \uffff',
  'controls \u0001\u0007\t\n\r\u001b\u001f\u007f\u0085\u2028\u2029',
  `syntax ' " \` \\ / : ; , { } [ ] % $ # @ * ? & = + < > | ~ ^ \\u0000 -- /* */ \${x}`,
];

/** A 1000-code-point scope mixing scripts, astral characters and combining marks. */
export const LONG_UNICODE_SCOPE: string = (() => {
  const pieces = [...'tenant/🦄/東京/שלום/e\u0301/𝔘/'];
  let out = '';
  for (let i = 0; i < 1000; i++) out += pieces[i % pieces.length];
  return out;
})();

/** An epoch-ms instant in the year 2100 with a non-zero millisecond part (4102444800123). */
export const YEAR_2100_MS = Date.UTC(2100, 0, 1, 0, 0, 0, 123);

/** Fields a record builder may override; `undefined` removes an optional field. */
export type RecordOverrides<R extends IdempotencyRecord> = { readonly [K in Exclude<keyof R, 'state'>]?: R[K] | undefined };

/**
 * A valid in-progress record with a fresh id and token, timed from the real clock: created now,
 * lease 30 s, retention {@link retentionMs}.
 */
export function inProgressRecord(
  ctx: Pick<StoreCheckContext, 'expiryGranularityMs'>,
  overrides: RecordOverrides<InProgressRecord> = {},
): InProgressRecord {
  const now = Date.now();
  return withoutUndefined({
    id: conformanceId(),
    key: `conformance-${randomToken().slice(0, 12)}`,
    scope: 'tenant_conformance',
    state: 'in_progress',
    token: freshToken(),
    fingerprint: `v1:${randomToken()}${randomToken()}`,
    leaseUntil: now + 30_000,
    expiresAt: now + retentionMs(ctx),
    createdAt: now,
    ...overrides,
  }) as unknown as InProgressRecord;
}

/**
 * The completion of `from` (same id, key, scope, token, fingerprint, createdAt, expiresAt) with a
 * JSON response and {@link SAMPLE_HEADERS}. Pass `response: undefined, result: bytes` for a
 * function-wrapper record.
 */
export function completedRecord(from: IdempotencyRecord, overrides: RecordOverrides<CompletedRecord> = {}): CompletedRecord {
  return withoutUndefined({
    id: from.id,
    key: from.key,
    scope: from.scope,
    state: 'completed',
    token: from.token,
    fingerprint: from.fingerprint,
    expiresAt: from.expiresAt,
    createdAt: from.createdAt,
    completedAt: Date.now(),
    response: { status: 201, headers: SAMPLE_HEADERS, body: utf8('{"id":"ch_1","amount":1000,"currency":"chf"}') },
    ...overrides,
  }) as unknown as CompletedRecord;
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  for (const name of Object.keys(fields)) if (fields[name] === undefined) delete fields[name];
  return fields;
}

/**
 * `length` random bytes that always contain both 0x00 and 0xFF (at the ends, and a run of each in
 * the middle of bodies of 1000 bytes and more). One byte: `[0x00]`.
 */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const crypto = (globalThis as { crypto: Crypto }).crypto;
  for (let offset = 0; offset < length; offset += 65_536) crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
  if (length >= 1) bytes[0] = 0x00;
  if (length >= 2) bytes[length - 1] = 0xff;
  if (length >= 1000) {
    const middle = Math.floor(length / 2);
    bytes.fill(0x00, middle - 8, middle);
    bytes.fill(0xff, middle, middle + 8);
  }
  return bytes;
}

/** Whether `value` is a `Uint8Array` (a Node `Buffer` counts), across realms. */
export function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Uint8Array]';
}

/** Throws unless `actual` is a `Uint8Array` holding exactly the bytes of `expected`. Fast on megabytes. */
export function expectSameBytes(actual: unknown, expected: Uint8Array, what: string): void {
  if (!isBytes(actual)) {
    throw new Error(`${what}: expected a Uint8Array of ${expected.byteLength} bytes, got ${describeValue(actual)}.`);
  }
  if (actual.byteLength !== expected.byteLength) {
    throw new Error(`${what}: expected ${expected.byteLength} bytes, got ${actual.byteLength}.`);
  }
  for (let i = 0; i < expected.byteLength; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: byte ${i} of ${expected.byteLength} is 0x${hexByte(actual[i])}, expected 0x${hexByte(expected[i])}.`);
    }
  }
}

/**
 * Throws unless `actual` equals `expected` field by field: bodies and results byte-exact (fast),
 * `body: null` kept distinct from an empty body, everything else with `toEqual` (header order,
 * duplicate names, every number exactly, no missing or extra field).
 */
export function expectRecord(actual: IdempotencyRecord | null | undefined, expected: IdempotencyRecord, what: string): void {
  if (actual === null || actual === undefined || typeof actual !== 'object') {
    throw new Error(`${what}: expected the record ${JSON.stringify(expected.id)}, got ${describeValue(actual)}.`);
  }
  if (expected.state === 'completed' && actual.state === 'completed') {
    if (expected.response && actual.response) {
      if (expected.response.body === null) {
        if (actual.response.body !== null) {
          throw new Error(`${what}: response.body must stay null (distinct from an empty body), got ${describeValue(actual.response.body)}.`);
        }
      } else {
        expectSameBytes(actual.response.body, expected.response.body, `${what}: response.body`);
      }
    }
    if (expected.result) expectSameBytes(actual.result, expected.result, `${what}: result`);
  }
  expect(withoutBytes(actual), `${what}: record fields`).toEqual(withoutBytes(expected));
}

/** The record with bodies and results replaced by their length, for a cheap structural comparison. */
function withoutBytes(record: IdempotencyRecord): unknown {
  if (record.state !== 'completed') return record;
  const summary = (bytes: unknown): unknown => (isBytes(bytes) ? `<${bytes.byteLength} bytes>` : bytes);
  const copy: Record<string, unknown> = { ...record };
  if ('result' in record) copy['result'] = summary(record.result);
  if (record.response && typeof record.response === 'object') copy['response'] = { ...record.response, body: summary(record.response.body) };
  return copy;
}

function hexByte(byte: number | undefined): string {
  return byte === undefined ? '??' : byte.toString(16).padStart(2, '0');
}

/** A short description of any value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (isBytes(value)) return `a Uint8Array of ${value.byteLength} bytes`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `${typeof value} ${String(value)}`;
}
