/**
 * Store outages under steady load, over real loopback HTTP (the payments app of src/crash/app.ts
 * on Express, in this process):
 *
 * - Redis: a redis-server of the test's own (never the shared 6379) is shut down (`SHUTDOWN SAVE`:
 *   the data survives, as with a persistent production Redis) for a few seconds, then started
 *   again on the same port.
 * - Postgres (atomic mode): the store's connections are terminated (`pg_terminate_backend` on its
 *   dedicated `application_name`) and kept out for a few seconds (its own login role gets
 *   `CONNECTION LIMIT 0`), then let back in.
 *
 * Clients keep sending new keys — each key by two clients at once — and retry 409 / 503 until a
 * 2xx. Every request started after the fault took hold and finished before the store came back
 * must be a 503 problem+json; no answer anywhere is a 500 or a hang; every 2xx for a key is the
 * same bytes; the time from the store's return to the first 2xx is measured. The lease is 3 s
 * (default 30 s) so that keys whose claim outlived the outage are taken over within the run.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IdempotencyEvent, Store } from '@oncely/core';
import { listen } from '@oncely/http-tests';
import { postgresStore } from '@oncely/postgres';
import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppTables, createCrashApp, dropAppTables } from '../src/crash/app';
import { type Attempt, describeAttempt, type KeyOutcome, pause, retryUntilAnswered } from '../src/crash/client';
import { writeResult } from '../src/results';
import { scaled } from '../src/scale';
import { createTable, DATABASE_URL, testPool, uniqueTable } from '../../postgres/test/support/db';
import { RECOMMENDED, uniquePrefix } from '../../redis/test/support/env';
import { RedisServer } from '../../redis/test/support/servers';

const LEASE_MS = 3_000;
const CLIENTS = scaled(12);
const WARM_MS = 1_500;
const OUTAGE_MS = 3_000;
/** A frozen Redis answers nothing: requests wait out the store's 3 s operation timeout, so the freeze is longer. */
const FREEZE_MS = 5_000;

type RedisFault = 'shutdown' | 'freeze';
const AFTER_MS = 2_000;
const MAX_ATTEMPTS = 1_000;
/** Handler time (a provider call takes a while), so that some requests are mid-handler when the store goes. */
const HANDLER_MS = [20, 60] as const;
const PAUSE_MS = 50;

const admin = testPool({ max: 4 });
afterAll(async () => {
  await admin.end();
});

interface Fault {
  /** The fault injection began (epoch ms): from here until the first 2xx after `upAt`, 5xx belong to the outage. */
  readonly startAt: number;
  /** The fault has taken hold (epoch ms). */
  readonly downAt: number;
  /** The store is back (epoch ms). */
  readonly upAt: number;
}

interface LoadRun {
  readonly outcomes: KeyOutcome[];
  readonly fault: Fault;
  readonly events: Array<{ readonly type: IdempotencyEvent['type']; readonly key: string | undefined }>;
}

/**
 * Steady load: CLIENTS/2 workers, each sending fresh keys by two concurrent clients (both retry
 * until 2xx), while `fault` runs: WARM_MS of load, then `fault()`, then AFTER_MS past the first
 * 2xx after the store is back.
 */
async function underLoad(store: Store, options: { pool: pg.Pool; tables: string; atomic: boolean }, fault: () => Promise<Fault>): Promise<LoadRun> {
  const events: LoadRun['events'] = [];
  const app = createCrashApp({
    store,
    pool: options.pool,
    tables: options.tables,
    atomic: options.atomic,
    leaseMs: LEASE_MS,
    handlerMs: () => HANDLER_MS[0] + Math.floor(Math.random() * (HANDLER_MS[1] - HANDLER_MS[0])),
    onEvent: (event, key) => events.push({ type: event.type, key }),
  });
  const running = await listen(createServer(app));
  const outcomes: KeyOutcome[] = [];
  let stop = false;
  const run = randomBytes(4).toString('hex');
  let n = 0;
  const retry = { base: async () => running.url, maxAttempts: MAX_ATTEMPTS, pauseMs: PAUSE_MS };
  const workers = Array.from({ length: Math.max(1, Math.floor(CLIENTS / 2)) }, async () => {
    while (!stop) {
      const key = `outage-${run}-${n++}`;
      outcomes.push(...(await Promise.all([retryUntilAnswered(key, retry), retryUntilAnswered(key, retry)])));
    }
  });
  try {
    await pause(WARM_MS);
    const window = await fault();
    // Load goes on until AFTER_MS past the first 2xx of a request sent after the store came back.
    for (let waited = 0; waited < 60_000 && !firstSuccessAfter(outcomes, window.upAt); waited += 50) await pause(50);
    await pause(AFTER_MS);
    stop = true;
    await Promise.all(workers);
    return { outcomes, fault: window, events };
  } finally {
    stop = true;
    await running.close();
  }
}

