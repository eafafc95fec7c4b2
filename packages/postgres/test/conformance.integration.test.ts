/**
 * The store conformance suite (CONTRACT §3) against a real PostgreSQL: atomicity (50 parallel
 * creates), fencing, expiry, byte-exact fidelity, the model-based check, and — on a store with a
 * small `maxRecordBytes` — the limit checks.
 */
import { afterAll, beforeAll } from 'vitest';
import { describeLimits, runStoreConformance } from '@oncely/store-tests';
import { postgresStore } from '@oncely/postgres';
import { createTable, testPool, uniqueTable } from './support/db';

const pool = testPool({ max: 10 });
const table = uniqueTable('conformance');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  dropTable = await createTable(pool, table);
});
afterAll(async () => {
  await dropTable();
  await pool.end();
});

runStoreConformance({ name: 'postgres', createStore: () => postgresStore({ pool, table }), listInProgress: true, purgeExpired: true });

const LIMIT = 256 * 1024;
describeLimits({ name: `postgres (maxRecordBytes ${LIMIT})`, createStore: () => postgresStore({ pool, table, maxRecordBytes: LIMIT }), maxRecordBytes: LIMIT });
