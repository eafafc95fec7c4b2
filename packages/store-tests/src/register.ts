import type { Store } from '@oncely/core';
import { describe, it } from 'vitest';
import { adminChecks } from './admin';
import { atomicityChecks } from './atomicity';
import { expiryChecks } from './expiry';
import { fencingChecks } from './fencing';
import { fidelityChecks } from './fidelity';
import { limitChecks } from './limits';
import { modelCheck } from './model';
import { DEFAULT_TIMEOUT_MS, checkContext } from './options';
import type { StoreCheck, StoreCheckGroup, StoreConformanceOptions } from './options';

/**
 * Registers `checks` as a vitest `describe` block: one `it` per check, each with a store from
 * `createStore` (closed afterwards with `closeStore`, pass or fail). Use it for your own cases.
 *
 * @example
 * ```ts
 * describeChecks('my store: extras', defineChecks({ ... }), { name: 'myStore', createStore: () => myStore() });
 * ```
 */
export function describeChecks<S extends Store>(title: string, checks: StoreCheckGroup, options: StoreConformanceOptions<S>): void {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const applicable = Object.values<StoreCheck>(checks).filter((check) => !check.appliesTo || check.appliesTo(options));
  if (applicable.length === 0) return;
  describe(title, () => {
    for (const check of applicable) {
      it(check.name, async () => {
        const store = await options.createStore();
        try {
          await check.run(checkContext(store, options));
        } finally {
          await options.closeStore?.(store);
        }
      }, timeout);
    }
  });
}

/** Registers {@link atomicityChecks}: concurrent creates, create on a live record, distinct ids. */
export function describeAtomicity<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: atomicity`, atomicityChecks, options);
}

/** Registers {@link fencingChecks}: token-guarded update and delete, takeovers and their races. */
export function describeFencing<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: fencing`, fencingChecks, options);
}

/** Registers {@link expiryChecks}: expired records invisible and replaceable, judged by `now`. */
export function describeExpiry<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: expiry`, expiryChecks, options);
}

/** Registers {@link fidelityChecks}: byte-exact bodies, headers, Unicode, numbers, fresh objects. */
export function describeFidelity<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: fidelity`, fidelityChecks, options);
}

/** Registers {@link limitChecks} (only when `maxRecordBytes` is set). */
export function describeLimits<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: limits`, limitChecks, options);
}

/** Registers {@link modelCheck}: random operation sequences against a reference model. */
export function describeModel<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: model`, { model: modelCheck }, options);
}

/**
 * Registers {@link adminChecks}: `createAdmin` release/complete on every store, plus
 * `listInProgress` / `purgeExpired` when the settings declare them (and a check that they do).
 */
export function describeAdmin<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeChecks(`${options.name}: admin`, adminChecks, options);
}

/**
 * Registers the whole conformance suite (CONTRACT §3) for a store with vitest: atomicity, fencing,
 * expiry, fidelity, limits, the model-based check and admin operations (`listInProgress` and
 * `purgeExpired` when declared in the options). Call it at the top level of a test file.
 *
 * Safe against real shared servers: every check uses fresh random ids (`oncely-conformance:<hex>`),
 * writes records that expire a minute or more in the future, and never sleeps: it moves time by
 * passing a later `now`.
 *
 * @example
 * ```ts
 * // test/conformance.test.ts
 * import { memoryStore } from '@oncely/core';
 * import { runStoreConformance } from '@oncely/store-tests';
 *
 * runStoreConformance({ name: 'memoryStore', createStore: () => memoryStore() });
 *
 * // a real server: one client for the file, a store per test
 * runStoreConformance({ name: 'redisStore', createStore: () => redisStore({ client }), timeoutMs: 120_000 });
 * ```
 */
export function runStoreConformance<S extends Store>(options: StoreConformanceOptions<S>): void {
  describeAtomicity(options);
  describeFencing(options);
  describeExpiry(options);
  describeFidelity(options);
  describeLimits(options);
  describeModel(options);
  describeAdmin(options);
}
