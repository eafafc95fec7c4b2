import type { Clock } from './clock';
import { systemClock } from './clock';
import { MAX_FUNCTION_KEY } from './function';
import { randomToken } from './hash';
import { completedRecord } from './lifecycle';
import { DEFAULTS, positive, resolveNamespace, resolveStore } from './options';
import type { CompletedRecord, HeaderEntry, IdempotencyRecord, InProgressRecord, StoredResponse } from './record';
import { canListInProgress, canPurgeExpired, type PurgeOptions, resolvePurgeOptions, type Store } from './store';
import { resolveTarget } from './target';

/** Options of {@link createAdmin}. */
export interface AdminOptions {
  /** The store the application uses. */
  readonly store: Store;
  /** The application's namespace (its `namespace` option). Default `'oncely'`. */
  readonly namespace?: string;
  /** Retention of a force-completed record, from the moment it is written. Default 24 h. */
  readonly ttlMs?: number;
  /** Time source, for tests. Default the system clock. */
  readonly clock?: Clock;
  /** Fencing-token generator, for tests. Default 128 random bits. */
  readonly generateToken?: () => string;
}

/**
 * What a {@link IdempotencyAdmin.release} or {@link IdempotencyAdmin.complete} did.
 *
 * - `released` / `completed`: done; `before` is the record acted on (and `after` what replaced it).
 * - `not_found`: no live record under that scope and key.
 * - `refused`: nothing done, because the record is completed (release without `includeCompleted`,
 *   or complete) or its token is not `expectedToken`; `record` is what was found.
 * - `changed`: the record changed between the read and the token-checked write (an owner
 *   completed, released or renewed it, or a retry took it over); nothing done. `record` is what the
 *   store holds now (`null` if nothing). Inspect it and decide again.
 */
export type AdminOutcome =
  | { readonly outcome: 'released'; readonly before: IdempotencyRecord }
  | { readonly outcome: 'completed'; readonly before: InProgressRecord; readonly after: CompletedRecord }
  | { readonly outcome: 'not_found' }
  | { readonly outcome: 'refused'; readonly reason: 'completed' | 'token_mismatch'; readonly record: IdempotencyRecord }
  | { readonly outcome: 'changed'; readonly record: IdempotencyRecord | null };

/** Options of {@link IdempotencyAdmin.release}. */
export interface AdminReleaseOptions {
  /** Also delete a completed record (its retries then execute again). Default false: refused. */
  readonly includeCompleted?: boolean;
  /** Act only if the record's token is this one (as shown by `inspect`); else `refused`. */
  readonly expectedToken?: string;
}

/** Options of {@link IdempotencyAdmin.complete}. */
export interface AdminCompleteOptions {
  /** Act only if the claim's token is this one (as shown by `inspect`); else `refused`. */
  readonly expectedToken?: string;
}

/** Options of {@link IdempotencyAdmin.stuck}. */
export interface StuckOptions {
  /** List claims first made at least this many ms ago. */
  readonly olderThanMs: number;
  /** At most this many, oldest first. Default 100. */
  readonly limit?: number;
}

/** Operator actions on one store (see {@link createAdmin}). */
export interface IdempotencyAdmin {
  /** The namespace record ids are made in. */
  readonly namespace: string;
  /** The record id of `(scope, key)` in this namespace, as the store keys it. */
  recordId(scope: string, key: string): string;
  /** The live record of `(scope, key)`, or `null`. */
  inspect(scope: string, key: string): Promise<IdempotencyRecord | null>;
  /**
   * Force-release: delete the record so the next retry executes afresh. Token-checked: a record
   * that changed since it was read is left alone (`changed`). Completed records are refused unless
   * `includeCompleted`. A live owner whose claim is released loses its lease: its completion fails
   * (`lease_lost`) and its response is not stored.
   */
  release(scope: string, key: string, options?: AdminReleaseOptions): Promise<AdminOutcome>;
  /**
   * Force-complete: replace an in-progress claim with a completed record holding `response`, which
   * every retry then replays. Token-checked like `release`; a completed record is refused. A live
   * owner of the claim loses its lease: its own completion fails (`lease_lost`).
   */
  complete(scope: string, key: string, response: StoredResponse, options?: AdminCompleteOptions): Promise<AdminOutcome>;
  /**
   * Claims still in progress that were first made `olderThanMs` ago or earlier, oldest first.
   * @throws {AdminUnsupportedError} if the store cannot list (no `listInProgress`).
   */
  stuck(options: StuckOptions): Promise<InProgressRecord[]>;
  /**
   * Delete expired records in batches; returns how many (0 on stores whose backend expires records
   * by itself, e.g. Redis). `now` defaults to this admin's clock.
   * @throws {AdminUnsupportedError} if the store cannot purge (no `purgeExpired`).
   */
  purge(options?: PurgeOptions): Promise<number>;
}

/** The store lacks the capability an admin operation needs (see `AdminStore`). */
export class AdminUnsupportedError extends Error {
  override readonly name = 'AdminUnsupportedError';
  constructor(
    /** The admin operation that needs it. */
    readonly operation: 'stuck' | 'purge',
  ) {
    super(
      operation === 'stuck'
        ? 'oncely: this store cannot list in-progress records (it has no listInProgress).'
        : 'oncely: this store cannot purge expired records (it has no purgeExpired).',
    );
  }
}

/** Default {@link StuckOptions.limit}. */
export const DEFAULT_STUCK_LIMIT = 100;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const BAD_HEADER_VALUE = /[\r\n\0]/;

