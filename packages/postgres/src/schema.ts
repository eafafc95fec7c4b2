import { type Queryable, isPool, Runner } from './connection';
import { tableNames } from './identifiers';

/** Where the table lives. Both default to the shipped SQL file: `oncely_idempotency`, on `search_path`. */
export interface TableOptions {
  /** Table name: lower-case letters, digits and `_`, at most 48 characters. Default `'oncely_idempotency'`. */
  readonly table?: string | undefined;
  /** Schema; created by {@link migrate} if missing. Default: none (the connection's `search_path`). */
  readonly schema?: string | undefined;
}

/** The migrations, in order; each ships as `sql/<name>.sql` (for the default names). */
export const MIGRATIONS = ['001_oncely_idempotency', '002_oncely_in_progress_index'] as const;

/** One of {@link MIGRATIONS}. */
export type MigrationName = (typeof MIGRATIONS)[number];

/**
 * The DDL of the store's table: with `migration`, exactly `sql/<migration>.sql` for the default
 * names; without, every migration in order (what {@link migrate} runs). Idempotent (`IF NOT EXISTS`
 * everywhere).
 *
 * 001: the table.
 *
 * One row per record; times are epoch milliseconds in `bigint`; `response_headers` is a JSON array
 * of `[name, value]` pairs (order and duplicates kept); `response_body` NULL means "not stored",
 * distinct from an empty `bytea`. `id` (a hex digest) uses the "C" collation: byte order, so its
 * index never depends on the operating system's locale library. The index on `expires_at` keeps
 * purges cheap. `fillfactor = 90` leaves room on each page for HOT updates (heartbeats, and the
 * no-op update of a refused `create`).
 */
export function migrationSql(options: TableOptions = {}, migration?: MigrationName): string {
  if (migration === undefined) return MIGRATIONS.map((name) => migrationSql(options, name)).join('\n');
  if (migration === '002_oncely_in_progress_index') return inProgressIndexSql(options);
  if (migration !== '001_oncely_idempotency') throw new TypeError(`@oncely/postgres: no migration ${JSON.stringify(migration)}; there are ${MIGRATIONS.join(', ')}.`);
  const names = tableNames(options);
  const schema = names.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${names.schema};\n\n`;
  return `-- @oncely/postgres: the idempotency record table (migration 001).
-- Safe to run more than once. To use another table name, replace every "oncely_idempotency" below
-- (the index is named after the table); to use a schema, qualify the table: "my_schema"."oncely_idempotency".
${schema}CREATE TABLE IF NOT EXISTS ${names.table} (
  id               text    COLLATE "C" NOT NULL,
  key              text    NOT NULL,
  scope            text    NOT NULL,
  state            text    NOT NULL,
  token            text    NOT NULL,
  fingerprint      text    NOT NULL,
  lease_until      bigint,
  expires_at       bigint  NOT NULL,
  created_at       bigint  NOT NULL,
  completed_at     bigint,
  response_status  integer,
  response_headers jsonb,
  response_body    bytea,
  result           bytea,
  PRIMARY KEY (id),
  CHECK (state IN ('in_progress', 'completed')),
  CHECK ((state = 'in_progress') = (lease_until IS NOT NULL)),
  CHECK ((state = 'completed') = (completed_at IS NOT NULL))
) WITH (fillfactor = 90);

CREATE INDEX IF NOT EXISTS ${names.expiryIndex} ON ${names.table} (expires_at);
`;
}

/**
 * 002: a partial index of in-progress claims by age, for `listInProgress` (the `oncely stuck` of
 * operators): an index scan of a few pages instead of a sequential scan of the whole table (1 M rows:
 * 0.3 ms instead of 530 ms on the CI machine). It holds only in-progress rows, so it stays tiny; a
 * claim pays one small index insert.
 */
function inProgressIndexSql(options: TableOptions): string {
  const names = tableNames(options);
  return `-- @oncely/postgres: in-progress claims by age, for listInProgress (migration 002).
-- Safe to run more than once. Building it locks out writes to the table while it scans it (about
-- half a second per million rows): on a big live table, run it as CREATE INDEX CONCURRENTLY instead.
CREATE INDEX IF NOT EXISTS ${names.inProgressIndex} ON ${names.table} (created_at) WHERE state = 'in_progress';
`;
}

/**
 * Creates the store's table and its indexes if they do not exist (every migration of
 * {@link migrationSql}, in one transaction). Idempotent and safe to run from several processes at once: it runs in one
 * transaction under a transaction-scoped advisory lock. Takes a `pg` `Pool` (a connection is checked
 * out and released) or a connected `Client`.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { migrate } from '@oncely/postgres';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);                                  // "oncely_idempotency" on search_path
 * await migrate(pool, { schema: 'ops', table: 'idem' }); // "ops"."idem"
 * ```
 */
export async function migrate(pool: Queryable, options: TableOptions = {}): Promise<void> {
  const names = tableNames(options);
  const ddl = migrationSql(options);
  const checkout = isPool(pool) ? await new Runner(pool, 0).checkout() : undefined;
  const client = checkout?.client ?? pool;
  let failure: unknown;
  try {
    await client.query('BEGIN');
    await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`oncely:migrate:${names.display}`] });
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (error) {
    failure = error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    checkout?.release(failure);
  }
}
