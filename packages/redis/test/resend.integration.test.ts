/**
 * Resent commands: ioredis resends a command that was in flight when its connection dropped
 * (`autoResendUnfulfilledCommands`, on by default), so a script may run twice. Its second run must
 * answer like the first — never a false 409 for our own claim, never a false `lease_lost` for our
 * own completion — while every fencing rule of the contract still holds.
 */
import { randomToken } from '@oncely/core';
import { completedRecord, inProgressRecord } from '@oncely/store-tests';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore, type RedisStore } from '../src/index';
import { RECOMMENDED, REDIS_URL, deleteKeys, uniquePrefix } from './support/env';

const prefix = uniquePrefix();
const ctx = { expiryGranularityMs: 1 };
let client: Redis;
let store: RedisStore;

beforeAll(async () => {
  client = new Redis(REDIS_URL, RECOMMENDED);
  store = redisStore({ client, prefix });
});

afterAll(async () => {
  await deleteKeys(client, prefix);
  await client.quit();
});

describe('redis: a resent command answers like the first send', () => {
  it('create sent twice: both say created; a different claim still gets the live record', async () => {
    const claim = inProgressRecord(ctx);
    expect(await store.create(claim, Date.now())).toEqual({ created: true });
    expect(await store.create(claim, Date.now())).toEqual({ created: true });
    const other = await store.create(inProgressRecord(ctx, { id: claim.id }), Date.now());
    expect(other.created).toBe(false);
    expect(other.created ? undefined : other.existing.token).toBe(claim.token);
  });

  it('a token-changing update sent twice: both true; a different update with the old token stays false', async () => {
    const claim = inProgressRecord(ctx);
    await store.create(claim, Date.now());
    const completion = completedRecord(claim, { token: randomToken() });
    expect(await store.update(claim.id, claim.token, completion)).toBe(true);
    expect(await store.update(claim.id, claim.token, completion)).toBe(true);
    expect(await store.update(claim.id, claim.token, completedRecord(claim, { token: randomToken() }))).toBe(false);
    expect((await store.get(claim.id, Date.now()))?.token).toBe(completion.token);
  });

  it('a wrong token never passes for a resend, even when the next record carries the current token', async () => {
    const claim = inProgressRecord(ctx);
    await store.create(claim, Date.now());
    expect(await store.update(claim.id, randomToken(), completedRecord(claim))).toBe(false);
    expect(await store.update(claim.id, randomToken(), claim)).toBe(false);
    expect(await store.delete(claim.id, randomToken())).toBe(false);
    expect((await store.get(claim.id, Date.now()))?.state).toBe('in_progress');
  });
});
