import type { IdempotencyRecord, InProgressRecord } from './record';

/** The answer of {@link Store.create}. */
export type CreateResult =
  | { readonly created: true }
  | { readonly created: false; readonly existing: IdempotencyRecord };

/**
 * Where records live. A store is a handful of atomic operations; every decision (replay? conflict?
 * takeover?) is made by the core, never by the store. Implement these five guarantees and
 * `runStoreConformance()` from `@oncely/store-tests` will tell you whether you did.
 *
 * **Atomicity.** `create`, `update` and `delete` are each atomic with respect to every other
 * operation on the same id, from any process on any machine sharing the backend. Under concurrent
 * invocation of `create` for one id, exactly one caller receives `{ created: true }`; every other
 * caller receives the live record that won (possibly after it was later updated).
 *
 * **Fencing.** `update` and `delete` compare the record's current token with `expectedToken` and act
 * only if they are equal, in the same atomic step. A stale owner (whose claim was taken over) can
 * therefore never overwrite or delete the new owner's record.
 *
 * **Expiry.** A record with `expiresAt <= now` is as if absent: `get` returns `null`, `create`
 * replaces it. This must hold whatever the backend's own TTL sweeper does (sweepers run late);
 * the check against `now` is what counts. Native TTL is welcome as garbage collection only.
 *
 * **Fidelity.** What goes in comes out: `Uint8Array` bodies byte-exact (0x00 included, up to at
 * least 1 MiB unless the backend is smaller), `body: null` distinct from an empty body, header
 * order and values, keys and scopes of any Unicode, all numbers exactly. Return fresh objects:
 * callers may not mutate the store's state through what it returned.
 *
 * **Honest failure.** A record the backend cannot hold (e.g. DynamoDB's 400 KB item limit) throws
 * `RecordTooLargeError`, never a truncated write. An unreachable or failing backend throws
 * `StoreUnavailableError` (or any error: the core treats unknown errors the same way). Never
 * hang: bound every operation with the driver's timeouts.
 *
 * **Resent writes.** Drivers resend a command that was in flight when a connection dropped. A store
 * may answer such a resend with success when it can prove the write is already applied exactly:
 * `create` → `{ created: true }` when the stored record is the very record passed (same token);
 * `update` → `true` when the stored record is exactly `next` and the token it replaced was
 * `expectedToken`. Anything else is judged afresh: a wrong token never changes a record, and never
 * returns `true`.
 *
 * Round trips (CONTRACT §3): `create` must be one round trip where the backend allows it, including
 * returning the existing record on conflict.
 *
 * @example
 * ```ts
 * import type { Store } from '@oncely/core';
 *
 * const store: Store = {
 *   async create(record, now) { ... },            // insert unless a live record has record.id
 *   async update(id, expectedToken, next) { ... }, // replace iff token === expectedToken
 *   async delete(id, expectedToken) { ... },       // delete iff token === expectedToken
 *   async get(id, now) { ... },                    // live record or null
 * };
 * ```
 */
export interface Store {
  /**
   * Atomically insert `record` unless a live record (`expiresAt > now`) has its id. An expired
   * record counts as absent and is replaced. Otherwise return the live record, in the same round
   * trip where the backend allows it.
   */
  create(record: IdempotencyRecord, now: number): Promise<CreateResult>;
  /**
   * Atomically replace the record stored under `id` with `next` iff its current token is
   * `expectedToken`. Returns whether it replaced. `next.id === id`; `next.token` may differ
   * (a takeover) or not (a heartbeat, a completion). Acts on an expired-but-present record too:
   * the token proves it is still the caller's.
   */
  update(id: string, expectedToken: string, next: IdempotencyRecord): Promise<boolean>;
  /** Atomically delete the record under `id` iff its current token is `expectedToken`. */
  delete(id: string, expectedToken: string): Promise<boolean>;
  /** The live record under `id`, or `null` if absent or expired at `now`. */
  get(id: string, now: number): Promise<IdempotencyRecord | null>;
}

/**
 * A transaction on the store's backend, open while the handler runs (atomic mode). The handler's
 * own writes go through `client`; the completion is written with `update` on the same transaction,
 * so both commit together or not at all (Brandur Leach's "atomic phase").
 */
export interface StoreTransaction<Tx = unknown> {
  /** The backend's handle for the handler's own writes, e.g. a `pg` `PoolClient` after `BEGIN`. */
  readonly client: Tx;
  /** `Store.update`, inside this transaction: compare-and-set on the token, invisible until commit. */
  update(id: string, expectedToken: string, next: IdempotencyRecord): Promise<boolean>;
  /** Commit, and give the connection back. Throws if the commit failed or its outcome is unknown. */
  commit(): Promise<void>;
  /** Roll back, and give the connection back. Never throws. */
  rollback(): Promise<void>;
}

/**
 * A {@link Store} that can also open transactions (e.g. `@oncely/postgres`). With the core option
 * `atomic: true`, the claim commits first, the handler runs inside a transaction, and the
 * completion commits with the handler's own writes: a crash at any point leaves all or nothing.
 */
