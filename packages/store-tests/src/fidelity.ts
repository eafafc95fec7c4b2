import { utf8 } from '@oncely/core';
import type { CompletedRecord, IdempotencyRecord, InProgressRecord } from '@oncely/core';
import * as fc from 'fast-check';
import { expect } from 'vitest';
import {
  LONG_UNICODE_SCOPE,
  SAMPLE_HEADERS,
  UNICODE_SAMPLES,
  YEAR_2100_MS,
  completedRecord,
  expectRecord,
  inProgressRecord,
  randomBytes,
} from './fixtures';
import { defineChecks } from './options';
import type { StoreCheckContext } from './options';

/**
 * Fidelity (CONTRACT §2–3, `Store` docs): what goes in comes out. Bodies and results byte-exact,
 * `body: null` distinct from an empty body, header order and duplicates kept, keys and scopes of
 * any Unicode, every number exact, and fresh objects on every read.
 */
export const fidelityChecks = defineChecks({
  inProgressRecordsRoundTrip: {
    name: 'in-progress records round-trip field by field',
    async run(ctx) {
      const record = inProgressRecord(ctx, { leaseUntil: Date.now() + 12_345 });
      await create(ctx, record);
      expectRecord(await ctx.store.get(record.id, Date.now()), record, 'in-progress record read back');
    },
  },

  completedResponsesRoundTrip: {
    name: 'completed records round-trip: status, headers (order, duplicates), body, completedAt — written by update or by create',
    async run(ctx) {
      const claim = inProgressRecord(ctx);
      await create(ctx, claim);
      const completion = completedRecord(claim, {
        completedAt: claim.createdAt + 4321,
        response: { status: 201, headers: SAMPLE_HEADERS, body: randomBytes(1000) },
      });
      expect(await ctx.store.update(claim.id, claim.token, completion), 'completing update').toBe(true);
      expectRecord(await ctx.store.get(claim.id, Date.now()), completion, 'completed record written by update');

      const direct = completedRecord(inProgressRecord(ctx), {
        response: { status: 299, headers: [...SAMPLE_HEADERS].reverse(), body: utf8('plain text, not JSON \u00e9 \u{1f984}') },
      });
      await create(ctx, direct);
      expectRecord(await ctx.store.get(direct.id, Date.now()), direct, 'completed record written by create');
    },
  },

  nullBodyStaysDistinctFromEmptyBody: {
    name: 'body: null (response not stored) stays null, distinct from an empty body',
    async run(ctx) {
      const notStored = completedRecord(inProgressRecord(ctx), { response: { status: 200, headers: SAMPLE_HEADERS, body: null } });
      const empty = completedRecord(inProgressRecord(ctx), { response: { status: 204, headers: [], body: new Uint8Array(0) } });
      await create(ctx, notStored);
      await create(ctx, empty);
      const storedNotStored = await ctx.store.get(notStored.id, Date.now());
      const storedEmpty = await ctx.store.get(empty.id, Date.now());
      expectRecord(storedNotStored, notStored, 'record with body: null');
      expectRecord(storedEmpty, empty, 'record with an empty body');

      const claim = inProgressRecord(ctx);
      await create(ctx, claim);
      const completion = completedRecord(claim, { response: { status: 200, headers: [], body: null } });
      expect(await ctx.store.update(claim.id, claim.token, completion), 'completing with body: null').toBe(true);
      expectRecord(await ctx.store.get(claim.id, Date.now()), completion, 'record completed by update with body: null');
    },
  },

  resultBytesRoundTrip: {
    name: 'function-wrapper results (bytes, no response) round-trip byte-exact, empty ones included',
    async run(ctx) {
      for (const result of [utf8('{"charged":true,"amount":1000}'), randomBytes(1000), new Uint8Array(0)]) {
        const claim = inProgressRecord(ctx);
        await create(ctx, claim);
        const completion = completedRecord(claim, { response: undefined, result });
        expect(await ctx.store.update(claim.id, claim.token, completion), `completing with a ${result.byteLength}-byte result`).toBe(true);
        expectRecord(await ctx.store.get(claim.id, Date.now()), completion, `record with a ${result.byteLength}-byte result`);
      }
    },
  },

  bodiesAreByteExact: {
    name: 'random binary bodies (0x00 and 0xFF included) of 0, 1, 1000 bytes and largeBodyBytes round-trip byte-exact',
    async run(ctx) {
      const sizes = [...new Set([0, 1, 1000, ctx.largeBodyBytes])].sort((a, b) => a - b);
      for (const size of sizes) {
        const claim = inProgressRecord(ctx);
        await create(ctx, claim);
        const completion = completedRecord(claim, { response: { status: 200, headers: [['content-type', 'application/octet-stream']], body: randomBytes(size) } });
        expect(await ctx.store.update(claim.id, claim.token, completion), `completing with a ${size}-byte body`).toBe(true);
        expectRecord(await ctx.store.get(claim.id, Date.now()), completion, `${size}-byte body written by update`);
      }
      const largest = completedRecord(inProgressRecord(ctx), {
        response: { status: 200, headers: [['content-encoding', 'gzip']], body: randomBytes(ctx.largeBodyBytes) },
      });
      await create(ctx, largest);
      expectRecord(await ctx.store.get(largest.id, Date.now()), largest, `${ctx.largeBodyBytes}-byte body written by create`);
    },
  },

  unicodeKeysAndScopesRoundTrip: {
    name: 'keys and scopes of any Unicode round-trip (emoji, CJK, RTL, combining marks, 1000-character scopes)',
    async run(ctx) {
      const samples = [...UNICODE_SAMPLES.map((text, i) => ({ key: text, scope: UNICODE_SAMPLES[(i + 1) % UNICODE_SAMPLES.length] as string })), { key: 'long-scope', scope: LONG_UNICODE_SCOPE }];
      for (const { key, scope } of samples) {
        const record = completedRecord(inProgressRecord(ctx, { key, scope }), {
          response: { status: 200, headers: [['content-language', 'x-unicode']], body: utf8(key) },
        });
        await create(ctx, record);
        expectRecord(await ctx.store.get(record.id, Date.now()), record, `record with key ${JSON.stringify(key.slice(0, 40))}`);
        const again = await ctx.store.create(inProgressRecord(ctx, { id: record.id }), Date.now());
        if (again.created) throw new Error(`create over a live Unicode-keyed record ${JSON.stringify(key.slice(0, 40))} replaced it.`);
        expectRecord(again.existing, record, `existing record returned by create, key ${JSON.stringify(key.slice(0, 40))}`);
      }
      const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((value) => !value.includes('\u0000'));
      const grapheme = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 32 });
      await fc.assert(
        fc.asyncProperty(fc.oneof(text, grapheme), fc.oneof(text, grapheme), async (key, scope) => {
          const record = inProgressRecord(ctx, { key, scope });
          await create(ctx, record);
          expectRecord(await ctx.store.get(record.id, Date.now()), record, 'record with a random Unicode key and scope');
        }),
        { numRuns: Math.min(50, ctx.modelRuns) },
      );
    },
  },

  numbersAreExact: {
    name: 'numbers round-trip exactly: epoch ms in the year 2100, odd milliseconds, statuses',
    async run(ctx) {
      const claim: InProgressRecord = inProgressRecord(ctx, {
        createdAt: YEAR_2100_MS,
        leaseUntil: YEAR_2100_MS + 30_001,
        expiresAt: YEAR_2100_MS + 86_400_007,
        fingerprint: '',
      });
      await create(ctx, claim);
      expectRecord(await ctx.store.get(claim.id, Date.now()), claim, 'in-progress record with year-2100 times');
      const completion = completedRecord(claim, { completedAt: YEAR_2100_MS + 999, response: { status: 599, headers: [], body: randomBytes(3) } });
      expect(await ctx.store.update(claim.id, claim.token, completion), 'completing the year-2100 record').toBe(true);
      expectRecord(await ctx.store.get(claim.id, Date.now()), completion, 'completed record with year-2100 times');
      expect(await ctx.store.delete(claim.id, claim.token), 'cleanup: delete the year-2100 record').toBe(true);
    },
  },

  returnedRecordsAreFreshObjects: {
    name: 'returned records are fresh objects: mutating them (or the records passed in) never changes what is stored',
    async run(ctx) {
      const claim = inProgressRecord(ctx);
      const input = { ...claim };
      await create(ctx, input);
      vandalize(input);
      expectRecord(await ctx.store.get(claim.id, Date.now()), claim, 'record after the caller mutated the object it created');

      const body = randomBytes(64);
      const response = (): NonNullable<CompletedRecord['response']> => ({
        status: 200,
        headers: SAMPLE_HEADERS.map(([name, value]) => [name, value] as const),
        body: body.slice(),
      });
      const completion = completedRecord(claim, { response: response() });
      const pristine = completedRecord(claim, { response: response(), completedAt: completion.completedAt });
      expect(await ctx.store.update(claim.id, claim.token, completion), 'completing update').toBe(true);
      vandalize(completion);
      expectRecord(await ctx.store.get(claim.id, Date.now()), pristine, 'record after the caller mutated the object it updated with');

      const read = await ctx.store.get(claim.id, Date.now());
      if (read) vandalize(read);
      expectRecord(await ctx.store.get(claim.id, Date.now()), pristine, 'record after the caller mutated what get returned');

      const refused = await ctx.store.create(inProgressRecord(ctx, { id: claim.id }), Date.now());
      if (!refused.created) vandalize(refused.existing);
      expectRecord(await ctx.store.get(claim.id, Date.now()), pristine, 'record after the caller mutated what create returned');
    },
  },
});

