import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/** The shared Redis the conformance suite runs on: `REDIS_URL`, default the local one. */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** The client settings the README recommends; every test client uses them. */
export const RECOMMENDED: RedisOptions = {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
};

/** A key prefix no other run, file or test shares: `oncely-redis-test:<uuid>:`. */
export function uniquePrefix(): string {
  return `oncely-redis-test:${randomUUID()}:`;
}

/** Delete every key under `prefix` (SCAN + UNLINK), never anything else. */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
