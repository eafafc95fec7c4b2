import type { Store } from '@oncely/core';

/** 1 MiB: the body size every store must round-trip unless its backend is smaller (`Store` docs). */
export const DEFAULT_LARGE_BODY_BYTES = 1_048_576;
/** Parallel callers in the atomicity and race checks. */
export const DEFAULT_CONCURRENCY = 50;
/** Runs of the model-based check, unless `ONCELY_STORE_MODEL_RUNS` says otherwise. */
export const DEFAULT_MODEL_RUNS = 100;
/** Per-test timeout, generous enough for a real server on a slow CI machine. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Backend quirks the checks adapt to. Shared by {@link StoreConformanceOptions} and
 * {@link checkContext}.
 */
export interface StoreCheckSettings {
  /**
   * Precision, in ms, of the store's expiry check. Default `1` (millisecond-precise).
   * Use `1000` for a backend that compares expiry in whole seconds. Expiry is then asserted only
   * at least `2 * expiryGranularityMs` away from `expiresAt`, and the exact-boundary check
   * (`expiresAt === now` is expired) runs only at the default of `1`. The record's own numbers
   * must still round-trip exactly.
   */
  readonly expiryGranularityMs?: number | undefined;
  /**
   * The backend's largest record, in bytes, if it has one below what the suite writes. When set,
   * the limit checks assert that a record bigger than it throws `RecordTooLargeError` (code
   * `record_too_large`) from `create` and `update` without writing anything, and that one of half
   * its size round-trips. Without it, the limit checks are not registered.
   */
  readonly maxRecordBytes?: number | undefined;
  /**
   * The biggest body round-tripped byte-exact, in bytes. Default 1 MiB (`1048576`), or half of
   * `maxRecordBytes` when that is smaller.
   */
  readonly largeBodyBytes?: number | undefined;
  /** Parallel callers in the atomicity and race checks. Default `50`. */
  readonly concurrency?: number | undefined;
  /**
   * Runs of the model-based check (each a random sequence of up to 30 operations).
   * Default: the environment variable `ONCELY_STORE_MODEL_RUNS`, else `100`.
   */
  readonly modelRuns?: number | undefined;
  /**
   * Whether the store offers `listInProgress` (core's `AdminStore`). Its checks are registered only
   * when `true`; one admin check, always registered, asserts that the store offers exactly what
   * `listInProgress` and `purgeExpired` declare, so no capability goes unchecked. Default `false`.
   */
  readonly listInProgress?: boolean | undefined;
  /**
   * Whether the store offers `purgeExpired` (core's `AdminStore`): `true` when it deletes expired
   * records and returns how many; `'native'` when the backend removes every record at its
   * `expiresAt` by itself (Redis `PEXPIREAT`) and `purgeExpired` returns 0. The purge checks are
   * registered for either. Default `false`.
   */
  readonly purgeExpired?: boolean | 'native' | undefined;
}

/**
 * Options of {@link runStoreConformance} and the per-group registrars.
 *
 * @typeParam S - your store's type, so `closeStore` receives it (with its client) unwidened.
 */
export interface StoreConformanceOptions<S extends Store = Store> extends StoreCheckSettings {
  /** Shown in the test titles, e.g. `'redisStore'`. */
  readonly name: string;
  /**
   * Returns a ready store. Called once per test; each test uses fresh random record ids
   * (`oncely-conformance:<hex>`), so several stores may share one backend, even one that other
   * runs are using at the same time.
   */
  readonly createStore: () => S | Promise<S>;
  /** Releases what `createStore` opened (a client, a pool). Called after each test, pass or fail. */
  readonly closeStore?: ((store: S) => void | Promise<void>) | undefined;
  /** Timeout of each test, in ms. Default `60000`. */
  readonly timeoutMs?: number | undefined;
}

/** What every check receives: the store under test and the resolved settings. */
export interface StoreCheckContext {
  /** The store under test. */
  readonly store: Store;
  /** See {@link StoreCheckSettings.expiryGranularityMs}. Resolved: at least 1. */
  readonly expiryGranularityMs: number;
  /** See {@link StoreCheckSettings.maxRecordBytes}. Resolved: `undefined` when the backend has no limit. */
  readonly maxRecordBytes: number | undefined;
  /** See {@link StoreCheckSettings.largeBodyBytes}. Resolved. */
  readonly largeBodyBytes: number;
  /** See {@link StoreCheckSettings.concurrency}. Resolved: at least 2. */
  readonly concurrency: number;
  /** See {@link StoreCheckSettings.modelRuns}. Resolved. */
  readonly modelRuns: number;
  /** See {@link StoreCheckSettings.listInProgress}. Resolved. */
  readonly listInProgress: boolean;
  /** See {@link StoreCheckSettings.purgeExpired}. Resolved. */
  readonly purgeExpired: boolean | 'native';
}

