/**
 * `create` under concurrency. First, deterministically, the interleaving that breaks the usual
 * statement: a create whose snapshot was taken before the winner committed (so the winner is
 * invisible to it). Then 200 parallel claims of one id through a fresh pool of 20 connections,
 * repeated, for an absent id and for an expired record being replaced. Exactly one caller may win,
 * and every other caller must be handed the winner — never nothing, never the expired record.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { CreateResult, InProgressRecord } from '@oncely/core';
import { postgresStore } from '@oncely/postgres';
import { createTable, testPool, uniqueTable, waitForLockWaiters } from './support/db';

const CALLERS = 200;
const CONNECTIONS = 20;
const ROUNDS = 10;

const admin = testPool({ max: 3 });
const table = uniqueTable('race');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  dropTable = await createTable(admin, table);
});
afterAll(async () => {
  await dropTable();
  await admin.end();
});

function claim(id: string, now: number, i: number): InProgressRecord {
  return {
    id,
    key: `key-${i}`,
    scope: 'tenant_race',
    state: 'in_progress',
    token: randomBytes(16).toString('hex'),
    fingerprint: `v1:caller-${i}`,
    leaseUntil: now + 30_000,
    expiresAt: now + 60_000,
    createdAt: now,
  };
}

const newId = (): string => `race:${randomBytes(8).toString('hex')}`;

/**
 * Runs `late` on a connection of its own while transaction A holds an uncommitted write of the
 * same row (made by `early`), waits until `late` is blocked on that row inside PostgreSQL — its
 * snapshot taken, A invisible to it — then commits A and returns what `late` answered.
 */
async function afterConcurrentCommit<T>(early: (a: pg.PoolClient) => Promise<unknown>, late: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const a = await admin.connect();
  const latePool = testPool({ max: 1 });
  try {
    await a.query('BEGIN');
    await early(a);
    const answer = late(latePool);
    await waitForLockWaiters(admin, latePool, 1);
    await a.query('COMMIT');
    return await answer;
  } finally {
    a.release();
    await latePool.end();
  }
}

describe('postgres: create against a winner that commits after its snapshot', () => {
  it('absent id: the winner inserts and commits while the create waits; the create is handed the winner', async () => {
    const id = newId();
    const now = Date.now();
    const winner = claim(id, now, 0);
    const answer = await afterConcurrentCommit(
      (a) => postgresStore({ pool: a, table }).create(winner, now),
      (pool) => postgresStore({ pool, table }).create(claim(id, now, 1), now),
    );
    expect(answer).toEqual({ created: false, existing: winner });
  });

  it('expired record: the winner replaces it and commits while the create waits; the create is handed the replacement', async () => {
    const id = newId();
    const now = Date.now();
    const expired = { ...claim(id, now - 120_000, -1), expiresAt: now - 1 };
    await postgresStore({ pool: admin, table }).create(expired, now - 120_000);
    const winner = claim(id, now, 0);
    const answer = await afterConcurrentCommit(
      (a) => postgresStore({ pool: a, table }).create(winner, now),
      (pool) => postgresStore({ pool, table }).create(claim(id, now, 1), now),
    );
    expect(answer).toEqual({ created: false, existing: winner });
  });

  it('control: ON CONFLICT DO NOTHING + SELECT of the same row, in the same interleaving, answers with no row at all', async () => {
    const naive =
      `WITH ins AS (INSERT INTO "${table}" (id, key, scope, state, token, fingerprint, lease_until, expires_at, created_at) ` +
      `VALUES ($1, 'k', 's', 'in_progress', $2, '', $3, $3, $3) ON CONFLICT (id) DO NOTHING RETURNING token) ` +
      `SELECT token FROM ins UNION ALL SELECT token FROM "${table}" WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`;
    const id = newId();
    const expiresAt = String(Date.now() + 60_000);
    const answer = await afterConcurrentCommit(
      (a) => a.query(naive, [id, 'winner', expiresAt]),
      (pool) => pool.query(naive, [id, 'late', expiresAt]),
    );
    expect(answer.rows).toEqual([]);
  });
});

/** 200 creates of `id` at once on a pool of 20 that has not connected yet. */
async function race(id: string, now: number): Promise<{ contenders: InProgressRecord[]; results: CreateResult[] }> {
  const pool = testPool({ max: CONNECTIONS });
  try {
    const store = postgresStore({ pool, table });
    const contenders = Array.from({ length: CALLERS }, (_, i) => claim(id, now, i));
    const results = await Promise.all(contenders.map((record) => store.create(record, now)));
    return { contenders, results };
  } finally {
    await pool.end();
  }
}

function expectOneWinner({ contenders, results }: { contenders: InProgressRecord[]; results: CreateResult[] }): InProgressRecord {
  const winners = contenders.filter((_, i) => results[i]?.created);
  expect(winners, 'callers told { created: true }').toHaveLength(1);
  const winner = winners[0] as InProgressRecord;
  results.forEach((result, i) => {
    if (result.created) return;
    expect(result.existing, `loser #${i} is handed the winner`).toEqual(winner);
  });
  return winner;
}

describe('postgres: create under load', () => {
  it(`${CALLERS} concurrent creates of an absent id on a fresh pool of ${CONNECTIONS}: one winner, ${CALLERS - 1} handed it (x${ROUNDS})`, async () => {
    const store = postgresStore({ pool: admin, table });
    for (let round = 0; round < ROUNDS; round++) {
      const id = newId();
      const now = Date.now();
      const winner = expectOneWinner(await race(id, now));
      expect(await store.get(id, now)).toEqual(winner);
    }
  });

  it(`${CALLERS} concurrent creates over an expired record: one replaces it, the rest are handed the replacement (x${ROUNDS})`, async () => {
    const store = postgresStore({ pool: admin, table });
    for (let round = 0; round < ROUNDS; round++) {
      const id = newId();
      const now = Date.now();
      const expired = { ...claim(id, now - 120_000, -1), expiresAt: now - 1 };
      expect(await store.create(expired, now - 120_000)).toEqual({ created: true });
      const winner = expectOneWinner(await race(id, now));
      expect(winner.token).not.toBe(expired.token);
      expect(await store.get(id, now)).toEqual(winner);
    }
  });
});
