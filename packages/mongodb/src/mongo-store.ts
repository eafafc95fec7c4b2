import { RecordTooLargeError, StoreUnavailableError } from '@oncely/core';
import type { AdminStore, CreateResult, IdempotencyRecord } from '@oncely/core';
import { BSON } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { type AdminDeps, listInProgress, MONGODB_IN_PROGRESS_INDEX, purgeExpired } from './admin';
import { fromDocument, toDocument, type MongoRecordDocument, type MongoRecordFields } from './document';
import { isDuplicateKey, storeError } from './errors';

/** MongoDB's largest document (`maxBsonObjectSize`): 16 MiB. */
export const MONGODB_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * The TTL index {@link MongoStore.ensureIndexes} creates: MongoDB's TTL monitor deletes a record
 * once `expiresAtDate` has passed (it runs every 60 s, so typically up to a minute late). Garbage
 * collection only: expiry is decided on every read by `expiresAt` and the caller's `now`.
 */
export const MONGODB_TTL_INDEX = Object.freeze({
  key: Object.freeze({ expiresAtDate: 1 as const }),
  name: 'oncely_expiresAtDate_ttl',
  expireAfterSeconds: 0,
});

/**
 * Bound on `create`'s rounds. A round repeats only when another writer changed the record between
 * two of this call's operations (an expired record replaced or deleted under it); eight in a row
 * means the id is under pathological churn, reported as `StoreUnavailableError`.
 */
const MAX_CREATE_ROUNDS = 8;

/**
 * Per-operation BSON settings, whatever the client, database or collection says: records come back
 * as plain values, and reads go to the primary (a secondary could answer with a stale record).
 */
const READ_OPTIONS = {
  readPreference: 'primary',
  promoteLongs: true,
  promoteValues: true,
  promoteBuffers: false,
  useBigInt64: false,
  raw: false,
} as const;

/** Options of {@link mongoStore}. */
export interface MongoStoreOptions {
  /**
   * The collection records live in, from your own `MongoClient` (the store never opens
   * connections): `client.db('app').collection('idempotency')`. Needs acknowledged writes
   * (`w: 0` is refused); on a replica set use `w: 'majority'` so a failover cannot roll back a
   * claim. Bound every operation with the client's timeouts (README, "Timeouts").
   */
  readonly collection: Collection<MongoRecordDocument> | Collection<Document>;
  /**
   * Largest record, in bytes of BSON, the store writes; bigger ones throw `RecordTooLargeError`
   * before anything is sent (the core then stores the response without its body). Default and
   * maximum: MongoDB's 16 MiB document limit (`16777216`).
   */
  readonly maxRecordBytes?: number;
}

/**
 * A {@link Store} on a MongoDB collection, with its collection and index helper, and the operator
 * capabilities of {@link AdminStore} (`listInProgress`, `purgeExpired`).
 */
export interface MongoStore extends AdminStore {
  /** The collection records live in. */
  readonly collection: Collection<MongoRecordDocument>;
  /** Largest record written, in bytes of BSON. */
  readonly maxRecordBytes: number;
  /**
   * Create the indexes if they do not exist: the TTL index on `expiresAtDate`
   * ({@link MONGODB_TTL_INDEX}) and the partial index of in-progress claims by `createdAt`
   * (`MONGODB_IN_PROGRESS_INDEX`, for `listInProgress`). Idempotent; call it once at deploy or
   * startup. Rejects with the driver's error (e.g. an index of the same name with other options:
   * `IndexOptionsConflict`, code 85).
   */
  ensureIndexes(): Promise<void>;
}

/**
 * A store on a MongoDB collection (driver 6 or 7, MongoDB 5.0 or later). One document per record,
 * `_id` = record id. `create` is one `findOneAndUpdate` with `upsert` and `$setOnInsert`, which
 * inserts the claim or returns the record already there, in one round trip either way; an expired
 * record still present (the TTL monitor runs late) costs one more, a `replaceOne` conditioned on
 * it still being expired. `update` and `delete` are conditioned on `{ _id, token }`.
 * `listInProgress` is one indexed `find`; `purgeExpired` deletes in batches of `find` + `deleteMany`
 * (README, "Operator tools").
 *
 * @example
 * ```ts
 * import { MongoClient } from 'mongodb';
 * import { createIdempotency } from '@oncely/core';
 * import { mongoStore } from '@oncely/mongodb';
 *
 * const client = new MongoClient(process.env.MONGODB_URL!, {
 *   serverSelectionTimeoutMS: 2_000, // no reachable primary: fail in 2 s, not 30 s
 *   connectTimeoutMS: 2_000,
 *   socketTimeoutMS: 5_000, // a server that stops answering: fail in 5 s, not never
 *   w: 'majority',
 * });
 * const store = mongoStore({ collection: client.db('app').collection('idempotency') });
 * await store.ensureIndexes();
 * const engine = createIdempotency({ store });
 * ```
 */
