import type { Clock } from './clock';
import { systemClock } from './clock';
import { combineListeners, type EventListener } from './events';
import { randomToken } from './hash';
import { type Logger, loggerListener } from './logger';
import type { InProgressRecord } from './record';
import { isTransactionalStore, type Store } from './store';

/** What to do with a claim whose owner stopped renewing its lease (CONTRACT §5.3). */
export type LeaseDecision = 'takeover' | 'reject';

/**
 * `takeover` (default): a retry claims the key with a new token and runs the handler; the stale
 * owner can no longer write. `reject`: answer 409 `abandoned` until an operator acts or the record
 * expires. A function decides per record (e.g. reconcile with a payment provider first).
 */
export type LeasePolicy = LeaseDecision | ((record: InProgressRecord) => LeaseDecision | Promise<LeaseDecision>);

/** Wait for an in-flight twin to finish instead of answering 409 at once. */
export interface WaitOptions {
  /** Give up (409 `in_progress`) after this many milliseconds. */
  readonly timeoutMs: number;
  /** First poll delay; doubles up to `maxPollMs`. Default 25 ms. */
  readonly initialPollMs?: number;
  /** Longest poll delay. Default 500 ms. */
  readonly maxPollMs?: number;
}

/** Options shared by every entry point of the core (HTTP engine, function wrapper, bindings). */
export interface CoreOptions {
  /** Where records live. */
  readonly store: Store;
  /** Prefix of record ids, to share one backend between apps. Default `'oncely'`. */
  readonly namespace?: string;
  /** Retention: how long a record is kept after its claim and after its completion. Default 24 h. */
  readonly ttlMs?: number;
  /**
   * How long an owner is presumed alive without renewing. Default 30 s. The owner renews every
   * `leaseMs / 3` while its handler runs, so only a dead (or partitioned) owner ever loses it.
   */
  readonly leaseMs?: number;
  /** Renew the lease while the handler runs. Default true. */
  readonly heartbeat?: boolean;
  /** See {@link LeasePolicy}. Default `'takeover'`. */
  readonly leasePolicy?: LeasePolicy;
  /** Wait for an in-flight twin (poll with backoff) instead of 409. Default off. */
  readonly wait?: WaitOptions | false;
  /** Store error at claim time: `'fail'` → 503 `store_unavailable` (default); `'proceed'` → run unprotected. */
  readonly onStoreError?: 'fail' | 'proceed';
  /** Receives one event per decision (CONTRACT §9). */
  readonly onEvent?: EventListener;
  /**
   * Receives the lifecycle markers of each claimed execution — `claimed` before its handler, and
   * exactly one `settled` after it — which are not decisions, so `onEvent` never sees them. What
   * in-flight gauges and claim/handler/complete spans are built on (`@oncely/otel` uses it).
   */
  readonly onLifecycle?: EventListener;
  /**
   * Log one line per decision to a pino- or console-style logger, called as `logger[level](fields,
   * message)`. Levels: executed/replayed `debug`; conflict/mismatch/takeover `info`; released
   * `warn`; lease_lost/store_error/complete_failed `error`. It receives the same events as
   * `onEvent`; a logger that throws never breaks a request.
   */
  readonly logger?: Logger;
  /** Put raw keys in events and log lines. Default false: they carry `keyHash` only. */
  readonly logRawKeys?: boolean;
  /** Completion writes retried this many times on store errors, with doubling backoff. Default 3. */
  readonly completionRetries?: number;
  /** First completion retry delay in ms. Default 50. */
  readonly completionRetryDelayMs?: number;
  /**
   * Atomic mode: run the handler inside a store transaction and commit the completion with the
   * handler's own writes (the store must offer `beginTransaction`, e.g. `@oncely/postgres`). The
   * handler gets the transaction as `context.transaction`. Default false.
   */
  readonly atomic?: boolean;
  /** Time source, for tests. Default the system clock. */
  readonly clock?: Clock;
  /** Fencing-token generator, for tests. Default 128 random bits (Web Crypto). */
  readonly generateToken?: () => string;
}

/** Defaults of {@link CoreOptions}, in one place. */
export const DEFAULTS = {
  namespace: 'oncely',
  ttlMs: 24 * 60 * 60 * 1000,
  leaseMs: 30_000,
  completionRetries: 3,
  completionRetryDelayMs: 50,
  waitInitialPollMs: 25,
  waitMaxPollMs: 500,
} as const;