export interface TransactionalStore<Tx = unknown> extends Store {
  /** Open a transaction (a connection of its own, `BEGIN` sent). */
  beginTransaction(): Promise<StoreTransaction<Tx>>;
}

/** Whether `store` offers transactions. */
export function isTransactionalStore(store: Store): store is TransactionalStore {
  return typeof (store as Partial<TransactionalStore>).beginTransaction === 'function';
}

/** Options of {@link AdminStore.purgeExpired}. */
export interface PurgeOptions {
  /** Records deleted per backend operation (each its own short step; no long locks). Default 1000. */
  readonly batchSize?: number | undefined;
  /** Epoch ms: records with `expiresAt <= now` are deleted. Default the current time. */
  readonly now?: number | undefined;
  /** Stop after this many batches (the rest waits for the next run). Default unbounded. */
  readonly maxBatches?: number | undefined;
}

/** Options of {@link AdminStore.listInProgress}. */
export interface ListInProgressOptions {
  /** Epoch ms: only claims first made at or before it (`createdAt <= claimedBefore`). */
  readonly claimedBefore: number;
  /** Epoch ms: expired records are never listed. */
  readonly now: number;
  /** At most this many records, oldest claim first. */
  readonly limit: number;
}

/**
 * Operator capabilities a store may add to the five primitives, for `createAdmin()` and the
 * `oncely` CLI: finding stuck claims and purging expired records. Inspect, force-release and
 * force-complete need nothing beyond {@link Store} (`get`, then a token-checked `delete`/`update`),
 * so every store supports those.
 *
 * Both are maintenance operations, not on any request's path: they may scan (say so in the
 * store's README when they do), but must stay bounded by `limit` / `batchSize`.
 */
export interface AdminStore extends Store {
  /** Live `in_progress` records with `createdAt <= claimedBefore`, oldest first, at most `limit`. */
  listInProgress(options: ListInProgressOptions): Promise<InProgressRecord[]>;
  /**
   * Delete records with `expiresAt <= now` in batches; returns how many were deleted. Stores whose
   * backend expires records exactly by itself (Redis `PEXPIREAT`) may return 0.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
}

/** Whether `store` can list in-progress records (see {@link AdminStore}). */
export function canListInProgress(store: Store): store is Store & Pick<AdminStore, 'listInProgress'> {
  return typeof (store as Partial<AdminStore>).listInProgress === 'function';
}

/** Whether `store` can purge expired records (see {@link AdminStore}). */
export function canPurgeExpired(store: Store): store is Store & Pick<AdminStore, 'purgeExpired'> {
  return typeof (store as Partial<AdminStore>).purgeExpired === 'function';
}

/** Default {@link PurgeOptions.batchSize}. */
export const DEFAULT_PURGE_BATCH_SIZE = 1000;

/** {@link PurgeOptions} with defaults filled in and every value checked. */
export interface PurgeSettings {
  readonly batchSize: number;
  /** `Infinity` when unbounded. */
  readonly maxBatches: number;
  readonly now: number;
}

/**
 * Check a purge's options and fill in the defaults (`batchSize` 1000, `maxBatches` unbounded,
 * `now` the current time). For store authors: every store validates the same way.
 *
 * @throws {TypeError} on a `batchSize` or `maxBatches` that is not a whole number >= 1, or a `now`
 * that is not whole epoch milliseconds.
 */
export function resolvePurgeOptions(options: PurgeOptions = {}, now: number = Date.now()): PurgeSettings {
  const batchSize = options.batchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  const at = options.now ?? now;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`oncely: batchSize must be a whole number >= 1, got ${String(batchSize)}.`);
  if (maxBatches !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxBatches) || maxBatches < 1)) {
    throw new TypeError(`oncely: maxBatches must be a whole number >= 1, got ${String(maxBatches)}.`);
  }
  if (!Number.isSafeInteger(at)) throw new TypeError(`oncely: now must be whole epoch milliseconds, got ${String(at)}.`);
  return { batchSize, maxBatches, now: at };
}

/**
 * Check {@link ListInProgressOptions}: `claimedBefore` and `now` whole epoch milliseconds, `limit` a
 * whole number >= 1. For store authors: every store validates the same way.
 *
 * @throws {TypeError} naming the offending option.
 */
export function checkListInProgressOptions(options: ListInProgressOptions): ListInProgressOptions {
  const { claimedBefore, now, limit } = (options ?? {}) as Partial<ListInProgressOptions>;
  if (!Number.isSafeInteger(claimedBefore)) throw new TypeError(`oncely: claimedBefore must be whole epoch milliseconds, got ${String(claimedBefore)}.`);
  if (!Number.isSafeInteger(now)) throw new TypeError(`oncely: now must be whole epoch milliseconds, got ${String(now)}.`);
  if (!Number.isSafeInteger(limit) || (limit as number) < 1) throw new TypeError(`oncely: limit must be a whole number >= 1, got ${String(limit)}.`);
  return options;
}
