import type { IdempotencyRecord, InProgressRecord } from '@oncely/core';
import { expect } from 'vitest';
import { completedRecord, conformanceId, expectRecord, freshToken, inProgressRecord } from './fixtures';
import { defineChecks } from './options';
import type { StoreCheckContext } from './options';

/**
 * Fencing (CONTRACT §3, `Store` docs): `update` and `delete` act only when the record's current
 * token equals `expectedToken`, in the same atomic step, so a stale owner can never overwrite or
 * delete the record of the owner that took over.
 */
export const fencingChecks = defineChecks({
  updateWithWrongTokenIsRefused: {
    name: 'update with a wrong token returns false and leaves the record unchanged',
    async run(ctx) {
      const record = await created(ctx);
      const forged = completedRecord({ ...record, token: freshToken() });
      expect(await ctx.store.update(record.id, freshToken(), forged), 'update with a random token').toBe(false);
      expect(await ctx.store.update(record.id, '', forged), 'update with an empty token').toBe(false);
      expect(await ctx.store.update(record.id, record.token.toUpperCase(), forged), 'update with the token in upper case').toBe(false);
      expectRecord(await ctx.store.get(record.id, Date.now()), record, 'record after refused updates');
    },
  },

  deleteWithWrongTokenIsRefused: {
    name: 'delete with a wrong token returns false and the record remains',
    async run(ctx) {
      const record = await created(ctx);
      expect(await ctx.store.delete(record.id, freshToken()), 'delete with a random token').toBe(false);
      expect(await ctx.store.delete(record.id, ''), 'delete with an empty token').toBe(false);
      expectRecord(await ctx.store.get(record.id, Date.now()), record, 'record after refused deletes');
      expect(await ctx.store.create(inProgressRecord(ctx, { id: record.id }), Date.now()), 'create after refused deletes').toMatchObject({
        created: false,
      });
    },
  },

  updateWithRightTokenReplaces: {
    name: 'update with the right token replaces the record: heartbeat (same token), then completion',
    async run(ctx) {
      const record = await created(ctx);
      const renewed: IdempotencyRecord = { ...record, leaseUntil: record.leaseUntil + 10_000 };
      expect(await ctx.store.update(record.id, record.token, renewed), 'heartbeat update').toBe(true);
      expectRecord(await ctx.store.get(record.id, Date.now()), renewed, 'record after the heartbeat');
      expect(await ctx.store.update(record.id, record.token, renewed), 'second heartbeat with the same token').toBe(true);

      const completed = completedRecord(renewed);
      expect(await ctx.store.update(record.id, record.token, completed), 'completing update').toBe(true);
      expectRecord(await ctx.store.get(record.id, Date.now()), completed, 'record after completion');
    },
  },

  takeoverFencesTheOldToken: {
    name: 'after a takeover (update to a new token) the old token can neither update nor delete',
    async run(ctx) {
      const record = await created(ctx);
      const takeover: IdempotencyRecord = { ...record, token: freshToken(), leaseUntil: record.leaseUntil + 30_000 };
      expect(await ctx.store.update(record.id, record.token, takeover), 'takeover update').toBe(true);
      expectRecord(await ctx.store.get(record.id, Date.now()), takeover, 'record after the takeover');

      const staleCompletion = completedRecord(record);
      expect(await ctx.store.update(record.id, record.token, staleCompletion), 'stale owner completing').toBe(false);
      expect(await ctx.store.delete(record.id, record.token), 'stale owner deleting').toBe(false);
      expectRecord(await ctx.store.get(record.id, Date.now()), takeover, 'record after the stale owner tried');

      const completion = completedRecord(takeover);
      expect(await ctx.store.update(record.id, takeover.token, completion), 'new owner completing').toBe(true);
      expectRecord(await ctx.store.get(record.id, Date.now()), completion, 'record after the new owner completed');
    },
  },

  deleteWithRightTokenRemoves: {
    name: 'delete with the right token removes the record; the id can then be claimed afresh',
    async run(ctx) {
      const record = await created(ctx);
      expect(await ctx.store.delete(record.id, record.token), 'delete with the right token').toBe(true);
      expect(await ctx.store.get(record.id, Date.now()), 'get after delete').toBeNull();
      expect(await ctx.store.delete(record.id, record.token), 'second delete').toBe(false);
      expect(await ctx.store.update(record.id, record.token, completedRecord(record)), 'update after delete').toBe(false);
      expect(await ctx.store.get(record.id, Date.now()), 'get after update of a deleted record').toBeNull();

      const next = inProgressRecord(ctx, { id: record.id });
      expect(await ctx.store.create(next, Date.now()), 'create after delete').toEqual({ created: true });
      expectRecord(await ctx.store.get(record.id, Date.now()), next, 'record claimed after delete');
    },
  },

  absentIdsAreNeverTouched: {
    name: 'update and delete of an absent id return false and create nothing',
    async run(ctx) {
      const id = conformanceId();
      const ghost = completedRecord(inProgressRecord(ctx, { id }));
      expect(await ctx.store.update(id, ghost.token, ghost), 'update of an absent id').toBe(false);
      expect(await ctx.store.delete(id, ghost.token), 'delete of an absent id').toBe(false);
      expect(await ctx.store.get(id, Date.now()), 'get after update of an absent id (no upsert)').toBeNull();
    },
  },

  concurrentTakeoversHaveOneWinner: {
    name: 'concurrent takeovers with the same expected token: exactly one update returns true',
    async run(ctx) {
      const record = await created(ctx);
      const takeovers = Array.from({ length: ctx.concurrency }, (_, i): IdempotencyRecord => ({
        ...record,
        token: freshToken(),
        leaseUntil: record.leaseUntil + 1 + i,
      }));
      const results = await Promise.all(takeovers.map((next) => ctx.store.update(record.id, record.token, next)));
      const winners = takeovers.filter((_, i) => results[i] === true);
      expect(winners.length, `${ctx.concurrency} concurrent takeovers: updates that returned true`).toBe(1);
      expectRecord(await ctx.store.get(record.id, Date.now()), winners[0] as IdempotencyRecord, 'record after the takeover race');
    },
  },

  concurrentDeletesAndUpdatesHaveOneWinner: {
    name: 'concurrent deletes and updates with the same expected token: exactly one succeeds',
    async run(ctx) {
      const record = await created(ctx);
      const half = Math.ceil(ctx.concurrency / 2);
      const nexts = Array.from({ length: ctx.concurrency - half }, (): IdempotencyRecord => completedRecord({ ...record, token: freshToken() }));
      const operations = [
        ...Array.from({ length: half }, () => ctx.store.delete(record.id, record.token)),
        ...nexts.map((next) => ctx.store.update(record.id, record.token, next)),
      ];
      const results = await Promise.all(operations);
      const successes = results.filter((result) => result === true).length;
      expect(successes, `${ctx.concurrency} concurrent deletes/updates with one token: successes`).toBe(1);
      const stored = await ctx.store.get(record.id, Date.now());
      const updateWinner = nexts.find((_, i) => results[half + i] === true);
      if (updateWinner) expectRecord(stored, updateWinner, 'record after an update won the race');
      else expect(stored, 'record after a delete won the race').toBeNull();
    },
  },
});

async function created(ctx: StoreCheckContext): Promise<InProgressRecord> {
  const record = inProgressRecord(ctx);
  expect(await ctx.store.create(record, Date.now()), 'setup: create a fresh record').toEqual({ created: true });
  return record;
}
