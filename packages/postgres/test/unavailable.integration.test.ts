/**
 * Failure: the store fails closed and fast. Unreachable server, exhausted pool, and connections
 * terminated by the server (`pg_terminate_backend`, SQLSTATE 57P01) in the middle of concurrent
 * requests through core's engine: every failed request is a 503 `store_unavailable` with
 * Retry-After (never a 500, never a hang), no key executes twice, and the same requests succeed
 * once the connections are back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createIdempotency, type HttpResponse, isIdempotencyError, StoreUnavailableError } from '@oncely/core';
import { postgresStore } from '@oncely/postgres';
import { applicationName, createTable, testPool, uniqueTable, waitForLockWaiters } from './support/db';
import { created, paymentRequest, problemCode, sleep } from './support/http';

const admin = testPool({ max: 3 });
const table = uniqueTable('outage');
const charges = uniqueTable('outage_charges');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  dropTable = await createTable(admin, table);
  await admin.query(`CREATE TABLE "${charges}" (id serial PRIMARY KEY, key text NOT NULL)`);
});
afterAll(async () => {
  await dropTable();
  await admin.query(`DROP TABLE IF EXISTS "${charges}"`);
  await admin.end();
});

const newKey = (what: string): string => `${what}-${randomBytes(6).toString('hex')}`;

/** Terminates every server connection of `pool` (from the admin pool's own connection). */
async function terminate(pool: pg.Pool): Promise<number> {
  const result = await admin.query(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [applicationName(pool)],
  );
  return (result.rows[0] as { n: number }).n;
}

function expectUnavailable(response: HttpResponse, what: string): void {
  expect(response.status, what).toBe(503);
  expect(problemCode(response), what).toBe('store_unavailable');
  expect(response.headers.find(([name]) => name === 'retry-after')?.[1], `${what}: Retry-After`).toBeDefined();
}

