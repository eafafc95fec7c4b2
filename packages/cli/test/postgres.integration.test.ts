/**
 * `oncely` against the real PostgreSQL: every admin command (shared scenarios), plus what only
 * PostgreSQL has: migrate creating the table (and schema), purge deleting expired rows, and the
 * missing-table error.
 */
import { randomUUID } from 'node:crypto';
import { type Store, utf8 } from '@oncely/core';
import { migrate, postgresStore } from '@oncely/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_URL, oncely, uniqueTable } from './support/cli';
import { adminScenarios } from './support/scenarios';
import { seedCompleted, seedInProgress, stored } from './support/seed';

const table = uniqueTable('pg');
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
let store: Store;

beforeAll(async () => {
  await migrate(pool, { table });
  store = postgresStore({ pool, table });
});

afterAll(async () => {
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.end();
});

adminScenarios({ name: 'postgres', args: () => ['--url', DATABASE_URL, '--table', table], store: () => store });

async function tableExists(name: string, schema = 'public'): Promise<boolean> {
  const { rows } = await pool.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [`"${schema}"."${name}"`]);
  return rows[0]?.found !== null;
}

describe('migrate (postgres)', () => {
  it('creates the table and its expiry index; the commands then work on it', async () => {
    const fresh = uniqueTable('mig');
    try {
      expect(await tableExists(fresh)).toBe(false);
      const result = await oncely(['migrate', '--url', DATABASE_URL, '--table', fresh]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`migrated: table "${fresh}" is ready (created if it was missing)\n`);
      expect(await tableExists(fresh)).toBe(true);
      const { rows } = await pool.query('SELECT indexname FROM pg_indexes WHERE tablename = $1', [fresh]);
      expect(rows.map((row: { indexname: string }) => row.indexname)).toContain(`${fresh}_expires_at_idx`);
      const inspect = await oncely(['inspect', '--url', DATABASE_URL, '--table', fresh, '--scope', 's', '--key', 'k']);
      expect(inspect.code).toBe(1);
    } finally {
      await pool.query(`DROP TABLE IF EXISTS "${fresh}"`);
    }
  });

  it('--schema: creates the schema and the table in it', async () => {
    const schema = uniqueTable('schema');
    try {
      const result = await oncely(['migrate', '--url', DATABASE_URL, '--schema', schema, '--json']);
      expect(result.code).toBe(0);
      expect(result.json()).toMatchObject({ migrated: true, location: `table "${schema}"."oncely_idempotency"` });
      expect(await tableExists('oncely_idempotency', schema)).toBe(true);
      const schemaStore = postgresStore({ pool, schema });
      const record = { scope: 'acct', key: `k-${randomUUID()}` };
      await seedCompleted(schemaStore, record, { status: 200, headers: [], body: utf8('ok') });
      const inspect = await oncely(['inspect', '--url', DATABASE_URL, '--schema', schema, '--scope', record.scope, '--key', record.key]);
      expect(inspect.code).toBe(0);
      expect(inspect.stdout).toMatch(/^body\s+2 bytes: ok$/m);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});

describe('missing table (postgres)', () => {
  it('every command that reads the table says to run `oncely migrate` (exit 3)', async () => {
    const missing = uniqueTable('missing');
    const commands = [
      ['inspect', '--scope', 's', '--key', 'k'],
      ['release', '--scope', 's', '--key', 'k'],
      ['complete', '--scope', 's', '--key', 'k', '--status', '200'],
      ['stuck', '--older-than', '5m'],
      ['purge'],
    ];
    for (const command of commands) {
      const result = await oncely([...command, '--url', DATABASE_URL, '--table', missing]);
      expect({ command: command[0], code: result.code }).toEqual({ command: command[0], code: 3 });
      expect(result.stderr).toBe(`oncely: The table "${missing}" does not exist in PostgreSQL at 127.0.0.1:5432: run \`oncely migrate\` with the same --url --table ${missing}.\n`);
      expect(result.stdout).toBe('');
    }
    const json = await oncely(['inspect', '--scope', 's', '--key', 'k', '--url', DATABASE_URL, '--table', missing, '--json']);
    expect(json.json()).toMatchObject({ ok: false, error: { code: 'table_missing' }, exitCode: 3 });
  });
});

describe('purge (postgres)', () => {
  it('deletes expired rows in batches and keeps live ones', async () => {
    const own = uniqueTable('purge');
    await migrate(pool, { table: own });
    try {
      const purgeStore = postgresStore({ pool, table: own });
      const hourAgo = Date.now() - 2 * 60 * 60_000;
      for (let index = 0; index < 5; index++) {
        await seedCompleted(purgeStore, { scope: 'acct', key: `expired-${index}`, at: hourAgo, ttlMs: 60 * 60_000 }, { status: 200, headers: [], body: utf8('x') });
      }
      const live = { scope: 'acct', key: 'live' };
      await seedInProgress(purgeStore, live);
      const count = async (): Promise<number> => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${own}"`)).rows[0]?.n);
      expect(await count()).toBe(6);

      const limited = await oncely(['purge', '--url', DATABASE_URL, '--table', own, '--batch-size', '2', '--max-batches', '1', '--json']);
      expect(limited.code).toBe(0);
      expect(limited.json()).toEqual({ command: 'purge', ok: true, backend: 'postgres', namespace: 'oncely', deleted: 2 });
      expect(await count()).toBe(4);

      const rest = await oncely(['purge', '--url', DATABASE_URL, '--table', own, '--batch-size', '2']);
      expect(rest.code).toBe(0);
      expect(rest.stdout).toBe(`purged 3 expired records from table "${own}"\n`);
      expect(await count()).toBe(1);
      expect((await stored(purgeStore, live))?.state).toBe('in_progress');
    } finally {
      await pool.query(`DROP TABLE IF EXISTS "${own}"`);
    }
  });
});
