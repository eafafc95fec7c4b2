import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput, DynamoDBClient, TableDescription } from '@aws-sdk/client-dynamodb';
import { DYNAMODB_PARTITION_KEY, DYNAMODB_TTL_ATTRIBUTE } from './item';

/** Options of {@link createTable}. */
export interface CreateTableOptions {
  /** Your `DynamoDBClient`; its credentials need the permissions listed in the README ("IAM"). */
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /**
   * `'PAY_PER_REQUEST'` (default: on-demand, nothing to size) or `'PROVISIONED'` with
   * `readCapacityUnits` / `writeCapacityUnits` (default 5 each).
   */
  readonly billingMode?: 'PAY_PER_REQUEST' | 'PROVISIONED';
  readonly readCapacityUnits?: number;
  readonly writeCapacityUnits?: number;
  /** How long to wait for the table to become ACTIVE, in seconds. Default 300. */
  readonly maxWaitSeconds?: number;
}

/** What {@link createTable} did. */
export interface CreateTableResult {
  readonly tableName: string;
  /** False when the table already existed (with the right key schema). */
  readonly created: boolean;
  /** False when TTL was already enabled on `ttl`. */
  readonly ttlEnabled: boolean;
}

/**
 * Create the store's table if it does not exist, wait until it is ACTIVE, and enable TTL on the
 * `ttl` attribute (epoch seconds) if it is not enabled yet. Idempotent: safe to call at every
 * deploy or startup. Throws if a table of that name exists with another key schema, or with TTL on
 * another attribute. In production, prefer your infrastructure code (README, "Table").
 *
 * Needs `dynamodb:CreateTable`, `DescribeTable`, `UpdateTimeToLive` and `DescribeTimeToLive`;
 * the store itself needs none of them.
 *
 * @example
 * ```ts
 * await createTable({ client, tableName: 'idempotency' }); // on-demand capacity
 * await createTable({ client, tableName: 'idempotency', billingMode: 'PROVISIONED', readCapacityUnits: 10, writeCapacityUnits: 20 });
 * ```
 */
export async function createTable(options: CreateTableOptions): Promise<CreateTableResult> {
  const { client, tableName } = options;
  const billingMode = options.billingMode ?? 'PAY_PER_REQUEST';
  const input: CreateTableCommandInput = {
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: DYNAMODB_PARTITION_KEY, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: DYNAMODB_PARTITION_KEY, KeyType: 'HASH' }],
    BillingMode: billingMode,
    ...(billingMode === 'PROVISIONED'
      ? { ProvisionedThroughput: { ReadCapacityUnits: options.readCapacityUnits ?? 5, WriteCapacityUnits: options.writeCapacityUnits ?? 5 } }
      : {}),
  };
  let created = true;
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as { name?: unknown } | null)?.name !== 'ResourceInUseException') throw error;
    created = false;
  }
  await waitUntilTableExists({ client, maxWaitTime: options.maxWaitSeconds ?? 300, minDelay: 1, maxDelay: 10 }, { TableName: tableName });
  if (!created) checkKeySchema(tableName, (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table);

  const ttl = (await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }))).TimeToLiveDescription;
  const status = ttl?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') {
    if (ttl?.AttributeName !== DYNAMODB_TTL_ATTRIBUTE) {
      throw new Error(
        `createTable: table ${tableName} has TTL on attribute ${JSON.stringify(ttl?.AttributeName)}; oncely's records expire by ` +
          `${JSON.stringify(DYNAMODB_TTL_ATTRIBUTE)}. A table has one TTL attribute: use another table.`,
      );
    }
    return { tableName, created, ttlEnabled: false };
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: DYNAMODB_TTL_ATTRIBUTE },
    }),
  );
  return { tableName, created, ttlEnabled: true };
}

function checkKeySchema(tableName: string, table: TableDescription | undefined): void {
  const keys = table?.KeySchema ?? [];
  const type = table?.AttributeDefinitions?.find((definition) => definition.AttributeName === DYNAMODB_PARTITION_KEY)?.AttributeType;
  const hash = keys[0];
  if (keys.length !== 1 || hash?.AttributeName !== DYNAMODB_PARTITION_KEY || hash.KeyType !== 'HASH' || type !== 'S') {
    const found = keys.map((entry) => `${entry.AttributeName} (${entry.KeyType})`).join(', ');
    throw new Error(
      `createTable: table ${tableName} exists with key schema [${found}]; oncely needs a partition key ` +
        `${JSON.stringify(DYNAMODB_PARTITION_KEY)} of type S and no sort key.`,
    );
  }
}
