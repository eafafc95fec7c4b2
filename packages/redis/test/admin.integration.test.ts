/**
 * The admin operations beyond the conformance suite, on the shared Redis: listInProgress scans only
 * the store's prefix, ignores keys there that are not records, and is exact across SCAN steps;
 * purgeExpired is a checked no-op because Redis expires records itself.
 */
import { createAdmin, type InProgressRecord } from '@oncely/core';
import { inProgressRecord } from '@oncely/store-tests';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index';
import { RECOMMENDED, REDIS_URL, deleteKeys, uniquePrefix } from './support/env';

const prefix = uniquePrefix();
let client: Redis;

beforeAll(async () => {
  client = new Redis(REDIS_URL, RECOMMENDED);
  await client.ping();
});

afterAll(async () => {
  await deleteKeys(client, prefix);
  await client.quit();
});

const ctx = { expiryGranularityMs: 1 };

describe('redis: listInProgress', () => {
  it('finds every claim under its prefix across many SCAN steps, oldest first, and nothing outside it', async () => {
    const own = `${prefix}many:`;
    const store = redisStore({ client, prefix: own });
    const other = redisStore({ client, prefix: `${prefix}other:` });
    const now = Date.now();
    // 2 500 keys: several SCAN steps of COUNT 1000. Every 25th one is an old claim.
    const records: InProgressRecord[] = Array.from({ length: 2500 }, (_, i) => inProgressRecord(ctx, { createdAt: i % 25 === 0 ? now - 10_000 - i : now }));
    await Promise.all(records.map((record) => store.create(record, now)));
    await other.create(inProgressRecord(ctx, { createdAt: now - 1_000_000 }), now);
    const started = performance.now();
    const stuck = await store.listInProgress({ claimedBefore: now - 10_000, now, limit: 1000 });
    console.log(`listInProgress scanned 2 500 keys in ${(performance.now() - started).toFixed(1)} ms`);
    const expected = records.filter((record) => record.createdAt <= now - 10_000).sort((a, b) => a.createdAt - b.createdAt);
    expect(stuck.map((record) => record.id)).toEqual(expected.map((record) => record.id));
    expect(stuck[0]).toEqual(expected[0]);
    expect((await store.listInProgress({ claimedBefore: now - 10_000, now, limit: 3 })).map((record) => record.id)).toEqual(expected.slice(0, 3).map((record) => record.id));
  });

  it('ignores keys under the prefix that are not records (other types, other strings)', async () => {
    const own = `${prefix}mixed:`;
    const store = redisStore({ client, prefix: own });
    const now = Date.now();
    const claim = inProgressRecord(ctx, { createdAt: now - 5_000 });
    await store.create(claim, now);
    await client.hset(`${own}a-hash`, 'field', 'value');
    await client.set(`${own}plain-text`, 'hello');
    await client.set(`${own}looks-versioned`, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    await client.set(`${own}star*[key]`, 'glob characters in a key');
    expect((await store.listInProgress({ claimedBefore: now, now, limit: 10 })).map((record) => record.id)).toEqual([claim.id]);
  });

  it('treats glob characters in the prefix literally', async () => {
    const store = redisStore({ client, prefix: `${prefix}glob*?[x]:` });
    const sibling = redisStore({ client, prefix: `${prefix}globAB:` });
    const now = Date.now();
    const mine = inProgressRecord(ctx, { createdAt: now - 1 });
    await store.create(mine, now);
    await sibling.create(inProgressRecord(ctx, { createdAt: now - 2 }), now);
    expect((await store.listInProgress({ claimedBefore: now, now, limit: 10 })).map((record) => record.id)).toEqual([mine.id]);
  });

  it("gives createAdmin's stuck() what it needs, and rejects bad options", async () => {
    const store = redisStore({ client, prefix: `${prefix}admin:` });
    const admin = createAdmin({ store });
    const now = Date.now();
    const old = inProgressRecord(ctx, { id: admin.recordId('tenant', 'k-1'), scope: 'tenant', key: 'k-1', createdAt: now - 60_000 });
    await store.create(old, now);
    expect((await admin.stuck({ olderThanMs: 30_000 })).map((record) => record.key)).toEqual(['k-1']);
    await expect(store.listInProgress({ claimedBefore: now, now, limit: 0 })).rejects.toThrow(TypeError);
  });
});

describe('redis: purgeExpired', () => {
  it('returns 0 (Redis deletes each record at its expiresAt itself) and still checks its options', async () => {
    const store = redisStore({ client, prefix: `${prefix}purge:` });
    const now = Date.now();
    const record = inProgressRecord(ctx, { createdAt: now - 100, expiresAt: now - 1 });
    await store.create(record, now - 100);
    expect(await client.exists(store.key(record.id))).toBe(0);
    expect(await store.purgeExpired()).toBe(0);
    expect(await createAdmin({ store }).purge()).toBe(0);
    await expect(store.purgeExpired({ batchSize: 0 })).rejects.toThrow(TypeError);
  });
});
