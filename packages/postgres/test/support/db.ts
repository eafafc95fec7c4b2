/**
 * Shared helpers of the integration tests: connection settings from the environment (with this
 * machine's defaults), tables of their own per test file, and pools that count round trips.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '@oncely/postgres';

/** Where PostgreSQL is. Default: the CI service on loopback, trust auth, database `test`. */
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A table name no other test file (or concurrent run) uses: `oncely_t_<what>_<hex>`. */
export function uniqueTable(what: string): string {
  return `oncely_t_${what}_${randomBytes(5).toString('hex')}`;
}

/**
 * A pool for one test file. `application_name` marks its connections, so a test can find (and
 * terminate) exactly them in `pg_stat_activity`. Idle-connection errors are expected in the outage
 * tests, and an unhandled one would crash the worker: they are collected instead.
 */
export function testPool(config: pg.PoolConfig = {}): pg.Pool & { readonly idleErrors: Error[] } {
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    max: 10,
    connectionTimeoutMillis: 10_000,
    application_name: `oncely-test-${randomBytes(4).toString('hex')}`,
    ...config,
  });
  const idleErrors: Error[] = [];
  pool.on('error', (error) => idleErrors.push(error));
  return Object.assign(pool, { idleErrors });
}

/** Creates `table` (and `schema`) for a test file; the returned function drops them. */
export async function createTable(pool: pg.Pool, table: string, schema?: string): Promise<() => Promise<void>> {
  await migrate(pool, schema === undefined ? { table } : { table, schema });
  return async () => {
    if (schema === undefined) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    else await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };
}

/**
 * Counts statements sent to the server — on every connection of the pool, `pool.query` and
 * checked-out clients (transactions) alike — by wrapping each new client's `query`.
 */
export interface QueryCounter {
  /** Statements sent since the last `reset()`, in order. */
  readonly statements: string[];
  reset(): void;
}

export function countQueries(pool: pg.Pool): QueryCounter {
  const statements: string[] = [];
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text = typeof first === 'string' ? first : (first as { text?: string }).text ?? '?';
      statements.push(text.trim().split(/\s+/)[0]?.toUpperCase() ?? '?');
      return original(...args);
    };
  });
  return {
    statements,
    reset: () => {
      statements.length = 0;
    },
  };
}

/** The `application_name` a {@link testPool} marks its connections with. */
export function applicationName(pool: pg.Pool): string {
  return (pool.options as { application_name?: string }).application_name as string;
}

/**
 * Waits until `count` connections of `pool` wait on a lock inside PostgreSQL, polling
 * `pg_stat_activity` through `admin`. No deadline of its own: the test's timeout bounds it.
 */
export async function waitForLockWaiters(admin: pg.Pool, pool: pg.Pool, count: number): Promise<void> {
  for (;;) {
    const result = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [applicationName(pool)],
    );
    if ((result.rows[0]?.n ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
