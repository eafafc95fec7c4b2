import { isIdempotencyError } from '@oncely/core';
import { expect } from 'vitest';
import { completedRecord, describeValue, expectRecord, inProgressRecord, randomBytes } from './fixtures';
import { defineChecks } from './options';
import type { StoreCheckContext, StoreCheckSettings } from './options';

const hasLimit = (settings: StoreCheckSettings): boolean => settings.maxRecordBytes !== undefined;

/**
 * Honest failure (CONTRACT §3, `Store` docs): a record bigger than the backend holds throws
 * `RecordTooLargeError` (code `record_too_large`) and writes nothing — never a truncated record.
 * These checks are registered only when the limit is known (the `maxRecordBytes` option).
 */
export const limitChecks = defineChecks({
  oversizedCreateThrows: {
    name: 'create of a record over maxRecordBytes throws RecordTooLargeError and writes nothing',
    appliesTo: hasLimit,
    async run(ctx) {
      const limit = requireLimit(ctx);
      const record = completedRecord(inProgressRecord(ctx), {
        response: { status: 200, headers: [['content-type', 'application/octet-stream']], body: randomBytes(limit + 1) },
      });
      await expectRecordTooLarge(ctx.store.create(record, Date.now()), `create of a record with a ${limit + 1}-byte body`);
      expect(await ctx.store.get(record.id, Date.now()), 'get after the refused create (nothing written)').toBeNull();
    },
  },

  oversizedUpdateThrows: {
    name: 'update to a record over maxRecordBytes throws RecordTooLargeError and leaves the record as it was',
    appliesTo: hasLimit,
    async run(ctx) {
      const limit = requireLimit(ctx);
      const claim = inProgressRecord(ctx);
      expect(await ctx.store.create(claim, Date.now()), 'setup: create a fresh record').toEqual({ created: true });
      const oversized = completedRecord(claim, { response: { status: 200, headers: [], body: randomBytes(limit + 1) } });
      await expectRecordTooLarge(ctx.store.update(claim.id, claim.token, oversized), `update to a record with a ${limit + 1}-byte body`);
      expectRecord(await ctx.store.get(claim.id, Date.now()), claim, 'record after the refused update (not truncated)');

      const withoutBody = completedRecord(claim, { response: { status: 200, headers: [], body: null } });
      expect(await ctx.store.update(claim.id, claim.token, withoutBody), 'completing without the body afterwards').toBe(true);
      expectRecord(await ctx.store.get(claim.id, Date.now()), withoutBody, 'record completed without its body');
    },
  },

  recordsUnderTheLimitRoundTrip: {
    name: 'a record comfortably under maxRecordBytes (a body of half the limit) round-trips byte-exact',
    appliesTo: hasLimit,
    async run(ctx) {
      const size = Math.floor(requireLimit(ctx) / 2);
      const claim = inProgressRecord(ctx);
      expect(await ctx.store.create(claim, Date.now()), 'setup: create a fresh record').toEqual({ created: true });
      const completion = completedRecord(claim, { response: { status: 200, headers: [], body: randomBytes(size) } });
      expect(await ctx.store.update(claim.id, claim.token, completion), `completing with a ${size}-byte body`).toBe(true);
      expectRecord(await ctx.store.get(claim.id, Date.now()), completion, `record with a ${size}-byte body`);
    },
  },
});

function requireLimit(ctx: StoreCheckContext): number {
  if (ctx.maxRecordBytes === undefined) throw new Error('This check needs maxRecordBytes (option, or the store\'s own).');
  return ctx.maxRecordBytes;
}

async function expectRecordTooLarge(operation: Promise<unknown>, what: string): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await operation;
  } catch (error) {
    if (isIdempotencyError(error, 'record_too_large')) return;
    const described = error instanceof Error ? `${error.name}: ${error.message}` : describeValue(error);
    throw new Error(`${what}: expected RecordTooLargeError (code record_too_large), it threw ${described}.`, { cause: error });
  }
  throw new Error(`${what}: expected RecordTooLargeError (code record_too_large), it succeeded with ${describeValue(outcome)}.`);
}
