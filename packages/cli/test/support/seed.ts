/**
 * Puts records into a real store the way an application does: through `createIdempotency`, with a
 * manual clock so a record can be made "10 minutes ago" or "already expired".
 */
import { createIdempotency, type HttpResponse, manualClock, recordId, type IdempotencyRecord, type Store, utf8 } from '@oncely/core';

/** Where a seeded record lives. */
export interface Seed {
  readonly scope: string;
  readonly key: string;
  /** Epoch ms of the claim. Default now. */
  readonly at?: number;
  readonly namespace?: string;
  readonly ttlMs?: number;
}

function engine(store: Store, seed: Seed) {
  const clock = manualClock(seed.at ?? Date.now());
  return createIdempotency({
    store,
    clock,
    heartbeat: false,
    ...(seed.namespace === undefined ? {} : { namespace: seed.namespace }),
    ...(seed.ttlMs === undefined ? {} : { ttlMs: seed.ttlMs, leaseMs: Math.min(30_000, seed.ttlMs) }),
  });
}

function request(seed: Seed, body = '{"amount":100}') {
  return { scope: seed.scope, method: 'POST', url: '/v1/charges', headers: { 'idempotency-key': seed.key, 'content-type': 'application/json' }, rawBody: utf8(body) };
}

/** A completed record replaying `response`, as a handler that returned it leaves behind. */
export async function seedCompleted(store: Store, seed: Seed, response: HttpResponse): Promise<void> {
  const handled = await engine(store, seed).handle(request(seed), async () => response);
  if (handled.outcome !== 'executed') throw new Error(`seedCompleted: expected a first execution, got ${handled.outcome}`);
}

/** An in-progress claim whose handler never finished (a crashed owner). */
export async function seedInProgress(store: Store, seed: Seed): Promise<void> {
  const decision = await engine(store, seed).begin(request(seed));
  if (decision.action !== 'execute') throw new Error(`seedInProgress: expected to claim, got ${decision.action}`);
}

/** The record of `(scope, key)` straight from the store, at `now`. */
export function stored(store: Store, seed: Seed, now = Date.now()): Promise<IdempotencyRecord | null> {
  return store.get(recordId(seed.namespace ?? 'oncely', seed.scope, seed.key), now);
}

/** What a retry of a seeded request gets now: replayed or executed afresh, and the response. */
export async function retry(store: Store, seed: Seed): Promise<{ outcome: string; status: number; body: string; headers: readonly (readonly [string, string])[] }> {
  const handled = await engine(store, { ...seed, at: Date.now() }).handle(request(seed), async () => ({ status: 299, headers: [], body: utf8('fresh') }));
  return { outcome: handled.outcome, status: handled.response.status, body: new TextDecoder().decode(handled.response.body), headers: handled.response.headers };
}