/** {@link CoreOptions} with every default filled in and every value checked. */
export interface CoreSettings {
  readonly store: Store;
  readonly namespace: string;
  readonly ttlMs: number;
  readonly leaseMs: number;
  readonly heartbeat: boolean;
  readonly leasePolicy: LeasePolicy;
  readonly wait: Required<WaitOptions> | false;
  readonly onStoreError: 'fail' | 'proceed';
  /** The user's `onEvent` and the `logger`, combined: every consumer of events sees the same ones. */
  readonly onEvent: EventListener | undefined;
  readonly onLifecycle: EventListener | undefined;
  readonly logRawKeys: boolean;
  readonly completionRetries: number;
  readonly completionRetryDelayMs: number;
  readonly atomic: boolean;
  readonly clock: Clock;
  readonly generateToken: () => string;
}

/** `value` if it is a positive, finite number of milliseconds; a TypeError naming the option if not. */
export function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`oncely: ${name} must be a positive number of milliseconds, got ${value}.`);
  return value;
}

/** The `store` option, checked: it must implement the four primitives of {@link Store}. */
export function resolveStore(store: Store | undefined): Store {
  if (!store || typeof store.create !== 'function' || typeof store.update !== 'function' || typeof store.delete !== 'function' || typeof store.get !== 'function') {
    throw new TypeError('oncely: `store` must implement create, update, delete and get (see the Store interface).');
  }
  return store;
}

/** The `namespace` option, defaulted and checked: 1-64 characters of [A-Za-z0-9_.-]. */
export function resolveNamespace(namespace: string | undefined): string {
  const resolved = namespace ?? DEFAULTS.namespace;
  if (typeof resolved !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(resolved)) throw new TypeError('oncely: namespace must be 1-64 characters of [A-Za-z0-9_.-].');
  return resolved;
}

/** Fill in defaults and reject nonsense early (at setup, not on the first request). */
export function resolveCoreOptions(options: CoreOptions): CoreSettings {
  const store = resolveStore(options.store);
  const ttlMs = positive('ttlMs', options.ttlMs ?? DEFAULTS.ttlMs);
  const leaseMs = positive('leaseMs', options.leaseMs ?? DEFAULTS.leaseMs);
  if (leaseMs > ttlMs) throw new TypeError('oncely: leaseMs must not exceed ttlMs.');
  const wait = options.wait
    ? {
        timeoutMs: positive('wait.timeoutMs', options.wait.timeoutMs),
        initialPollMs: positive('wait.initialPollMs', options.wait.initialPollMs ?? DEFAULTS.waitInitialPollMs),
        maxPollMs: positive('wait.maxPollMs', options.wait.maxPollMs ?? DEFAULTS.waitMaxPollMs),
      }
    : false;
  const retries = options.completionRetries ?? DEFAULTS.completionRetries;
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError('oncely: completionRetries must be a whole number >= 0.');
  const atomic = options.atomic ?? false;
  if (atomic && !isTransactionalStore(store)) {
    throw new TypeError('oncely: atomic mode needs a store that offers transactions (beginTransaction), e.g. @oncely/postgres.');
  }
  const leasePolicy = options.leasePolicy ?? 'takeover';
  if (leasePolicy !== 'takeover' && leasePolicy !== 'reject' && typeof leasePolicy !== 'function') {
    throw new TypeError("oncely: leasePolicy must be 'takeover', 'reject' or a function.");
  }
  const logger = options.logger as Partial<Record<keyof Logger, unknown>> | null | undefined;
  if (logger !== undefined && (logger === null || (['debug', 'info', 'warn', 'error'] as const).some((level) => typeof logger[level] !== 'function'))) {
    throw new TypeError('oncely: `logger` must have debug, info, warn and error methods (pino and console do).');
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') throw new TypeError('oncely: `onEvent` must be a function.');
  if (options.onLifecycle !== undefined && typeof options.onLifecycle !== 'function') throw new TypeError('oncely: `onLifecycle` must be a function.');
  const namespace = resolveNamespace(options.namespace);
  return {
    store,
    namespace,
    ttlMs,
    leaseMs,
    heartbeat: options.heartbeat ?? true,
    leasePolicy,
    wait,
    onStoreError: options.onStoreError ?? 'fail',
    onEvent: options.logger ? combineListeners(options.onEvent, loggerListener(options.logger)) : options.onEvent,
    onLifecycle: options.onLifecycle,
    logRawKeys: options.logRawKeys ?? false,
    completionRetries: retries,
    atomic,
    completionRetryDelayMs: positive('completionRetryDelayMs', options.completionRetryDelayMs ?? DEFAULTS.completionRetryDelayMs),
    clock: options.clock ?? systemClock,
    generateToken: options.generateToken ?? randomToken,
  };
}
