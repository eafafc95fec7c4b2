/**
 * The operator capabilities (`AdminStore`: `listInProgress`, `purgeExpired`) on the target (the
 * stand-in, or a real MongoDB with MONGODB_URL), each test on a collection of its own. Every instant
 * lies days in the real future, so the TTL monitor never removes a document a test counts on:
 * "expired" means expired at the `now` passed.
 */
import { isIdempotencyError } from '@oncely/core';
import type { IdempotencyRecord, InProgressRecord } from '@oncely/core';
import { completedRecord, inProgressRecord } from '@oncely/store-tests';
import { MONGODB_IN_PROGRESS_INDEX, MONGODB_TTL_INDEX, mongoStore, type MongoStore } from '@oncely/mongodb';
import { type Collection, type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { toDocument } from '../src/document';
import { connect, dropQuietly, freshCollection, mongoTarget } from './target';

const target = mongoTarget();
const ctx = { expiryGranularityMs: 1 };
/** "Now" of these tests: ten days ahead of the real clock (see the file comment). */
const NOW = Date.now() + 10 * 24 * 3_600_000;

/** An in-progress claim first made at `createdAt`, expiring at `expiresAt`. */
function claim(createdAt: number, expiresAt = NOW + 3_600_000): InProgressRecord {
  return inProgressRecord(ctx, { createdAt, expiresAt, leaseUntil: createdAt + 30_000 });
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const client = connect({ monitorCommands: true });
const collections: Collection<Document>[] = [];
afterAll(async () => {
  for (const collection of collections) await dropQuietly(collection);
  await client.close();
});

/** A store on a fresh collection, its indexes ensured. */
async function freshStore(prefix = 'admin'): Promise<MongoStore> {
  const collection = freshCollection(client, prefix);
  collections.push(collection);
  const store = mongoStore({ collection });
  await store.ensureIndexes();
  return store;
}

/** Write records as they are, without the store's `now` check. */
async function put(store: MongoStore, records: readonly IdempotencyRecord[]): Promise<void> {
  await store.collection.insertMany(records.map(toDocument));
}

async function ids(store: MongoStore): Promise<string[]> {
  return (await store.collection.find({}, { projection: { _id: 1 } }).toArray()).map((doc) => doc._id).sort();
}

/** The commands `run` sends on `collection` (name and body), from the driver's command monitoring. */
async function commandsOf(collection: string, run: () => Promise<unknown>): Promise<Document[]> {
  const seen: Document[] = [];
  const listener = (event: CommandStartedEvent) => {
    if (event.command[event.commandName] === collection) seen.push({ name: event.commandName, ...event.command });
  };
  client.on('commandStarted', listener);
  try {
    await run();
  } finally {
    client.off('commandStarted', listener);
  }
  return seen;
}

describe(`mongoStore admin operations on ${target.label}`, () => {
  describe('listInProgress', () => {
    it('lists exactly the live in-progress claims made at or before claimedBefore, oldest first, as full records', async () => {
      const store = await freshStore();
      const old = claim(NOW - 50_000);
      const older = claim(NOW - 90_000);
      const atTheBound = claim(NOW - 10_000);
      const tooRecent = claim(NOW - 9_999);
      const expired = claim(NOW - 80_000, NOW);
      const completed = completedRecord(claim(NOW - 70_000), { completedAt: NOW - 60_000 });
      await put(store, [tooRecent, old, completed, expired, atTheBound, older]);

      expect(await store.listInProgress({ claimedBefore: NOW - 10_000, now: NOW, limit: 100 })).toEqual([older, old, atTheBound]);
      expect(await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 100 })).toEqual([older, old, atTheBound, tooRecent]);
      // At an earlier `now`, the record that expires at NOW is live again.
      expect((await store.listInProgress({ claimedBefore: NOW, now: NOW - 1, limit: 100 })).map((r) => r.id)).toEqual(
        [older, expired, old, atTheBound, tooRecent].map((r) => r.id),
      );
    });

    it('returns the `limit` oldest claims (ties by id) in one limited, sorted find, as fresh objects', async () => {
      const store = await freshStore();
      const claims = Array.from({ length: 40 }, (_, i) => claim(NOW - 1_000_000 + ((i * 7919) % 20) * 1_000));
      await put(store, claims);
      const oldestFirst = [...claims].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));

      const sent = await commandsOf(store.collection.collectionName, async () => {
        const five = await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 5 });
        expect(five).toEqual(oldestFirst.slice(0, 5));
        (five[0] as { key: string }).key = 'mutated';
      });
      // The driver hands `sort` to the wire as a Map (key order matters).
      expect(sent.map((command) => [command['name'], command['limit'], [...(command['sort'] as Map<string, number>)]])).toEqual([
        ['find', 5, [['createdAt', 1], ['_id', 1]]],
      ]);
      expect(await store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 40 })).toEqual(oldestFirst);
    });

    it('ensureIndexes adds the partial index of in-progress claims by createdAt, next to the TTL index, idempotently', async () => {
      const store = await freshStore();
      await store.ensureIndexes();
      const indexes = await store.collection.indexes();
      expect(indexes.map((index) => index.name).sort()).toEqual(['_id_', MONGODB_IN_PROGRESS_INDEX.name, MONGODB_TTL_INDEX.name].sort());
      const inProgress = indexes.find((index) => index.name === MONGODB_IN_PROGRESS_INDEX.name);
      expect(inProgress?.key).toEqual({ createdAt: 1, _id: 1 });
      expect(inProgress?.partialFilterExpression).toEqual({ state: 'in_progress' });
      if (!target.standIn) {
        // The stand-in has no query planner; a real server must pick the partial index.
        const plan = await store.collection
          .find({ state: 'in_progress', createdAt: { $lte: NOW }, expiresAt: { $gt: NOW } })
          .sort({ createdAt: 1, _id: 1 })
          .limit(5)
          .explain('queryPlanner');
        expect(JSON.stringify(plan)).toContain(MONGODB_IN_PROGRESS_INDEX.name);
      }
    });

    it('refuses bad options with a TypeError, before sending anything', async () => {
      const store = await freshStore();
      const bad = [
        { claimedBefore: Number.NaN, now: NOW, limit: 1 },
        { claimedBefore: NOW, now: Number.POSITIVE_INFINITY, limit: 1 },
        { claimedBefore: NOW + 0.5, now: NOW, limit: 1 },
        { claimedBefore: NOW, now: NOW, limit: 0 },
        { claimedBefore: NOW, now: NOW, limit: 1.5 },
        { claimedBefore: NOW, now: NOW, limit: '10' as unknown as number },
      ];
      const sent = await commandsOf(store.collection.collectionName, async () => {
        for (const options of bad) await expect(store.listInProgress(options), JSON.stringify(options)).rejects.toThrow(TypeError);
      });
      expect(sent).toEqual([]);
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

      expect(await store.purgeExpired({ now: NOW - 1 })).toBe(2);
      expect(await ids(store)).toEqual([expiringNow.id, live.id, liveCompleted.id].sort());
      expect(await store.purgeExpired({ now: NOW })).toBe(1);
      expect(await ids(store)).toEqual([live.id, liveCompleted.id].sort());
      expect(await store.purgeExpired({ now: NOW })).toBe(0);
    });

    it('works in batches: find limited to batchSize, then deleteMany of those ids still expired; stops after maxBatches', async () => {
      const store = await freshStore();
      const expired = Array.from({ length: 7 }, (_, i) => claim(NOW - 90_000, NOW - 1_000 * (i + 1)));
      const live = Array.from({ length: 3 }, () => claim(NOW - 90_000));
      await put(store, [...expired, ...live]);

      const sent = await commandsOf(store.collection.collectionName, async () => {
        expect(await store.purgeExpired({ now: NOW, batchSize: 2, maxBatches: 2 })).toBe(4);
      });
      expect(sent.map((command) => command['name'])).toEqual(['find', 'delete', 'find', 'delete']);
      const find = sent[0] as Document;
      expect([find['limit'], find['projection']]).toEqual([2, { _id: 1 }]);
      const del = (sent[1] as Document)['deletes'][0];
      expect(del.q._id.$in).toHaveLength(2);
      expect(Number(del.q.expiresAt.$lte)).toBe(NOW);
      expect(del.limit).toBe(0);

      const rest = await commandsOf(store.collection.collectionName, async () => {
        expect(await store.purgeExpired({ now: NOW, batchSize: 2 })).toBe(3);
      });
      // Two full batches, then a short one ends the run: no empty find after it.
      expect(rest.map((command) => command['name'])).toEqual(['find', 'delete', 'find', 'delete']);
      expect(await ids(store)).toEqual(live.map((record) => record.id).sort());
    });

    it('never deletes a record renewed between the find and the deleteMany', async () => {
      const store = await freshStore();
      const renewed = claim(NOW - 90_000, NOW - 1);
      const other = claim(NOW - 90_000, NOW - 1);
      await put(store, [renewed, other]);
      // The real collection, except that right before deleteMany leaves, the owner renews its record.
      const racing = new Proxy(store.collection, {
        get(collection, property, receiver) {
          if (property !== 'deleteMany') return Reflect.get(collection, property, receiver);
          return async (...args: Parameters<typeof collection.deleteMany>) => {
            await collection.replaceOne({ _id: renewed.id }, toDocument({ ...renewed, expiresAt: NOW + 3_600_000 }));
            return collection.deleteMany(...args);
          };
        },
      });
      const racingStore = mongoStore({ collection: racing });
      expect(await racingStore.purgeExpired({ now: NOW })).toBe(1);
      expect(await ids(store)).toEqual([renewed.id]);
      expect((await store.get(renewed.id, NOW))?.expiresAt).toBe(NOW + 3_600_000);
    });

    it('refuses bad options with a TypeError, before sending anything', async () => {
      const store = await freshStore();
      const sent = await commandsOf(store.collection.collectionName, async () => {
        for (const options of [{ batchSize: 0 }, { batchSize: 2.5 }, { maxBatches: 0 }, { maxBatches: -3 }, { now: Number.NaN }, { now: NOW + 0.5 }]) {
          await expect(store.purgeExpired(options), JSON.stringify(options)).rejects.toThrow(TypeError);
        }
      });
      expect(sent).toEqual([]);
    });
  });

  it('an unreachable server: both operations throw StoreUnavailableError naming the operation', async () => {
    const dead = new MongoClient(`mongodb://127.0.0.1:${await closedPort()}/?directConnection=true`, { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
    try {
      const store = mongoStore({ collection: dead.db('oncely_test').collection('dead') });
      for (const [name, run] of [
        ['listInProgress', () => store.listInProgress({ claimedBefore: NOW, now: NOW, limit: 10 })],
        ['purgeExpired', () => store.purgeExpired({ now: NOW })],
      ] as const) {
        const failure = await run().then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(isIdempotencyError(failure, 'store_unavailable'), `${name} threw ${String(failure)}`).toBe(true);
        expect((failure as Error).message).toContain(`mongoStore: ${name} failed`);
      }
    } finally {
      await dead.close();
    }
  });
});
