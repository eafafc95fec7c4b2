/**
 * Crashes: the payments app runs in a child process (src/crash/server.ts) and is SIGKILLed, at
 * moments spread over a run of many keys sent by many concurrent clients, either at the four kill
 * points — before the claim, inside the handler, after the side effect (before completion), after
 * completion (before the response) — or, in a second mode, wherever a timer finds it. Every kill
 * takes down all requests in flight and is followed by a fresh process; every key is retried (409,
 * 503, dropped connections) until it answers 2xx, within a bound, then once more for a replay.
 *
 * - Postgres, atomic mode: the payment row and the idempotency record commit together, so every
 *   key has exactly one payment, and the client's answer is that payment.
 * - Redis, DynamoDB Local, MongoDB (the wire-protocol stand-in): the record and the payment cannot
 *   commit together. A run killed after its side effect and before its completion leaves its
 *   booking and its claim; once the lease has expired a retry takes the claim over and books
 *   again. Every extra booking must come from a killed process, every re-run from a takeover, and
 *   the provider, called with `childKey('provider-charge')`, still charges each key once.
 * - memory: meaningless across restarts (the records die with the process) — not run.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppTables, dropAppTables, KILL_POINTS, type KillPoint } from '../src/crash/app';
import { type Attempt, describeAttempt, type KeyOutcome, pause, postCharge, retryUntilAnswered } from '../src/crash/client';
import { buildCrashServer, CrashServer } from '../src/crash/process';
import { writeResult } from '../src/results';
import { mapLimit } from '../src/retry';
import { scaled } from '../src/scale';
import { createTable, DATABASE_URL, testPool, uniqueTable } from '../../postgres/test/support/db';
import { deleteKeys, REDIS_URL, RECOMMENDED, uniquePrefix } from '../../redis/test/support/env';

/** Short, so a dead owner's claim is taken over quickly (the default is 30 s). */
const LEASE_MS = 1_500;
const KEYS = scaled(400);
const CLIENTS = 16;
const KILLS_PER_POINT = scaled(4);
/** Probability that a request asks the parent at a kill point (the parent then decides). */
const KILL_RATE = 0.05;
const RANDOM_KILLS = scaled(12);
const MAX_ATTEMPTS = 400;
const PAUSE_MS = 100;

let server: { script: string; remove: () => void };
const admin = testPool({ max: 4 });

beforeAll(async () => {
  server = await buildCrashServer();
});

afterAll(async () => {
  server?.remove();
  await admin.end();
});

interface Row {
  readonly idempotency_key: string;
}

async function rowsByKey<T extends Row>(sql: string): Promise<Map<string, T[]>> {
  const { rows } = await admin.query<T>(sql);
  const byKey = new Map<string, T[]>();
  for (const row of rows) byKey.set(row.idempotency_key, [...(byKey.get(row.idempotency_key) ?? []), row]);
  return byKey;
}

const isRetryable = (attempt: Attempt): boolean =>
  attempt.kind === 'error'
    ? attempt.error !== 'timeout'
    : (attempt.status === 409 && attempt.code === 'in_progress') || (attempt.status === 503 && attempt.code === 'store_unavailable') || attempt.status === 201;

interface CrashRun {
  readonly outcomes: KeyOutcome[];
  readonly kills: CrashServer['kills'];
  readonly starts: number;
  readonly unexpectedExits: number;
  readonly replays: Attempt[];
  readonly ms: number;
}

/**
 * `points`: the parent kills at the four kill points (KILLS_PER_POINT each). `random`: a timer in
 * the parent kills whatever the server is doing at that moment (RANDOM_KILLS times).
 */
type KillMode = 'points' | 'random';

