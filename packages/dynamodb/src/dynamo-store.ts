import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, PutItemCommandInput } from '@aws-sdk/client-dynamodb';
import { RecordTooLargeError, StoreUnavailableError } from '@oncely/core';
import type { AdminStore, CreateResult, IdempotencyRecord } from '@oncely/core';
import { DEFAULT_LIST_SCAN_MAX_PAGES, listInProgress, purgeExpired, type AdminDeps } from './admin';
import { isConditionalCheckFailed, storeError, subject } from './errors';
import { ATTRIBUTES, fromItem, type RecordItem, toItem } from './item';
import { DYNAMODB_MAX_ITEM_BYTES, dynamoItemSize } from './item-size';

/** Default bound on one store operation, SDK retries included: 10 s. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * `create`'s condition: no item under the id, or one whose retention ended at `:now` (DynamoDB's TTL
 * sweeper runs late; the exact millisecond field decides).
 */
export const CREATE_CONDITION = 'attribute_not_exists(#pk) OR #expiresAtMs <= :now';
/** `update`'s and `delete`'s condition: the item's current token is the caller's. */
export const TOKEN_CONDITION = '#token = :expectedToken';

/**
 * Bound on `create`'s rounds. A second round happens only when DynamoDB did not return the
 * conflicting item with the failed condition (a DynamoDB-compatible backend that ignores
 * `ReturnValuesOnConditionCheckFailure`) and the item then vanished before it could be read.
 */
const MAX_CREATE_ROUNDS = 8;

/** What the store passes to `client.send`: the abort signal of its timeout. */
type SendOptions = { abortSignal?: AbortSignal };

/** Options of {@link dynamoStore}. */
export interface DynamoStoreOptions {
  /**
   * Your `DynamoDBClient` (AWS SDK for JavaScript v3, `@aws-sdk/client-dynamodb`). The store never
   * creates clients or connections. Give it timeouts and a retry budget (README, "Timeouts"):
   * `requestHandler: { connectionTimeout, requestTimeout, throwOnRequestTimeout: true }` and `maxAttempts`.
   */
  readonly client: DynamoDBClient;
  /** The table, created by {@link createTable} or your infrastructure code: partition key `pk` (S), TTL on `ttl`. */
  readonly tableName: string;
  /**
   * Largest item, in bytes as DynamoDB counts them, the store writes; bigger records throw
   * `RecordTooLargeError` before anything is sent (the core then stores the response without its
   * body). Default and maximum: DynamoDB's item limit, 400 KB (`409600`).
   */
  readonly maxRecordBytes?: number;
  /**
   * Bound on each operation in ms, SDK retries included; past it the request is aborted and the
   * operation throws `StoreUnavailableError`. A backstop for clients without timeouts: the SDK's
   * default HTTP handler has none. `false` disables it. Default `10000`.
   */
  readonly timeoutMs?: number | false;
  /**
   * Bound on the `Scan` pages (up to 1 MB of items each) one `listInProgress` reads. A table larger
   * than that is searched only in part: the answer is then the oldest claims of the part read.
   * Default `1000` (about 1 GB of items); `Infinity` always reads the whole table.
   */
  readonly listScanMaxPages?: number;
}

/**
 * A {@link Store} on a DynamoDB table, with what it was built from, and the operator capabilities of
 * {@link AdminStore} (`listInProgress`, `purgeExpired`), which scan the table.
 */
export interface DynamoStore extends AdminStore {
  /** The client the store sends through (yours). */
  readonly client: DynamoDBClient;
  /** The table records live in. */
  readonly tableName: string;
  /** Largest item written, in bytes as DynamoDB counts them. */
  readonly maxRecordBytes: number;
  /** Bound on `listInProgress`'s `Scan` pages. */
  readonly listScanMaxPages: number;
}

/**
 * A store on a DynamoDB table: one item per record, keyed by the record id in `pk`.
 *
 * - `create` is ONE conditional `PutItem` (`attribute_not_exists(pk) OR expiresAtMs <= :now`) with
 *   `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`: the claim is written, or the live record comes
 *   back on the `ConditionalCheckFailedException`, in the same round trip.
 * - `update` is a `PutItem` conditioned on `token = :expectedToken` (the whole item is replaced, so a
 *   completion drops `leaseUntil`); `delete` a `DeleteItem` with the same condition. A stale token
 *   fails the condition: `false`, nothing changed.
 * - `get` is a `GetItem` with `ConsistentRead: true`, and the record is live iff `expiresAtMs > now`.
 *
 * - `listInProgress` and `purgeExpired` (operators' tools, never on a request's path) `Scan` the table,
 *   bounded by `listScanMaxPages` and by `batchSize` × `maxBatches` respectively; purge deletes
 *   each expired item with a `DeleteItem` conditioned on it still being expired.
 *
 * Expiry is decided by the exact millisecond field `expiresAtMs`; the `ttl` attribute (epoch seconds,
 * rounded up) only lets DynamoDB's TTL sweeper delete old items, days late at worst.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { createIdempotency } from '@oncely/core';
 * import { createTable, dynamoStore } from '@oncely/dynamodb';
 *
 * const client = new DynamoDBClient({
 *   maxAttempts: 3,
 *   requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
 * });
 * await createTable({ client, tableName: 'idempotency' }); // once, or in your IaC
 * const engine = createIdempotency({ store: dynamoStore({ client, tableName: 'idempotency' }) });
 * ```
 */
