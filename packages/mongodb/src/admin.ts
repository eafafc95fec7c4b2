import { checkListInProgressOptions, resolvePurgeOptions } from '@oncely/core';
import type { IdempotencyRecord, InProgressRecord, ListInProgressOptions, PurgeOptions } from '@oncely/core';
import type { Collection, Filter } from 'mongodb';
import { expiryDate, type MongoRecordDocument } from './document';
import { storeError } from './errors';

/**
 * The partial index `ensureIndexes()` creates for `listInProgress`: only in-progress
 * records are in it (usually a handful), in claim order, so finding the oldest claims reads just
 * them, whatever the size of the collection. Completed records cost it nothing.
 */
export const MONGODB_IN_PROGRESS_INDEX = Object.freeze({
  key: Object.freeze({ createdAt: 1 as const, _id: 1 as const }),
  name: 'oncely_in_progress_createdAt',
  partialFilterExpression: Object.freeze({ state: 'in_progress' as const }),
});

/** What the admin operations need from the store. */
export interface AdminDeps {
  readonly collection: Collection<MongoRecordDocument>;
  /** The store's per-operation read settings (primary, plain values). */
  readonly readOptions: object;
  /** A document as its record; failures mapped to the store's errors. */
  decode(operation: string, doc: MongoRecordDocument): IdempotencyRecord;
}

/**
 * `listInProgress`: `find({ state: 'in_progress', createdAt: { $lte: claimedBefore }, expiresAt: { $gt: now } })`
 * sorted by `{ createdAt: 1, _id: 1 }`, limited to `limit`: one query, served by
 * {@link MONGODB_IN_PROGRESS_INDEX} when it exists.
 */
export async function listInProgress(deps: AdminDeps, options: ListInProgressOptions): Promise<InProgressRecord[]> {
  const { claimedBefore, now, limit } = checkListInProgressOptions(options);
  const filter: Filter<MongoRecordDocument> = { state: 'in_progress', createdAt: { $lte: claimedBefore }, expiresAt: { $gt: now } };
  let docs: MongoRecordDocument[];
  try {
    docs = await deps.collection.find(filter, { ...deps.readOptions, sort: { createdAt: 1, _id: 1 }, limit }).toArray();
  } catch (error) {
    throw storeError('listInProgress', undefined, error);
  }
  return docs.map((doc) => {
    const record = deps.decode('listInProgress', doc);
    if (record.state !== 'in_progress') throw storeError('listInProgress', record.id, new Error(`the query returned a ${record.state} record`));
    return record;
  });
}

/**
 * `purgeExpired`: batches of `find(expired).limit(batchSize)` projecting `_id`, each followed by
 * `deleteMany({ _id: { $in: ids }, expiresAt: { $lte: now } })` — the expiry checked again in the
 * delete, so a record renewed or re-created since the find is kept. `expired` also bounds
 * `expiresAtDate`, so the TTL index serves the find. Stops at a short batch or after `maxBatches`.
 */
export async function purgeExpired(deps: AdminDeps, options: PurgeOptions = {}): Promise<number> {
  const { batchSize, maxBatches, now } = resolvePurgeOptions(options);
  const expired: Filter<MongoRecordDocument> = { expiresAtDate: { $lte: expiryDate(now) }, expiresAt: { $lte: now } };
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    let count: number;
    let found: number;
    try {
      const ids = (await deps.collection.find(expired, { ...deps.readOptions, projection: { _id: 1 }, limit: batchSize }).toArray()).map(
        (doc) => doc._id,
      );
      found = ids.length;
      if (found === 0) break;
      count = (await deps.collection.deleteMany({ _id: { $in: ids }, expiresAt: { $lte: now } })).deletedCount;
    } catch (error) {
      throw storeError('purgeExpired', undefined, error);
    }
    deleted += count;
    if (found < batchSize) break;
  }
  return deleted;
}
