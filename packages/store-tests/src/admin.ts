import { canListInProgress, canPurgeExpired, createAdmin, randomToken, utf8 } from '@oncely/core';
import type { AdminStore, IdempotencyRecord, InProgressRecord, Store, StoredResponse } from '@oncely/core';
import { expect } from 'vitest';
import { CONFORMANCE_ID_PREFIX, completedRecord, expectRecord, freshToken, inProgressRecord, retentionMs } from './fixtures';
import { defineChecks } from './options';

/** The namespace the admin checks use: record ids then start with {@link CONFORMANCE_ID_PREFIX}. */
const ADMIN_NAMESPACE = CONFORMANCE_ID_PREFIX.slice(0, -1);

/**
 * Operator capabilities (core's `AdminStore` and `createAdmin`). `createAdmin`'s release and
 * complete need only the four primitives, so they are checked on every store; `listInProgress` and
 * `purgeExpired` are checked when the settings declare them, and one check makes sure the
 * declaration matches the store.
 *
 * Safe on a shared backend: the listed records are claimed in a random instant of 1970–2001 (no
 * real claim is that old) and deleted afterwards; purges only ever pass a `now` that is the real
 * current time, so they delete nothing that has not really expired.
 */
export const adminChecks = defineChecks({
  declaresItsOperations: {
    name: 'offers exactly the admin operations the settings declare (listInProgress, purgeExpired)',
    async run(ctx) {
      expect(canListInProgress(ctx.store), 'store.listInProgress is a function: set `listInProgress: true` in the conformance options (and only then)').toBe(
        ctx.listInProgress,
      );
      expect(canPurgeExpired(ctx.store), "store.purgeExpired is a function: set `purgeExpired: true` (or 'native') in the conformance options (and only then)").toBe(
        ctx.purgeExpired !== false,
      );
    },
  },

  adminReleasesAndCompletes: {
    name: "createAdmin's release and complete act on the store with token-checked writes",
    async run(ctx) {
      const admin = createAdmin({ store: ctx.store, namespace: ADMIN_NAMESPACE, ttlMs: retentionMs(ctx) });
      const claimFor = async (key: string): Promise<InProgressRecord> => {
        const record = inProgressRecord(ctx, { id: admin.recordId('tenant_conformance', key), key });
        expect(await ctx.store.create(record, Date.now()), 'creating the claim').toEqual({ created: true });
        return record;
      };
      const response: StoredResponse = { status: 202, headers: [['content-type', 'text/plain']], body: utf8('forced') };

      const stuck = await claimFor(`admin-${randomToken().slice(0, 12)}`);
      expectRecord(await admin.inspect(stuck.scope, stuck.key), stuck, 'inspect');
      expect(await admin.complete(stuck.scope, stuck.key, response, { expectedToken: freshToken() }), 'complete with a wrong expectedToken').toMatchObject({
        outcome: 'refused',
        reason: 'token_mismatch',
      });
      const completed = await admin.complete(stuck.scope, stuck.key, response, { expectedToken: stuck.token });
      expect(completed.outcome, 'complete').toBe('completed');
      if (completed.outcome !== 'completed') return;
      expect(completed.after.token, 'the completion has a token of its own').not.toBe(stuck.token);
      expectRecord(await ctx.store.get(stuck.id, Date.now()), completed.after, 'record after a forced completion');
      expect(await ctx.store.update(stuck.id, stuck.token, completedRecord(stuck)), "the claim's owner completing afterwards").toBe(false);
      expect(await ctx.store.delete(stuck.id, stuck.token), "the claim's owner releasing afterwards").toBe(false);
      expectRecord(await admin.inspect(stuck.scope, stuck.key), completed.after, 'record after its former owner tried');
      expect(await admin.release(stuck.scope, stuck.key), 'release of a completed record').toMatchObject({ outcome: 'refused', reason: 'completed' });
      expect(await admin.release(stuck.scope, stuck.key, { includeCompleted: true }), 'release with includeCompleted').toMatchObject({ outcome: 'released' });
      expect(await ctx.store.get(stuck.id, Date.now()), 'record after release').toBeNull();

      const abandoned = await claimFor(`admin-${randomToken().slice(0, 12)}`);
      expect(await admin.release(abandoned.scope, abandoned.key), 'release of a claim').toEqual({ outcome: 'released', before: expect.objectContaining({ token: abandoned.token }) });
      expect(await ctx.store.get(abandoned.id, Date.now()), 'claim after release').toBeNull();
      expect(await ctx.store.update(abandoned.id, abandoned.token, completedRecord(abandoned)), "the released claim's owner completing").toBe(false);
      expect(await admin.release(abandoned.scope, abandoned.key), 'release of nothing').toEqual({ outcome: 'not_found' });
    },
  },

  listsStuckClaims: {
    name: 'listInProgress lists live in-progress records claimed at or before claimedBefore, oldest first, never completed, expired or later ones',
    appliesTo: (settings) => settings.listInProgress === true,
    async run(ctx) {
      const store = ctx.store as AdminStore;
      const window = claimWindow();
      const now = Date.now();
      const until = now + 2 * retentionMs(ctx);
      const at = (offset: number, overrides: Partial<InProgressRecord> = {}): InProgressRecord =>
        inProgressRecord(ctx, { createdAt: window.start + offset, leaseUntil: window.start + offset + 30_000, expiresAt: until, ...overrides });
      // Written out of order, so a store that lists in insertion order fails.
      const eligible = [at(30), at(10), at(20), at(40)];
      const later = at(51);
      const expiring = at(5, { expiresAt: now + retentionMs(ctx) });
      const claimOfCompleted = at(1);
      const written = [...eligible, later, expiring, claimOfCompleted];
      try {
        for (const record of written) expect(await store.create(record, now), 'creating the records').toEqual({ created: true });
        expect(await store.update(claimOfCompleted.id, claimOfCompleted.token, completedRecord(claimOfCompleted)), 'completing one').toBe(true);
        const listNow = expiring.expiresAt + 2 * ctx.expiryGranularityMs;
        const claimedBefore = window.start + 50;
        const oldestFirst = [...eligible].sort((a, b) => a.createdAt - b.createdAt);

        const listed = await store.listInProgress({ claimedBefore, now: listNow, limit: 1000 });
        expectOnlyEligible(listed, claimedBefore, listNow, 1000);
        const mine = listed.filter((record) => written.some((own) => own.id === record.id));
        expect(mine.map((record) => record.id), 'the records of this check, in order').toEqual(oldestFirst.map((record) => record.id));
        for (const [index, record] of mine.entries()) expectRecord(record, oldestFirst[index] as InProgressRecord, `listed record #${index}`);

        const limited = await store.listInProgress({ claimedBefore, now: listNow, limit: 2 });
        expect(limited.length, 'records listed with limit 2').toBe(2);
        expectOnlyEligible(limited, claimedBefore, listNow, 2);
        expect(limited.map((record) => record.id), 'limit 2 keeps the two oldest').toEqual(listed.slice(0, 2).map((record) => record.id));

        const beforeExpiry = await store.listInProgress({ claimedBefore, now, limit: 1000 });
        expect(beforeExpiry.map((record) => record.id), 'a record that has not expired yet is listed').toContain(expiring.id);

        await expect(store.listInProgress({ claimedBefore, now, limit: 0 }), 'limit 0').rejects.toThrow(TypeError);
      } finally {
        await removeAll(store, written);
      }
    },
  },

  purgesExactlyTheExpired: {
    name: 'purgeExpired deletes exactly the expired records, batchSize per batch and at most maxBatches, and a second run finds nothing',
    appliesTo: (settings) => settings.purgeExpired !== undefined && settings.purgeExpired !== false,
    async run(ctx) {
      const store = ctx.store as AdminStore;
      const counts = ctx.purgeExpired === true;
      const now = Date.now();
      // Whatever had expired by `now` goes first, so the counts below are this check's alone.
      await store.purgeExpired({ now });
      // The last one expires exactly at `now`: expired (`expiresAt <= now`).
      const expired = Array.from({ length: 5 }, (_, i) => inProgressRecord(ctx, { createdAt: now - 100, leaseUntil: now - 50, expiresAt: now - 4 + i }));
      // Just after `now` — a second, so a backend that also expires records by itself keeps it for
      // the check's duration; a whole retention for 'native' stores, which do exactly that.
      const soon = counts ? now + 1000 : now + retentionMs(ctx);
      const live = [inProgressRecord(ctx, { expiresAt: soon }), inProgressRecord(ctx, { createdAt: now - 100 })];
      const liveCompletion = completedRecord(live[1] as InProgressRecord);
      try {
        for (const record of [...expired, ...live]) expect(await store.create(record, now - 100), 'creating the records').toEqual({ created: true });
        expect(await store.update(liveCompletion.id, liveCompletion.token, liveCompletion), 'completing a live record').toBe(true);

        const first = await store.purgeExpired({ now, batchSize: 2, maxBatches: 1 });
        expect(first, counts ? 'deleted by one batch of 2' : "a 'native' store's purgeExpired").toBe(counts ? 2 : 0);
        if (counts) {
          const remaining = await Promise.all(expired.map((record) => store.update(record.id, record.token, { ...record, leaseUntil: record.leaseUntil + 1 })));
          expect(remaining.filter(Boolean).length, 'expired records still present after one batch of 2 (update acts on them)').toBe(3);
        }
        const rest = await store.purgeExpired({ now, batchSize: 2 });
        expect(rest, counts ? 'deleted by the following batches' : "a 'native' store's purgeExpired").toBe(counts ? 3 : 0);
        for (const [index, record] of expired.entries()) {
          expect(await store.update(record.id, record.token, completedRecord(record)), `expired record #${index} after purging (update finds it if present)`).toBe(false);
        }
        expectRecord(await store.get(live[0]!.id, now), live[0] as IdempotencyRecord, 'a record expiring just after now');
        expectRecord(await store.get(liveCompletion.id, now), liveCompletion, 'a live completed record');
        expect(await store.purgeExpired({ now }), 'a second run').toBe(0);
        expectRecord(await store.get(live[0]!.id, now), live[0] as IdempotencyRecord, 'a live record after the second run');

        await expect(store.purgeExpired({ now, batchSize: 0 }), 'batchSize 0').rejects.toThrow(TypeError);
        await expect(store.purgeExpired({ now, maxBatches: -1 }), 'maxBatches -1').rejects.toThrow(TypeError);
      } finally {
        await removeAll(store, [...expired, live[0] as InProgressRecord, liveCompletion]);
      }
    },
  },
});