function answers(outcomes: readonly KeyOutcome[]): Array<Extract<Attempt, { kind: 'answer' }>> {
  return outcomes.flatMap((outcome) => outcome.attempts.filter((attempt): attempt is Extract<Attempt, { kind: 'answer' }> => attempt.kind === 'answer'));
}

function firstSuccessAfter(outcomes: readonly KeyOutcome[], at: number): number | undefined {
  const times = answers(outcomes)
    .filter((attempt) => attempt.startedAt >= at && attempt.status >= 200 && attempt.status < 300)
    .map((attempt) => attempt.endedAt);
  return times.length > 0 ? Math.min(...times) : undefined;
}

interface Verdict {
  readonly keys: number;
  /** 2xx answers to requests sent before the store went down and answered after it was back (their writes were retried through it). */
  readonly bridged: number;
  /** Slowest 503 of the outage, ms (how long a request waited before being refused). */
  readonly slowest503Ms: number;
  readonly duringOutage: number;
  readonly fiveXXOutside: number;
  readonly recoveryMs: number;
  readonly statuses: Record<string, number>;
}

/** What every outage must show, whatever the store. */
function expectOutageBehaviour(run: LoadRun, outageCodes: readonly string[]): Verdict {
  const { outcomes, fault } = run;
  const all = outcomes.flatMap((outcome) => outcome.attempts);
  const errors = all.filter((attempt) => attempt.kind === 'error').map(describeAttempt);
  expect(errors, 'requests without an answer (hangs, dropped connections)').toEqual([]);
  const listed = answers(outcomes);
  const statuses: Record<string, number> = {};
  for (const attempt of listed) statuses[`${attempt.status}${attempt.code ? ` ${attempt.code}` : ''}`] = (statuses[`${attempt.status}${attempt.code ? ` ${attempt.code}` : ''}`] ?? 0) + 1;
  const unexpected = listed
    .filter((attempt) => !(attempt.status === 201 || (attempt.status === 409 && attempt.code === 'in_progress') || (attempt.status === 503 && outageCodes.includes(attempt.code ?? ''))))
    .map(describeAttempt);
  expect(unexpected, 'answers other than 201, 409 in_progress or a 503 problem').toEqual([]);
  for (const attempt of listed.filter((answer) => answer.status === 503)) expect(attempt.contentType).toMatch(/^application\/problem\+json/);

  // Inside the outage (started after the fault took hold, ended before the store was back): 503 store_unavailable only.
  const inside = listed.filter((attempt) => attempt.startedAt >= fault.downAt && attempt.endedAt <= fault.upAt);
  expect(inside.length, 'requests sent while the store was down').toBeGreaterThan(0);
  expect(inside.filter((attempt) => !(attempt.status === 503 && attempt.code === 'store_unavailable')).map(describeAttempt), 'answers while the store was down').toEqual([]);

  const recoveredAt = firstSuccessAfter(outcomes, fault.upAt);
  expect(recoveredAt, 'a 2xx after the store came back').toBeDefined();
  const outside = listed.filter((attempt) => attempt.status >= 500 && (attempt.endedAt < fault.startAt || attempt.startedAt > (recoveredAt ?? 0)));
  expect(outside.map(describeAttempt), '5xx before the fault or after the first 2xx that followed it').toEqual([]);

  // Every key answered, and every 2xx of a key is the same bytes.
  const byKey = new Map<string, KeyOutcome[]>();
  for (const outcome of outcomes) byKey.set(outcome.key, [...(byKey.get(outcome.key) ?? []), outcome]);
  for (const [key, twins] of byKey) {
    expect(
      twins.map((twin) => (twin.answer ? 'answered' : describeAttempt(twin.attempts.at(-1)))),
      `both clients of ${key} got a 2xx`,
    ).toEqual(twins.map(() => 'answered'));
    const [first, ...rest] = twins;
    for (const twin of rest) expect(twin.answer?.body.equals(first?.answer?.body ?? Buffer.alloc(0)), `2xx bytes of ${key}`).toBe(true);
  }
  const slowest503Ms = Math.max(0, ...listed.filter((attempt) => attempt.status === 503).map((attempt) => attempt.endedAt - attempt.startedAt));
  const bridged = listed.filter((attempt) => attempt.status === 201 && attempt.startedAt <= fault.downAt && attempt.endedAt >= fault.upAt).length;
  return { keys: byKey.size, bridged, slowest503Ms, duringOutage: inside.length, fiveXXOutside: outside.length, recoveryMs: (recoveredAt ?? 0) - fault.upAt, statuses };
}

