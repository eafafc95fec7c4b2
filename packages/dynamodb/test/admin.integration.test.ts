/**
 * The operator capabilities (`AdminStore`: `listInProgress`, `purgeExpired`) against DynamoDB Local,
 * each test on a table of its own. Every instant lies days in the real future, so DynamoDB Local's
 * TTL sweeper never removes a record a test counts on: "expired" means expired at the `now` passed.
 */
import { GetItemCommand, PutItemCommand, ScanCommand, type ScanCommandInput } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { isIdempotencyError } from '@oncely/core';
import type { IdempotencyRecord, InProgressRecord } from '@oncely/core';
import { completedRecord, inProgressRecord, randomBytes } from '@oncely/store-tests';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIST_SCAN_MAX_PAGES, dynamoStore, type DynamoStore } from '../src/index';
import { toItem } from '../src/item';
import { freePort } from './dynamodb-local';
import { countRequests, dropTable, dynamoTarget, freshTable, LOCAL_CREDENTIALS, localClient } from './target';

const ctx = { expiryGranularityMs: 1 };
/** "Now" of these tests: ten days ahead of the real clock (see the file comment). */
const NOW = Date.now() + 10 * 24 * 3_600_000;

/** An in-progress claim first made at `createdAt`, expiring at `expiresAt`. */
function claim(createdAt: number, expiresAt = NOW + 3_600_000): InProgressRecord {
  return inProgressRecord(ctx, { createdAt, expiresAt, leaseUntil: createdAt + 30_000 });
}