/** A random instant of 1970–2001 with room for 100 ms of claims: older than any real claim. */
function claimWindow(): { readonly start: number } {
  const random = new Uint32Array(1);
  (globalThis as { crypto: Crypto }).crypto.getRandomValues(random);
  return { start: 1_000_000 + Math.floor(((random[0] as number) / 2 ** 32) * 978_000_000_000) };
}

/** Everything listed must be a live in-progress record claimed at or before `claimedBefore`, oldest first. */
function expectOnlyEligible(listed: readonly IdempotencyRecord[], claimedBefore: number, now: number, limit: number): void {
  expect(listed.length, 'no more records than limit').toBeLessThanOrEqual(limit);
  for (const [index, record] of listed.entries()) {
    expect(record.state, `listed record #${index} (${record.id}) state`).toBe('in_progress');
    expect(record.createdAt, `listed record #${index} createdAt`).toBeLessThanOrEqual(claimedBefore);
    expect(record.expiresAt, `listed record #${index} expiresAt (must be live at now)`).toBeGreaterThan(now);
    if (index > 0) expect(record.createdAt, `listed record #${index} is no older than #${index - 1}`).toBeGreaterThanOrEqual((listed[index - 1] as IdempotencyRecord).createdAt);
  }
}

/** Delete this check's records (whatever state they reached), so no listing ever meets them again. */
async function removeAll(store: Store, records: readonly IdempotencyRecord[]): Promise<void> {
  const far = Date.now() - 10 ** 12;
  for (const record of records) {
    const current = await store.get(record.id, far).catch(() => null);
    if (current) await store.delete(record.id, current.token).catch(() => false);
  }
}
