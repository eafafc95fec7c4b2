/**
 * The five stores of the reliability scenarios, each against its real server, created the way the
 * stores' own integration tests create them (their setup modules are reused, not copied): a fresh
 * table / prefix / collection per call, dropped by `close()`.
 *
 * - memory: `memoryStore()` (one process).
 * - postgres: 127.0.0.1:5432 database `test` (`DATABASE_URL`), fresh table.
 * - redis: 127.0.0.1:6379 (`REDIS_URL`), fresh key prefix.
 * - dynamodb: DynamoDB Local, started once per run by `packages/dynamodb/test/global-setup.ts`.
 * - mongodb: the wire-protocol STAND-IN (mockupdb + mongomock, not MongoDB) started by
 *   `packages/mongodb/test/global-setup.ts`, or a real server when `MONGODB_URL` is set.
 *
 * The setup modules read vitest's `inject()`, so this module loads them lazily, per store: only
 * vitest test files may open dynamodb or mongodb.
 */
import { memoryStore, type Store } from '@oncely/core';

export type StoreName = 'memory' | 'postgres' | 'redis' | 'dynamodb' | 'mongodb';

/** Every store, in report order. */
export const STORE_NAMES: readonly StoreName[] = ['memory', 'postgres', 'redis', 'dynamodb', 'mongodb'];

/** An open store and how to clean it up. */
export interface StoreHandle<S extends Store = Store> {
  readonly name: StoreName;
  /** For results and logs: `memory`, `postgres`, `redis`, `dynamodb`, `mongodb (stand-in)`. */
  readonly label: string;
  readonly store: S;
  /** Drop the table / keys / collection and close the clients. */
  close(): Promise<void>;
}

/** Settings for {@link openStore}. */
export interface OpenStoreOptions {
  /** Postgres pool size (default 10). */
  readonly poolSize?: number;
}

/** Open `name` against its real server, with a fresh table / prefix / collection. */
export async function openStore(name: StoreName, options: OpenStoreOptions = {}): Promise<StoreHandle> {
  switch (name) {
    case 'memory':
      return { name, label: 'memory', store: memoryStore(), close: async () => undefined };
    case 'postgres': {
      const { postgresStore } = await import('@oncely/postgres');
      const db = await import('../../postgres/test/support/db');
      const pool = db.testPool({ max: options.poolSize ?? 10 });
      const table = db.uniqueTable('rel');
      const drop = await db.createTable(pool, table);
      return {
        name,
        label: 'postgres',
        store: postgresStore({ pool, table }),
        async close() {
          await drop();
          await pool.end();
        },
      };
    }
    case 'redis': {
      const { redisStore } = await import('@oncely/redis');
      const { Redis } = await import('ioredis');
      const env = await import('../../redis/test/support/env');
      const client = new Redis(env.REDIS_URL, env.RECOMMENDED);
      const prefix = env.uniquePrefix();
      return {
        name,
        label: 'redis',
        store: redisStore({ client, prefix }),
        async close() {
          await env.deleteKeys(client, prefix);
          client.disconnect();
        },
      };
    }
    case 'dynamodb': {
      const { dynamoStore } = await import('@oncely/dynamodb');
      const target = await import('../../dynamodb/test/target');
      const client = target.localClient();
      const tableName = await target.freshTable(client, 'rel');
      return {
        name,
        label: 'dynamodb',
        store: dynamoStore({ client, tableName }),
        async close() {
          await target.dropTable(client, tableName);
          client.destroy();
        },
      };
    }
    case 'mongodb': {
      const { mongoStore } = await import('@oncely/mongodb');
      const target = await import('../../mongodb/test/target');
      const client = target.connect();
      const collection = target.freshCollection(client, 'rel');
      const store = mongoStore({ collection });
      await store.ensureIndexes();
      return {
        name,
        label: target.mongoTarget().standIn ? 'mongodb (stand-in)' : 'mongodb',
        store,
        async close() {
          await target.dropQuietly(collection);
          await client.close();
        },
      };
    }
  }
}
