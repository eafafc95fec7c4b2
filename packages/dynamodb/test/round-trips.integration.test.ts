/**
 * The round-trip budget of CONTRACT §3, measured through the core's HTTP engine against DynamoDB
 * Local: every HTTP request the SDK sends is counted by client middleware, so an SDK retry would
 * count too. First request = 2 (claim PutItem, completion PutItem), replay = 1, in-flight conflict = 1.
 */
import { createIdempotency, type HttpResponse, utf8 } from '@oncely/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../src/index';
import { countRequests, dropTable, dynamoTarget, freshTable, localClient } from './target';

const json = (status: number, value: unknown): HttpResponse => ({
  status,
  headers: [['content-type', 'application/json']],
  body: utf8(JSON.stringify(value)),
});

describe(`dynamodb round trips — ${dynamoTarget().label}`, () => {
  const client = localClient();
  let tableName = '';
  beforeAll(async () => {
    tableName = await freshTable(client, 'roundtrips');
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  it('first request = 2 (PutItem claim, PutItem completion), replay = 1, in-flight conflict = 1', async () => {
    const counter = countRequests(client);
    const engine = createIdempotency({ store: dynamoStore({ client, tableName }) });
    const request = (key: string) => ({
      scope: 'tenant_1',
      method: 'POST',
      url: '/charges',
      headers: { 'idempotency-key': key, 'content-type': 'application/json' },
      rawBody: utf8('{"amount":1000}'),
    });
    const key = `rt-${Date.now()}`;

    let runs = 0;
    const first = await engine.handle(request(key), async () => {
      runs++;
      return json(201, { id: 'ch_1' });
    });
    const firstTrips = counter.reset();
    expect(first.outcome).toBe('executed');
    expect(firstTrips).toEqual(['PutItemCommand', 'PutItemCommand']);

    const replay = await engine.handle(request(key), async () => {
      runs++;
      return json(201, { id: 'ch_2' });
    });
    const replayTrips = counter.reset();
    expect(replay.outcome).toBe('replayed');
    expect(replay.response.status).toBe(201);
    expect(new TextDecoder().decode(replay.response.body)).toBe('{"id":"ch_1"}');
    expect(replay.response.headers).toContainEqual(['idempotent-replayed', 'true']);
    expect(replayTrips).toEqual(['PutItemCommand']);
    expect(runs).toBe(1);

    const inFlightKey = `${key}-inflight`;
    let entered!: () => void;
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const owner = engine.handle(request(inFlightKey), async () => {
      entered();
      await gate;
      return json(201, { id: 'ch_3' });
    });
    await handlerEntered;
    counter.reset();
    const conflict = await engine.handle(request(inFlightKey), async () => json(201, { id: 'never' }));
    const conflictTrips = counter.reset();
    release();
    expect((await owner).outcome).toBe('executed');
    expect(conflict.response.status).toBe(409);
    expect(JSON.parse(new TextDecoder().decode(conflict.response.body))).toMatchObject({ code: 'in_progress' });
    expect(conflictTrips).toEqual(['PutItemCommand']);

    process.stderr.write(
      `dynamodb round trips (${dynamoTarget().label}): first request ${firstTrips.length} [${firstTrips.join(', ')}], ` +
        `replay ${replayTrips.length} [${replayTrips.join(', ')}], in-flight conflict ${conflictTrips.length} [${conflictTrips.join(', ')}]\n`,
    );
  });
});