describe('postgres: store failures', () => {
  it('unreachable server: every operation throws StoreUnavailableError with the driver error as cause; the engine answers 503', async () => {
    const pool = testPool({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 2000 });
    try {
      const store = postgresStore({ pool, table });
      const error = await store.get('any', Date.now()).catch((caught: unknown) => caught);
      expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
      expect((error as StoreUnavailableError).cause).toMatchObject({ code: 'ECONNREFUSED' });
      await expect(store.beginTransaction()).rejects.toBeInstanceOf(StoreUnavailableError);
      const engine = createIdempotency({ store });
      let ran = false;
      const { response } = await engine.handle(paymentRequest(newKey('down')), async () => {
        ran = true;
        return created({});
      });
      expect(ran).toBe(false);
      expectUnavailable(response, 'request while the server is unreachable');
    } finally {
      await pool.end();
    }
  });

  it('exhausted pool: operationTimeoutMs bounds the wait for a connection; the late connection goes back unused', async () => {
    const pool = testPool({ max: 1, connectionTimeoutMillis: 0 });
    try {
      const store = postgresStore({ pool, table, operationTimeoutMs: 200 });
      const hog = await pool.connect();
      const error = await store.get('any', Date.now()).catch((caught: unknown) => caught);
      expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
      const waiting = store.beginTransaction().catch((caught: unknown) => caught);
      expect(isIdempotencyError(await waiting, 'store_unavailable')).toBe(true);
      hog.release();
      expect(await store.get('any', Date.now())).toBeNull();
      expect(pool.totalCount).toBe(1);
      expect(pool.idleCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('requests blocked in the store when their connections are terminated (57P01): all 503, nothing ran; then the key executes once', async () => {
    const pool = testPool({ max: 8 });
    try {
      const engine = createIdempotency({ store: postgresStore({ pool, table, operationTimeoutMs: 30_000 }) });
      const key = newKey('locked');
      let executions = 0;
      const handler = async (): Promise<HttpResponse> => {
        executions++;
        return created({ key });
      };
      // Lock the table, so that the requests' statements wait inside PostgreSQL.
      const locker = await admin.connect();
      try {
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${table}" IN ACCESS EXCLUSIVE MODE`);
        const blocked = Array.from({ length: 5 }, () => engine.handle(paymentRequest(key), handler));
        await waitForLockWaiters(admin, pool, 5);
        expect(await terminate(pool)).toBeGreaterThanOrEqual(5);
        const answers = await Promise.all(blocked);
        answers.forEach(({ response }, i) => expectUnavailable(response, `blocked request #${i}`));
      } finally {
        await locker.query('ROLLBACK');
        locker.release();
      }
      expect(executions).toBe(0);
      expect((await engine.handle(paymentRequest(key), handler)).outcome).toBe('executed');
      expect((await engine.handle(paymentRequest(key), handler)).outcome).toBe('replayed');
      expect(executions).toBe(1);
    } finally {
      await pool.end();
    }
  });

  for (const atomic of [false, true]) {
    it(`connections terminated again and again under concurrent load${atomic ? ' (atomic mode)' : ''}: only 201, 409 or 503; every key executes once`, async () => {
      const pool = testPool({ max: 8 });
      try {
        const store = postgresStore({ pool, table, operationTimeoutMs: 5_000 });
        const events: Array<{ key: string; type: string; detail?: string }> = [];
        const engine = createIdempotency({
          store,
          atomic,
          leaseMs: 1_000,
          completionRetryDelayMs: 20,
          logRawKeys: true,
          onEvent: (event) => events.push({ key: event.key ?? '', type: event.type, ...(event.detail === undefined ? {} : { detail: event.detail }) }),
        });
        const clients = 24;
        const keys = Array.from({ length: clients * 5 }, () => newKey(atomic ? 'atomic-load' : 'load'));
        const executions = new Map<string, number>();
        const statuses = new Map<number, number>();
        let answered = 0;

        const handler = (key: string) => async (ctx: { transaction: pg.PoolClient | undefined } | null): Promise<HttpResponse> => {
          executions.set(key, (executions.get(key) ?? 0) + 1);
          await sleep(2);
          if (atomic) {
            try {
              await ctx?.transaction?.query(`INSERT INTO "${charges}" (key) VALUES ($1)`, [key]);
            } catch {
              // The app's own write failed with the connection: it answers 503 (not stored; rolled back).
              return { status: 503, headers: [], body: new Uint8Array() };
            }
          }
          return created({ key });
        };

        /** One client: sends each of its keys, retrying until it gets a 2xx. */
        const send = async (key: string): Promise<void> => {
          for (;;) {
            const { response } = await engine.handle(paymentRequest(key), handler(key));
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
            answered++;
            if (response.status === 201) return;
            if (response.status === 503 && problemCode(response) !== undefined) expectUnavailable(response, `request for ${key}`);
            else if (response.status !== 503) expect(response.status, `request for ${key}`).toBe(409);
            await sleep(response.status === 409 ? 100 : 10);
          }
        };
        const client = async (index: number): Promise<void> => {
          for (let k = index; k < keys.length; k += clients) await send(keys[k] as string);
        };

        let loadDone = false;
        const load = Promise.all(Array.from({ length: clients }, (_, i) => client(i))).finally(() => {
          loadDone = true;
        });
        // Terminate every connection of the pool again and again while the load runs.
        let terminations = 0;
        while (!loadDone) {
          const before = answered;
          while (answered < before + 15 && !loadDone) await sleep(2);
          if (!loadDone) terminations += await terminate(pool);
        }
        await load;
        expect(terminations, 'server connections terminated under load').toBeGreaterThan(0);

        expect([...statuses.keys()].every((status) => [201, 409, 503].includes(status)), JSON.stringify([...statuses])).toBe(true);
        expect(events.filter((event) => event.type === 'lease_lost'), 'no execution lost its claim').toEqual([]);
        if (atomic) {
          const rows = await admin.query<{ key: string; n: number }>(
            `SELECT key, count(*)::int AS n FROM "${charges}" WHERE key = ANY($1) GROUP BY key`,
            [keys],
          );
          expect(rows.rows.map((row) => row.n)).toEqual(keys.map(() => 1));
        } else {
          expect(keys.map((key) => executions.get(key))).toEqual(keys.map(() => 1));
        }
        // Requests succeed again: they replay. (The first use of a pooled connection the server killed
        // a moment ago can still fail: that is a 503 too, and the client retries.) A key whose
        // completion failed every retry (core's `complete_failed`, possible without atomic mode when
        // connections keep dying) stays in progress until its lease ends: not checked here.
        const incomplete = new Set(events.filter((event) => event.type === 'complete_failed').map((event) => event.key));
        for (const key of keys.filter((candidate) => !incomplete.has(candidate)).slice(0, 10)) {
          let again = await engine.handle(paymentRequest(key), handler(key));
          for (let attempt = 0; again.response.status === 503 && attempt < 20; attempt++) {
            await sleep(20);
            again = await engine.handle(paymentRequest(key), handler(key));
          }
          expect(again.outcome, `replay of ${key}: ${again.response.status} ${problemCode(again.response)}; events ${JSON.stringify(events.filter((e) => e.key === key))}`).toBe('replayed');
        }
      } finally {
        await pool.end();
      }
    });
  }

  it('a single Client: statements are serialized (no pg queueing deprecation); atomic mode asks for a Pool', async () => {
    const pool = testPool({ max: 1 });
    const client = await pool.connect();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const store = postgresStore({ pool: client, table });
      const key = newKey('client');
      const engine = createIdempotency({ store });
      const answers = await Promise.all(Array.from({ length: 10 }, () => engine.handle(paymentRequest(key), async () => created({ key }))));
      expect(answers.filter((answer) => answer.outcome === 'executed')).toHaveLength(1);
      await expect(store.beginTransaction()).rejects.toThrow(TypeError);
      await sleep(10);
      expect(warnings.filter((warning) => /already executing a query/.test(warning.message))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      client.release();
      await pool.end();
    }
  });
});
