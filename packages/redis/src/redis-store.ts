import { RecordTooLargeError, resolvePurgeOptions } from '@oncely/core';
import type { AdminStore, CreateResult, IdempotencyRecord, InProgressRecord, ListInProgressOptions, PurgeOptions } from '@oncely/core';
import type { Cluster, Redis } from 'ioredis';
import { listInProgress } from './admin';
import { bounded } from './bounded';
import { decodeRecord, encodedExpiresAt, encodeRecord, tokenField } from './codec';
import { type BufferCommands, CREATE, DELETE, runScript, UPDATE } from './scripts';

/** Default of {@link RedisStoreOptions.operationTimeoutMs}: 3 s. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 3_000;
/** Default of {@link RedisStoreOptions.maxRecordBytes}: 8 MiB. */
export const DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024;
/** Redis' own limit on a string value (`proto-max-bulk-len` default): 512 MB. */
export const REDIS_MAX_VALUE_BYTES = 512 * 1024 * 1024;

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Your ioredis client: a `Redis` (standalone, Sentinel) or a `Cluster`. The store opens nothing
   * and closes nothing; see the README for the recommended client settings.
   */
  readonly client: Redis | Cluster;
  /**
   * Prepended to every record id to form the Redis key (`<prefix><namespace>:<sha256>`). Default
   * `''`: record ids already start with the core's `namespace` (default `oncely:`). Never put a
   * Cluster hash tag (`{...}`) in it: that would send every record to one node.
   */
  readonly prefix?: string;
  /**
   * Longest wait for one store operation, in ms, whatever the client does (ioredis queues commands
   * while disconnected and may retry for a long time). Past it the operation fails with
   * `StoreUnavailableError` (503 `store_unavailable` at claim time). Default 3000.
   */
  readonly operationTimeoutMs?: number;
  /**
   * Largest encoded record written, in bytes: body, headers, key, scope and fingerprint plus about
   * 120 bytes. Larger ones throw `RecordTooLargeError` (nothing written), and the core stores the
   * response without its body. Default 8 MiB; at most 512 MB (Redis' limit on a value).
   */
  readonly maxRecordBytes?: number;
}

