/**
 * `oncely` against the real Redis: every admin command (shared scenarios), purge (nothing to do:
 * native expiry), and `--prefix` isolation.
 */
import { type Store, utf8 } from '@oncely/core';
import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oncely, REDIS_URL, uniquePrefix } from './support/cli';
import { adminScenarios } from './support/scenarios';
import { seedCompleted } from './support/seed';

const prefix = uniquePrefix();
const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
let store: Store;

beforeAll(() => {
  store = redisStore({ client, prefix });
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
  client.disconnect();
});

adminScenarios({ name: 'redis', args: () => ['--url', REDIS_URL, '--prefix', prefix], store: () => store });

describe('redis specifics', () => {
  it('purge deletes nothing and says why (Redis expires records by itself)', async () => {
    const result = await oncely(['purge', '--url', REDIS_URL, '--prefix', prefix]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('purged 0 expired records: Redis deletes expired records by itself (native expiry), nothing to purge\n');
    expect((await oncely(['purge', '--url', REDIS_URL, '--prefix', prefix, '--json'])).json()).toEqual({
      command: 'purge',
      ok: true,
      backend: 'redis',
      namespace: 'oncely',
      deleted: 0,
    });
  });

  it('--prefix: a record under one prefix is not found under another', async () => {
    const record = { scope: 'acct', key: 'prefixed' };
    await seedCompleted(store, record, { status: 200, headers: [], body: utf8('ok') });
    expect((await oncely(['inspect', '--url', REDIS_URL, '--prefix', prefix, '--scope', 'acct', '--key', 'prefixed'])).code).toBe(0);
    expect((await oncely(['inspect', '--url', REDIS_URL, '--prefix', uniquePrefix(), '--scope', 'acct', '--key', 'prefixed'])).code).toBe(1);
  });
});
