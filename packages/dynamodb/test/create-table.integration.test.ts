/** `createTable()` against DynamoDB Local: key schema, billing, TTL, idempotence, refusals. */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createTable, DYNAMODB_PARTITION_KEY, DYNAMODB_TTL_ATTRIBUTE } from '../src/index';
import { dropTable, dynamoTarget, freshTableName, localClient } from './target';

describe(`createTable — ${dynamoTarget().label}`, () => {
  const client = localClient();
  const tables: string[] = [];
  const fresh = (prefix: string) => {
    const name = freshTableName(prefix);
    tables.push(name);
    return name;
  };
  afterAll(async () => {
    for (const name of tables) await dropTable(client, name);
    client.destroy();
  });

  it('creates an on-demand table keyed by pk (S), ACTIVE, with TTL on ttl; a second call changes nothing', async () => {
    const tableName = fresh('create');
    expect(await createTable({ client, tableName })).toEqual({ tableName, created: true, ttlEnabled: true });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: DYNAMODB_PARTITION_KEY, KeyType: 'HASH' }]);
    expect(Table?.AttributeDefinitions).toEqual([{ AttributeName: DYNAMODB_PARTITION_KEY, AttributeType: 'S' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const { TimeToLiveDescription } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: DYNAMODB_TTL_ATTRIBUTE });

    expect(await createTable({ client, tableName })).toEqual({ tableName, created: false, ttlEnabled: false });
  });

  it('provisioned capacity when asked', async () => {
    const tableName = fresh('provisioned');
    await createTable({ client, tableName, billingMode: 'PROVISIONED', readCapacityUnits: 7, writeCapacityUnits: 9 });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 7, WriteCapacityUnits: 9 });
  });

  it('enables TTL on an existing table that lacks it', async () => {
    const tableName = fresh('nottl');
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    expect(await createTable({ client, tableName })).toEqual({ tableName, created: false, ttlEnabled: true });
  });

  it('refuses a table with another key schema, or with TTL on another attribute', async () => {
    const wrongKey = fresh('wrongkey');
    await client.send(
      new CreateTableCommand({
        TableName: wrongKey,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await expect(createTable({ client, tableName: wrongKey })).rejects.toThrow(/key schema \[pk \(HASH\), sk \(RANGE\)\]/);

    const otherTtl = fresh('otherttl');
    await client.send(
      new CreateTableCommand({
        TableName: otherTtl,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await client.send(new UpdateTimeToLiveCommand({ TableName: otherTtl, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires' } }));
    await expect(createTable({ client, tableName: otherTtl })).rejects.toThrow(/TTL on attribute "expires"/);
  });
});
