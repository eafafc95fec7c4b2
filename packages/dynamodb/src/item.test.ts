import type { CompletedRecord, IdempotencyRecord, InProgressRecord } from '@oncely/core';
import { describe, expect, it } from 'vitest';
import { fromItem, MalformedItemError, toItem, ttlSeconds } from './item';

const claim: InProgressRecord = {
  id: 'oncely:abc',
  key: 'k-1',
  scope: 'tenant/🦄/東京',
  state: 'in_progress',
  token: 't1',
  fingerprint: 'v1:ff',
  leaseUntil: 1_700_000_030_000,
  expiresAt: 1_700_086_400_001,
  createdAt: 1_700_000_000_000,
};

const completed = (response: CompletedRecord['response'], result?: Uint8Array): CompletedRecord => ({
  id: claim.id,
  key: claim.key,
  scope: claim.scope,
  state: 'completed',
  token: 't2',
  fingerprint: claim.fingerprint,
  expiresAt: claim.expiresAt,
  createdAt: claim.createdAt,
  completedAt: 1_700_000_001_234,
  ...(response ? { response } : {}),
  ...(result ? { result } : {}),
});

describe('item encoding', () => {
  it('in progress: strings as S, times as exact ms N, TTL in seconds rounded up, no completion fields', () => {
    expect(toItem(claim)).toEqual({
      pk: { S: 'oncely:abc' },
      key: { S: 'k-1' },
      scope: { S: 'tenant/🦄/東京' },
      state: { S: 'in_progress' },
      token: { S: 't1' },
      fingerprint: { S: 'v1:ff' },
      createdAt: { N: '1700000000000' },
      expiresAtMs: { N: '1700086400001' },
      ttl: { N: '1700086401' },
      leaseUntil: { N: '1700000030000' },
    });
    expect(fromItem(toItem(claim))).toEqual(claim);
  });

  it('TTL seconds never precede the ms expiry', () => {
    expect(ttlSeconds(1_000)).toBe(1);
    expect(ttlSeconds(1_001)).toBe(2);
    expect(ttlSeconds(1_999)).toBe(2);
  });

  it('headers as a List of [S name, S value] Lists: order, duplicates and empty values kept', () => {
    const headers = [
      ['link', '<a>; rel="next"'],
      ['content-type', 'application/json'],
      ['link', '<b>; rel="prev"'],
      ['x-empty', ''],
    ] as const;
    const record = completed({ status: 201, headers, body: new Uint8Array([0, 1, 255]) });
    const item = toItem(record);
    expect(item['headers']).toEqual({ L: headers.map(([name, value]) => ({ L: [{ S: name }, { S: value }] })) });
    expect(item['leaseUntil']).toBeUndefined();
    expect(fromItem(item)).toEqual(record);
  });

  it('body: null is no body attribute; an empty body is an empty Binary; both round-trip distinctly', () => {
    const withoutBody = toItem(completed({ status: 200, headers: [], body: null }));
    const emptyBody = toItem(completed({ status: 200, headers: [], body: new Uint8Array(0) }));
    expect(withoutBody['body']).toBeUndefined();
    expect(emptyBody['body']).toEqual({ B: new Uint8Array(0) });
    const nullBack = fromItem(withoutBody) as CompletedRecord;
    const emptyBack = fromItem(emptyBody) as CompletedRecord;
    expect(nullBack.response?.body).toBeNull();
    expect(emptyBack.response?.body).toBeInstanceOf(Uint8Array);
    expect(emptyBack.response?.body?.byteLength).toBe(0);
  });

  it('function results as Binary (empty included); a completion without payload has neither', () => {
    expect(fromItem(toItem(completed(undefined, new Uint8Array(0))))).toEqual(completed(undefined, new Uint8Array(0)));
    const bare = completed(undefined);
    expect(fromItem(toItem(bare))).toEqual(bare);
  });

  it('decoded bytes are fresh plain Uint8Arrays, not views of what DynamoDB handed back', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const item = toItem(completed({ status: 200, headers: [], body: backing.subarray(2, 5) }));
    const body = (fromItem(item) as CompletedRecord).response?.body as Uint8Array;
    expect([...body]).toEqual([1, 2, 3]);
    expect(body.buffer.byteLength).toBe(3);
    backing[2] = 7;
    expect(body[0]).toBe(1);
  });

  it('refuses items it did not write', () => {
    const item = toItem(claim);
    for (const broken of [
      { ...item, state: { S: 'weird' } },
      { ...item, expiresAtMs: { S: '1' } },
      (({ token: _token, ...rest }) => rest)(item),
      { ...toItem(completed({ status: 200, headers: [], body: null })), headers: { L: [{ L: [{ S: 'only-name' }] }] } },
    ]) {
      expect(() => fromItem(broken)).toThrow(MalformedItemError);
    }
  });

  it('refuses non-finite numbers instead of writing garbage', () => {
    const bad = { ...claim, expiresAt: Number.NaN } as IdempotencyRecord;
    expect(() => toItem(bad)).toThrow(TypeError);
  });
});
