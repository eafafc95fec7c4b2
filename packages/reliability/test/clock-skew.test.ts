/**
 * Clock skew: two app instances (two Express servers in this process, each with its own oncely
 * engine, its own store client and its own clock: `Date.now() + offset`) share one real store.
 * The lease is judged by the clock of whoever reads the record, against a deadline written by the
 * clock of whoever claimed (or last renewed) it, so an instance whose clock runs S ms ahead sees a
 * live owner's lease expire S ms early. The owner renews every leaseMs/3, so a claim it holds never
 * looks older than about leaseMs/3 to itself; to a reader S ahead it looks expired once
 * S > leaseMs − (time since the last renewal) — first possible at S ≈ 2/3 × leaseMs, certain at S > leaseMs.
 *
 * 1. Default lease (30 s), clocks 10 s apart (+5 s and −5 s): concurrent retries of the same keys
 *    alternate between the instances, some handlers outlast a renewal period: no key runs twice.
 * 2. The boundary, measured: lease 2 s, a 1.6 s handler on instance A, instance B (clock S ahead)
 *    polling the same key, for S from 0 to 1.2 × lease. No double execution while S ≤ lease/3;
 *    every key twice once S > lease; in between, the measured counts are written to the results.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { type Clock, type Store, systemClock } from '@oncely/core';
import { listen, type RunningApp } from '@oncely/http-tests';
import { postgresStore } from '@oncely/postgres';
import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppTables, createCrashApp, dropAppTables } from '../src/crash/app';
import { type Attempt, describeAttempt, type KeyOutcome, pause, postCharge, retryUntilAnswered } from '../src/crash/client';
import { writeResult } from '../src/results';
import { mapLimit } from '../src/retry';
import { scaled } from '../src/scale';
import { createTable, DATABASE_URL, testPool, uniqueTable } from '../../postgres/test/support/db';
import { deleteKeys, REDIS_URL, RECOMMENDED, uniquePrefix } from '../../redis/test/support/env';

const admin = testPool({ max: 4 });
afterAll(async () => {
  await admin.end();
});

/** The system clock moved by `offset()` ms (read at every call, so a test can change it). */
function skewedClock(offset: () => number): Clock {
  return { now: () => Date.now() + offset(), sleep: systemClock.sleep };
}

type StoreKind = 'redis' | 'postgres';

/**
 * Postgres pool per instance. In atomic mode every in-flight request holds one connection for its
 * transaction and its lease renewals need another: with no more connections than concurrent
 * handlers, renewals wait for the pool, the completion waits for the renewal, and the lease lapses
 * (measured: a pool of 10 under 10 concurrent 1.6 s handlers let a same-clock instance take over
 * every key). Sized here above the concurrency, as the Postgres README should say.
 */
const POOL_SIZE = 40;

/** One backend, and a fresh store client on it per instance (as two servers would have). */
async function openShared(kind: StoreKind): Promise<{ open: () => Store; atomic: boolean; close: () => Promise<void> }> {
  if (kind === 'redis') {
    const prefix = uniquePrefix();
    const clients: Redis[] = [];
    return {
      atomic: false,
      open: () => {
        const client = new Redis(REDIS_URL, RECOMMENDED);
        clients.push(client);
        return redisStore({ client, prefix });
      },
      async close() {
        if (clients[0]) await deleteKeys(clients[0], prefix);
        for (const client of clients) client.disconnect();
      },
    };
  }
  const table = uniqueTable('skew');
  const drop = await createTable(admin, table);
  const pools: pg.Pool[] = [];
  return {
    atomic: true,
    open: () => {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: POOL_SIZE, connectionTimeoutMillis: 10_000 });
      pool.on('error', () => undefined);
      pools.push(pool);
      return postgresStore({ pool, table });
    },
    async close() {
      await drop();
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}

