/**
 * `create`'s rounds and error mapping, against a scripted fake collection: the paths a real
 * server takes only under races (a duplicate key surfacing from a concurrent upsert, an expired
 * record changing between the two steps) or failures, made deterministic.
 */
import { isIdempotencyError } from '@oncely/core';
import type { InProgressRecord } from '@oncely/core';
import { MongoServerError, type Collection } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { toDocument } from './document';
import { mongoStore } from './mongo-store';

const now = 1_700_000_000_000;
const claim: InProgressRecord = {
  id: 'ns:1', key: 'k', scope: 's', state: 'in_progress', token: 'mine', fingerprint: 'v1:f',
  createdAt: now, leaseUntil: now + 30_000, expiresAt: now + 60_000,
};

type Step = { readonly op: 'findOneAndUpdate' | 'replaceOne'; readonly answer: unknown };

/** A collection that answers each call with the next scripted step and records the calls. */
function scripted(steps: Step[]): { collection: Collection; calls: string[] } {
  const calls: string[] = [];
  const next = (op: Step['op']) => async () => {
    calls.push(op);
    const step = steps.shift();
    if (!step || step.op !== op) throw new Error(`unexpected ${op}; next scripted step is ${step?.op}`);
    if (step.answer instanceof Error) throw step.answer;
    return step.answer;
  };
  const collection = { findOneAndUpdate: next('findOneAndUpdate'), replaceOne: next('replaceOne') } as unknown as Collection;
  return { collection, calls };
}

const duplicateKey = () => new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 });
const live = { ...toDocument({ ...claim, token: 'theirs' }) };
const expired = { ...toDocument({ ...claim, token: 'old', expiresAt: now }) };

describe('mongoStore create rounds', () => {
  it('a duplicate key from a concurrent upsert is answered by the next round, which finds the winner', async () => {
    const { collection, calls } = scripted([
      { op: 'findOneAndUpdate', answer: duplicateKey() },
      { op: 'findOneAndUpdate', answer: live },
    ]);
    const result = await mongoStore({ collection }).create(claim, now);
    expect(result).toEqual({ created: false, existing: { ...claim, token: 'theirs' } });
    expect(calls).toEqual(['findOneAndUpdate', 'findOneAndUpdate']);
  });

  it('an expired record replaced by someone else between the two steps: the next round returns theirs', async () => {
    const { collection, calls } = scripted([
      { op: 'findOneAndUpdate', answer: expired },
      { op: 'replaceOne', answer: { matchedCount: 0 } },
      { op: 'findOneAndUpdate', answer: live },
    ]);
    expect(await mongoStore({ collection }).create(claim, now)).toMatchObject({ created: false });
    expect(calls).toEqual(['findOneAndUpdate', 'replaceOne', 'findOneAndUpdate']);
  });

  it('an expired record deleted between the two steps: the next round inserts', async () => {
    const { collection } = scripted([
      { op: 'findOneAndUpdate', answer: expired },
      { op: 'replaceOne', answer: { matchedCount: 0 } },
      { op: 'findOneAndUpdate', answer: null },
    ]);
    expect(await mongoStore({ collection }).create(claim, now)).toEqual({ created: true });
  });

  it('gives up with StoreUnavailableError after 8 rounds of churn', async () => {
    const steps: Step[] = [];
    for (let i = 0; i < 8; i++) steps.push({ op: 'findOneAndUpdate', answer: expired }, { op: 'replaceOne', answer: { matchedCount: 0 } });
    const { collection, calls } = scripted(steps);
    const error: unknown = await mongoStore({ collection }).create(claim, now).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
    expect(calls).toHaveLength(16);
  });

  it('maps a server-side BSONObjectTooLarge to RecordTooLargeError, other server errors to StoreUnavailableError', async () => {
    const tooLarge = scripted([{ op: 'findOneAndUpdate', answer: new MongoServerError({ message: 'BSONObj size: 17000000 is invalid', code: 10334 }) }]);
    const failed = scripted([{ op: 'findOneAndUpdate', answer: new MongoServerError({ message: 'not primary', code: 10107 }) }]);
    const tooLargeError: unknown = await mongoStore({ collection: tooLarge.collection }).create(claim, now).catch((caught: unknown) => caught);
    const failedError: unknown = await mongoStore({ collection: failed.collection }).create(claim, now).catch((caught: unknown) => caught);
    expect(isIdempotencyError(tooLargeError, 'record_too_large')).toBe(true);
    expect(isIdempotencyError(failedError, 'store_unavailable')).toBe(true);
    expect((failedError as Error).cause).toBeInstanceOf(MongoServerError);
  });

  it('refuses an update whose record has another id', async () => {
    const { collection } = scripted([]);
    await expect(mongoStore({ collection }).update('ns:2', 'mine', claim)).rejects.toThrow(TypeError);
  });
});
