import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import { redisOrders, type OrderRepository } from './orders';
import type { Store } from '@oncely/core';

export interface Backend {
  readonly client: Redis;
  readonly store: Store;
  readonly orders: OrderRepository;
  /** e.g. "redis (real 7.0.15)". */
  readonly label: string;
  close(): Promise<void>;
}

/**
 * One ioredis client for both the idempotency records and the orders, under one prefix (default
 * `oncely-example-orders:`): records at `<prefix>oncely:<hash>`, orders at
 * `<prefix>customer:{<id>}:order:<id>`. Settings as the Redis store's README recommends.
 */
export async function openRedis(options: { url?: string; prefix?: string } = {}): Promise<Backend> {
  const prefix = options.prefix ?? 'oncely-example-orders:';
  const client = new Redis(options.url ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
    enableAutoPipelining: true, // commands of concurrent requests share one write
    maxRetriesPerRequest: 1, // a dead server fails commands after one reconnect attempt
    connectTimeout: 2_000,
  });
  client.on('error', (error: Error) => console.warn('redis:', error.message));
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
  return {
    client,
    store: redisStore({ client, prefix }),
    orders: redisOrders(client, prefix),
    label: `redis (real ${version})`,
    close: async () => void client.disconnect(),
  };
}
