/**
 * The crash scenario's app server, run as a child process (`child_process.fork`) so the parent can
 * SIGKILL it. Bundled with the current sources by {@link buildCrashServer}. Settings from the
 * environment:
 *
 * - `ONCELY_STORE`: `postgres` (atomic mode, record and payment in one transaction), `redis`,
 *   `dynamodb` (DynamoDB Local) or `mongodb` (the tests' stand-in, or a real server)
 * - `DATABASE_URL` (always: the app's own tables), `ONCELY_TABLE` (the Postgres or DynamoDB
 *   store's table), `REDIS_URL` + `ONCELY_PREFIX`, `DYNAMODB_ENDPOINT`, `MONGODB_URL` +
 *   `ONCELY_MONGO_DB` + `ONCELY_COLLECTION`
 * - `ONCELY_APP_TABLES`: prefix of the app's own tables (see `createAppTables`)
 * - `ONCELY_LEASE_MS`: the lease (short, so takeovers after a crash come quickly)
 * - `ONCELY_KILL_RATE`: probability, at each kill point a request passes, of asking the parent
 *   whether to die there. The parent answers by SIGKILL, or `go`.
 *
 * Messages to the parent: `{ listening: port }`, then `{ point, key, id }` at a kill point.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '@oncely/core';
import pg from 'pg';
import { createCrashApp, type KillPoint } from './app';

/** A message from the crash server to its parent. */
export type ServerMessage = { readonly listening: number } | { readonly point: KillPoint; readonly key: string; readonly id: string };
/** The parent's answer at a kill point (or a SIGKILL). */
export interface GoMessage {
  readonly go: string;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`crash server: ${name} is not set`);
  return value;
};

// Never outlive the test process: its IPC channel closes when it exits, however it exits.
process.on('disconnect', () => process.exit(1));

const waiting = new Map<string, () => void>();
process.on('message', (message: GoMessage) => {
  waiting.get(message.go)?.();
  waiting.delete(message.go);
});

const rate = Number(process.env['ONCELY_KILL_RATE'] ?? '0');

function point(at: KillPoint, key: string): Promise<void> {
  if (!(Math.random() < rate)) return Promise.resolve();
  const id = randomUUID();
  return new Promise<void>((resolve) => {
    waiting.set(id, resolve);
    process.send?.({ point: at, key, id } satisfies ServerMessage);
  });
}

async function openStore(pool: pg.Pool): Promise<{ store: Store; atomic: boolean }> {
  const kind = env('ONCELY_STORE');
  if (kind === 'postgres') {
    const { postgresStore } = await import('@oncely/postgres');
    return { store: postgresStore({ pool, table: env('ONCELY_TABLE') }), atomic: true };
  }
  if (kind === 'redis') {
    const { Redis } = await import('ioredis');
    const { redisStore } = await import('@oncely/redis');
    const client = new Redis(env('REDIS_URL'), { enableAutoPipelining: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    client.on('error', () => undefined);
    return { store: redisStore({ client, prefix: env('ONCELY_PREFIX') }), atomic: false };
  }
  if (kind === 'dynamodb') {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { dynamoStore } = await import('@oncely/dynamodb');
    const client = new DynamoDBClient({
      endpoint: env('DYNAMODB_ENDPOINT'),
      region: 'local',
      credentials: { accessKeyId: 'oncelyfake', secretAccessKey: 'oncelyfake' },
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
    });
    return { store: dynamoStore({ client, tableName: env('ONCELY_TABLE') }), atomic: false };
  }
  if (kind === 'mongodb') {
    const { MongoClient } = await import('mongodb');
    const { mongoStore } = await import('@oncely/mongodb');
    const client = new MongoClient(env('MONGODB_URL'), { serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 10_000, socketTimeoutMS: 60_000 });
    return { store: mongoStore({ collection: client.db(env('ONCELY_MONGO_DB')).collection(env('ONCELY_COLLECTION')) }), atomic: false };
  }
  throw new Error(`crash server: ONCELY_STORE must be postgres, redis, dynamodb or mongodb (memory is per process: a restart forgets every key), got ${kind}`);
}

async function main(): Promise<void> {
  // Two pools: in atomic mode each request holds a store connection for its transaction while its
  // handler also writes the app's tables on the pool; one shared pool deadlocks once every
  // connection is a transaction waiting for a second one. The store pool is larger than the
  // clients (16): a lease renewal needs a connection besides the transaction's.
  const pools = (['store', 'app'] as const).map((use) => {
    const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: use === 'store' ? 24 : 10, connectionTimeoutMillis: 5_000, application_name: `oncely-reliability-crash-${use}` });
    pool.on('error', () => undefined);
    return pool;
  }) as [pg.Pool, pg.Pool];
  const { store, atomic } = await openStore(pools[0]);
  const app = createCrashApp({ store, pool: pools[1], tables: env('ONCELY_APP_TABLES'), atomic, leaseMs: Number(env('ONCELY_LEASE_MS')),
    point,
    onError: (error) => console.error(`crash server ${process.pid}: 500 for`, error),
  });
  const server: Server = app.listen(0, '127.0.0.1', () => {
    process.send?.({ listening: (server.address() as AddressInfo).port } satisfies ServerMessage);
  });
}

main().catch((error: unknown) => {
  console.error('crash server failed to start:', error);
  process.exit(1);
});
