/**
 * Round trips per request (CONTRACT §3 budget), counted with the driver's command monitoring:
 * every command the store sends is one round trip. Handshake and heartbeat commands (hello, ping,
 * endSessions, ...) are not the store's and are not counted.
 */
import { createIdempotency, utf8 } from '@oncely/core';
import type { IdempotentRequest } from '@oncely/core';
import { inProgressRecord } from '@oncely/store-tests';
import { mongoStore } from '@oncely/mongodb';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, dropQuietly, freshCollection, mongoTarget } from './target';

const NOT_THE_STORES = new Set(['hello', 'ismaster', 'isMaster', 'ping', 'endSessions', 'buildInfo', 'saslStart', 'saslContinue', 'getnonce']);

const target = mongoTarget();
const client = connect({ monitorCommands: true });
const collection = freshCollection(client, 'round_trips');
const store = mongoStore({ collection });

let sent: string[] = [];
client.on('commandStarted', (event: CommandStartedEvent) => {
  if (!NOT_THE_STORES.has(event.commandName)) sent.push(event.commandName);
});

/** Commands sent while `action` ran. Tests in this file run one at a time, so none are foreign. */
async function commandsOf<T>(action: () => Promise<T>): Promise<{ value: T; commands: string[] }> {
  sent = [];
  const value = await action();
  const commands = sent;
  sent = [];
  return { value, commands };
}

let keys = 0;
function request(key: string, body = '{"amount":100}'): IdempotentRequest {
  return { scope: 'tenant_round_trips', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, rawBody: utf8(body) };
}
const created = async () => ({ status: 201, headers: [['content-type', 'application/json']] as [string, string][], body: utf8('{"id":"ch_1"}') });

beforeAll(async () => {
  await store.ensureIndexes();
  await collection.findOne({}); // connect before counting
});
afterAll(async () => {
  await dropQuietly(collection);
  await client.close();
});

describe(`mongoStore round trips on ${target.label}`, () => {
  it('first request: 2 round trips (create = 1 findAndModify, complete = 1 update)', async () => {
    const engine = createIdempotency({ store });
    const { value, commands } = await commandsOf(() => engine.handle(request(`first-${++keys}`), created));
    expect(value.outcome).toBe('executed');
    expect(commands).toEqual(['findAndModify', 'update']);
  });

  it('replay of a completed request: 1 round trip (the create returns the completed record)', async () => {
    const engine = createIdempotency({ store });
    const key = `replay-${++keys}`;
    await engine.handle(request(key), created);
    const { value, commands } = await commandsOf(() => engine.handle(request(key), created));
    expect(value.outcome).toBe('replayed');
    expect(value.response.status).toBe(201);
    expect(commands).toEqual(['findAndModify']);
  });

  it('in-flight conflict (409): 1 round trip', async () => {
    const engine = createIdempotency({ store });
    const key = `conflict-${++keys}`;
    const first = await engine.begin(request(key));
    expect(first.action).toBe('execute');
    const { value, commands } = await commandsOf(() => engine.handle(request(key), created));
    expect(value.response.status).toBe(409);
    expect(commands).toEqual(['findAndModify']);
    if (first.action === 'execute') await first.execution.finish(await created());
  });

  it('same key, different request (422): 1 round trip', async () => {
    const engine = createIdempotency({ store });
    const key = `mismatch-${++keys}`;
    await engine.handle(request(key), created);
    const { value, commands } = await commandsOf(() => engine.handle(request(key, '{"amount":999}'), created));
    expect(value.response.status).toBe(422);
    expect(commands).toEqual(['findAndModify']);
  });

  it('a failed handler releases its claim: create + delete, 2 round trips', async () => {
    const engine = createIdempotency({ store });
    const { commands } = await commandsOf(async () => {
      await expect(engine.handle(request(`fails-${++keys}`), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    });
    expect(commands).toEqual(['findAndModify', 'delete']);
  });

  it('create over an expired record the TTL monitor has not removed yet: 2 round trips (findAndModify, then a conditional replace)', async () => {
    const old = inProgressRecord({ expiryGranularityMs: 1 });
    expect(await store.create(old, Date.now())).toEqual({ created: true });
    const claim = inProgressRecord({ expiryGranularityMs: 1 }, { id: old.id });
    const { value, commands } = await commandsOf(() => store.create(claim, old.expiresAt + 1));
    expect(value).toEqual({ created: true });
    expect(commands).toEqual(['findAndModify', 'update']);
  });

  it('store primitives: update, delete and get are 1 round trip each', async () => {
    const claim = inProgressRecord({ expiryGranularityMs: 1 });
    await store.create(claim, Date.now());
    const renewed = { ...claim, leaseUntil: claim.leaseUntil + 1000 };
    expect(await commandsOf(() => store.update(claim.id, claim.token, renewed))).toEqual({ value: true, commands: ['update'] });
    expect((await commandsOf(() => store.get(claim.id, Date.now()))).commands).toEqual(['find']);
    expect(await commandsOf(() => store.delete(claim.id, claim.token))).toEqual({ value: true, commands: ['delete'] });
  });
});
