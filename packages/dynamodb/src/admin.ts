import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient, ScanCommandInput, ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { checkListInProgressOptions, resolvePurgeOptions } from '@oncely/core';
import type { InProgressRecord, ListInProgressOptions, PurgeOptions } from '@oncely/core';
import { isConditionalCheckFailed, storeError } from './errors';
import { ATTRIBUTES, fromItem, type RecordItem } from './item';

/** Default bound on the `Scan` pages one `listInProgress` reads (1 MB each at most): about 1 GB of items. */
export const DEFAULT_LIST_SCAN_MAX_PAGES = 1000;

/** `listInProgress`'s filter: live claims first made at or before `:before`. */
export const LIST_IN_PROGRESS_FILTER = '#state = :inProgress AND #createdAt <= :before AND #expiresAtMs > :now';

/**
 * `purgeExpired`'s scan filter and each `DeleteItem`'s condition: the item's retention ended at
 * `:now`. Checked again at the delete, so a record renewed or re-created since the scan is kept.
 */
export const PURGE_CONDITION = '#expiresAtMs <= :now';

/** Parallel `DeleteItem`s within one purge batch. */
const PURGE_CONCURRENCY = 16;

/** What the admin operations need from the store: its client, table, timeout-bounded send and scan bound. */
export interface AdminDeps {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Runs one `client.send` under the store's `timeoutMs` (rejects as the SDK did, or on the timeout). */
  bounded<T>(operation: string, id: string | undefined, call: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T>;
  /** Bound on `listInProgress`'s scan, in pages. */
  readonly listScanMaxPages: number;
}

/**
 * `listInProgress`: one pass of a strongly consistent, paginated `Scan` filtered by
 * {@link LIST_IN_PROGRESS_FILTER}, keeping the `limit` oldest matches (memory bounded by `limit`),
 * then sorted by `createdAt` (then id). The pass stops at the end of the table or after
 * `listScanMaxPages` pages, whichever comes first; in the second case the answer is the oldest
 * claims of the part of the table it read.
 */
export async function listInProgress(deps: AdminDeps, options: ListInProgressOptions): Promise<InProgressRecord[]> {
  const { claimedBefore, now, limit } = checkListInProgressOptions(options);
  const oldest: InProgressRecord[] = [];
  const input: ScanCommandInput = {
    TableName: deps.tableName,
    ConsistentRead: true,
    FilterExpression: LIST_IN_PROGRESS_FILTER,
    ExpressionAttributeNames: { '#state': ATTRIBUTES.state, '#createdAt': ATTRIBUTES.createdAt, '#expiresAtMs': ATTRIBUTES.expiresAtMs },
    ExpressionAttributeValues: {
      ':inProgress': { S: 'in_progress' },
      ':before': { N: String(claimedBefore) },
      ':now': { N: String(now) },
    },
  };
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < deps.listScanMaxPages; page++) {
    const output = await scan(deps, 'listInProgress', { ...input, ExclusiveStartKey: startKey });
    for (const item of output.Items ?? []) keepOldest(oldest, decodeInProgress(item as RecordItem), limit);
    startKey = output.LastEvaluatedKey;
    if (!startKey) break;
  }
  return oldest;
}

/**
 * `purgeExpired`: a paginated `Scan` for items with {@link PURGE_CONDITION} (only `pk` projected), each
 * found item removed by a `DeleteItem` conditioned on {@link PURGE_CONDITION} again. `BatchWriteItem`
 * is not used: its deletes cannot be conditional. Scan pages are DynamoDB's (up to 1 MB); the ids
 * found wait in memory until deleted. A batch is up to `batchSize` deletes (16 in parallel); the
 * pass stops at the end of the table or after `maxBatches` batches (ids found beyond wait for the
 * next run). Returns the deletes that succeeded (an item renewed, re-created or already deleted in
 * between is not counted).
 */
export async function purgeExpired(deps: AdminDeps, options: PurgeOptions = {}): Promise<number> {
  const { batchSize, maxBatches, now } = resolvePurgeOptions(options);
  const names = { '#expiresAtMs': ATTRIBUTES.expiresAtMs };
  const values = { ':now': { N: String(now) } };
  const pending: string[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  let scanned = false;
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    while (pending.length < batchSize && !(scanned && !startKey)) {
      const output = await scan(deps, 'purgeExpired', {
        TableName: deps.tableName,
        ConsistentRead: true,
        FilterExpression: PURGE_CONDITION,
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { ...names, '#pk': ATTRIBUTES.pk },
        ExpressionAttributeValues: values,
        ExclusiveStartKey: startKey,
      });
      scanned = true;
      startKey = output.LastEvaluatedKey;
      for (const item of output.Items ?? []) {
        const id = item[ATTRIBUTES.pk]?.S;
        if (id !== undefined) pending.push(id);
      }
    }
    if (pending.length === 0) break;
    const ids = pending.splice(0, batchSize);
    deleted += await deleteExpired(deps, ids, names, values);
  }
  return deleted;
}

async function deleteExpired(
  deps: AdminDeps,
  ids: readonly string[],
  names: Record<string, string>,
  values: Record<string, AttributeValue>,
): Promise<number> {
  let next = 0;
  let deleted = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      try {
        await deps.bounded('purgeExpired', id, (sendOptions) =>
          deps.client.send(
            new DeleteItemCommand({
              TableName: deps.tableName,
              Key: { [ATTRIBUTES.pk]: { S: id } },
              ConditionExpression: PURGE_CONDITION,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            }),
            sendOptions,
          ),
        );
        deleted++;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw storeError('purgeExpired', id, error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PURGE_CONCURRENCY, ids.length) }, worker));
  return deleted;
}

async function scan(deps: AdminDeps, operation: string, input: ScanCommandInput): Promise<ScanCommandOutput> {
  try {
    return await deps.bounded(operation, undefined, (sendOptions) => deps.client.send(new ScanCommand(input), sendOptions));
  } catch (error) {
    throw storeError(operation, undefined, error);
  }
}

/** Insert `record` into `oldest` (sorted by createdAt, then id), keeping at most `limit`. */
function keepOldest(oldest: InProgressRecord[], record: InProgressRecord, limit: number): void {
  let low = 0;
  let high = oldest.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareClaims(oldest[middle] as InProgressRecord, record) <= 0) low = middle + 1;
    else high = middle;
  }
  if (low >= limit) return;
  oldest.splice(low, 0, record);
  if (oldest.length > limit) oldest.pop();
}

function compareClaims(a: InProgressRecord, b: InProgressRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function decodeInProgress(item: RecordItem): InProgressRecord {
  let record;
  try {
    record = fromItem(item);
  } catch (error) {
    throw storeError('listInProgress', item[ATTRIBUTES.pk]?.S, error);
  }
  if (record.state !== 'in_progress') {
    throw storeError('listInProgress', record.id, new Error(`the scan returned a ${record.state} record`));
  }
  return record;
}