async function create(ctx: StoreCheckContext, record: IdempotencyRecord): Promise<void> {
  expect(await ctx.store.create(record, Date.now()), `create of ${record.id}`).toEqual({ created: true });
}

/** Mutates everything a caller could reach in a record; frozen parts are fine and left alone. */
function vandalize(record: IdempotencyRecord): void {
  const loose = record as unknown as Record<string, unknown>;
  const attempt = (change: () => void): void => {
    try {
      change();
    } catch {
      // A frozen record refuses the change: exactly what a fresh or immutable object is for.
    }
  };
  if (record.state === 'completed') vandalizeCompletion(record, attempt);
  for (const field of ['key', 'scope', 'token', 'fingerprint', 'state']) attempt(() => (loose[field] = `${String(loose[field])}-mutated`));
  for (const field of ['expiresAt', 'createdAt', 'leaseUntil', 'completedAt']) attempt(() => (loose[field] = 1));
}

function vandalizeCompletion(record: CompletedRecord, attempt: (change: () => void) => void): void {
  if (record.result && record.result.byteLength > 0) attempt(() => ((record.result as Uint8Array)[0] = ((record.result as Uint8Array)[0] ?? 0) ^ 0xff));
  const response = record.response as { status: number; headers: [string, string][]; body: Uint8Array | null } | undefined;
  if (!response) return;
  attempt(() => (response.status = 500));
  attempt(() => response.headers.push(['x-injected', 'yes']));
  attempt(() => {
    const first = response.headers[0];
    if (first) first[1] = 'mutated';
  });
  attempt(() => {
    if (response.body && response.body.byteLength > 0) response.body[0] = (response.body[0] ?? 0) ^ 0xff;
  });
}