/** Drive KEYS keys through the crash server with kills spread over the run. */
async function crashRun(env: Record<string, string>, mode: KillMode): Promise<CrashRun> {
  const keys = Array.from({ length: KEYS }, (_, i) => `crash-${randomBytes(4).toString('hex')}-${i}`);
  const quota = new Map<KillPoint, number>(KILL_POINTS.map((point) => [point, 0]));
  const totalKills = KILLS_PER_POINT * KILL_POINTS.length;
  let answered = 0;
  const app = new CrashServer({
    script: server.script,
    env: { ...env, ONCELY_LEASE_MS: String(LEASE_MS), ONCELY_KILL_RATE: mode === 'points' ? String(KILL_RATE) : '0' },
    decide(point) {
      // Spread the kills over the run: kill number n waits until n/(total+1) of the keys answered.
      const done = [...quota.values()].reduce((sum, n) => sum + n, 0);
      if ((quota.get(point) ?? 0) >= KILLS_PER_POINT) return false;
      if (answered < ((done + 1) * KEYS) / (totalKills + 2)) return false;
      quota.set(point, (quota.get(point) ?? 0) + 1);
      return true;
    },
  });
  const started = Date.now();
  let finished = false;
  // Random moments: kill number n once n/(RANDOM_KILLS+2) of the keys have answered, after a random pause.
  const timer = (async () => {
    while (mode === 'random' && !finished && app.kills.length < RANDOM_KILLS) {
      await pause(100 + Math.random() * 400);
      if (answered >= ((app.kills.length + 1) * KEYS) / (RANDOM_KILLS + 2)) await app.killNow();
    }
  })();
  try {
    const outcomes = await mapLimit(keys, CLIENTS, async (key) => {
      const outcome = await retryUntilAnswered(key, { base: () => app.url(), maxAttempts: MAX_ATTEMPTS, pauseMs: PAUSE_MS });
      answered++;
      return outcome;
    });
    finished = true;
    await timer;
    const ms = Date.now() - started;
    // The retries a client sends after its answer got lost: each must replay the same bytes.
    const base = await app.url();
    const replays = await mapLimit(keys, CLIENTS, (key) => postCharge(base, key));
    return { outcomes, kills: app.kills, starts: app.starts, unexpectedExits: app.unexpectedExits, replays, ms };
  } finally {
    finished = true;
    await app.stop();
  }
}

function countKills(kills: CrashServer['kills']): Record<KillPoint | 'random', number> {
  const counts = Object.fromEntries([...KILL_POINTS, 'random'].map((point) => [point, 0])) as Record<KillPoint | 'random', number>;
  for (const kill of kills) counts[kill.point]++;
  return counts;
}

/** The checks every store shares: answers, statuses, replays, kills. Returns the 5xx count. */
function expectEveryKeyAnswered(run: CrashRun, mode: KillMode): number {
  const lost = run.outcomes.filter((outcome) => !outcome.answer).map((outcome) => `${outcome.key}: ${describeAttempt(outcome.attempts.at(-1))}`);
  expect(lost, 'keys that never got a 2xx (last attempt shown)').toEqual([]);
  const odd = run.outcomes.flatMap((outcome) => outcome.attempts.filter((attempt) => !isRetryable(attempt)).map(describeAttempt));
  expect(odd, 'answers other than 201, 409 in_progress, 503 store_unavailable or a dropped connection').toEqual([]);
  expect(run.unexpectedExits, 'crash servers that died without being killed').toBe(0);
  for (const [i, replay] of run.replays.entries()) {
    const outcome = run.outcomes[i] as KeyOutcome;
    expect(replay.kind === 'answer' ? replay.status : replay.error, `replay of ${outcome.key}`).toBe(201);
    if (replay.kind === 'answer') expect(replay.body.equals(outcome.answer?.body ?? Buffer.alloc(0)), `replay bytes of ${outcome.key}`).toBe(true);
  }
  const kills = countKills(run.kills);
  if (mode === 'points') for (const point of KILL_POINTS) expect(kills[point], `kills at ${point}`).toBeGreaterThan(0);
  else expect(kills.random, 'kills at random moments').toBeGreaterThan(0);
  return run.outcomes.flatMap((outcome) => outcome.attempts).filter((attempt) => attempt.kind === 'answer' && attempt.status >= 500).length;
}

