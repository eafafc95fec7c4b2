/**
 * Round trips per request (CONTRACT §3 budget), counted on the wire: every statement any connection
 * of the pool sends — `pool.query` and checked-out transaction clients alike — through core's
 * engine, `createIdempotency(...).handle`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolClient } from 'pg';
import { createIdempotency } from '@oncely/core';
import { postgresStore } from '@oncely/postgres';
import { countQueries, createTable, testPool, uniqueTable } from './support/db';
import { created, paymentRequest, problemCode } from './support/http';

const pool = testPool({ max: 4 });
const counter = countQueries(pool);
const table = uniqueTable('trips');
const charges = uniqueTable('trips_charges');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  dropTable = await createTable(pool, table);
  await pool.query(`CREATE TABLE "${charges}" (id serial PRIMARY KEY, key text NOT NULL)`);
});
afterAll(async () => {
  await dropTable();
  await pool.query(`DROP TABLE IF EXISTS "${charges}"`);
  await pool.end();
});

/** `create` is one statement: `WITH live AS (SELECT ...), ins AS (INSERT ... ON CONFLICT ...) SELECT ...`. */
const CREATE = 'WITH';
const newKey = (): string => `trip-${randomBytes(8).toString('hex')}`;

describe('postgres: round trips per request', () => {
  const store = postgresStore({ pool, table });
  const engine = createIdempotency({ store, heartbeat: false });

  it('first request = 2 (create, complete); replay = 1 (create, a read: no write)', async () => {
    const key = newKey();
    counter.reset();
    const first = await engine.handle(paymentRequest(key), async () => created({ id: 'ch_1' }));
    expect(first.outcome).toBe('executed');
    expect(counter.statements).toEqual([CREATE, 'UPDATE']);

    counter.reset();
    const replay = await engine.handle(paymentRequest(key), async () => created({ id: 'ch_2' }));
    expect(replay.outcome).toBe('replayed');
    expect(counter.statements).toEqual([CREATE]);
  });

  it('in-flight conflict = 1 (create answers with the live claim: 409)', async () => {
    const key = newKey();
    let conflictStatements: string[] = [];
    let conflictStatus = 0;
    const first = await engine.handle(paymentRequest(key), async () => {
      counter.reset();
      const twin = await engine.handle(paymentRequest(key), async () => created({ id: 'never' }));
      conflictStatus = twin.response.status;
      conflictStatements = [...counter.statements];
      return created({ id: 'ch_1' });
    });
    expect(first.outcome).toBe('executed');
    expect(conflictStatus).toBe(409);
    expect(conflictStatements).toEqual([CREATE]);
  });

  it('a key reused with another body = 1 (create answers with the record: 422)', async () => {
    const key = newKey();
    await engine.handle(paymentRequest(key), async () => created({ id: 'ch_1' }));
    counter.reset();
    const reused = await engine.handle({ ...paymentRequest(key), parsedBody: { amount: 1 } }, async () => created({ id: 'never' }));
    expect(problemCode(reused.response)).toBe('key_reused');
    expect(counter.statements).toEqual([CREATE]);
  });

  it('atomic mode, first request: claim on the pool, then BEGIN, the handler, UPDATE, COMMIT on the transaction client', async () => {
    const atomic = createIdempotency({ store, atomic: true, heartbeat: false });
    const key = newKey();
    counter.reset();
    const first = await atomic.handle(paymentRequest(key), async (ctx) => {
      const client = ctx?.transaction as PoolClient;
      await client.query(`INSERT INTO "${charges}" (key) VALUES ($1)`, [key]);
      return created({ id: 'ch_1' });
    });
    expect(first.outcome).toBe('executed');
    // 4 store round trips (claim, BEGIN, UPDATE completion, COMMIT) + the handler's own INSERT.
    expect(counter.statements).toEqual([CREATE, 'BEGIN', 'INSERT', 'UPDATE', 'COMMIT']);

    counter.reset();
    const replay = await atomic.handle(paymentRequest(key), async () => created({ id: 'never' }));
    expect(replay.outcome).toBe('replayed');
    expect(counter.statements).toEqual([CREATE]);
  });

  it('a released key (handler threw) = 2 (create, delete)', async () => {
    const key = newKey();
    counter.reset();
    await expect(engine.handle(paymentRequest(key), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(counter.statements).toEqual([CREATE, 'DELETE']);
  });
});
