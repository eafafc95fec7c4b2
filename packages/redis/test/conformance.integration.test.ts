/**
 * The store conformance suite (CONTRACT §3) against the shared Redis at REDIS_URL, under a key
 * prefix of this run's own (removed afterwards), with the default maxRecordBytes (8 MiB).
 */
import { runStoreConformance } from '@oncely/store-tests';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { DEFAULT_MAX_RECORD_BYTES, redisStore } from '../src/index';
import { RECOMMENDED, REDIS_URL, deleteKeys, uniquePrefix } from './support/env';

const prefix = uniquePrefix();
let client: Redis;

beforeAll(async () => {
  client = new Redis(REDIS_URL, RECOMMENDED);
  await client.ping();
});

afterAll(async () => {
  await deleteKeys(client, prefix);
  await client.quit();
});

runStoreConformance({
  name: 'redis',
  createStore: () => redisStore({ client, prefix }),
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
  listInProgress: true,
  purgeExpired: 'native',
});