interface ExecutionRow extends Row {
  readonly takeover: boolean;
  readonly at_ms: string;
}
interface PaymentRow extends Row {
  readonly charge_id: string;
  readonly pid: number;
  readonly provider_charge: string;
}

/** Every re-execution of a key came from a takeover, after the lease; returns the shortest gap (ms). */
function expectReexecutionsAreTakeovers(executions: Map<string, ExecutionRow[]>): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const [key, rows] of executions) {
    const sorted = [...rows].sort((a, b) => Number(a.at_ms) - Number(b.at_ms));
    for (const [i, row] of sorted.entries()) {
      if (i === 0) continue;
      expect(row.takeover, `re-execution ${i} of ${key} took over an expired claim`).toBe(true);
      shortest = Math.min(shortest, Number(row.at_ms) - Number(sorted[i - 1]?.at_ms));
    }
  }
  return shortest;
}

type NonAtomicStore = 'redis' | 'dynamodb' | 'mongodb';

/**
 * A fresh namespace on the real server of `kind` for the crash server (passed in its environment),
 * created with the store packages' own test helpers. DynamoDB Local and the MongoDB stand-in are
 * the ones this run's global setup started.
 */
async function prepareStore(kind: NonAtomicStore): Promise<{ env: Record<string, string>; label: string; close: () => Promise<void> }> {
  if (kind === 'redis') {
    const prefix = uniquePrefix();
    return {
      env: { REDIS_URL, ONCELY_PREFIX: prefix },
      label: 'redis',
      async close() {
        const { Redis } = await import('ioredis');
        const client = new Redis(REDIS_URL, RECOMMENDED);
        await deleteKeys(client, prefix);
        client.disconnect();
      },
    };
  }
  if (kind === 'dynamodb') {
    const target = await import('../../dynamodb/test/target');
    const client = target.localClient();
    const tableName = await target.freshTable(client, 'crash');
    return {
      env: { DYNAMODB_ENDPOINT: target.dynamoTarget().endpoint, ONCELY_TABLE: tableName },
      label: 'dynamodb',
      async close() {
        await target.dropTable(client, tableName);
        client.destroy();
      },
    };
  }
  const target = await import('../../mongodb/test/target');
  const { mongoStore } = await import('@oncely/mongodb');
  const client = target.connect();
  const collection = target.freshCollection(client, 'crash');
  await mongoStore({ collection }).ensureIndexes();
  return {
    env: { MONGODB_URL: target.mongoTarget().url, ONCELY_MONGO_DB: target.TEST_DATABASE, ONCELY_COLLECTION: collection.collectionName },
    label: target.mongoTarget().standIn ? 'mongodb (stand-in)' : 'mongodb',
    async close() {
      await target.dropQuietly(collection);
      await client.close();
    },
  };
}

const faults = (run: CrashRun, mode: KillMode): string =>
  mode === 'points'
    ? `SIGKILL ×${run.kills.length} at the kill points (≤ ${KILLS_PER_POINT} each), restart after each`
    : `SIGKILL ×${run.kills.length} at random moments, restart after each`;

const summary = (run: CrashRun): string => {
  const attempts = run.outcomes.reduce((sum, outcome) => sum + outcome.attempts.length, 0);
  return `${run.kills.length} SIGKILLs ${JSON.stringify(countKills(run.kills))}, ${run.starts} processes, ${attempts} attempts for ${run.outcomes.length} keys, ${Math.round(run.ms / 100) / 10} s`;
};