/**
 * One conformance check: a plain async function that resolves when the store behaves and throws
 * (an `expect` assertion error, or an `Error`) on the first violation.
 *
 * @example
 * ```ts
 * const keepsFingerprint: StoreCheck = {
 *   name: 'keeps an empty fingerprint',
 *   async run(ctx) {
 *     const record = inProgressRecord(ctx, { fingerprint: '' });
 *     await ctx.store.create(record, Date.now());
 *     expect((await ctx.store.get(record.id, Date.now()))?.fingerprint).toBe('');
 *   },
 * };
 * ```
 */
export interface StoreCheck {
  /** The test title: what the store must do. */
  readonly name: string;
  /** Throws on a violation. */
  readonly run: (ctx: StoreCheckContext) => Promise<void>;
  /**
   * Whether the check applies to a store with these settings (default: always). The registrars
   * register only the checks that apply: a check that does not apply is no test at all, never a
   * skipped one.
   */
  readonly appliesTo?: ((settings: StoreCheckSettings) => boolean) | undefined;
}

/** A named set of checks, such as {@link fencingChecks}. */
export type StoreCheckGroup<K extends string = string> = Readonly<Record<K, StoreCheck>>;

/**
 * Builds the context a check runs with, from a store and optional settings. Use it to call checks
 * directly, outside the registrars (another test runner, a script, a test of the suite itself).
 *
 * @example
 * ```ts
 * await fencingChecks.updateWithWrongToken.run(checkContext(myStore(), { expiryGranularityMs: 1000 }));
 * ```
 */
export function checkContext(store: Store, settings: StoreCheckSettings = {}): StoreCheckContext {
  const maxRecordBytes = settings.maxRecordBytes;
  if (maxRecordBytes !== undefined) positiveInteger('maxRecordBytes', maxRecordBytes);
  const largeBodyBytes =
    settings.largeBodyBytes ??
    (maxRecordBytes === undefined ? DEFAULT_LARGE_BODY_BYTES : Math.min(DEFAULT_LARGE_BODY_BYTES, Math.floor(maxRecordBytes / 2)));
  return {
    store,
    expiryGranularityMs: positiveInteger('expiryGranularityMs', settings.expiryGranularityMs ?? 1),
    maxRecordBytes,
    largeBodyBytes: positiveInteger('largeBodyBytes', largeBodyBytes),
    concurrency: positiveInteger('concurrency', settings.concurrency ?? DEFAULT_CONCURRENCY, 2),
    modelRuns: positiveInteger('modelRuns', settings.modelRuns ?? modelRunsFromEnvironment() ?? DEFAULT_MODEL_RUNS),
    listInProgress: settings.listInProgress ?? false,
    purgeExpired: settings.purgeExpired ?? false,
  };
}

function modelRunsFromEnvironment(): number | undefined {
  const env = (globalThis as { process?: { env?: Readonly<Record<string, string | undefined>> } }).process?.env;
  const raw = env?.['ONCELY_STORE_MODEL_RUNS'];
  if (raw === undefined || raw.trim() === '') return undefined;
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new TypeError(`ONCELY_STORE_MODEL_RUNS must be a positive integer, got ${JSON.stringify(raw)}.`);
  }
  return runs;
}

function positiveInteger(name: string, value: number, minimum = 1): number {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new TypeError(`@oncely/store-tests: ${name} must be an integer >= ${minimum}, got ${String(value)}.`);
  }
  return value;
}

/**
 * Declares a group of checks with its keys kept in the type. Use it for your own cases, then
 * register them with {@link describeChecks}.
 *
 * @example
 * ```ts
 * export const myChecks = defineChecks({
 *   survivesReconnect: { name: 'survives a reconnect', async run(ctx) { ... } },
 * });
 * ```
 */
export function defineChecks<K extends string>(checks: Record<K, StoreCheck>): StoreCheckGroup<K> {
  return Object.freeze(checks);
}
