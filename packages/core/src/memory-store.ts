import { StoreUnavailableError } from './errors';
import { type IdempotencyRecord, isLive, type StoredResponse } from './record';
import { type AdminStore, checkListInProgressOptions, type CreateResult, type ListInProgressOptions, type PurgeOptions, resolvePurgeOptions } from './store';
import type { InProgressRecord } from './record';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most records held at once. When full (after sweeping expired records), `create` throws
   * `StoreUnavailableError` — a 503 with Retry-After — rather than evict a live record, because
   * evicting one would let its retry execute twice. Default unbounded.
   */
  readonly maxEntries?: number;
  /** Expired records examined per write by the incremental sweep. Default 32. */
  readonly sweepBatch?: number;
}

/** {@link memoryStore}'s extras, for tests and operators. */
export interface MemoryStore extends AdminStore {
  /** Records held, expired ones not yet swept included. */
  readonly size: number;
  /**
   * Remove expired records (`expiresAt <= now`, default `Date.now()`), `batchSize` per batch and at
   * most `maxBatches` batches; returns how many. Writes also sweep expired records incrementally.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
  /** Live `in_progress` records claimed at or before `claimedBefore`, oldest first (a scan of the map). */
  listInProgress(options: ListInProgressOptions): Promise<InProgressRecord[]>;
  /** Remove everything. */
  clear(): void;
}

/**
 * The embedded store: a `Map` in this process. Atomic within one process (JavaScript runs each
 * operation to completion), expiry honoured on every read, memory bounded (expired records are
 * swept incrementally on writes; `maxEntries` caps the rest).
 *
 * Use it for development, tests and single-instance apps; with several app servers, use a shared
 * store (`@oncely/postgres`, `@oncely/redis`, ...) or retries landing on another server run again.
 *
 * @example
 * ```ts
 * import { createIdempotency, memoryStore } from '@oncely/core';
 * const engine = createIdempotency({ store: memoryStore({ maxEntries: 100_000 }) });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
  const sweepBatch = options.sweepBatch ?? 32;
  if (!(maxEntries > 0)) throw new TypeError('memoryStore: maxEntries must be positive.');
  const records = new Map<string, IdempotencyRecord>();
  let fullSweepAt = 1024;
  /**
   * No record expires before this (a lower bound: the least `expiresAt` written since the last full
   * pass). Until `now` reaches it there is nothing to sweep, and a write examines no record at all.
   */
  let soonestExpiry = Number.POSITIVE_INFINITY;

  /**
   * Map order is insertion order and writes re-insert, so the front holds the oldest records: a
   * few are examined per write. A full pass whenever the map doubles bounds what mixed TTLs leave.
   */
  function sweep(now: number, limit: number): void {
    if (records.size >= fullSweepAt) {
      limit = Number.POSITIVE_INFINITY;
      fullSweepAt = Math.max(1024, records.size * 2);
    } else if (now < soonestExpiry) {
      return;
    }
    let soonest = Number.POSITIVE_INFINITY;
    let examined = 0;
    // Iterating keys and values separately allocates no [key, value] pair per record.
    for (const id of records.keys()) {
      if (examined++ >= limit) return;
      const { expiresAt } = records.get(id) as IdempotencyRecord;
      if (expiresAt <= now) records.delete(id);
      else if (expiresAt < soonest) soonest = expiresAt;
    }
    // Every record was examined: the bound is now exact.
    soonestExpiry = soonest;
  }

  function put(id: string, record: IdempotencyRecord): void {
    if (record.expiresAt < soonestExpiry) soonestExpiry = record.expiresAt;
    records.set(id, copy(record));
  }

  function purgeAll(now: number): number {
    const before = records.size;
    sweep(now, Number.POSITIVE_INFINITY);
    return before - records.size;
  }

  function purgeExpired(options?: PurgeOptions): number {
    const { now, batchSize, maxBatches } = resolvePurgeOptions(options);
    let budget = batchSize * maxBatches;
    let deleted = 0;
    for (const [id, record] of records) {
      if (budget <= 0) break;
      if (record.expiresAt <= now) {
        records.delete(id);
        deleted++;
        budget--;
      }
    }
    return deleted;
  }

  return {
    async create(record, now): Promise<CreateResult> {
      sweep(now, sweepBatch);
      const existing = records.get(record.id);
      if (existing && isLive(existing, now)) return { created: false, existing: copy(existing) };
      if (existing) records.delete(record.id);
      if (records.size >= maxEntries && purgeAll(now) === 0 && records.size >= maxEntries) {
        throw new StoreUnavailableError(`memoryStore is full (maxEntries ${maxEntries}); no record has expired yet.`);
      }
      put(record.id, record);
      return { created: true };
    },
    async update(id, expectedToken, next) {
      const current = records.get(id);
      if (!current || current.token !== expectedToken) return false;
      records.delete(id);
      put(id, next);
      return true;
    },
    async delete(id, expectedToken) {
      const current = records.get(id);
      if (!current || current.token !== expectedToken) return false;
      records.delete(id);
      return true;
    },
    async get(id, now) {
      const current = records.get(id);
      return current && isLive(current, now) ? copy(current) : null;
    },
    get size() {
      return records.size;
    },
    async purgeExpired(options) {
      return purgeExpired(options);
    },
    async listInProgress(options) {
      const { claimedBefore, now, limit } = checkListInProgressOptions(options);
      const found: InProgressRecord[] = [];
      for (const record of records.values()) {
        if (record.state === 'in_progress' && record.createdAt <= claimedBefore && isLive(record, now)) found.push(record);
      }
      return found
        .sort((a, b) => a.createdAt - b.createdAt)
        .slice(0, limit)
        .map((record) => copy(record) as InProgressRecord);
    },
    clear: () => records.clear(),
  };
}

function copyResponse(response: StoredResponse): StoredResponse {
  return {
    status: response.status,
    headers: response.headers.map(([name, value]) => [name, value] as const),
    body: response.body === null ? null : copyBytes(response.body),
  };
}

/** A deep copy, so nobody mutates the store through a record it returned or was given. */
function copy(record: IdempotencyRecord): IdempotencyRecord {
  if (record.state === 'in_progress') return { ...record };
  return {
    ...record,
    ...(record.response ? { response: copyResponse(record.response) } : {}),
    ...(record.result ? { result: copyBytes(record.result) } : {}),
  };
}

/** A copy of bytes. Not `bytes.slice()`: on a Node Buffer that is a view of the same memory. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