describe(`dynamodb admin operations — ${dynamoTarget().label}`, () => {
  const client = localClient();
  const tables: string[] = [];
  afterAll(async () => {
    for (const table of tables) await dropTable(client, table);
    client.destroy();
  });

  async function freshStore(options: { client?: DynamoDBClient; listScanMaxPages?: number } = {}): Promise<DynamoStore> {
    const tableName = await freshTable(client, 'admin');
    tables.push(tableName);
    return dynamoStore({ client, tableName, ...options });
  }

  /** Write records as they are (no `now` check), straight through `update`'s PutItem shape. */
  async function put(store: DynamoStore, records: readonly IdempotencyRecord[]): Promise<void> {
    for (const record of records) {
      await client.send(new PutItemCommand({ TableName: store.tableName, Item: toItem(record) }));
    }
  }

  async function exists(store: DynamoStore, id: string): Promise<boolean> {
    const output = await client.send(new GetItemCommand({ TableName: store.tableName, Key: { pk: { S: id } }, ConsistentRead: true }));
    return output.Item !== undefined;
  }

  describe('listInProgress', () => {
    it('lists exactly the live in-progress claims made at or before claimedBefore, oldest first, as full records', async () => {
      const store = await freshStore();
      const old = claim(NOW - 50_000);
      const older = claim(NOW - 90_000);
      const atTheBound = claim(NOW - 10_000);
      const tooRecent = claim(NOW - 9_999);
      const expired = claim(NOW - 80_000, NOW);
      const completed = completedRecord(claim(NOW - 70_000), { completedAt: NOW - 60_000 });
      await put(store, [old, older, atTheBound, tooRecent, expired, completed]);

      const listed = await store.listInProgress({ claimedBefore: NOW - 10_000, now: NOW, limit: 100 });
      expect(listed).toEqual([older, old, atTheBound]);
      expect(await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 100 })).toEqual([older, old, atTheBound, tooRecent]);
      // At an earlier `now`, the record that expires at NOW is live again.
      expect((await store.listInProgress({ claimedBefore: NOW, now: NOW - 1, limit: 100 })).map((r) => r.id)).toEqual(
        [older, expired, old, atTheBound, tooRecent].map((r) => r.id),
      );
    });

    it('returns the `limit` OLDEST claims, whatever order the scan meets them in, and fresh objects', async () => {
      const store = await freshStore();
      const claims = Array.from({ length: 40 }, (_, i) => claim(NOW - 1_000_000 + ((i * 7919) % 40) * 1_000));
      await put(store, claims);
      const oldestFirst = [...claims].sort((a, b) => a.createdAt - b.createdAt);

      const five = await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 5 });
      expect(five).toEqual(oldestFirst.slice(0, 5));
      expect(await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 40 })).toEqual(oldestFirst);

      (five[0] as { key: string }).key = 'mutated';
      expect((await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 1 }))[0]).toEqual(oldestFirst[0]);
    });

    it('is a strongly consistent Scan, one pass, bounded by listScanMaxPages (1 MB pages)', async () => {
      const counted = localClient();
      const inputs: ScanCommandInput[] = [];
      counted.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'ScanCommand') inputs.push(args.input as ScanCommandInput);
          return next(args);
        },
        { step: 'initialize', name: 'oncelyScanInputs' },
      );
      const counter = countRequests(counted);
      try {
        const store = await freshStore({ client: counted });
        // Eight completed records of ~300 KB (2.4 MB): more than one 1 MB page, whatever the scan order.
        const big = Array.from({ length: 8 }, () =>
          completedRecord(claim(NOW - 5_000), { completedAt: NOW - 4_000, response: { status: 200, headers: [], body: randomBytes(300_000) } }),
        );
        const stuck = claim(NOW - 60_000);
        await put(store, [...big, stuck]);

        counter.reset();
        const listed = await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 10 });
        const pages = counter.reset();
        expect(listed).toEqual([stuck]);
        expect(pages.length).toBeGreaterThanOrEqual(2);
        expect(pages.every((name) => name === 'ScanCommand')).toBe(true);
        expect(inputs.every((input) => input.ConsistentRead === true)).toBe(true);
        expect(store.listScanMaxPages).toBe(DEFAULT_LIST_SCAN_MAX_PAGES);

        const onePage = dynamoStore({ client: counted, tableName: store.tableName, listScanMaxPages: 1 });
        await onePage.listInProgress({ claimedBefore: NOW, now: NOW, limit: 10 });
        expect(counter.reset()).toEqual(['ScanCommand']);
      } finally {
        counted.destroy();
      }
    });

    it('refuses bad options with a TypeError, before sending anything', async () => {
      const store = await freshStore();
      const bad = [
        { claimedBefore: Number.NaN, now: NOW, limit: 1 },
        { claimedBefore: NOW, now: Number.POSITIVE_INFINITY, limit: 1 },
        { claimedBefore: NOW + 0.5, now: NOW, limit: 1 },
        { claimedBefore: NOW, now: NOW, limit: 0 },
        { claimedBefore: NOW, now: NOW, limit: -1 },
        { claimedBefore: NOW, now: NOW, limit: 1.5 },
        { claimedBefore: NOW, now: NOW, limit: '10' as unknown as number },
      ];
      for (const options of bad) await expect(store.listInProgress(options), JSON.stringify(options)).rejects.toThrow(TypeError);
      expect(() => dynamoStore({ client, tableName: store.tableName, listScanMaxPages: 0 })).toThrow(TypeError);
      expect(() => dynamoStore({ client, tableName: store.tableName, listScanMaxPages: Number.POSITIVE_INFINITY })).not.toThrow();
    });
  });

  describe('purgeExpired', () => {
    it('deletes exactly the records with expiresAt <= now, in every state, and returns how many', async () => {
      const store = await freshStore();
      const expiredClaim = claim(NOW - 90_000, NOW - 1);
      const expiringNow = claim(NOW - 90_000, NOW);
      const expiredCompleted = completedRecord(claim(NOW - 90_000, NOW - 50_000), { completedAt: NOW - 80_000 });
      const live = claim(NOW - 90_000, NOW + 1);
      const liveCompleted = completedRecord(claim(NOW - 90_000, NOW + 60_000), { completedAt: NOW - 80_000 });
      await put(store, [expiredClaim, expiringNow, expiredCompleted, live, liveCompleted]);

      expect(await store.purgeExpired({ now: NOW })).toBe(3);
      for (const gone of [expiredClaim, expiringNow, expiredCompleted]) expect(await exists(store, gone.id)).toBe(false);
      for (const kept of [live, liveCompleted]) expect(await exists(store, kept.id)).toBe(true);
      expect(await store.purgeExpired({ now: NOW })).toBe(0);
    });

    it('works in batches of batchSize conditional DeleteItems and stops after maxBatches; the next run goes on', async () => {
      const counted = localClient();
      const counter = countRequests(counted);
      try {
        const store = await freshStore({ client: counted });
        const expired = Array.from({ length: 7 }, (_, i) => claim(NOW - 90_000, NOW - 1_000 * (i + 1)));
        const live = Array.from({ length: 3 }, () => claim(NOW - 90_000));
        await put(store, [...expired, ...live]);
        counter.reset();

        expect(await store.purgeExpired({ now: NOW, batchSize: 2, maxBatches: 2 })).toBe(4);
        const sent = counter.reset();
        expect(sent.filter((name) => name === 'DeleteItemCommand')).toHaveLength(4);
        expect(sent.filter((name) => name !== 'DeleteItemCommand' && name !== 'ScanCommand')).toEqual([]);

        expect(await store.purgeExpired({ now: NOW, batchSize: 2 })).toBe(3);
        expect(counter.reset().filter((name) => name === 'DeleteItemCommand')).toHaveLength(3);
        for (const record of expired) expect(await exists(store, record.id)).toBe(false);
        for (const record of live) expect(await exists(store, record.id)).toBe(true);
      } finally {
        counted.destroy();
      }
    });

    it('never deletes a record renewed between the scan and its delete (the DeleteItem is conditional)', async () => {
      const racing = localClient();
      const store = await freshStore({ client: racing });
      const expired = claim(NOW - 90_000, NOW - 1);
      const other = claim(NOW - 90_000, NOW - 1);
      await put(store, [expired, other]);
      // Right before the first DeleteItem leaves, the owner of its record renews it (same id and
      // token, new expiry): the delete's condition must fail, and the other record still goes.
      let renewedId: string | undefined;
      racing.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'DeleteItemCommand' && renewedId === undefined) {
            renewedId = (args.input as { Key: { pk: { S: string } } }).Key.pk.S;
            const record = renewedId === expired.id ? expired : other;
            await client.send(new PutItemCommand({ TableName: store.tableName, Item: toItem({ ...record, expiresAt: NOW + 3_600_000 }) }));
          }
          return next(args);
        },
        { step: 'initialize', name: 'oncelyRenewBeforeDelete' },
      );
      try {
        expect(await store.purgeExpired({ now: NOW })).toBe(1);
        expect([expired.id, other.id]).toContain(renewedId);
        expect((await store.get(renewedId as string, NOW))?.expiresAt).toBe(NOW + 3_600_000);
        expect(await exists(store, renewedId === expired.id ? other.id : expired.id)).toBe(false);
      } finally {
        racing.destroy();
      }
    });

    it('scans with a projection of pk only, never BatchWriteItem', async () => {
      const counted = localClient();
      const scans: ScanCommandInput[] = [];
      counted.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'ScanCommand') scans.push(args.input as ScanCommandInput);
          return next(args);
        },
        { step: 'initialize', name: 'oncelyScanInputs' },
      );
      const counter = countRequests(counted);
      try {
        const store = await freshStore({ client: counted });
        await put(store, [claim(NOW - 90_000, NOW - 1)]);
        counter.reset();
        expect(await store.purgeExpired({ now: NOW })).toBe(1);
        expect(new Set(counter.reset())).toEqual(new Set(['ScanCommand', 'DeleteItemCommand']));
        expect(scans.map((scan) => [scan.ProjectionExpression, scan.ExpressionAttributeNames?.['#pk'], scan.ConsistentRead])).toEqual([
          ['#pk', 'pk', true],
        ]);
        // The raw scan agrees with the store: nothing expired is left.
        const left = await client.send(new ScanCommand({ TableName: store.tableName, ConsistentRead: true }));
        expect(left.Count).toBe(0);
      } finally {
        counted.destroy();
      }
    });

    it('refuses bad options with a TypeError, before sending anything', async () => {
      const store = await freshStore();
      for (const options of [{ batchSize: 0 }, { batchSize: 2.5 }, { maxBatches: 0 }, { maxBatches: -3 }, { now: Number.NaN }, { now: NOW + 0.5 }]) {
        await expect(store.purgeExpired(options), JSON.stringify(options)).rejects.toThrow(TypeError);
      }
    });
  });

  it('an unreachable DynamoDB: both operations throw StoreUnavailableError naming the operation', async () => {
    const dead = new (client.constructor as typeof DynamoDBClient)({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'local',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const store = dynamoStore({ client: dead, tableName: 'oncely_admin_dead' });
      for (const [name, run] of [
        ['listInProgress', () => store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 10 })],
        ['purgeExpired', () => store.purgeExpired({ now: NOW })],
      ] as const) {
        const failure = await run().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(isIdempotencyError(failure, 'store_unavailable'), `${name} threw ${String(failure)}`).toBe(true);
        expect((failure as Error).message).toContain(`dynamoStore: ${name} failed`);
      }
    } finally {
      dead.destroy();
    }
  });
});