interface Instances {
  readonly a: RunningApp;
  readonly b: RunningApp;
  readonly tables: string;
  /** Resolves when instance A's handler starts for `key`. */
  started(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Instances A (clock + offsetA) and B (clock + offsetB) on one backend. */
async function instances(
  kind: StoreKind,
  options: { offsetA: () => number; offsetB: () => number; leaseMs?: number; handlerMs: (key: string) => number },
): Promise<Instances> {
  const shared = await openShared(kind);
  const tables = uniqueTable('skew_app');
  await createAppTables(admin, tables);
  const waiters = new Map<string, () => void>();
  const starts = new Map<string, Promise<void>>();
  const started = (key: string): Promise<void> => {
    let promise = starts.get(key);
    if (!promise) {
      promise = new Promise<void>((resolve) => waiters.set(key, resolve));
      starts.set(key, promise);
    }
    return promise;
  };
  const app = (instance: 'A' | 'B', offset: () => number) =>
    createCrashApp({
      store: shared.open(),
      pool: admin,
      tables,
      atomic: shared.atomic,
      instance,
      clock: skewedClock(offset),
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      handlerMs: options.handlerMs,
      point: async (point, key) => {
        if (point === 'in-handler' && instance === 'A') {
          void started(key);
          waiters.get(key)?.();
        }
      },
    });
  const a = await listen(createServer(app('A', options.offsetA)));
  const b = await listen(createServer(app('B', options.offsetB)));
  return {
    a,
    b,
    tables,
    started,
    async close() {
      await Promise.all([a.close(), b.close()]);
      await shared.close();
      await dropAppTables(admin, tables);
    },
  };
}

async function countByKey(table: string): Promise<Map<string, number>> {
  const { rows } = await admin.query<{ idempotency_key: string; n: string }>(`SELECT idempotency_key, count(*) AS n FROM "${table}" GROUP BY idempotency_key`);
  return new Map(rows.map((row) => [row.idempotency_key, Number(row.n)]));
}
const executionsByKey = (tables: string) => countByKey(`${tables}_executions`);
const paymentsByKey = (tables: string) => countByKey(`${tables}_payments`);

const SKEW_MS = 5_000;
const KEYS = scaled(200);
/** Senders per key, alternating between the instances. */
const SENDERS = 4;
const PARALLEL_KEYS = 16;
/** Keys whose handler outlasts a renewal period of the default lease (30 s / 3). */
const LONG_KEYS = 3;
const LONG_HANDLER_MS = 11_000;

describe.each<StoreKind>(['redis', 'postgres'])('clock skew on %s', (kind) => {
  it(`default lease, clocks ${(2 * SKEW_MS) / 1000} s apart (+${SKEW_MS / 1000} s / −${SKEW_MS / 1000} s): retries alternate between the instances, no key runs twice`, async () => {
    const run = randomBytes(4).toString('hex');
    const keys = Array.from({ length: KEYS }, (_, i) => `skew-${run}-${i}`);
    const long = new Set(keys.slice(0, LONG_KEYS));
    const pair = await instances(kind, {
      offsetA: () => SKEW_MS,
      offsetB: () => -SKEW_MS,
      handlerMs: (key) => (long.has(key) ? LONG_HANDLER_MS : 20 + Math.floor(Math.random() * 80)),
    });
    try {
      const started = Date.now();
      const outcomes = await mapLimit(keys, PARALLEL_KEYS, (key) =>
        Promise.all(
          Array.from({ length: SENDERS }, (_, sender) => {
            let turn = sender;
            // Sender i starts on instance i % 2, and every retry goes to the other instance.
            const base = async (): Promise<string> => ((turn++ % 2 === 0 ? pair.a : pair.b).url);
            return retryUntilAnswered(key, { base, maxAttempts: 400, pauseMs: long.has(key) ? 250 : 25 });
          }),
        ),
      );
      const ms = Date.now() - started;
      const executions = await executionsByKey(pair.tables);
      const twice = keys.filter((key) => executions.get(key) !== 1).map((key) => `${key}: ${executions.get(key) ?? 0}`);
      expect(twice, 'keys that did not run exactly once').toEqual([]);
      const attempts = outcomes.flat().flatMap((outcome) => outcome.attempts);
      const odd = attempts.filter((attempt) => !(attempt.kind === 'answer' && (attempt.status === 201 || (attempt.status === 409 && attempt.code === 'in_progress')))).map(describeAttempt);
      expect(odd, 'answers other than 201 and 409 in_progress').toEqual([]);
      for (const [i, senders] of outcomes.entries()) {
        const bodies = senders.map((outcome: KeyOutcome) => outcome.answer?.body.toString('base64') ?? 'none');
        expect(new Set(bodies).size, `2xx bytes of ${keys[i]}`).toBe(1);
        expect(bodies[0]).not.toBe('none');
      }
      // 2xx answers served by the instance that did not run the key: replays across the skew.
      const executedBy = (outcome: KeyOutcome): string => (JSON.parse(outcome.answer?.body.toString('utf8') ?? '{}') as { instance?: string }).instance ?? '?';
      const served = outcomes.flat().filter((outcome) => outcome.answer);
      const crossInstance = served.filter((outcome) => (outcome.answer?.base === pair.a.url ? 'A' : 'B') !== executedBy(outcome)).length;
      writeResult({
        scenario: 'clock-skew',
        store: kind === 'postgres' ? 'postgres (atomic mode)' : kind,
        binding: 'express',
        load: `${KEYS} keys × ${SENDERS} concurrent senders alternating between 2 instances (${LONG_KEYS} keys with an ${LONG_HANDLER_MS / 1000} s handler)`,
        faults: `clocks ${SKEW_MS / 1000} s fast and ${SKEW_MS / 1000} s slow (10 s apart), default lease 30 s`,
        executions: [...executions.values()].reduce((sum, n) => sum + n, 0),
        distinctKeys: KEYS,
        duplicates: keys.reduce((sum, key) => sum + Math.max(0, (executions.get(key) ?? 0) - 1), 0),
        lost: keys.filter((key) => !executions.has(key)).length,
        fiveXXOutsideOutages: attempts.filter((attempt) => attempt.kind === 'answer' && attempt.status >= 500).length,
        notes: `${attempts.length} requests in ${Math.round(ms / 100) / 10} s; every sender of a key got the same bytes; ${crossInstance} of ${served.length} 2xx were served by the other instance than the one that ran the key`,
      });
    } finally {
      await pair.close();
    }
  });

  it('the boundary: lease 2 s, 1.6 s handler on A, B polling with its clock S ahead — measured for S from 0 to 1.2 × lease', async () => {
    const LEASE = 2_000;
    const HANDLER = 1_600;
    const PER_SKEW = scaled(10);
    const skews = [0, 400, 667, 1_000, 1_200, 1_400, 1_600, 1_800, 2_400];
    let offset = 0;
    const pair = await instances(kind, { offsetA: () => 0, offsetB: () => offset, leaseMs: LEASE, handlerMs: () => HANDLER });
    const measured: Array<{ skew: number; doubles: number; keys: number }> = [];
    try {
      for (const skew of skews) {
        offset = skew;
        const keys = Array.from({ length: PER_SKEW }, (_, i) => `edge-${skew}-${randomBytes(3).toString('hex')}-${i}`);
        await Promise.all(
          keys.map(async (key) => {
            const first = postCharge(pair.a.url, key);
            await Promise.race([pair.started(key), first]);
            // B retries the key until it answers: a replay of A's result, or its own run after a takeover.
            const second = await retryUntilAnswered(key, { base: async () => pair.b.url, maxAttempts: 400, pauseMs: 50 });
            const answer: Attempt = await first;
            expect(answer.kind, `A's answer for ${key}`).toBe('answer');
            expect(second.answer?.status, `B's answer for ${key}: ${describeAttempt(second.attempts.at(-1))}`).toBe(201);
          }),
        );
        const executions = await executionsByKey(pair.tables);
        const doubles = keys.filter((key) => (executions.get(key) ?? 0) > 1).length;
        const payments = await paymentsByKey(pair.tables);
        // Atomic mode: a run that lost its claim rolls back, so the payment stays single even when the handler ran twice.
        if (kind === 'postgres') expect(keys.filter((key) => payments.get(key) !== 1), `keys without exactly one payment at skew ${skew} ms`).toEqual([]);
        else expect(keys.filter((key) => payments.get(key) !== executions.get(key)), `bookings = runs at skew ${skew} ms`).toEqual([]);
        measured.push({ skew, doubles, keys: keys.length });
        if (skew <= LEASE / 3) expect(doubles, `keys run twice at skew ${skew} ms`).toBe(0);
        if (skew > LEASE) expect(doubles, `keys run twice at skew ${skew} ms (beyond the lease: every claim looks expired)`).toBe(keys.length);
        await pause(10);
      }
      console.info(`clock-skew ${kind}: ${measured.map((m) => `${m.skew} ms → ${m.doubles}/${m.keys}`).join(', ')}`);
      const doubles = measured.reduce((sum, m) => sum + m.doubles, 0);
      const safe = measured.filter((m) => m.doubles === 0).map((m) => m.skew);
      writeResult({
        scenario: 'clock-skew boundary',
        store: kind === 'postgres' ? 'postgres (atomic mode)' : kind,
        binding: 'express',
        load: `${PER_SKEW} keys per skew × ${skews.length} skews, 1 sender on A + 1 polling B`,
        faults: `B's clock ahead by 0–${skews.at(-1)} ms, lease ${LEASE} ms (renewed every ${Math.round(LEASE / 3)} ms), ${HANDLER} ms handler`,
        executions: measured.reduce((sum, m) => sum + m.keys + m.doubles, 0),
        distinctKeys: measured.reduce((sum, m) => sum + m.keys, 0),
        duplicates: doubles,
        lost: 0,
        fiveXXOutsideOutages: 0,
        notes:
          `keys run twice per skew: ${measured.map((m) => `${m.skew} ms ${m.doubles}/${m.keys}`).join(', ')}; largest skew with none: ${Math.max(...safe)} ms ` +
          `(${Math.round((Math.max(...safe) / LEASE) * 100)}% of the lease); theory: first possible above ${Math.round((2 * LEASE) / 3)} ms (2/3 lease), certain above ${LEASE} ms` +
          (kind === 'postgres' ? '; atomic mode: the run that lost its claim rolled back, so every key kept exactly one payment even when its handler ran twice' : ''),
      });
    } finally {
      await pair.close();
    }
  });
});
