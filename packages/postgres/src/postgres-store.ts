import type { AdminStore, CreateResult, IdempotencyRecord, InProgressRecord, ListInProgressOptions, TransactionalStore } from '@oncely/core';
import { checkListInProgressOptions, RecordTooLargeError, resolvePurgeOptions, StoreUnavailableError } from '@oncely/core';
import type { PoolClient } from 'pg';
import { type RecordParams, type RecordRow, recordBytes, recordParams, rowToRecord } from './codec';
import { type Queryable, Runner } from './connection';
import { storeError } from './errors';
import { tableNames } from './identifiers';
import type { PurgeOptions } from './purge';
import type { TableOptions } from './schema';
import { statements } from './statements';
import { beginTransaction } from './transaction';

/** Default {@link PostgresStoreOptions.operationTimeoutMs}. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
/**
 * Default {@link PostgresStoreOptions.maxRecordBytes}: 256 MiB, well inside what PostgreSQL can
 * write and read back (a `bytea` value is at most 1 GB, and its hex text form, twice its size, must
 * fit in 1 GB too). oncely's own default caps response bodies at 1 MiB long before this.
 */
export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024 * 1024;

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions extends TableOptions {
  /**
   * Your `pg` `Pool` (recommended; atomic mode requires one), or a connected `Client` (the store then
   * runs one statement at a time on it). The store never opens or closes connections of its own.
   */
  readonly pool: Queryable;
  /**
   * Bound on each store operation, in ms: waiting for a pooled connection plus running the
   * statement (pg's `query_timeout`). A timed-out operation throws `StoreUnavailableError` (503) and
   * its connection is destroyed. `0` leaves it to the pool's `connectionTimeoutMillis` and the
   * server's `statement_timeout`. Default 10 000.
   */
  readonly operationTimeoutMs?: number | undefined;
  /**
   * Largest record written, in bytes (bodies, text as UTF-8, header JSON, 8 per number). A bigger
   * one throws `RecordTooLargeError` before anything is sent, and the core stores the response
   * without its body. Default 256 MiB.
   */
  readonly maxRecordBytes?: number | undefined;
}

/** A {@link TransactionalStore} on PostgreSQL, plus the operator capabilities of core's `AdminStore`. */
export interface PostgresStore extends TransactionalStore<PoolClient>, AdminStore {
  /**
   * Deletes records expired at `now` in batches of `batchSize` (each one short statement and
   * transaction, skipping rows other sessions hold), until a batch comes back short. Returns how
   * many were deleted. Expired records are already invisible; this only reclaims space.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
  /**
   * Live in-progress records claimed at or before `claimedBefore`, oldest first, at most `limit`:
   * one `SELECT`, an index scan of `<table>_created_at_idx` (migration 002; without it, a
   * sequential scan of the table).
   */
  listInProgress(options: ListInProgressOptions): Promise<InProgressRecord[]>;
  /** The table, as it appears in SQL: `"oncely_idempotency"` or `"schema"."table"`. */
  readonly table: string;
}

