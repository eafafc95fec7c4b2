/**
 * Duplicate storm (issue #7), for every store × every binding: thousands of keys, each sent by
 * many concurrent clients at once, to a slow handler (5–50 ms, random) that counts its executions
 * per key — the side effect. Two app instances share the store (as two pods would): one answers
 * twins with 409 at once (clients honour `Retry-After`, capped short, and retry), the other uses
 * core's `wait` option. Asserted: executions === distinct keys exactly; every 2xx of a key has the
 * same status, body bytes and replayed headers; exactly one original per key; zero 5xx; nothing in
 * the apps' error handling. A control run on a store with a check-then-insert race shows the same
 * counting catches double executions.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import type { IdempotencyRecord, Store } from '@oncely/core';
import type { HttpResult } from '@oncely/http-tests';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BINDING_NAMES, mapLimit, openStore, scaled, sendUntilSettled, STORE_NAMES, startApp, writeResult, type BindingName, type StoreHandle, type StoreName } from '../src/index';

interface Load {
  readonly keys: number;
  readonly clients: number;
  readonly keysInFlight: number;
}

/** Keys and clients per key for each store (CI default; `ONCELY_RELIABILITY_SCALE` multiplies keys). */
const LOAD: Record<StoreName, Load> = {
  memory: { keys: 1000, clients: 8, keysInFlight: 64 },
  postgres: { keys: 1000, clients: 8, keysInFlight: 64 },
  redis: { keys: 1000, clients: 8, keysInFlight: 64 },
  dynamodb: { keys: 1000, clients: 8, keysInFlight: 32 },
  // The MongoDB stand-in is one Python process (mongomock): 4 clients per key keep it inside the budget.
  mongodb: { keys: 1000, clients: 4, keysInFlight: 16 },
};

