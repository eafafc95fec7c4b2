import { runStoreConformance, describeLimits } from '@oncely/store-tests';
import { afterAll, beforeAll } from 'vitest';
import { MONGODB_MAX_DOCUMENT_BYTES, mongoStore } from '@oncely/mongodb';
import { connect, dropQuietly, freshCollection, mongoTarget } from './target';

const target = mongoTarget();
const client = connect();
const collection = freshCollection(client, 'conformance');

beforeAll(() => mongoStore({ collection }).ensureIndexes());
afterAll(async () => {
  await dropQuietly(collection);
  await client.close();
});

runStoreConformance({
  name: `mongoStore on ${target.label}`,
  createStore: () => mongoStore({ collection }),
  maxRecordBytes: MONGODB_MAX_DOCUMENT_BYTES,
  timeoutMs: 120_000,
  listInProgress: true,
  purgeExpired: true,
});

const SMALL_LIMIT = 64 * 1024;
describeLimits({
  name: `mongoStore({ maxRecordBytes: ${SMALL_LIMIT} }) on ${target.label}`,
  createStore: () => mongoStore({ collection, maxRecordBytes: SMALL_LIMIT }),
  maxRecordBytes: SMALL_LIMIT,
});