/**
 * The PostgreSQL store: one row per record in a table created by {@link migrate} (or by
 * `sql/001_oncely_idempotency.sql`), on the `pg` Pool you pass. Implements core's
 * `TransactionalStore`, so `createIdempotency({ store, atomic: true })` runs each handler in a
 * transaction (`ctx.transaction` is its `PoolClient`) and commits the completion with it.
 *
 * Round trips: `create` 1 (inserts, replaces an expired record, or returns the live one), `update`
 * 1, `delete` 1, `get` 1. Every failure is `StoreUnavailableError` (or `RecordTooLargeError`), with
 * the driver's error as `cause`.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { createIdempotency } from '@oncely/core';
 * import { migrate, postgresStore } from '@oncely/postgres';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 2000 });
 * pool.on('error', (err) => console.warn('idle pg connection failed', err));
 * await migrate(pool);
 * const engine = createIdempotency({ store: postgresStore({ pool }), atomic: true });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const db = options.pool as Queryable | undefined;
  if (!db || typeof db.query !== 'function') {
    throw new TypeError('@oncely/postgres: postgresStore({ pool }) needs a pg Pool (or a connected Client).');
  }
  const timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new TypeError(`@oncely/postgres: operationTimeoutMs must be a number of ms >= 0, got ${timeoutMs}.`);
  }
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1) {
    throw new TypeError(`@oncely/postgres: maxRecordBytes must be a whole number of bytes >= 1, got ${maxRecordBytes}.`);
  }
  const names = tableNames(options);
  const sql = statements(names);
  const runner = new Runner(db, timeoutMs);

  function encode(record: IdempotencyRecord, operation: string): RecordParams {
    const params = recordParams(record);
    const size = recordBytes(params);
    if (size > maxRecordBytes) {
      throw new RecordTooLargeError(
        `Record of ${size} bytes exceeds the PostgreSQL store's maxRecordBytes (${maxRecordBytes}) in ${operation}.`,
        { sizeBytes: size, limitBytes: maxRecordBytes },
      );
    }
    return params;
  }

  function updateParams(id: string, expectedToken: string, next: IdempotencyRecord): unknown[] {
    if (next.id !== id) throw new TypeError(`@oncely/postgres: update of ${JSON.stringify(id)} was given a record with id ${JSON.stringify(next.id)}.`);
    return [id, expectedToken, ...encode(next, 'update').slice(1)];
  }

  return {
    table: names.table,

    async create(record, now): Promise<CreateResult> {
      const params = [...encode(record, 'create'), epochParam(now)];
      let row: (RecordRow & { created: boolean }) | undefined;
      try {
        row = (await runner.query<RecordRow & { created: boolean }>(sql.create, params)).rows[0];
      } catch (error) {
        throw storeError(error, 'create');
      }
      if (!row) throw new StoreUnavailableError('The PostgreSQL idempotency store returned no row from create.');
      return row.created ? { created: true } : { created: false, existing: rowToRecord(row) };
    },

    async update(id, expectedToken, next) {
      const params = updateParams(id, expectedToken, next);
      try {
        return (await runner.query(sql.update, params)).rowCount === 1;
      } catch (error) {
        throw storeError(error, 'update');
      }
    },

    async delete(id, expectedToken) {
      try {
        return (await runner.query(sql.delete, [id, expectedToken])).rowCount === 1;
      } catch (error) {
        throw storeError(error, 'delete');
      }
    },

    async get(id, now) {
      const params = [id, epochParam(now)];
      let row: RecordRow | undefined;
      try {
        row = (await runner.query<RecordRow>(sql.get, params)).rows[0];
      } catch (error) {
        throw storeError(error, 'get');
      }
      return row ? rowToRecord(row) : null;
    },

    beginTransaction() {
      return beginTransaction(runner, { text: sql.update, params: updateParams });
    },

    async listInProgress(options) {
      const { claimedBefore, now, limit } = checkListInProgressOptions(options);
      let rows: RecordRow[];
      try {
        rows = (await runner.query<RecordRow>(sql.listInProgress, [epochParam(claimedBefore), epochParam(now), limit])).rows;
      } catch (error) {
        throw storeError(error, 'listInProgress');
      }
      return rows.map((row) => rowToRecord(row) as InProgressRecord);
    },

    async purgeExpired(purge?: PurgeOptions) {
      const settings = resolvePurgeOptions(purge);
      const { batchSize, maxBatches } = settings;
      const now = epochParam(settings.now);
      let deleted = 0;
      for (let batch = 0; batch < maxBatches; batch++) {
        let count: number;
        try {
          count = (await runner.query(sql.purge, [now, batchSize])).rowCount ?? 0;
        } catch (error) {
          throw storeError(error, 'purge');
        }
        deleted += count;
        if (count < batchSize) break;
      }
      return deleted;
    },
  };
}

function epochParam(now: number): string {
  if (!Number.isSafeInteger(now)) throw new TypeError(`@oncely/postgres: now must be whole epoch milliseconds, got ${String(now)}.`);
  return String(now);
}