/** Headers a replay carries from the original (the default allow-list entries this route sets). */
const REPLAYED_HEADERS = ['content-type', 'location'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describeAnswer(result: HttpResult): string {
  return `${result.status} ${REPLAYED_HEADERS.map((name) => `${name}=${String(result.headers[name])}`).join(' ')} ${result.body.toString('base64')}`;
}

/** What one storm counted. */
interface StormCounts {
  readonly keyCount: number;
  readonly executed: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly fiveXX: number;
  readonly statuses: ReadonlyMap<number, number>;
  /** Keys whose 2xx answers differ (status, replayed headers or body bytes). */
  readonly mismatched: readonly string[];
  /** Keys without exactly one original (non-replayed) 2xx. */
  readonly notOneOriginal: readonly string[];
  readonly unguarded: number;
  readonly errors: readonly unknown[];
  readonly notes: string;
}

/** Run one storm of `load` on `binding` over `store`, with two app instances sharing it. */
async function storm(binding: BindingName, store: Store, load: Load): Promise<StormCounts> {
  const { clients, keysInFlight, keys: keyCount } = load;
  const run = randomUUID().slice(0, 8);
  const keys = Array.from({ length: keyCount }, (_, i) => `storm-${run}-${i}`);
  const executions = new Map<string, number>();
  let unguarded = 0;
  const handle = async ({ body, context }: { body: unknown; context: { key: string; scope: string } | undefined }) => {
    if (!context) {
      unguarded++;
      return { status: 400, json: { error: 'not guarded' } };
    }
    executions.set(context.key, (executions.get(context.key) ?? 0) + 1);
    await sleep(5 + Math.random() * 45);
    const id = `pay_${randomUUID()}`;
    return { status: 201, headers: { location: `/pay/${id}` }, json: { id, key: context.key, scope: context.scope, body } };
  };
  const instances = await Promise.all([
    startApp(binding, { options: { store }, handle }),
    startApp(binding, { options: { store, wait: { timeoutMs: 2_000 } }, handle }),
  ]);
  const agent = new Agent({ keepAlive: true, maxSockets: keysInFlight * clients });
  const statuses = new Map<number, number>();
  let requests = 0;
  let conflicts = 0;
  let resets = 0;
  const mismatched: string[] = [];
  const originals = new Map<string, number>();
  const started = Date.now();
  try {
    await mapLimit(keys, keysInFlight, async (key, i) => {
      const answers = await Promise.all(
        Array.from({ length: clients }, (_, c) =>
          sendUntilSettled(instances[c % instances.length]!.url, '/pay', { key, json: { amount: 100 + (i % 97), currency: 'chf' }, agent }),
        ),
      );
      for (const { result, attempts, conflicts: retried, resets: reset } of answers) {
        requests += attempts;
        conflicts += retried;
        resets += reset;
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
        if (result.headers['idempotent-replayed'] !== 'true' && result.status < 300) originals.set(key, (originals.get(key) ?? 0) + 1);
      }
      const first = answers[0]!.result;
      for (const { result } of answers) {
        if (describeAnswer(result) !== describeAnswer(first)) mismatched.push(`${key}: ${describeAnswer(first)} vs ${describeAnswer(result)}`);
      }
    });
  } finally {
    agent.destroy();
    await Promise.all(instances.map((app) => app.close()));
  }
  const seconds = (Date.now() - started) / 1000;
  const statusText = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
  return {
    keyCount,
    executed: [...executions.values()].reduce((a, b) => a + b, 0),
    duplicates: [...executions.values()].reduce((a, n) => a + Math.max(0, n - 1), 0),
    lost: keys.filter((key) => !executions.has(key)).length,
    fiveXX: [...statuses].filter(([status]) => status >= 500).reduce((a, [, n]) => a + n, 0),
    statuses,
    mismatched,
    notOneOriginal: keys.filter((key) => originals.get(key) !== 1),
    unguarded,
    errors: instances.flatMap((app) => app.errors),
    notes: `${requests} requests (${conflicts} 409s retried, ${resets} connection resets resent), final statuses ${statusText}, ${seconds.toFixed(1)} s`,
  };
}

for (const storeName of STORE_NAMES) {
  describe(`duplicate storm: ${storeName}`, () => {
    // A fresh table / prefix / collection per binding: the stand-in's scans grow with its collection.
    let handle: StoreHandle;
    beforeEach(async () => {
      handle = await openStore(storeName, { poolSize: 20 });
    });
    afterEach(async () => {
      await handle?.close();
    });

    for (const binding of BINDING_NAMES) {
      it(`${storeName} × ${binding}: executions === distinct keys, every 2xx of a key byte-identical, no 5xx`, async () => {
        const load = { ...LOAD[storeName], keys: scaled(LOAD[storeName].keys) };
        const counts = await storm(binding, handle.store, load);
        writeResult({
          scenario: 'storm',
          store: handle.label,
          binding,
          load: `${load.keys} keys × ${load.clients} concurrent clients, handler 5–50 ms, 2 app instances (one with wait)`,
          faults: 'none',
          executions: counts.executed,
          distinctKeys: counts.keyCount,
          duplicates: counts.duplicates,
          lost: counts.lost,
          fiveXXOutsideOutages: counts.fiveXX,
          notes: counts.notes,
        });

        expect(counts.unguarded).toBe(0);
        expect(counts.errors).toEqual([]);
        expect(counts.fiveXX).toBe(0);
        expect([...counts.statuses.keys()]).toEqual([201]);
        expect(counts.mismatched.slice(0, 5)).toEqual([]);
        expect(counts.duplicates).toBe(0);
        expect(counts.lost).toBe(0);
        expect(counts.executed).toBe(counts.keyCount);
        expect(counts.notOneOriginal.slice(0, 5)).toEqual([]);
      });
    }
  });
}

/**
 * A store that is not atomic: `create` reads, yields, then writes (check-then-insert), as a naive
 * implementation over a key-value API would. Everything else is correct.
 */
function checkThenInsertStore(): Store {
  const records = new Map<string, IdempotencyRecord>();
  return {
    async create(record, now) {
      const existing = records.get(record.id);
      await sleep(Math.random() * 3);
      if (existing && existing.expiresAt > now) return { created: false, existing };
      records.set(record.id, record);
      return { created: true };
    },
    async update(id, expectedToken, next) {
      if (records.get(id)?.token !== expectedToken) return false;
      records.set(id, next);
      return true;
    },
    async delete(id, expectedToken) {
      if (records.get(id)?.token !== expectedToken) return false;
      records.delete(id);
      return true;
    },
    async get(id, now) {
      const record = records.get(id);
      return record && record.expiresAt > now ? record : null;
    },
  };
}

describe('duplicate storm: control', () => {
  it('counts the double executions of a store whose create is check-then-insert (the storm can fail)', async () => {
    const counts = await storm('express', checkThenInsertStore(), { keys: 100, clients: 8, keysInFlight: 16 });
    expect(counts.duplicates).toBeGreaterThan(0);
    expect(counts.executed).toBe(counts.keyCount + counts.duplicates);
    expect(counts.mismatched.length + counts.notOneOriginal.length).toBeGreaterThan(0);
  });
});
