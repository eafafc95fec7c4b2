import { memoryStore, type Store } from '@oncely/core';
import { memoryLedger, postgresLedger, type Ledger } from './ledger';

export type StoreKind = 'memory' | 'postgres' | 'redis';

/** A store and a ledger for the example, and how to close them. */
export interface Backend {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly atomic: boolean;
  /** What runs, for the logs: e.g. "postgres (real 15.20) in atomic mode". */
  readonly label: string;
  close(): Promise<void>;
}

/**
 * memory: everything in this process. postgres (`DATABASE_URL`): the Postgres store in atomic mode,
 * charges booked in the same transaction as the idempotency record. redis (`REDIS_URL`): the Redis
 * store, charges in memory.
 */
export async function openBackend(kind: StoreKind, options: { resetLedger?: boolean } = {}): Promise<Backend> {
  if (kind === 'memory') {
    return { store: memoryStore(), ledger: memoryLedger(), atomic: false, label: 'memory (in-process)', close: async () => {} };
  }
  if (kind === 'postgres') {
    const { default: pg } = await import('pg');
    const { postgresStore, migrate } = await import('@oncely/postgres');
    const pool = new pg.Pool({
      connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
      max: 20,
      connectionTimeoutMillis: 5_000,
    });
    await migrate(pool);
    const ledger = postgresLedger(pool);
    await ledger.migrate();
    if (options.resetLedger) await ledger.reset();
    const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
    return {
      store: postgresStore({ pool }),
      ledger,
      atomic: true,
      label: `postgres (real ${rows[0]?.server_version ?? '?'}) in atomic mode`,
      close: () => pool.end(),
    };
  }
  const { Redis } = await import('ioredis');
  const { redisStore } = await import('@oncely/redis');
  const client = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
  return {
    store: redisStore({ client, prefix: 'oncely-example:' }),
    ledger: memoryLedger(),
    atomic: false,
    label: `redis (real ${version})`,
    close: async () => void client.disconnect(),
  };
}