/**
 * Operator tools on a store: inspect a record, force-release or force-complete a claim, list stuck
 * claims, purge expired records. Inspect, release and complete use only the store's four
 * primitives (every store has them); `stuck` and `purge` need an `AdminStore`.
 *
 * Every write is a compare-and-set on the token just read, so an admin action racing the live
 * owner (or a retry) either wins cleanly or does nothing (`changed`): it never doubles an
 * execution nor overwrites a completion. Use the application's `namespace`.
 *
 * @example
 * ```ts
 * import { createAdmin } from '@oncely/core';
 * const admin = createAdmin({ store, namespace: 'payments' });
 * for (const claim of await admin.stuck({ olderThanMs: 10 * 60_000 })) console.log(claim.scope, claim.key);
 * await admin.release('tenant-1', 'order-42');
 * await admin.complete('tenant-1', 'order-43', { status: 200, headers: [['content-type', 'application/json']], body: utf8('{"ok":true}') });
 * ```
 */
export function createAdmin(options: AdminOptions): IdempotencyAdmin {
  const store = resolveStore(options.store);
  const namespace = resolveNamespace(options.namespace);
  const ttlMs = positive('ttlMs', options.ttlMs ?? DEFAULTS.ttlMs);
  const clock = options.clock ?? systemClock;
  const generateToken = options.generateToken ?? randomToken;

  const idOf = (scope: string, key: string): string => {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_FUNCTION_KEY) {
      throw new TypeError(`oncely: an idempotency key is a string of 1-${MAX_FUNCTION_KEY} characters.`);
    }
    return resolveTarget({ namespace }, scope, key, '').recordId;
  };

  const current = (id: string): Promise<IdempotencyRecord | null> => store.get(id, clock.now());

  return {
    namespace,
    recordId: idOf,

    async inspect(scope, key) {
      return current(idOf(scope, key));
    },

    async release(scope, key, releaseOptions = {}) {
      const id = idOf(scope, key);
      const expectedToken = checkToken(releaseOptions.expectedToken);
      const record = await current(id);
      if (record === null) return { outcome: 'not_found' };
      if (record.state === 'completed' && releaseOptions.includeCompleted !== true) return { outcome: 'refused', reason: 'completed', record };
      if (expectedToken !== undefined && record.token !== expectedToken) return { outcome: 'refused', reason: 'token_mismatch', record };
      if (await store.delete(id, record.token)) return { outcome: 'released', before: record };
      return { outcome: 'changed', record: await current(id) };
    },

    async complete(scope, key, response, completeOptions = {}) {
      const id = idOf(scope, key);
      const stored = checkResponse(response);
      const expectedToken = checkToken(completeOptions.expectedToken);
      const record = await current(id);
      if (record === null) return { outcome: 'not_found' };
      if (record.state === 'completed') return { outcome: 'refused', reason: 'completed', record };
      if (expectedToken !== undefined && record.token !== expectedToken) return { outcome: 'refused', reason: 'token_mismatch', record };
      const after = completedRecord(record, generateToken(), { response: stored }, clock.now(), ttlMs);
      if (await store.update(id, record.token, after)) return { outcome: 'completed', before: record, after };
      return { outcome: 'changed', record: await current(id) };
    },

    async stuck(stuckOptions) {
      if (!canListInProgress(store)) throw new AdminUnsupportedError('stuck');
      const { olderThanMs, limit = DEFAULT_STUCK_LIMIT } = (stuckOptions ?? {}) as Partial<StuckOptions>;
      if (typeof olderThanMs !== 'number' || !Number.isSafeInteger(olderThanMs) || olderThanMs < 0) {
        throw new TypeError(`oncely: olderThanMs must be a whole number of milliseconds >= 0, got ${String(olderThanMs)}.`);
      }
      if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`oncely: limit must be a whole number >= 1, got ${String(limit)}.`);
      const now = clock.now();
      return store.listInProgress({ claimedBefore: now - olderThanMs, now, limit });
    },

    async purge(purgeOptions) {
      if (!canPurgeExpired(store)) throw new AdminUnsupportedError('purge');
      const { batchSize, maxBatches, now } = resolvePurgeOptions(purgeOptions, clock.now());
      return store.purgeExpired({ batchSize, now, ...(maxBatches === Number.POSITIVE_INFINITY ? {} : { maxBatches }) });
    },
  };
}

function checkToken(token: string | undefined): string | undefined {
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) throw new TypeError('oncely: expectedToken must be a non-empty string.');
  return token;
}

/**
 * Check a response given by an operator and return it as stored: status a whole number 100-599,
 * headers `[name, value]` pairs (names lower-cased, valid tokens; values without CR, LF or NUL),
 * body a `Uint8Array` or `null` (not stored).
 */
function checkResponse(response: StoredResponse): StoredResponse {
  if (typeof response !== 'object' || response === null) throw new TypeError('oncely: response must be { status, headers, body }.');
  const { status, headers, body } = response;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new TypeError(`oncely: response.status must be a whole number 100-599, got ${String(status)}.`);
  }
  if (!Array.isArray(headers)) throw new TypeError('oncely: response.headers must be an array of [name, value] pairs.');
  const entries: HeaderEntry[] = headers.map((entry: unknown, index) => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
      throw new TypeError(`oncely: response.headers[${index}] must be a [name, value] pair of strings.`);
    }
    const name = entry[0].toLowerCase();
    if (!HEADER_NAME.test(name)) throw new TypeError(`oncely: response.headers[${index}] has an invalid header name ${JSON.stringify(entry[0])}.`);
    if (BAD_HEADER_VALUE.test(entry[1])) throw new TypeError(`oncely: response.headers[${index}] (${name}) has a value with CR, LF or NUL.`);
    return [name, entry[1]] as const;
  });
  if (body !== null && !(body instanceof Uint8Array)) throw new TypeError('oncely: response.body must be a Uint8Array, or null for "not stored".');
  return { status, headers: entries, body };
}
