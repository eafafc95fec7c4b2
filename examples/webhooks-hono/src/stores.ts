import { memoryStore, type Store } from '@oncely/core';

export type StoreKind = 'memory' | 'redis';

/** The store shared by the webhook routes and the queue consumer, and how to close it. */
export interface Backend {
  readonly store: Store;
  /** What runs, for the logs: e.g. "redis (real 7.0.15)". */
  readonly label: string;
  close(): Promise<void>;
}

/**
 * memory: records in this process (one server). redis (`REDIS_URL`, default
 * redis://127.0.0.1:6379): records shared by every process that receives webhooks or consumes the
 * queue, under `prefix` (default `oncely-example-webhooks:`).
 */
export async function openBackend(kind: StoreKind, options: { prefix?: string; redisUrl?: string } = {}): Promise<Backend> {
  if (kind === 'memory') return { store: memoryStore(), label: 'memory (in-process)', close: async () => {} };
  const { Redis } = await import('ioredis');
  const { redisStore } = await import('@oncely/redis');
  const client = new Redis(options.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
  });
  client.on('error', (error: Error) => console.warn('redis:', error.message));
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?';
  return {
    store: redisStore({ client, prefix: options.prefix ?? 'oncely-example-webhooks:' }),
    label: `redis (real ${version})`,
    close: async () => void client.disconnect(),
  };
}
