/**
 * DynamoDB's 400 KB item limit, end to end against DynamoDB Local: the store's size computation
 * agrees with the server to the byte, the server's own refusal maps to RecordTooLargeError, and a
 * 500 KB response completes without its body (CONTRACT §6) and replays as `response_not_stored`.
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createIdempotency, type IdempotencyEvent, isIdempotencyError } from '@oncely/core';
import { completedRecord, inProgressRecord } from '@oncely/store-tests';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DYNAMODB_MAX_ITEM_BYTES, dynamoItemSize, dynamoStore } from '../src/index';
import { storeError } from '../src/errors';
import { toItem } from '../src/item';
import { countRequests, dropTable, dynamoTarget, freshTable, localClient } from './target';

describe(`dynamodb item size limit — ${dynamoTarget().label}`, () => {
  const client = localClient();
  let tableName = '';
  beforeAll(async () => {
    tableName = await freshTable(client, 'limits');
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  /** Whether DynamoDB Local accepts `item` (a PutItem without the store's own check). */
  async function serverAccepts(item: Record<string, AttributeValue>): Promise<boolean> {
    try {
      await client.send(new PutItemCommand({ TableName: tableName, Item: item }));
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === 'ValidationException' && /size/i.test(error.message)) return false;
      throw error;
    }
  }

  it('dynamoItemSize agrees with DynamoDB Local to the byte: a record item of exactly 409,600 bytes is accepted, one byte more refused', async () => {
    const ctx = { expiryGranularityMs: 1 };
    // Every timestamp is fixed by the template: a number's size depends on its digits (trailing zero
    // pairs are free), so a fresh Date.now() per item would move the size by a byte.
    const template = completedRecord(inProgressRecord(ctx, { scope: 'tenant/🦄/東京/שלום' }), {
      response: { status: 201, headers: [['content-type', 'application/octet-stream'], ['link', '<a>'], ['x-empty', '']], body: new Uint8Array(0) },
    });
    const overhead = dynamoItemSize(toItem(template));
    const withBody = (bytes: number) =>
      toItem(completedRecord(template, { completedAt: template.completedAt, response: { ...template.response!, body: new Uint8Array(bytes).fill(0xab) } }));
    const exact = withBody(DYNAMODB_MAX_ITEM_BYTES - overhead);
    expect(dynamoItemSize(exact)).toBe(DYNAMODB_MAX_ITEM_BYTES);
    expect(await serverAccepts(exact)).toBe(true);
    const over = withBody(DYNAMODB_MAX_ITEM_BYTES - overhead + 1);
    expect(dynamoItemSize(over)).toBe(DYNAMODB_MAX_ITEM_BYTES + 1);
    expect(await serverAccepts(over)).toBe(false);
  });

  it('numbers count as DynamoDB Local counts them (base-100 pairs)', async () => {
    for (const number of ['0', '7', '120', '1200', '1234', '12345', '4102444800123', '1.5', '0.05']) {
      const item = (fill: number): Record<string, AttributeValue> => ({ pk: { S: `n-${number}` }, n: { N: number }, b: { B: new Uint8Array(fill) } });
      const fill = DYNAMODB_MAX_ITEM_BYTES - dynamoItemSize(item(0));
      expect(await serverAccepts(item(fill)), `number ${number}: item of exactly the limit`).toBe(true);
      expect(await serverAccepts(item(fill + 1)), `number ${number}: one byte over`).toBe(false);
    }
  });

  it("DynamoDB's own refusal (ValidationException: Item size has exceeded the maximum allowed size) maps to RecordTooLargeError", async () => {
    let refusal: unknown;
    try {
      await client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'too-big' }, b: { B: new Uint8Array(DYNAMODB_MAX_ITEM_BYTES) } } }));
    } catch (error) {
      refusal = error;
    }
    expect((refusal as Error).name).toBe('ValidationException');
    const mapped = storeError('update', 'too-big', refusal);
    expect(isIdempotencyError(mapped, 'record_too_large')).toBe(true);
    expect(mapped.cause).toBe(refusal);
  });

  it('a 500 KB response: the first request completes (its own response sent), the record is stored without the body, the replay answers the original status with response_not_stored', async () => {
    const store = dynamoStore({ client, tableName });
    const events: IdempotencyEvent[] = [];
    const engine = createIdempotency({ store, onEvent: (event) => events.push(event), logRawKeys: true });
    const body = new Uint8Array(500 * 1024).map((_, i) => i % 251);
    const request = {
      scope: 'tenant_big',
      method: 'POST',
      url: '/exports',
      headers: { 'idempotency-key': `big-${Date.now()}` },
      rawBody: new Uint8Array([1, 2, 3]),
    };
    let runs = 0;
    const handler = async () => {
      runs++;
      return { status: 201, headers: [['content-type', 'application/octet-stream'], ['location', '/exports/1']] as [string, string][], body };
    };

    const counter = countRequests(client);
    const first = await engine.handle(request, handler);
    // The completion with the body is refused by the store's size check before anything is sent;
    // the core then completes without the body: still two round trips.
    expect(counter.reset()).toEqual(['PutItemCommand', 'PutItemCommand']);
    expect(first.outcome).toBe('executed');
    expect(first.response.status).toBe(201);
    expect(first.response.body).toBe(body);
    expect(events.map((event) => event.type)).toEqual(['executed']);

    const replay = await engine.handle(request, handler);
    expect(counter.reset()).toEqual(['PutItemCommand']);
    expect(runs).toBe(1);
    expect(replay.outcome).toBe('replayed');
    expect(replay.response.status).toBe(201);
    expect(replay.response.headers).toContainEqual(['content-type', 'application/problem+json']);
    expect(replay.response.headers).toContainEqual(['location', '/exports/1']);
    expect(replay.response.headers).toContainEqual(['idempotent-replayed', 'true']);
    expect(JSON.parse(new TextDecoder().decode(replay.response.body))).toMatchObject({ code: 'response_not_stored', status: 201 });

    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: replayRecordId(events) } }, ConsistentRead: true }),
    );
    expect(Item?.['state']?.S).toBe('completed');
    expect(Item?.['status']?.N).toBe('201');
    expect(Item?.['body']).toBeUndefined();
  });
});

/** The record id of the request the events are about (`oncely:<keyHash>`, the default namespace). */
function replayRecordId(events: readonly IdempotencyEvent[]): string {
  const keyHash = events[0]?.keyHash;
  if (!keyHash) throw new Error('no event with a keyHash');
  return `oncely:${keyHash}`;
}