export function mongoStore(options: MongoStoreOptions): MongoStore {
  const collection = options.collection as Collection<MongoRecordDocument>;
  if (typeof collection?.findOneAndUpdate !== 'function') {
    throw new TypeError('mongoStore: `collection` must be a Collection of the mongodb driver (client.db(name).collection(name)).');
  }
  if (collection.writeConcern?.w === 0) {
    throw new TypeError('mongoStore: the collection uses unacknowledged writes (w: 0); a claim must be acknowledged to mean anything.');
  }
  const maxRecordBytes = options.maxRecordBytes ?? MONGODB_MAX_DOCUMENT_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > MONGODB_MAX_DOCUMENT_BYTES) {
    throw new TypeError(`mongoStore: maxRecordBytes must be a whole number from 1 to ${MONGODB_MAX_DOCUMENT_BYTES}.`);
  }

  /** The record's fields, after checking that its document fits: nothing is sent if it does not. */
  function fieldsOf(record: IdempotencyRecord, operation: string): MongoRecordFields {
    const doc = toDocument(record);
    const size = BSON.calculateObjectSize(doc);
    if (size > maxRecordBytes) {
      throw new RecordTooLargeError(
        `mongoStore: ${operation} of record ${record.id} refused: its document is ${size} bytes of BSON; the limit is ${maxRecordBytes}.`,
        { sizeBytes: size, limitBytes: maxRecordBytes },
      );
    }
    const { _id, ...fields } = doc;
    return fields;
  }

  async function run<T>(operation: string, id: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw storeError(operation, id, error);
    }
  }

  async function create(record: IdempotencyRecord, now: number): Promise<CreateResult> {
    const id = record.id;
    const fields = fieldsOf(record, 'create');
    for (let round = 1; round <= MAX_CREATE_ROUNDS; round++) {
      let before;
      try {
        before = await collection.findOneAndUpdate(
          { _id: id },
          { $setOnInsert: fields },
          { upsert: true, returnDocument: 'before', includeResultMetadata: false, ...READ_OPTIONS },
        );
      } catch (error) {
        // A concurrent upsert inserted the id first (a server that does not retry it itself): the
        // next round finds that record.
        if (isDuplicateKey(error)) continue;
        throw storeError('create', id, error);
      }
      if (before === null) return { created: true };
      const existing = decode('create', before);
      if (existing.expiresAt > now) return { created: false, existing };
      const replaced = await run('create', id, () => collection.replaceOne({ _id: id, expiresAt: { $lte: now } }, fields));
      if (replaced.matchedCount === 1) return { created: true };
      // Someone replaced, renewed or deleted the expired record first: look again.
    }
    throw new StoreUnavailableError(
      `mongoStore: create of record ${id} gave up after ${MAX_CREATE_ROUNDS} rounds: the record kept changing under it.`,
    );
  }

  const admin: AdminDeps = { collection, readOptions: READ_OPTIONS, decode };

  return {
    collection,
    maxRecordBytes,
    create,
    async update(id, expectedToken, next) {
      if (next.id !== id) throw new TypeError(`mongoStore: update of record ${id} was given a record with id ${next.id}.`);
      const fields = fieldsOf(next, 'update');
      const result = await run('update', id, () => collection.replaceOne({ _id: id, token: expectedToken }, fields));
      return result.matchedCount === 1;
    },
    async delete(id, expectedToken) {
      const result = await run('delete', id, () => collection.deleteOne({ _id: id, token: expectedToken }));
      return result.deletedCount === 1;
    },
    async get(id, now) {
      const doc = await run('get', id, () => collection.findOne({ _id: id, expiresAt: { $gt: now } }, READ_OPTIONS));
      return doc === null ? null : decode('get', doc);
    },
    listInProgress: (listOptions) => listInProgress(admin, listOptions),
    purgeExpired: (purgeOptions) => purgeExpired(admin, purgeOptions),
    async ensureIndexes() {
      const { key, ...ttlOptions } = MONGODB_TTL_INDEX;
      await collection.createIndex({ ...key }, ttlOptions);
      const { key: inProgressKey, partialFilterExpression, name } = MONGODB_IN_PROGRESS_INDEX;
      await collection.createIndex({ ...inProgressKey }, { name, partialFilterExpression: { ...partialFilterExpression } });
    },
  };
}

function decode(operation: string, doc: MongoRecordDocument): IdempotencyRecord {
  try {
    return fromDocument(doc as unknown as Readonly<Record<string, unknown>>);
  } catch (error) {
    throw storeError(operation, doc._id, error);
  }
}
