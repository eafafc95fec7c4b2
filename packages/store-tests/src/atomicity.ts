import type { CreateResult, IdempotencyRecord } from '@oncely/core';
import { expect } from 'vitest';
import { completedRecord, conformanceId, expectRecord, freshToken, inProgressRecord } from './fixtures';
import { defineChecks } from './options';

/**
 * Atomicity (CONTRACT §3, `Store` docs): under concurrent `create` for one id exactly one caller
 * wins and every other caller is handed the winner's live record; `create` never overwrites a live
 * record; creates of different ids do not interfere.
 */
export const atomicityChecks = defineChecks({
  concurrentCreatesHaveOneWinner: {
    name: 'concurrent creates of one id: exactly one { created: true }, every other caller gets the winner',
    async run(ctx) {
      const id = conformanceId();
      const contenders = Array.from({ length: ctx.concurrency }, (_, i) =>
        inProgressRecord(ctx, { id, key: `contender-${i}`, fingerprint: `v1:contender-${i}`, token: freshToken() }),
      );
      const results = await Promise.all(contenders.map((record) => ctx.store.create(record, Date.now())));
      const winners = contenders.filter((_, i) => results[i]?.created === true);
      expect(winners.length, `${ctx.concurrency} concurrent creates of one id: callers told { created: true }`).toBe(1);
      const winner = winners[0] as IdempotencyRecord;
      results.forEach((result, i) => {
        if (result.created) return;
        expect(result.existing?.token, `loser #${i} must be handed the winner's token`).toBe(winner.token);
        expectRecord(result.existing, winner, `loser #${i}: existing record`);
      });
      expectRecord(await ctx.store.get(id, Date.now()), winner, 'get after the race');
    },
  },

  createReturnsLiveRecord: {
    name: 'create on a live record returns it whole (in progress, then completed) and changes nothing',
    async run(ctx) {
      const first = inProgressRecord(ctx);
      expect(await ctx.store.create(first, Date.now()), 'first create').toEqual({ created: true });

      const intruder = inProgressRecord(ctx, { id: first.id, key: 'intruder', fingerprint: 'v1:intruder' });
      const second = await ctx.store.create(intruder, Date.now());
      expectCreatedFalse(second, 'create on a live in-progress record');
      expectRecord(second.existing, first, 'existing record returned by create');

      const completed = completedRecord(first);
      expect(await ctx.store.update(first.id, first.token, completed), 'completing the record').toBe(true);
      const third = await ctx.store.create(intruder, Date.now());
      expectCreatedFalse(third, 'create on a live completed record');
      expectRecord(third.existing, completed, 'existing completed record returned by create');

      expectRecord(await ctx.store.get(first.id, Date.now()), completed, 'get after the refused creates');
    },
  },

  concurrentCreatesOfDistinctIdsAllWin: {
    name: 'concurrent creates of distinct ids all succeed and each id holds its own record',
    async run(ctx) {
      const records = Array.from({ length: ctx.concurrency }, () => inProgressRecord(ctx));
      const results = await Promise.all(records.map((record) => ctx.store.create(record, Date.now())));
      results.forEach((result, i) => expect(result, `create #${i} of a distinct id`).toEqual({ created: true }));
      const stored = await Promise.all(records.map((record) => ctx.store.get(record.id, Date.now())));
      stored.forEach((record, i) => expectRecord(record, records[i] as IdempotencyRecord, `get of distinct id #${i}`));
    },
  },
});

function expectCreatedFalse(
  result: CreateResult,
  what: string,
): asserts result is Extract<CreateResult, { created: false }> {
  expect(result.created, `${what}: created`).toBe(false);
}