describe('crash: SIGKILL at random kill points, restart, retry every key', () => {
  it.each<KillMode>(['points', 'random'])('postgres atomic mode, kills at %s: every payment exists exactly once, none lost, the client gets that payment', async (mode) => {
    const table = uniqueTable('crash');
    const tables = uniqueTable('crash_app');
    const drop = await createTable(admin, table);
    await createAppTables(admin, tables);
    try {
      const run = await crashRun({ ONCELY_STORE: 'postgres', DATABASE_URL, ONCELY_TABLE: table, ONCELY_APP_TABLES: tables }, mode);
      const fiveXX = expectEveryKeyAnswered(run, mode);
      const payments = await rowsByKey<PaymentRow>(`SELECT idempotency_key, charge_id, provider_charge, pid FROM "${tables}_payments"`);
      const executions = await rowsByKey<ExecutionRow>(`SELECT idempotency_key, takeover, at_ms FROM "${tables}_executions"`);
      const provider = await admin.query<{ n: string; calls: string }>(`SELECT count(*) AS n, coalesce(sum(calls), 0) AS calls FROM "${tables}_provider"`);

      let duplicates = 0;
      let lost = 0;
      for (const outcome of run.outcomes) {
        const rows = payments.get(outcome.key) ?? [];
        if (rows.length === 0) lost++;
        duplicates += Math.max(0, rows.length - 1);
        expect(rows.length, `payments of ${outcome.key}`).toBe(1);
        const answer = JSON.parse(outcome.answer?.body.toString('utf8') ?? '{}') as { chargeId?: string; providerCharge?: string };
        expect(answer, `the answer of ${outcome.key} is its payment`).toMatchObject({ chargeId: rows[0]?.charge_id, providerCharge: rows[0]?.provider_charge });
      }
      expect(payments.size, 'payments for keys nobody sent').toBe(run.outcomes.length);
      expect(Number(provider.rows[0]?.n), 'provider charges').toBe(KEYS);
      const shortestGap = expectReexecutionsAreTakeovers(executions);
      const handlerRuns = [...executions.values()].reduce((sum, rows) => sum + rows.length, 0);

      writeResult({
        scenario: mode === 'points' ? 'crash' : 'crash (random moments)',
        store: 'postgres (atomic mode)',
        binding: 'express',
        load: `${KEYS} keys × ${CLIENTS} clients, each retried until 2xx`,
        faults: faults(run, mode),
        executions: [...payments.values()].reduce((sum, rows) => sum + rows.length, 0),
        distinctKeys: KEYS,
        duplicates,
        lost,
        fiveXXOutsideOutages: fiveXX,
        notes:
          `${summary(run)}; lease ${LEASE_MS} ms; handler runs ${handlerRuns} (re-runs after a crash roll back with their transaction), ` +
          `provider ${provider.rows[0]?.n} charges for ${provider.rows[0]?.calls} calls; shortest crash→takeover gap ${Number.isFinite(shortestGap) ? `${shortestGap} ms` : 'n/a'}`,
      });
    } finally {
      await drop();
      await dropAppTables(admin, tables);
    }
  });

  it.each<[name: string, mode: KillMode, kind: NonAtomicStore]>([
    ['redis', 'points', 'redis'],
    ['redis', 'random', 'redis'],
    ['dynamodb (DynamoDB Local)', 'points', 'dynamodb'],
    [process.env['MONGODB_URL'] ? 'mongodb' : 'mongodb (wire-protocol stand-in, not MongoDB)', 'points', 'mongodb'],
  ])('%s, kills at %s: duplicate bookings only from runs killed after the side effect, re-run by a takeover after the lease; childKey() keeps the provider at one charge per key', async (_name, mode, kind) => {
    const tables = uniqueTable('crash_app');
    const backend = await prepareStore(kind);
    await createAppTables(admin, tables);
    try {
      const run = await crashRun({ ...backend.env, ONCELY_STORE: kind, DATABASE_URL, ONCELY_APP_TABLES: tables }, mode);
      const fiveXX = expectEveryKeyAnswered(run, mode);
      const payments = await rowsByKey<PaymentRow>(`SELECT idempotency_key, charge_id, provider_charge, pid FROM "${tables}_payments"`);
      const executions = await rowsByKey<ExecutionRow>(`SELECT idempotency_key, takeover, at_ms FROM "${tables}_executions"`);
      const provider = await admin.query<{ provider_key: string; charge_id: string; calls: number }>(`SELECT provider_key, charge_id, calls FROM "${tables}_provider"`);
      const providerByCharge = new Map(provider.rows.map((row) => [row.charge_id, row]));

      const killedPids = new Set(run.kills.map((kill) => kill.pid));
      let duplicates = 0;
      let lost = 0;
      for (const outcome of run.outcomes) {
        const rows = payments.get(outcome.key) ?? [];
        if (rows.length === 0) lost++;
        duplicates += Math.max(0, rows.length - 1);
        const answer = JSON.parse(outcome.answer?.body.toString('utf8') ?? '{}') as { chargeId?: string };
        const final = rows.filter((row) => row.charge_id === answer.chargeId);
        expect(final, `the payment the client of ${outcome.key} was told about`).toHaveLength(1);
        // Every other booking of the key is a run that passed the side effect and never completed: SIGKILLed in the window.
        for (const row of rows) if (row !== final[0]) expect(killedPids.has(row.pid), `pid ${row.pid} of an extra booking of ${outcome.key} was SIGKILLed`).toBe(true);
        // However often the handler ran, the provider charged once: every booking points at the same charge.
        expect(new Set(rows.map((row) => row.provider_charge)).size, `provider charges behind ${outcome.key}`).toBe(1);
        const charge = providerByCharge.get(rows[0]?.provider_charge ?? '');
        expect(charge?.calls ?? 0, `provider calls for ${outcome.key} ≤ handler runs`).toBeLessThanOrEqual((executions.get(outcome.key) ?? []).length);
        expect(charge?.calls ?? 0, `provider calls for ${outcome.key} ≥ bookings`).toBeGreaterThanOrEqual(rows.length);
      }
      const windowKills = run.kills.filter((kill) => kill.point === 'after-side-effect');
      for (const kill of windowKills) expect(payments.get(kill.key ?? '')?.length ?? 0, `bookings of ${kill.key}, killed after its side effect`).toBeGreaterThanOrEqual(2);
      expect(provider.rows.length, 'provider charges (one per key, whatever the duplicates)').toBe(KEYS);
      expect(duplicates, 'duplicates: at least one per kill in the window').toBeGreaterThanOrEqual(windowKills.length);
      const shortestGap = expectReexecutionsAreTakeovers(executions);
      const providerCalls = provider.rows.reduce((sum, row) => sum + row.calls, 0);

      writeResult({
        scenario: mode === 'points' ? 'crash' : 'crash (random moments)',
        store: backend.label,
        binding: 'express',
        load: `${KEYS} keys × ${CLIENTS} clients, each retried until 2xx`,
        faults: faults(run, mode),
        executions: [...payments.values()].reduce((sum, rows) => sum + rows.length, 0),
        distinctKeys: KEYS,
        duplicates,
        lost,
        fiveXXOutsideOutages: fiveXX,
        notes:
          `${summary(run)}; lease ${LEASE_MS} ms; every duplicate booking is a run SIGKILLed between its side effect and its completion ` +
          (mode === 'points' ? `(${windowKills.length} killed at that point, ${duplicates - windowKills.length} other requests in that window when a kill hit)` : '(killed at a random moment)') +
          `, re-run by a takeover ` +
          `(shortest crash→takeover gap ${Number.isFinite(shortestGap) ? `${shortestGap} ms` : 'n/a'}); the provider (keyed by childKey) made ` +
          `${provider.rows.length} charges for ${providerCalls} calls: 0 duplicate charges`,
      });
    } finally {
      await dropAppTables(admin, tables);
      await backend.close();
    }
  });
});
