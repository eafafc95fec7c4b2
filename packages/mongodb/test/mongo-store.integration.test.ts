/**
 * What the conformance suite cannot know about a MongoDB store: the collection layout operators
 * see, the TTL index, replacement leaving nothing of an expired record behind, races on an expired
 * record, the client's BSON settings, and construction checks.
 */
import { isIdempotencyError } from '@oncely/core';
import type { IdempotencyRecord } from '@oncely/core';
import { completedRecord, inProgressRecord, randomBytes, SAMPLE_HEADERS } from '@oncely/store-tests';
import { MONGODB_IN_PROGRESS_INDEX, MONGODB_TTL_INDEX, mongoStore } from '@oncely/mongodb';
import { Binary, Long } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, dropQuietly, freshCollection, mongoTarget, TEST_DATABASE } from './target';

const target = mongoTarget();
const client = connect();
const collection = freshCollection(client, 'store');
const store = mongoStore({ collection });
const settings = { expiryGranularityMs: 1 };

afterAll(async () => {
  await dropQuietly(collection);
  await client.close();
});

describe(`mongoStore on ${target.label}`, () => {
  it('lays a record out as documented: string _id, Long instants, a Date for the TTL index, Binary bodies, header pairs', async () => {
    const claim = inProgressRecord(settings);
    await store.create(claim, Date.now());
    const raw = client.db(TEST_DATABASE).collection(collection.collectionName, { promoteLongs: false, promoteBuffers: false });
    const inProgress = await raw.findOne({ _id: claim.id as never });
    expect(inProgress).toEqual({
      _id: claim.id,
      key: claim.key,
      scope: claim.scope,
      state: 'in_progress',
      token: claim.token,
      fingerprint: claim.fingerprint,
      createdAt: Long.fromNumber(claim.createdAt),
      expiresAt: Long.fromNumber(claim.expiresAt),
      expiresAtDate: new Date(claim.expiresAt),
      leaseUntil: Long.fromNumber(claim.leaseUntil),
    });

    const body = randomBytes(64);
    const done = completedRecord(claim, { completedAt: claim.createdAt + 5, response: { status: 201, headers: SAMPLE_HEADERS, body } });
    expect(await store.update(claim.id, claim.token, done)).toBe(true);
    const completed = await raw.findOne({ _id: claim.id as never });
    expect(completed?.['leaseUntil']).toBeUndefined();
    expect(completed?.['completedAt']).toEqual(Long.fromNumber(done.completedAt));
    expect(completed?.['response'].status).toBe(201);
    expect(completed?.['response'].headers).toEqual(SAMPLE_HEADERS.map(([name, value]) => [name, value]));
    const stored = completed?.['response'].body as Binary;
    expect(stored).toBeInstanceOf(Binary);
    expect(stored.sub_type).toBe(0);
    expect(Buffer.from(stored.buffer.subarray(0, stored.position)).equals(Buffer.from(body))).toBe(true);
  });

  it('stores body: null as BSON null and a function result as Binary', async () => {
    const raw = client.db(TEST_DATABASE).collection(collection.collectionName);
    const notStored = completedRecord(inProgressRecord(settings), { response: { status: 200, headers: [], body: null } });
    const result = completedRecord(inProgressRecord(settings), { response: undefined, result: new Uint8Array([0, 1, 255]) });
    await store.create(notStored, Date.now());
    await store.create(result, Date.now());
    expect((await raw.findOne({ _id: notStored.id as never }))?.['response']).toEqual({ status: 200, headers: [], body: null });
    expect((await raw.findOne({ _id: result.id as never }))?.['result']).toBeInstanceOf(Binary);
  });

  it('ensureIndexes creates the TTL index on expiresAtDate (expireAfterSeconds 0) and the in-progress index, and is idempotent', async () => {
    await store.ensureIndexes();
    await store.ensureIndexes();
    const indexes = await collection.indexes();
    const ttl = indexes.find((index) => index.name === MONGODB_TTL_INDEX.name);
    expect(ttl?.key).toEqual({ expiresAtDate: 1 });
    expect(ttl?.expireAfterSeconds).toBe(0);
    expect(indexes.map((index) => index.name).sort()).toEqual(['_id_', MONGODB_IN_PROGRESS_INDEX.name, MONGODB_TTL_INDEX.name].sort());
  });

  it('replacing an expired completed record leaves nothing of it behind (no stale response, result or completedAt)', async () => {
    const old = completedRecord(inProgressRecord(settings), { response: { status: 200, headers: SAMPLE_HEADERS, body: randomBytes(100) } });
    await store.create(old, Date.now());
    const later = old.expiresAt + 1;
    const claim = inProgressRecord(settings, { id: old.id, leaseUntil: later + 30_000, expiresAt: later + 60_000 });
    expect(await store.create(claim, later)).toEqual({ created: true });
    const raw = await client.db(TEST_DATABASE).collection(collection.collectionName).findOne({ _id: claim.id as never });
    expect(Object.keys(raw ?? {}).sort()).toEqual(
      ['_id', 'createdAt', 'expiresAt', 'expiresAtDate', 'fingerprint', 'key', 'leaseUntil', 'scope', 'state', 'token'].sort(),
    );
    expect(await store.get(claim.id, later)).toEqual(claim);
  });

  it('50 concurrent creates over one expired record: exactly one replaces it, the others get the winner', async () => {
    const old = inProgressRecord(settings);
    await store.create(old, Date.now());
    const later = old.expiresAt + 1;
    const contenders = Array.from({ length: 50 }, (_, i) =>
      inProgressRecord(settings, { id: old.id, key: `contender-${i}`, leaseUntil: later + 30_000, expiresAt: later + 60_000 }),
    );
    const results = await Promise.all(contenders.map((record) => store.create(record, later)));
    const winners = contenders.filter((_, i) => results[i]?.created);
    expect(winners).toHaveLength(1);
    const winner = winners[0] as IdempotencyRecord;
    for (const result of results) if (!result.created) expect(result.existing).toEqual(winner);
    expect(await store.get(old.id, later)).toEqual(winner);
    expect(await store.update(old.id, old.token, { ...old, leaseUntil: later })).toBe(false);
  });

  it('ignores the client\'s BSON settings (promoteLongs: false, promoteBuffers: true, useBigInt64: true)', async () => {
    const odd = client.db(TEST_DATABASE).collection(collection.collectionName, { promoteLongs: false, promoteBuffers: true, useBigInt64: true });
    const oddStore = mongoStore({ collection: odd });
    const record = completedRecord(inProgressRecord(settings), { response: { status: 200, headers: [['etag', '"1"']], body: new Uint8Array([7, 0, 7]) } });
    await oddStore.create(record, Date.now());
    const read = await oddStore.get(record.id, Date.now());
    expect(read).toEqual(record);
    expect(read?.state === 'completed' && read.response?.body?.constructor).toBe(Uint8Array);
    const again = await oddStore.create(inProgressRecord(settings, { id: record.id }), Date.now());
    expect(again).toEqual({ created: false, existing: record });
  });

  it('a document that is not an oncely record fails as StoreUnavailableError, never as a wrong record', async () => {
    const raw = client.db(TEST_DATABASE).collection(collection.collectionName);
    await raw.insertOne({ _id: 'not-a-record' as never, state: 'done', expiresAt: Date.now() + 60_000 });
    const error: unknown = await store.get('not-a-record', Date.now()).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(((error as Error).cause as Error).name).toBe('MalformedDocumentError');
  });

  it('refuses unusable options at construction', () => {
    expect(() => mongoStore({ collection: client.db(TEST_DATABASE).collection('x', { writeConcern: { w: 0 } }) })).toThrow(/w: 0/);
    expect(() => mongoStore({ collection, maxRecordBytes: 16 * 1024 * 1024 + 1 })).toThrow(/maxRecordBytes/);
    expect(() => mongoStore({ collection, maxRecordBytes: 0 })).toThrow(/maxRecordBytes/);
    expect(() => mongoStore({ collection: {} as never })).toThrow(/Collection/);
  });

  it('throws RecordTooLargeError for a record over 16 MiB by default, before sending anything', async () => {
    const huge = completedRecord(inProgressRecord(settings), { response: { status: 200, headers: [], body: new Uint8Array(16 * 1024 * 1024) } });
    const error: unknown = await store.create(huge, Date.now()).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'record_too_large')).toBe(true);
    expect((error as { limitBytes?: number }).limitBytes).toBe(16 * 1024 * 1024);
    expect(await store.get(huge.id, Date.now())).toBeNull();
  });
});