export function dynamoStore(options: DynamoStoreOptions): DynamoStore {
  const { client, tableName } = options;
  if (typeof (client as Partial<DynamoDBClient> | undefined)?.send !== 'function') {
    throw new TypeError('dynamoStore: `client` must be a DynamoDBClient of @aws-sdk/client-dynamodb (v3).');
  }
  if (typeof tableName !== 'string' || !/^[A-Za-z0-9_.-]{3,255}$/.test(tableName)) {
    throw new TypeError('dynamoStore: `tableName` must be a DynamoDB table name (3-255 characters of [A-Za-z0-9_.-]).');
  }
  const maxRecordBytes = options.maxRecordBytes ?? DYNAMODB_MAX_ITEM_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > DYNAMODB_MAX_ITEM_BYTES) {
    throw new TypeError(`dynamoStore: maxRecordBytes must be a whole number from 1 to ${DYNAMODB_MAX_ITEM_BYTES}.`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs !== false && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new TypeError('dynamoStore: timeoutMs must be a positive number of milliseconds, or false.');
  }
  const listScanMaxPages = options.listScanMaxPages ?? DEFAULT_LIST_SCAN_MAX_PAGES;
  if (listScanMaxPages !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(listScanMaxPages) || listScanMaxPages < 1)) {
    throw new TypeError('dynamoStore: listScanMaxPages must be a whole number >= 1, or Infinity.');
  }

  /** The record's item, after checking that it fits: nothing is sent if it does not. */
  function itemOf(record: IdempotencyRecord, operation: string): RecordItem {
    const item = toItem(record);
    const size = dynamoItemSize(item);
    if (size > maxRecordBytes) {
      throw new RecordTooLargeError(
        `dynamoStore: ${operation} of record ${record.id} refused: its item is ${size} bytes; the limit is ${maxRecordBytes}.`,
        { sizeBytes: size, limitBytes: maxRecordBytes },
      );
    }
    return item;
  }

  /** Run one SDK call, bounded by `timeoutMs` (aborted, then `StoreUnavailableError`). */
  async function bounded<T>(operation: string, id: string | undefined, call: (options: SendOptions) => Promise<T>): Promise<T> {
    if (timeoutMs === false) return call({});
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new StoreUnavailableError(`dynamoStore: ${subject(operation, id)} did not complete within ${timeoutMs} ms; aborted.`));
      }, timeoutMs);
    });
    const sending = call({ abortSignal: controller.signal });
    sending.catch(() => undefined); // its rejection after a timeout is expected, and reported as the timeout
    try {
      return await Promise.race([sending, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  const key = (id: string) => ({ [ATTRIBUTES.pk]: { S: id } });

  async function getLive(operation: string, id: string, now: number): Promise<IdempotencyRecord | null> {
    let output;
    try {
      output = await bounded(operation, id, (sendOptions) =>
        client.send(new GetItemCommand({ TableName: tableName, Key: key(id), ConsistentRead: true }), sendOptions),
      );
    } catch (error) {
      throw storeError(operation, id, error);
    }
    if (!output.Item) return null;
    const record = decode(operation, id, output.Item);
    return record.expiresAt > now ? record : null;
  }

  async function create(record: IdempotencyRecord, now: number): Promise<CreateResult> {
    const id = record.id;
    const input: PutItemCommandInput = {
      TableName: tableName,
      Item: itemOf(record, 'create'),
      ConditionExpression: CREATE_CONDITION,
      ExpressionAttributeNames: { '#pk': ATTRIBUTES.pk, '#expiresAtMs': ATTRIBUTES.expiresAtMs },
      ExpressionAttributeValues: { ':now': { N: String(now) } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
    for (let round = 1; round <= MAX_CREATE_ROUNDS; round++) {
      try {
        await bounded('create', id, (sendOptions) => client.send(new PutItemCommand(input), sendOptions));
        return { created: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw storeError('create', id, error);
        if (error.Item) return { created: false, existing: decode('create', id, error.Item as RecordItem) };
      }
      const existing = await getLive('create', id, now);
      if (existing) return { created: false, existing };
      // The conflicting item expired or was deleted before it could be read: claim again.
    }
    throw new StoreUnavailableError(
      `dynamoStore: create of record ${id} gave up after ${MAX_CREATE_ROUNDS} rounds: the item kept changing under it.`,
    );
  }

  const admin: AdminDeps = { client, tableName, bounded, listScanMaxPages };

  return {
    client,
    tableName,
    maxRecordBytes,
    listScanMaxPages,
    create,
    async update(id, expectedToken, next) {
      if (next.id !== id) throw new TypeError(`dynamoStore: update of record ${id} was given a record with id ${next.id}.`);
      const input: PutItemCommandInput = {
        TableName: tableName,
        Item: itemOf(next, 'update'),
        ConditionExpression: TOKEN_CONDITION,
        ExpressionAttributeNames: { '#token': ATTRIBUTES.token },
        ExpressionAttributeValues: { ':expectedToken': { S: expectedToken } },
      };
      try {
        await bounded('update', id, (sendOptions) => client.send(new PutItemCommand(input), sendOptions));
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw storeError('update', id, error);
      }
    },
    async delete(id, expectedToken) {
      try {
        await bounded('delete', id, (sendOptions) =>
          client.send(
            new DeleteItemCommand({
              TableName: tableName,
              Key: key(id),
              ConditionExpression: TOKEN_CONDITION,
              ExpressionAttributeNames: { '#token': ATTRIBUTES.token },
              ExpressionAttributeValues: { ':expectedToken': { S: expectedToken } },
            }),
            sendOptions,
          ),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw storeError('delete', id, error);
      }
    },
    get: (id, now) => getLive('get', id, now),
    listInProgress: (listOptions) => listInProgress(admin, listOptions),
    purgeExpired: (purgeOptions) => purgeExpired(admin, purgeOptions),
  };
}

function decode(operation: string, id: string, item: RecordItem): IdempotencyRecord {
  try {
    return fromItem(item);
  } catch (error) {
    throw storeError(operation, id, error);
  }
}
