/**
 * Redis Cluster: a real 3-master cluster of private redis-server processes (built with
 * `redis-cli --cluster create` on free loopback ports, stopped afterwards) runs the whole
 * conformance suite, and records spread over every master (one key per record, no hash tag).
 */
import { randomToken } from '@oncely/core';
import { inProgressRecord, runStoreConformance } from '@oncely/store-tests';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_RECORD_BYTES, redisStore } from '../src/index';
import { RECOMMENDED } from './support/env';
import { RedisCluster } from './support/servers';

let cluster: RedisCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await RedisCluster.start(3);
  client = new Cluster(cluster.startupNodes, { enableAutoPipelining: true, redisOptions: RECOMMENDED });
  await client.ping();
}, 60_000);

afterAll(async () => {
  await client?.quit();
  await cluster?.destroy();
}, 30_000);

runStoreConformance({
  name: 'redis-cluster',
  createStore: () => redisStore({ client }),
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
  listInProgress: true,
  purgeExpired: 'native',
});

describe('redis-cluster: listInProgress', () => {
  it('refuses to answer (StoreUnavailableError) rather than list nothing when the client knows no master', async () => {
    const unconnected = new Cluster(cluster.startupNodes, { lazyConnect: true, redisOptions: RECOMMENDED });
    try {
      const store = redisStore({ client: unconnected });
      await expect(store.listInProgress({ claimedBefore: Date.now(), now: Date.now(), limit: 10 })).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      unconnected.disconnect();
    }
  });
});

describe('redis-cluster: placement', () => {
  it('spreads records over every master: one key per record, each script on its own slot', async () => {
    const store = redisStore({ client, prefix: `placement-${randomToken().slice(0, 8)}:` });
    const records = Array.from({ length: 60 }, () => inProgressRecord({ expiryGranularityMs: 1 }));
    for (const record of records) expect(await store.create(record, Date.now())).toEqual({ created: true });
    const perNode = await Promise.all(cluster.nodes.map(async (node) => Number((await node.cli('dbsize')).trim())));
    for (const count of perNode) expect(count).toBeGreaterThan(0);
    const listed = await store.listInProgress({ claimedBefore: Date.now(), now: Date.now(), limit: 100 });
    expect(listed.map((record) => record.id).sort(), 'listInProgress scans every master').toEqual(records.map((record) => record.id).sort());
    for (const record of records) expect(await store.delete(record.id, record.token)).toBe(true);
  });
});
