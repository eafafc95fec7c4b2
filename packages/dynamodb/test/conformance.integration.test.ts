/**
 * The whole store conformance suite (CONTRACT §3) against AWS's DynamoDB Local, with the real
 * 400 KB item limit, so the limit checks run. No expiry granularity: `expiresAtMs` is exact.
 *
 * The table is the store's layout WITHOUT TTL enabled. DynamoDB Local's TTL sweeper removes an
 * expired item within about a second, and the admin group's purge check counts records it creates
 * already expired by the real clock (its purges pass the real `now`): with the sweeper on, it
 * deleted some of them first in 3 of 6 runs. Every other check keeps records alive for at least a
 * minute of real time, so TTL never acts on them either way (TTL is garbage collection only); the
 * table with TTL is covered by create-table.integration.test.ts.
 */
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { runStoreConformance } from '@oncely/store-tests';
import { afterAll, beforeAll, describe } from 'vitest';
import { DYNAMODB_MAX_ITEM_BYTES, DYNAMODB_PARTITION_KEY, dynamoStore } from '../src/index';
import { dropTable, dynamoTarget, freshTableName, localClient } from './target';

describe(`dynamodb conformance — ${dynamoTarget().label}`, () => {
  const client = localClient();
  const tableName = freshTableName('conformance');
  beforeAll(async () => {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: DYNAMODB_PARTITION_KEY, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: DYNAMODB_PARTITION_KEY, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  runStoreConformance({
    name: 'dynamodb',
    createStore: () => dynamoStore({ client, tableName }),
    maxRecordBytes: DYNAMODB_MAX_ITEM_BYTES,
    timeoutMs: 120_000,
    listInProgress: true,
    purgeExpired: true,
  });
});
