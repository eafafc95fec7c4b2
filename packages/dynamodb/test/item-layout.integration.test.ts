/**
 * What the store writes, read back raw from DynamoDB Local: the table layout of the README, `body:
 * null` versus an empty body, exact ms expiry next to the TTL seconds, Unicode keys and scopes,
 * items the store did not write, and a backend that ignores ReturnValuesOnConditionCheckFailure.
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { CompletedRecord } from '@oncely/core';
import { completedRecord, inProgressRecord, LONG_UNICODE_SCOPE, type RecordOverrides } from '@oncely/store-tests';
import { isIdempotencyError } from '@oncely/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../src/index';
import { countRequests, dropTable, dynamoTarget, freshTable, localClient } from './target';

const ctx = { expiryGranularityMs: 1 };

describe(`dynamodb item layout — ${dynamoTarget().label}`, () => {
  const client = localClient();
  let tableName = '';
  beforeAll(async () => {
    tableName = await freshTable(client, 'layout');
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });
  const raw = async (id: string) =>
    (await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: id } }, ConsistentRead: true }))).Item;

  it('an in-progress claim: S strings, exact ms numbers, TTL in epoch seconds rounded up', async () => {
    const store = dynamoStore({ client, tableName });
    const claim = inProgressRecord(ctx, { expiresAt: Date.now() + 3_600_123 });
    expect(await store.create(claim, Date.now())).toEqual({ created: true });
    const item = await raw(claim.id);
    expect(item).toEqual({
      pk: { S: claim.id },
      key: { S: claim.key },
      scope: { S: claim.scope },
      state: { S: 'in_progress' },
      token: { S: claim.token },
      fingerprint: { S: claim.fingerprint },
      createdAt: { N: String(claim.createdAt) },
      expiresAtMs: { N: String(claim.expiresAt) },
      ttl: { N: String(Math.ceil(claim.expiresAt / 1000)) },
      leaseUntil: { N: String(claim.leaseUntil) },
    });
  });

  it('body: null (no body attribute) and an empty body (empty Binary) are stored and read back distinctly; so are empty results', async () => {
    const store = dynamoStore({ client, tableName });
    const cases: [string, RecordOverrides<CompletedRecord>, (record: CompletedRecord | null) => void][] = [
      ['null body', { response: { status: 200, headers: [], body: null } }, (r) => expect(r?.response?.body).toBeNull()],
      ['empty body', { response: { status: 204, headers: [], body: new Uint8Array(0) } }, (r) => expect(r?.response?.body).toEqual(new Uint8Array(0))],
      ['empty result', { response: undefined, result: new Uint8Array(0) }, (r) => expect(r?.result).toEqual(new Uint8Array(0))],
      ['0x00 body', { response: { status: 200, headers: [], body: new Uint8Array([0, 0, 255, 0]) } }, (r) => expect(r?.response?.body).toEqual(new Uint8Array([0, 0, 255, 0]))],
    ];
    for (const [what, overrides, check] of cases) {
      const claim = inProgressRecord(ctx);
      await store.create(claim, Date.now());
      expect(await store.update(claim.id, claim.token, completedRecord(claim, overrides)), what).toBe(true);
      const item = await raw(claim.id);
      if (what === 'null body') expect(item?.['body'], what).toBeUndefined();
      if (what === 'empty body') expect(item?.['body'], what).toEqual({ B: new Uint8Array(0) });
      if (what === 'empty result') expect(item?.['result'], what).toEqual({ B: new Uint8Array(0) });
      expect(item?.['leaseUntil'], `${what}: a completion drops the lease`).toBeUndefined();
      check((await store.get(claim.id, Date.now())) as CompletedRecord | null);
    }
  });

  it('headers as a List of [name, value] Lists, order and duplicates kept', async () => {
    const store = dynamoStore({ client, tableName });
    const claim = inProgressRecord(ctx);
    await store.create(claim, Date.now());
    const headers = [
      ['link', '<a>; rel="next"'],
      ['content-type', 'text/plain; charset=utf-8'],
      ['link', '<b>; rel="prev"'],
      ['x-empty', ''],
    ] as const;
    await store.update(claim.id, claim.token, completedRecord(claim, { response: { status: 201, headers, body: new Uint8Array([1]) } }));
    expect((await raw(claim.id))?.['headers']).toEqual({ L: headers.map(([name, value]) => ({ L: [{ S: name }, { S: value }] })) });
  });

  it('keys and scopes of emoji, CJK and 1000 characters are stored as UTF-8 strings and read back exactly', async () => {
    const store = dynamoStore({ client, tableName });
    for (const [key, scope] of [
      ['🦄👩‍👩‍👧‍👦🇨🇭', '東京都渋谷区 한국어 𠜎𠜱'],
      ['k', LONG_UNICODE_SCOPE],
    ] as const) {
      const claim = inProgressRecord(ctx, { key, scope });
      await store.create(claim, Date.now());
      const item = await raw(claim.id);
      expect(item?.['key']).toEqual({ S: key });
      expect(item?.['scope']).toEqual({ S: scope });
      expect(await store.get(claim.id, Date.now())).toEqual(claim);
    }
    expect([...LONG_UNICODE_SCOPE].length).toBe(1000);
  });

  it('an item the store did not write under a record id → StoreUnavailableError, not a wrong answer', async () => {
    const store = dynamoStore({ client, tableName });
    const id = inProgressRecord(ctx).id;
    await client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: id }, note: { S: 'written by someone else' } } }));
    for (const run of [() => store.get(id, Date.now()), () => store.create(inProgressRecord(ctx, { id }), Date.now())]) {
      const failure = await run().then(() => undefined, (error: unknown) => error);
      expect(isIdempotencyError(failure, 'store_unavailable')).toBe(true);
      expect(String((failure as Error).message)).toMatch(/MalformedItemError/);
    }
  });

  it('a backend that ignores ReturnValuesOnConditionCheckFailure: create still returns the live record, with one GetItem more', async () => {
    const stripping = localClient();
    stripping.middlewareStack.add(
      (next) => async (args) => {
        delete (args.input as { ReturnValuesOnConditionCheckFailure?: unknown }).ReturnValuesOnConditionCheckFailure;
        return next(args);
      },
      { step: 'initialize', name: 'ignoreReturnValuesOnConditionCheckFailure' },
    );
    const counter = countRequests(stripping);
    const store = dynamoStore({ client: stripping, tableName });
    const claim = inProgressRecord(ctx);
    await store.create(claim, Date.now());
    counter.reset();
    const second = await store.create(inProgressRecord(ctx, { id: claim.id }), Date.now());
    expect(second).toEqual({ created: false, existing: claim });
    expect(counter.reset()).toEqual(['PutItemCommand', 'GetItemCommand']);
    stripping.destroy();
  });
});
