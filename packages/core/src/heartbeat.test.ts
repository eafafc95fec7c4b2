import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { utf8 } from './bytes';
import { createIdempotency, type HttpExecution } from './http';
import { memoryStore } from './memory-store';
import type { IdempotencyRecord } from './record';
import type { Store } from './store';

// The system clock's heartbeat (a timer per execution, not an async loop): driven here with fake timers.

const request = (key: string) => ({ scope: 's', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, rawBody: utf8('{}') });

/** A memory store whose `update` calls are recorded and can be held back or refused. */
function watchedStore() {
  const inner = memoryStore();
  const updates: { id: string; next: IdempotencyRecord }[] = [];
  let hold: Promise<void> | null = null;
  let refuse = false;
  const store: Store = {
    ...inner,
    create: (record, now) => inner.create(record, now),
    get: (id, now) => inner.get(id, now),
    delete: (id, token) => inner.delete(id, token),
    async update(id, token, next) {
      updates.push({ id, next });
      if (next.state === 'in_progress') {
        if (hold) await hold;
        if (refuse) return false;
      }
      return inner.update(id, token, next);
    },
  };
  return {
    store,
    updates,
    renewals: () => updates.filter((u) => u.next.state === 'in_progress'),
    holdRenewals: () => {
      let release = (): void => undefined;
      hold = new Promise<void>((resolve) => (release = resolve));
      return release;
    },
    refuseRenewals: () => void (refuse = true),
  };
}

async function claim(store: Store, key: string, leaseMs = 3_000): Promise<HttpExecution> {
  const engine = createIdempotency({ store, leaseMs });
  const decision = await engine.begin(request(key));
  if (decision.action !== 'execute') throw new Error(`expected execute, got ${decision.action}`);
  return decision.execution;
}

const response = { status: 201, headers: [['content-type', 'text/plain']] as [string, string][], body: utf8('ok') };

describe('heartbeat on the system clock', () => {
  beforeEach(() => void vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) }));
  afterEach(() => void vi.useRealTimers());

  it('renews every leaseMs / 3 while the handler runs, and stops once the execution settles', async () => {
    const watched = watchedStore();
    const execution = await claim(watched.store, 'k1');
    await vi.advanceTimersByTimeAsync(999);
    expect(watched.renewals()).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(watched.renewals()).toHaveLength(1);
    expect(watched.renewals()[0]?.next).toMatchObject({ state: 'in_progress', leaseUntil: Date.now() + 3_000 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(watched.renewals()).toHaveLength(3);
    expect(await execution.finish(response)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(watched.renewals()).toHaveLength(3);
    expect((await watched.store.get(execution.recordId, Date.now()))?.state).toBe('completed');
  });

  it('a completion waits for a renewal in flight, and then writes over the renewed claim', async () => {
    const watched = watchedStore();
    const execution = await claim(watched.store, 'k2');
    const release = watched.holdRenewals();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(watched.renewals()).toHaveLength(1);
    let finished = false;
    const finishing = execution.finish(response).then(() => (finished = true));
    await vi.advanceTimersByTimeAsync(0);
    expect([finished, watched.updates.length]).toEqual([false, 1]);
    release();
    await finishing;
    expect(watched.updates.map((u) => u.next.state)).toEqual(['in_progress', 'completed']);
    expect((await watched.store.get(execution.recordId, Date.now()))?.state).toBe('completed');
  });

  it('a renewal refused by the store marks the lease lost: the completion is not written', async () => {
    const watched = watchedStore();
    const execution = await claim(watched.store, 'k3');
    watched.refuseRenewals();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(execution.signal.aborted).toBe(true);
    await execution.finish(response);
    expect(watched.updates.map((u) => u.next.state)).toEqual(['in_progress']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(watched.renewals()).toHaveLength(1);
  });
});
