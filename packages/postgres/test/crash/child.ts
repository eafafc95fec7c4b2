/**
 * One payment request in atomic mode, in a process of its own, for the crash tests. Bundled (with
 * the sources of @oncely/core and @oncely/postgres) by crash.integration.test.ts and run with
 * `child_process.fork`. After each step it tells the parent (IPC) and waits for `go`, so the parent
 * can SIGKILL it exactly between two steps:
 *
 *   start → claimed → begun → charged → completion-written → committed → (response sent to parent)
 *
 * Settings come from the environment: DATABASE_URL, ONCELY_TABLE, ONCELY_CHARGES, ONCELY_KEY,
 * ONCELY_LEASE_MS, and ONCELY_MODE: `atomic` (default), or `plain` for the control run — no atomic
 * mode, the charge written on the pool (autocommit) as a handler without a transaction would.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createIdempotency, type StoreTransaction, type TransactionalStore, utf8 } from '@oncely/core';
import { postgresStore } from '@oncely/postgres';

export type CrashStep = 'start' | 'claimed' | 'begun' | 'charged' | 'completion-written' | 'committed';

/** Messages to the parent. */
export type ChildMessage =
  | { readonly step: CrashStep }
  | { readonly done: { readonly status: number; readonly outcome: string; readonly body: string; readonly pid: number } }
  | { readonly failed: string };

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`crash child: ${name} is not set`);
  return value;
};

const waiting: Array<() => void> = [];
process.on('message', () => waiting.shift()?.());

/** Report `step` and wait for the parent's go-ahead (or the parent's SIGKILL). */
function step(name: CrashStep): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    process.send?.({ step: name } satisfies ChildMessage);
  });
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 3, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  const charges = env('ONCELY_CHARGES');
  const key = env('ONCELY_KEY');
  const base = postgresStore({ pool, table: env('ONCELY_TABLE') });

  const store: TransactionalStore<pg.PoolClient> = {
    create: async (record, now) => {
      const result = await base.create(record, now);
      if (result.created) await step('claimed');
      return result;
    },
    update: (id, token, next) => base.update(id, token, next),
    delete: (id, token) => base.delete(id, token),
    get: (id, now) => base.get(id, now),
    async beginTransaction(): Promise<StoreTransaction<pg.PoolClient>> {
      const tx = await base.beginTransaction();
      await step('begun');
      return {
        client: tx.client,
        async update(id, token, next) {
          const written = await tx.update(id, token, next);
          await step('completion-written');
          return written;
        },
        async commit() {
          await tx.commit();
          await step('committed');
        },
        rollback: () => tx.rollback(),
      };
    },
  };

  const atomic = process.env['ONCELY_MODE'] !== 'plain';
  const engine = createIdempotency({ store, atomic, leaseMs: Number(env('ONCELY_LEASE_MS')), ttlMs: 3_600_000 });
  await step('start');
  const { response, outcome } = await engine.handle(
    { scope: 'acct_crash', method: 'POST', url: '/payments', headers: { 'idempotency-key': key }, parsedBody: { amount: 1000 } },
    async (ctx) => {
      const client = atomic ? ctx?.transaction : pool;
      if (!client) throw new Error('crash child: no transaction in atomic mode');
      const chargeId = `ch_${randomUUID()}`;
      await client.query(`INSERT INTO "${charges}" (idempotency_key, charge_id, pid) VALUES ($1, $2, $3)`, [key, chargeId, process.pid]);
      await step('charged');
      return { status: 201, headers: [['content-type', 'application/json']], body: utf8(JSON.stringify({ chargeId, pid: process.pid })) };
    },
  );
  process.send?.({ done: { status: response.status, outcome, body: new TextDecoder().decode(response.body), pid: process.pid } } satisfies ChildMessage);
  await pool.end();
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    process.send?.({ failed: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies ChildMessage);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
