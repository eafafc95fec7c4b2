import type { IdempotencyRecord } from '@oncely/core';
import { expect } from 'vitest';
import { afterExpiry, beforeExpiry, completedRecord, expectRecord, freshToken, inProgressRecord, retentionMs } from './fixtures';
import { defineChecks } from './options';
import type { StoreCheckContext } from './options';

/**
 * Expiry (CONTRACT §3, `Store` docs): a record with `expiresAt <= now` is as if absent, judged
 * against the `now` the caller passes, whatever the backend's own TTL sweeper does. No check
 * sleeps: records expire a minute or more in the real future (so a native TTL never removes one
 * early) and time is moved by passing a later `now`.
 */
export const expiryChecks = defineChecks({
  expiredRecordsAreInvisible: {
    name: 'get sees a record until just before expiresAt and returns null once it has expired',
    async run(ctx) {
      const record = await created(ctx);
      expectRecord(await ctx.store.get(record.id, Date.now()), record, 'get right after create');
      expectRecord(await ctx.store.get(record.id, beforeExpiry(ctx, record.expiresAt)), record, 'get just before expiresAt');
      expect(await ctx.store.get(record.id, afterExpiry(ctx, record.expiresAt)), 'get after expiresAt').toBeNull();
    },
  },

  expiredRecordsAreReplacedByCreate: {
    name: 'create keeps a live record but replaces an expired one, which then is the visible record',
    async run(ctx) {
      const old = await created(ctx);
      const early = inProgressRecord(ctx, { id: old.id });
      const refused = await ctx.store.create(early, beforeExpiry(ctx, old.expiresAt));
      expect(refused.created, 'create just before the old record expires').toBe(false);

      const later = afterExpiry(ctx, old.expiresAt);
      const replacement = inProgressRecord(ctx, { id: old.id, createdAt: later, leaseUntil: later + 30_000, expiresAt: later + retentionMs(ctx) });
      expect(await ctx.store.create(replacement, later), 'create after the old record expired').toEqual({ created: true });
      expectRecord(await ctx.store.get(old.id, later), replacement, 'get after the replacing create');
      expect(await ctx.store.update(old.id, old.token, completedRecord(old)), 'update by the expired record\'s owner').toBe(false);
      expectRecord(await ctx.store.get(old.id, later), replacement, 'get after the expired owner tried to complete');
    },
  },

  completedRecordsExpire: {
    name: 'completed records expire too: invisible to get and replaceable by create',
    async run(ctx) {
      const claim = await created(ctx);
      const completed = completedRecord(claim, { expiresAt: claim.expiresAt + 10 * ctx.expiryGranularityMs });
      expect(await ctx.store.update(claim.id, claim.token, completed), 'completing the record').toBe(true);
      expectRecord(await ctx.store.get(claim.id, beforeExpiry(ctx, completed.expiresAt)), completed, 'get just before expiresAt');
      const later = afterExpiry(ctx, completed.expiresAt);
      expect(await ctx.store.get(claim.id, later), 'get after expiresAt').toBeNull();
      const replacement = inProgressRecord(ctx, { id: claim.id, createdAt: later, leaseUntil: later + 30_000, expiresAt: later + retentionMs(ctx) });
      expect(await ctx.store.create(replacement, later), 'create after the completed record expired').toEqual({ created: true });
      expectRecord(await ctx.store.get(claim.id, later), replacement, 'get after the replacing create');
    },
  },

  expiredRecordsStayFenced: {
    name: 'update acts on an expired-but-present record only with its token (store.ts: the token proves ownership)',
    async run(ctx) {
      const record = await created(ctx);
      const later = afterExpiry(ctx, record.expiresAt);
      expect(await ctx.store.get(record.id, later), 'get after expiresAt').toBeNull();
      const extended = completedRecord(record, { completedAt: later, expiresAt: later + retentionMs(ctx) });
      expect(await ctx.store.update(record.id, freshToken(), extended), 'update of an expired record with a wrong token').toBe(false);
      expect(await ctx.store.delete(record.id, freshToken()), 'delete of an expired record with a wrong token').toBe(false);
      const updated = await ctx.store.update(record.id, record.token, extended);
      // `true` is the rule for a record still present; `false` is allowed only if the store removed the
      // expired record (a sweep on read), in which case nothing may remain under the id.
      if (updated) expectRecord(await ctx.store.get(record.id, later), extended, 'get after the owner updated its expired record');
      else expect(await ctx.store.get(record.id, later), 'get after update of a swept record returned false').toBeNull();
    },
  },

  expiryBoundaryIsExact: {
    name: 'expiry boundary is exact: live at expiresAt - 1, expired at expiresAt === now',
    appliesTo: (settings) => (settings.expiryGranularityMs ?? 1) === 1,
    async run(ctx) {
      const record = await created(ctx);
      const at = record.expiresAt;
      expectRecord(await ctx.store.get(record.id, at - 1), record, 'get at expiresAt - 1');
      expect(await ctx.store.get(record.id, at), 'get at now === expiresAt (expiresAt <= now is expired)').toBeNull();
      const replacement = inProgressRecord(ctx, { id: record.id, createdAt: at, leaseUntil: at + 30_000, expiresAt: at + retentionMs(ctx) });
      expect(await ctx.store.create(replacement, at), 'create at now === expiresAt').toEqual({ created: true });
      expectRecord(await ctx.store.get(record.id, at), replacement, 'get after the replacing create');
    },
  },
});

async function created(ctx: StoreCheckContext): Promise<IdempotencyRecord> {
  const record = inProgressRecord(ctx);
  expect(await ctx.store.create(record, Date.now()), 'setup: create a fresh record').toEqual({ created: true });
  return record;
}