interface Effects {
  readonly executions: Map<string, number>;
  readonly payments: Map<string, number>;
  readonly providerCharges: number;
  readonly providerCalls: number;
}

async function effects(tables: string): Promise<Effects> {
  const count = async (table: string): Promise<Map<string, number>> => {
    const { rows } = await admin.query<{ idempotency_key: string; n: string }>(`SELECT idempotency_key, count(*) AS n FROM "${tables}_${table}" GROUP BY idempotency_key`);
    return new Map(rows.map((row) => [row.idempotency_key, Number(row.n)]));
  };
  const provider = await admin.query<{ n: string; calls: string }>(`SELECT count(*) AS n, coalesce(sum(calls), 0) AS calls FROM "${tables}_provider"`);
  return { executions: await count('executions'), payments: await count('payments'), providerCharges: Number(provider.rows[0]?.n), providerCalls: Number(provider.rows[0]?.calls) };
}

const sum = (map: Map<string, number>): number => [...map.values()].reduce((total, n) => total + n, 0);

describe('store outage under load', () => {
  it.each<RedisFault>(['shutdown', 'freeze'])('redis %s for a few seconds: 503 store_unavailable meanwhile, no 500, every key answered once its store is back', async (mode) => {
    const server = await RedisServer.start();
    const pid = Number(/process_id:(\d+)/.exec(await server.cli('info', 'server'))?.[1]);
    const client = new Redis(server.url, RECOMMENDED);
    client.on('error', () => undefined);
    const tables = uniqueTable('outage_app');
    await createAppTables(admin, tables);
    try {
      const store = redisStore({ client, prefix: uniquePrefix() });
      const run = await underLoad(store, { pool: admin, tables, atomic: false }, async () => {
        const startAt = Date.now();
        if (mode === 'freeze') {
          // SIGSTOP: connections stay open and nothing answers (a hung server, a partition).
          process.kill(pid, 'SIGSTOP');
          const downAt = Date.now();
          await pause(FREEZE_MS);
          process.kill(pid, 'SIGCONT');
          return { startAt, downAt, upAt: Date.now() };
        }
        // SHUTDOWN SAVE: the records written so far survive the restart, as on a persistent Redis.
        await server.cli('shutdown', 'save').catch(() => undefined);
        while (server.running) await pause(10);
        const downAt = Date.now();
        await pause(OUTAGE_MS);
        await server.restart();
        return { startAt, downAt, upAt: Date.now() };
      });
      const verdict = expectOutageBehaviour(run, ['store_unavailable']);
      const found = await effects(tables);
      // Completions that failed while Redis was down: the handler ran, the record stayed a claim.
      const unrecorded = new Set(run.events.filter((event) => event.type === 'complete_failed').map((event) => event.key));
      let duplicates = 0;
      for (const [key, n] of found.payments) {
        if (n > 1) {
          duplicates += n - 1;
          expect(unrecorded.has(key), `${key} booked ${n}×: its first completion failed during the outage`).toBe(true);
        }
      }
      const lost = [...new Set(run.outcomes.map((outcome) => outcome.key))].filter((key) => !found.payments.has(key));
      expect(lost, 'answered keys without a booking').toEqual([]);
      expect(found.providerCharges, 'provider charges (childKey): one per key').toBe(verdict.keys);
      writeResult({
        scenario: mode === 'freeze' ? 'outage (frozen)' : 'outage',
        store: 'redis',
        binding: 'express',
        load: `${CLIENTS} clients (each key sent by 2 at once, retried until 2xx), ${verdict.keys} keys`,
        faults:
          mode === 'freeze'
            ? `own redis-server frozen (SIGSTOP, connections left open) for ${FREEZE_MS / 1000} s, then SIGCONT`
            : `own redis-server shut down (SHUTDOWN SAVE) for ${OUTAGE_MS / 1000} s, restarted`,
        executions: sum(found.payments),
        distinctKeys: verdict.keys,
        duplicates,
        lost: lost.length,
        fiveXXOutsideOutages: verdict.fiveXXOutside,
        notes:
          `${verdict.duringOutage} requests during the outage, all 503 store_unavailable (slowest 503 took ${verdict.slowest503Ms} ms: ${mode === 'freeze' ? 'commands wait on the frozen server' : 'ioredis queues commands while it reconnects'}, the store's 3 s operation timeout bounds them); recovery (${mode === 'freeze' ? 'SIGCONT' : 'restart'} → first 2xx) ${verdict.recoveryMs} ms; ` +
          `statuses ${JSON.stringify(verdict.statuses)}; ${verdict.bridged} requests in flight across the whole outage still answered 201 (completion retried through it); ${unrecorded.size} completions failed during the outage (handler ran, record left a claim: ` +
          `a retry after the ${LEASE_MS} ms lease re-runs it — the crash window); provider ${found.providerCharges} charges for ${found.providerCalls} calls`,
      });
    } finally {
      if (mode === 'freeze' && pid > 0) process.kill(pid, 'SIGCONT');
      client.disconnect();
      await server.destroy();
      await dropAppTables(admin, tables);
    }
  });

  it('postgres (atomic mode) connections terminated and kept out for a few seconds: 503 meanwhile, every payment exactly once', async () => {
    const role = `oncely_rel_${randomBytes(4).toString('hex')}`;
    const applicationName = `oncely-reliability-outage-${randomBytes(4).toString('hex')}`;
    const table = uniqueTable('outage');
    const tables = uniqueTable('outage_app');
    const drop = await createTable(admin, table);
    await createAppTables(admin, tables);
    await admin.query(`CREATE ROLE "${role}" LOGIN`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${table}", "${tables}_payments" TO "${role}"`);
    const url = new URL(DATABASE_URL);
    url.username = role;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 10, connectionTimeoutMillis: 5_000, application_name: applicationName });
    pool.on('error', () => undefined);
    try {
      const store = postgresStore({ pool, table });
      const run = await underLoad(store, { pool: admin, tables, atomic: true }, async () => {
        const startAt = Date.now();
        await admin.query(`ALTER ROLE "${role}" CONNECTION LIMIT 0`);
        const terminated = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
        // Wait until the store's last connection is gone before the outage counts as begun.
        for (let i = 0; i < 200; i++) {
          const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
          if (Number(rows[0]?.n) === 0) break;
          await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
          await pause(10);
        }
        const downAt = Date.now();
        console.info(`outage: terminated ${terminated.rowCount} store connections`);
        await pause(OUTAGE_MS);
        await admin.query(`ALTER ROLE "${role}" CONNECTION LIMIT -1`);
        return { startAt, downAt, upAt: Date.now() };
      });
      const verdict = expectOutageBehaviour(run, ['store_unavailable', 'database_unavailable']);
      const found = await effects(tables);
      const keys = [...new Set(run.outcomes.map((outcome) => outcome.key))];
      const wrong = keys.filter((key) => found.payments.get(key) !== 1).map((key) => `${key}: ${found.payments.get(key) ?? 0}`);
      expect(wrong, 'keys without exactly one payment').toEqual([]);
      expect(found.providerCharges, 'provider charges (childKey): one per key').toBe(keys.length);
      writeResult({
        scenario: 'outage',
        store: 'postgres (atomic mode)',
        binding: 'express',
        load: `${CLIENTS} clients (each key sent by 2 at once, retried until 2xx), ${verdict.keys} keys`,
        faults: `store connections terminated (pg_terminate_backend) and refused (role CONNECTION LIMIT 0) for ${OUTAGE_MS / 1000} s`,
        executions: sum(found.payments),
        distinctKeys: verdict.keys,
        duplicates: keys.reduce((total, key) => total + Math.max(0, (found.payments.get(key) ?? 0) - 1), 0),
        lost: keys.filter((key) => !found.payments.has(key)).length,
        fiveXXOutsideOutages: verdict.fiveXXOutside,
        notes:
          `${verdict.duringOutage} requests during the outage, all 503 store_unavailable (slowest 503 took ${verdict.slowest503Ms} ms); recovery (connections allowed → first 2xx) ${verdict.recoveryMs} ms; ` +
          `statuses ${JSON.stringify(verdict.statuses)}; ${verdict.bridged} requests in flight across the whole outage still answered 201; handler runs ${sum(found.executions)} (runs caught by the outage rolled back); provider ${found.providerCharges} charges for ${found.providerCalls} calls`,
      });
    } finally {
      await pool.end().catch(() => undefined);
      await drop();
      await dropAppTables(admin, tables);
      await admin.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    }
  });
});
