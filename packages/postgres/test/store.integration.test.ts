/**
 * The store beyond the conformance suite: migrations (the function and the shipped SQL file),
 * schemas, identifier validation, immunity to global pg type parsers, the legacy bytea format,
 * purges, scheduling, and the transaction object atomic mode uses.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IdempotencyRecord, type InProgressRecord, isIdempotencyError } from '@oncely/core';
import { MIGRATIONS, migrate, migrationSql, postgresStore, schedulePurge } from '@oncely/postgres';
import { countQueries, createTable, testPool, uniqueTable } from './support/db';
import { sleep } from './support/http';

const pool = testPool({ max: 6 });
const counter = countQueries(pool);
const table = uniqueTable('store');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  dropTable = await createTable(pool, table);
});
afterAll(async () => {
  await dropTable();
  await pool.end();
});

function claim(overrides: Partial<InProgressRecord> = {}): InProgressRecord {
  const now = Date.now();
  return {
    id: `store:${randomBytes(8).toString('hex')}`,
    key: 'k',
    scope: 'tenant',
    state: 'in_progress',
    token: randomBytes(16).toString('hex'),
    fingerprint: 'v1:aa',
    leaseUntil: now + 30_000,
    expiresAt: now + 60_000,
    createdAt: now,
    ...overrides,
  };
}

async function rowCount(where = 'true', values: unknown[] = []): Promise<number> {
  const result = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE ${where}`, values);
  return result.rows[0]?.n ?? -1;
}

describe('postgres: schema', () => {
  it('ships sql/<migration>.sql = migrationSql({}, migration) for every migration, and migrationSql() is all of them', () => {
    const files = MIGRATIONS.map((name) => readFileSync(fileURLToPath(new URL(`../sql/${name}.sql`, import.meta.url)), 'utf8'));
    MIGRATIONS.forEach((name, i) => expect(files[i], name).toBe(migrationSql({}, name)));
    expect(migrationSql()).toBe(files.join('\n'));
    expect(() => migrationSql({}, '003_nothing' as never)).toThrow(TypeError);
  });

  it('the SQL file, run twice as a team would run it, makes a table the store works with', async () => {
    const schema = uniqueTable('sqlfile');
    const client = await pool.connect();
    try {
      await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`SET search_path TO "${schema}"`);
      for (const name of MIGRATIONS) {
        const file = readFileSync(fileURLToPath(new URL(`../sql/${name}.sql`, import.meta.url)), 'utf8');
        await client.query(file);
        await client.query(file);
      }
    } finally {
      await client.query('RESET search_path');
      client.release();
    }
    try {
      const store = postgresStore({ pool, schema });
      const record = claim();
      expect(await store.create(record, Date.now())).toEqual({ created: true });
      expect(await store.get(record.id, Date.now())).toEqual(record);
      expect(store.table).toBe(`"${schema}"."oncely_idempotency"`);
    } finally {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    }
  });

  it('migrate is idempotent, safe to run concurrently, creates a missing schema, and works on a Client', async () => {
    const schema = uniqueTable('schema');
    try {
      await Promise.all(Array.from({ length: 5 }, () => migrate(pool, { schema, table: 'records' })));
      const client = new pg.Client({ connectionString: (pool.options as { connectionString: string }).connectionString });
      await client.connect();
      try {
        await migrate(client, { schema, table: 'records' });
      } finally {
        await client.end();
      }
      const indexes = await pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname', [schema]);
      expect(indexes.rows.map((row) => row.indexname)).toEqual(['records_created_at_idx', 'records_expires_at_idx', 'records_pkey']);
      const store = postgresStore({ pool, schema, table: 'records' });
      const record = claim();
      expect(await store.create(record, Date.now())).toEqual({ created: true });
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('refuses unsafe table and schema names before sending anything', async () => {
    counter.reset();
    expect(() => postgresStore({ pool, table: 'x"; DROP TABLE users; --' })).toThrow(TypeError);
    expect(() => postgresStore({ pool, schema: 'Public' })).toThrow(TypeError);
    await expect(migrate(pool, { table: 'a b' })).rejects.toThrow(TypeError);
    expect(counter.statements).toEqual([]);
  });

  it('a missing table is a StoreUnavailableError whose message names no table (the cause does)', async () => {
    const store = postgresStore({ pool, table: 'oncely_missing_table' });
    const error = await store.get('x', Date.now()).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
    expect((error as Error).message).not.toContain('oncely_missing_table');
    expect((error as Error).cause).toMatchObject({ code: '42P01' });
  });
});

describe('postgres: reading exactly, whatever the driver is configured to do', () => {
  it('ignores global pg type parsers (int8 as number, bytea and jsonb as text)', async () => {
    const saved = [20, 17, 3802].map((oid) => [oid, pg.types.getTypeParser(oid)] as const);
    pg.types.setTypeParser(20, (value: string) => Number(value) + 1);
    pg.types.setTypeParser(17, (value: string) => value);
    pg.types.setTypeParser(3802, (value: string) => value);
    try {
      const store = postgresStore({ pool, table });
      const record = claim({ expiresAt: Number.MAX_SAFE_INTEGER, leaseUntil: 2 ** 52 + 1 });
      await store.create(record, Date.now());
      const completed: IdempotencyRecord = {
        ...record,
        state: 'completed',
        completedAt: 4102444800123,
        response: { status: 200, headers: [['link', 'a'], ['link', 'b']], body: new Uint8Array([0, 1, 255]) },
      };
      const { leaseUntil: _lease, ...expected } = completed as IdempotencyRecord & { leaseUntil?: number };
      expect(await store.update(record.id, record.token, completed)).toBe(true);
      expect(await store.get(record.id, Date.now())).toEqual(expected);
    } finally {
      for (const [oid, parser] of saved) pg.types.setTypeParser(oid, parser);
    }
  });

  it("reads bytea in the legacy escape format (bytea_output = 'escape')", async () => {
    const escaped = testPool({ max: 1, options: '-c bytea_output=escape' });
    try {
      const store = postgresStore({ pool: escaped, table });
      const record = claim();
      await store.create(record, Date.now());
      const body = Uint8Array.from({ length: 256 }, (_, i) => i);
      const completed: IdempotencyRecord = { ...record, state: 'completed', completedAt: Date.now(), response: { status: 200, headers: [], body } };
      await store.update(record.id, record.token, completed);
      const read = await store.get(record.id, Date.now());
      expect(read?.state === 'completed' && read.response?.body).toEqual(body);
      expect((await escaped.query('SHOW bytea_output')).rows[0]).toEqual({ bytea_output: 'escape' });
    } finally {
      await escaped.end();
    }
  });

  it('refuses times that are not whole epoch milliseconds', async () => {
    const store = postgresStore({ pool, table });
    await expect(store.create(claim({ expiresAt: Date.now() + 0.5 }), Date.now())).rejects.toThrow(TypeError);
    await expect(store.get('x', 1.5)).rejects.toThrow(TypeError);
  });
});

describe('postgres: listInProgress', () => {
  it('upgrades a table made by migration 001 alone: migrate() adds the in-progress index, idempotently', async () => {
    const upgraded = uniqueTable('upgrade');
    await pool.query(migrationSql({ table: upgraded }, '001_oncely_idempotency'));
    try {
      const before = await pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [upgraded]);
      expect(before.rows.map((row) => row.indexname)).toEqual([`${upgraded}_expires_at_idx`, `${upgraded}_pkey`]);
      await migrate(pool, { table: upgraded });
      await migrate(pool, { table: upgraded });
      const after = await pool.query<{ indexname: string; indexdef: string }>('SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [upgraded]);
      expect(after.rows.map((row) => row.indexname)).toEqual([`${upgraded}_created_at_idx`, `${upgraded}_expires_at_idx`, `${upgraded}_pkey`]);
      expect(after.rows[0]?.indexdef).toContain("WHERE (state = 'in_progress'::text)");
    } finally {
      await pool.query(`DROP TABLE IF EXISTS "${upgraded}"`);
    }
  });

  it('is one SELECT, an index scan of the in-progress index even on a big table', async () => {
    const big = uniqueTable('stuck');
    const drop = await createTable(pool, big);
    try {
      const now = Date.now();
      // 100 000 records, 1 in 100 still in progress: the shape of a busy table.
      await pool.query(
        `INSERT INTO "${big}" (id, key, scope, state, token, fingerprint, lease_until, expires_at, created_at, completed_at, response_status, response_headers, response_body)
         SELECT 'r:' || g, 'k' || g, 's', CASE WHEN g % 100 = 0 THEN 'in_progress' ELSE 'completed' END, 't', '',
                CASE WHEN g % 100 = 0 THEN $1::bigint END, $1::bigint + 86400000, $1::bigint - g,
                CASE WHEN g % 100 = 0 THEN NULL ELSE $1::bigint END, CASE WHEN g % 100 = 0 THEN NULL ELSE 200 END,
                CASE WHEN g % 100 = 0 THEN NULL ELSE '[]'::jsonb END, CASE WHEN g % 100 = 0 THEN NULL ELSE '\\x00'::bytea END
         FROM generate_series(1, 100000) g`,
        [String(now)],
      );
      await pool.query(`ANALYZE "${big}"`);
      const store = postgresStore({ pool, table: big });
      counter.reset();
      const started = performance.now();
      const stuck = await store.listInProgress({ claimedBefore: now - 50_000, now, limit: 10 });
      console.log(`listInProgress over 100 000 rows (1 000 in progress): ${(performance.now() - started).toFixed(1)} ms`);
      expect(counter.statements).toEqual(['SELECT']);
      expect(stuck.map((record) => record.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k${100000 - 100 * i}`));
      expect(stuck.every((record) => record.state === 'in_progress' && record.createdAt <= now - 50_000)).toBe(true);

      const plan = await pool.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT id FROM "${big}" WHERE state = 'in_progress' AND created_at <= $1 AND expires_at > $2 ORDER BY created_at LIMIT $3`,
        [String(now - 50_000), String(now), 10],
      );
      const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(text).toContain(`Index Scan using "${big}_created_at_idx"`.replace(/"/g, ''));
      expect(text).not.toContain('Seq Scan');
    } finally {
      await drop();
    }
  });

  it('rejects bad options before sending anything', async () => {
    const store = postgresStore({ pool, table });
    counter.reset();
    await expect(store.listInProgress({ claimedBefore: 1.5, now: 1, limit: 1 })).rejects.toThrow(TypeError);
    await expect(store.listInProgress({ claimedBefore: 1, now: 1, limit: 0 })).rejects.toThrow(TypeError);
    expect(counter.statements).toEqual([]);
  });
});

describe('postgres: purge', () => {
  it('deletes expired records in batches, one short statement each, and leaves live ones', async () => {
    const purgeTable = uniqueTable('purge');
    const drop = await createTable(pool, purgeTable);
    try {
      const now = Date.now();
      await pool.query(
        `INSERT INTO "${purgeTable}" (id, key, scope, state, token, fingerprint, lease_until, expires_at, created_at)
         SELECT 'p:' || g, 'k', 's', 'in_progress', 't', '', $1::bigint, $1::bigint - g, $1::bigint - 100000 FROM generate_series(0, 2499) g
         UNION ALL
         SELECT 'live:' || g, 'k', 's', 'in_progress', 't', '', $1::bigint, $1::bigint + 1 + g, $1::bigint FROM generate_series(0, 299) g`,
        [String(now)],
      );
      const store = postgresStore({ pool, table: purgeTable });
      counter.reset();
      expect(await store.purgeExpired({ batchSize: 1000, now, maxBatches: 1 })).toBe(1000);
      expect(counter.statements).toEqual(['DELETE']);
      counter.reset();
      expect(await store.purgeExpired({ batchSize: 1000, now })).toBe(1500);
      expect(counter.statements).toEqual(['DELETE', 'DELETE']);
      const left = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${purgeTable}"`);
      expect(left.rows[0]?.n).toBe(300);
      expect(await store.purgeExpired({ now })).toBe(0);
    } finally {
      await drop();
    }
  });

  it('never waits for rows another session holds (SKIP LOCKED): it skips them', async () => {
    const store = postgresStore({ pool, table });
    const now = Date.now();
    const held = claim({ expiresAt: now - 10, leaseUntil: now - 20, createdAt: now - 100 });
    const free = claim({ expiresAt: now - 5, leaseUntil: now - 20, createdAt: now - 100 });
    await store.create(held, now - 100);
    await store.create(free, now - 100);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${table}" WHERE id = $1 FOR UPDATE`, [held.id]);
      await store.purgeExpired({ now, batchSize: 10 });
      expect(await rowCount('id = $1', [free.id])).toBe(0);
      expect(await rowCount('id = $1', [held.id])).toBe(1);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  it('schedulePurge runs purges on an unref\'d timer, reports counts and errors, and stops cleanly', async () => {
    const store = postgresStore({ pool, table });
    const now = Date.now();
    await store.create(claim({ expiresAt: now - 1, leaseUntil: now - 1, createdAt: now - 100 }), now - 100);
    const purged: number[] = [];
    const stop = schedulePurge(store, { intervalMs: 5, batchSize: 100, onPurged: (n) => purged.push(n) });
    while (!purged.some((n) => n > 0)) await sleep(5);
    await stop();
    const runs = purged.length;
    await sleep(30);
    expect(purged.length).toBe(runs);

    const errors: unknown[] = [];
    const failing = { purgeExpired: () => Promise.reject(new Error('down')) };
    const stopFailing = schedulePurge(failing, { intervalMs: 5, onError: (error) => errors.push(error) });
    while (errors.length < 2) await sleep(5);
    await stopFailing();
    expect(() => schedulePurge(store, { intervalMs: 0 })).toThrow(TypeError);
    expect(() => schedulePurge(store, { batchSize: 0 })).toThrow(TypeError);
  });
});

describe('postgres: transactions (atomic mode)', () => {
  const store = postgresStore({ pool, table });

  it('runs READ COMMITTED whatever the server default, and the completion is invisible until COMMIT', async () => {
    const serializable = testPool({ max: 2, options: '-c default_transaction_isolation=serializable' });
    try {
      const strictStore = postgresStore({ pool: serializable, table });
      const record = claim();
      await strictStore.create(record, Date.now());
      const tx = await strictStore.beginTransaction();
      expect((await tx.client.query('SHOW transaction_isolation')).rows[0]).toEqual({ transaction_isolation: 'read committed' });
      // A heartbeat commits elsewhere meanwhile: the completion still compares against the latest token.
      expect(await strictStore.update(record.id, record.token, { ...record, leaseUntil: record.leaseUntil + 1 })).toBe(true);
      const completed: IdempotencyRecord = { ...record, state: 'completed', token: 'completion', completedAt: Date.now(), result: new Uint8Array([1]) };
      expect(await tx.update(record.id, record.token, completed)).toBe(true);
      expect((await strictStore.get(record.id, Date.now()))?.state).toBe('in_progress');
      await tx.commit();
      expect((await strictStore.get(record.id, Date.now()))?.token).toBe('completion');
      expect(serializable.idleCount).toBe(serializable.totalCount);
    } finally {
      await serializable.end();
    }
  });

  it('a transaction update with a stale token is false; rollback undoes it and never throws', async () => {
    const record = claim();
    await store.create(record, Date.now());
    const tx = await store.beginTransaction();
    expect(await tx.update(record.id, 'stale', { ...record, token: 'x' })).toBe(false);
    expect(await tx.update(record.id, record.token, { ...record, token: 'mine' })).toBe(true);
    await tx.rollback();
    await tx.rollback();
    expect((await store.get(record.id, Date.now()))?.token).toBe(record.token);
  });

  it('a handler that ended the transaction itself, or whose statement failed, cannot complete; COMMIT of an aborted transaction throws', async () => {
    const record = claim();
    await store.create(record, Date.now());
    const ended = await store.beginTransaction();
    await ended.client.query('COMMIT');
    await expect(ended.update(record.id, record.token, record)).rejects.toSatisfy((error) => isIdempotencyError(error, 'store_unavailable'));
    await ended.rollback();

    const aborted = await store.beginTransaction();
    await expect(aborted.client.query('SELECT 1/0')).rejects.toThrow();
    await expect(aborted.update(record.id, record.token, record)).rejects.toSatisfy((error) => isIdempotencyError(error, 'store_unavailable'));
    await expect(aborted.commit()).rejects.toSatisfy((error) => isIdempotencyError(error, 'store_unavailable'));
    await aborted.rollback();
  });

  it('a terminated transaction connection: commit throws StoreUnavailableError, rollback does not, and the pool recovers', async () => {
    const own = testPool({ max: 2 });
    try {
      const ownStore = postgresStore({ pool: own, table });
      const first = await ownStore.beginTransaction();
      const { rows } = await first.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      await expect(first.commit()).rejects.toSatisfy((error) => isIdempotencyError(error, 'store_unavailable'));

      const second = await ownStore.beginTransaction();
      const other = await second.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [other.rows[0]?.pid]);
      await second.rollback();

      expect(await ownStore.get('nothing', Date.now())).toBeNull();
      expect(own.totalCount).toBe(1);
    } finally {
      await own.end();
    }
  });
});
