/** What the DynamoDB tests connect to (see global-setup.ts), and helpers to connect. */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { createTable } from '../src/index';

/** The DynamoDB Local under test. */
export interface DynamoTarget {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** DynamoDB Local's version. */
  readonly version: string;
  /** For logs and test names: what the tests run against. */
  readonly label: string;
}

export function dynamoTarget(): DynamoTarget {
  return inject('dynamodb');
}

/** Fake static credentials and region `local`: DynamoDB Local accepts any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'oncelyfake', secretAccessKey: 'oncelyfake' } as const;

/**
 * A client for DynamoDB Local with bounded timeouts and retries, as the README recommends, so a
 * dead server fails a test instead of hanging it.
 */
export function localClient(overrides: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: dynamoTarget().endpoint,
    region: 'local',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
    ...overrides,
  });
}

/** A fresh table name: `oncely_<prefix>_<8 hex>`. */
export function freshTableName(prefix: string): string {
  return `oncely_${prefix}_${randomUUID().slice(0, 8)}`;
}

/** Create a fresh table with the package's own helper; returns its name. */
export async function freshTable(client: DynamoDBClient, prefix: string): Promise<string> {
  const tableName = freshTableName(prefix);
  await createTable({ client, tableName });
  return tableName;
}

/** Delete a test table; absent is fine. */
export async function dropTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
}

/** Counts the SDK's HTTP requests (the deserialize step runs once per attempt, inside the retry loop). */
export function countRequests(client: DynamoDBClient): { readonly sent: string[]; reset(): string[] } {
  const sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'deserialize', name: 'oncelyRoundTripCounter' },
  );
  return {
    sent,
    reset() {
      return sent.splice(0, sent.length);
    },
  };
}