/** A store on Redis (core's `AdminStore`), with its settings for operators and tests. */
export interface RedisStore extends AdminStore {
  /** The key prefix in use. */
  readonly prefix: string;
  /** The encoded-size limit in use, in bytes. */
  readonly maxRecordBytes: number;
  /** The per-operation time limit in use, in ms. */
  readonly operationTimeoutMs: number;
  /** The Redis key of a record id (`prefix + id`). */
  key(id: string): string;
  /**
   * Live in-progress records claimed at or before `claimedBefore`, oldest first, at most `limit`.
   * **It scans:** an incremental `SCAN` (`COUNT` 1000 per step) of every key under the prefix on
   * every master, and a `GET` of each. A maintenance operation: keep it off request paths.
   */
  listInProgress(options: ListInProgressOptions): Promise<InProgressRecord[]>;
  /**
   * Always 0: every record carries Redis' native expiry at its `expiresAt` (`PXAT`), so Redis
   * itself deletes expired records (lazily on access, and by its active expiry cycle). Nothing is
   * left to purge. The options are still checked.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
}

/**
 * A store on Redis or Redis Cluster, through your ioredis client: core's `AdminStore`, so
 * `createAdmin()` can list stuck claims (a scan) and purge (a no-op: Redis expires records itself).
 *
 * One record is one binary string value under `prefix + id`, with Redis' native expiry set at the
 * record's `expiresAt` (`PXAT`) on every write. `create`, `update` and `delete` are Lua scripts run
 * by SHA (one round trip each; `NOSCRIPT` is handled), `get` is one `GET`; liveness is always judged
 * against the caller's `now`. Every script touches exactly one key, so it works on Redis Cluster.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createIdempotency } from '@oncely/core';
 * import { redisStore } from '@oncely/redis';
 *
 * const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   enableAutoPipelining: true,
 *   maxRetriesPerRequest: 1,
 *   commandTimeout: 2_000,
 * });
 * const engine = createIdempotency({ store: redisStore({ client }) });
 * ```
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const { client } = options;
  if (!client || typeof (client as Partial<BufferCommands>).getBuffer !== 'function') {
    throw new TypeError('@oncely/redis: `client` must be an ioredis Redis or Cluster instance.');
  }
  const commands = client as unknown as BufferCommands;
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new TypeError('@oncely/redis: `prefix` must be a string.');
  const operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  if (!Number.isFinite(operationTimeoutMs) || operationTimeoutMs <= 0) {
    throw new TypeError(`@oncely/redis: operationTimeoutMs must be a positive number of ms, got ${operationTimeoutMs}.`);
  }
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > REDIS_MAX_VALUE_BYTES) {
    throw new TypeError(`@oncely/redis: maxRecordBytes must be a whole number of bytes from 1 to ${REDIS_MAX_VALUE_BYTES}, got ${maxRecordBytes}.`);
  }

  const keyOf = (id: string): Buffer => Buffer.from(prefix + id, 'utf8');

  function encode(record: IdempotencyRecord, operation: string, replacedToken = ''): Buffer {
    const value = encodeRecord(record, replacedToken);
    if (value.length > maxRecordBytes) {
      throw new RecordTooLargeError(
        `@oncely/redis: the record ${JSON.stringify(record.id)} encodes to ${value.length} bytes, over maxRecordBytes (${maxRecordBytes}); ${operation} refused, nothing written.`,
        { sizeBytes: value.length, limitBytes: maxRecordBytes },
      );
    }
    return value;
  }

  return {
    prefix,
    maxRecordBytes,
    operationTimeoutMs,
    key: (id) => prefix + id,

    async create(record, now): Promise<CreateResult> {
      const value = encode(record, 'create');
      const args = [value, String(now), nativeExpiry(record.expiresAt)];
      const reply = await bounded('create', operationTimeoutMs, () => runScript(commands, CREATE, keyOf(record.id), args));
      if (!Buffer.isBuffer(reply)) return { created: true };
      // Our own claim, written by an earlier send of this very command (ioredis resends commands
      // in flight when a connection drops): the same bytes, fresh token included, so it is ours.
      if (reply.equals(value)) return { created: true };
      return { created: false, existing: decodeRecord(record.id, reply) };
    },

    async update(id, expectedToken, next) {
      const args = [tokenField(expectedToken), encode(next, 'update', expectedToken), nativeExpiry(next.expiresAt), tokenField(next.token)];
      const reply = await bounded('update', operationTimeoutMs, () => runScript(commands, UPDATE, keyOf(id), args));
      return reply === 1;
    },

    async delete(id, expectedToken) {
      const args = [tokenField(expectedToken)];
      const reply = await bounded('delete', operationTimeoutMs, () => runScript(commands, DELETE, keyOf(id), args));
      return reply === 1;
    },

    async get(id, now) {
      const value = await bounded('get', operationTimeoutMs, () => commands.getBuffer(keyOf(id)));
      if (value === null || encodedExpiresAt(value) <= now) return null;
      return decodeRecord(id, value);
    },

    listInProgress(listOptions) {
      return listInProgress(client, prefix, operationTimeoutMs, listOptions);
    },

    async purgeExpired(purgeOptions) {
      resolvePurgeOptions(purgeOptions);
      return 0;
    },
  };
}

/**
 * The `PXAT` of a record: its `expiresAt` rounded up to a whole millisecond (Redis' unit), at least
 * 1 (PXAT refuses 0). Native expiry is garbage collection only; liveness is judged on read.
 */
function nativeExpiry(expiresAt: number): string {
  if (!Number.isFinite(expiresAt)) throw new TypeError(`@oncely/redis: record.expiresAt must be a finite number, got ${expiresAt}.`);
  return String(Math.max(1, Math.ceil(expiresAt)));
}
