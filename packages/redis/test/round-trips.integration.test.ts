/**
 * Round trips counted AT THE SERVER (`INFO commandstats` on a private redis-server, reset with
 * `CONFIG RESETSTAT`), through the core's engine (`createIdempotency` + `engine.handle`):
 * CONTRACT §3's budget is first request = 2, replay = 1, in-flight conflict = 1. Redis 7 counts the
 * commands a script runs (`redis.call`) as well, so each expectation is the server's whole work:
 * the client's round trips are the `evalsha` (and `eval`) calls; `get`/`set`/`getrange`/`del`
 * inside them ran in the script, on the server. The one exception is `store.get`, a plain `GET`.
 * And `NOSCRIPT` recovery: `SCRIPT FLUSH` between operations costs one failed `EVALSHA` + one
 * `EVAL`, never an error.
 */
import { createIdempotency, headerValue, randomToken } from '@oncely/core';
import { completedRecord, inProgressRecord } from '@oncely/store-tests';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index';
import { calls, commandStats, resetStats } from './support/commandstats';
import { charge, created, problemCode } from './support/engine';
import { RECOMMENDED } from './support/env';
import { RedisServer } from './support/servers';

let server: RedisServer;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  server = await RedisServer.start();
  client = new Redis(server.url, RECOMMENDED);
  admin = new Redis(server.url);
  await Promise.all([client.ping(), admin.ping()]);
}, 30_000);

afterAll(async () => {
  await Promise.all([client?.quit(), admin?.quit()]);
  await server?.destroy();
}, 30_000);

function newEngine() {
  return createIdempotency({ store: redisStore({ client }) });
}

describe('redis: round trips at the server (INFO commandstats)', () => {
  beforeAll(async () => {
    // Warm up: the connection is ready and the scripts are cached, as in a running app.
    await newEngine().handle(charge(`warmup-${randomToken()}`), async () => created('ch_warmup'));
  });

  it('first request: 2 round trips — EVALSHA create (GET, SET inside), EVALSHA update (GETRANGE, SET inside)', async () => {
    const engine = newEngine();
    await resetStats(admin);
    const { response, outcome } = await engine.handle(charge(`first-${randomToken()}`), async () => created('ch_1'));
    expect(outcome).toBe('executed');
    expect(response.status).toBe(201);
    expect(calls(await commandStats(admin))).toEqual({ evalsha: 2, get: 1, set: 2, getrange: 1 });
  });

  it('replay: 1 round trip — EVALSHA create (GET inside), which returns the completed record', async () => {
    const engine = newEngine();
    const key = `replay-${randomToken()}`;
    await engine.handle(charge(key), async () => created('ch_2'));
    await resetStats(admin);
    const { response, outcome } = await engine.handle(charge(key), async () => {
      throw new Error('a replay must not execute');
    });
    expect(outcome).toBe('replayed');
    expect(response.status).toBe(201);
    expect(headerValue(response.headers, 'idempotent-replayed')).toBe('true');
    expect(new TextDecoder().decode(response.body)).toBe('{"id":"ch_2"}');
    expect(calls(await commandStats(admin))).toEqual({ evalsha: 1, get: 1 });
  });

  it('in-flight conflict: 1 round trip — EVALSHA create (GET inside), which returns the live claim (409 in_progress)', async () => {
    const engine = newEngine();
    const key = `conflict-${randomToken()}`;
    let started!: () => void;
    let finish!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const first = engine.handle(charge(key), async () => {
      started();
      await gate;
      return created('ch_3');
    });
    await running;
    await resetStats(admin);
    const { response, outcome } = await engine.handle(charge(key), async () => {
      throw new Error('a conflicting duplicate must not execute');
    });
    const stats = calls(await commandStats(admin));
    finish();
    expect((await first).outcome).toBe('executed');
    expect(outcome).toBe('rejected');
    expect(response.status).toBe(409);
    expect(problemCode(response)).toBe('in_progress');
    expect(stats).toEqual({ evalsha: 1, get: 1 });
  });

  it('get: 1 round trip — a plain GET (no script), the expiry judged by the caller\'s now', async () => {
    const store = redisStore({ client });
    const record = inProgressRecord({ expiryGranularityMs: 1 });
    await store.create(record, Date.now());
    await resetStats(admin);
    expect((await store.get(record.id, Date.now()))?.token).toBe(record.token);
    expect(await store.get(record.id, record.expiresAt)).toBeNull();
    expect(calls(await commandStats(admin))).toEqual({ get: 2 });
    await store.delete(record.id, record.token);
  });
});

describe('redis: NOSCRIPT recovery (SCRIPT FLUSH on a private server)', () => {
  it('every script recovers after SCRIPT FLUSH: one failed EVALSHA, then EVAL (which caches it again)', async () => {
    const store = redisStore({ client, prefix: 'noscript:' });
    const claim = inProgressRecord({ expiryGranularityMs: 1 });
    const completion = completedRecord(claim, { token: randomToken() });

    await admin.script('FLUSH');
    await resetStats(admin);
    expect(await store.create(claim, Date.now())).toEqual({ created: true });
    await admin.script('FLUSH');
    expect(await store.update(claim.id, claim.token, completion)).toBe(true);
    await admin.script('FLUSH');
    const again = await store.create(inProgressRecord({ expiryGranularityMs: 1 }, { id: claim.id }), Date.now());
    expect(again.created).toBe(false);
    await admin.script('FLUSH');
    expect(await store.delete(claim.id, completion.token)).toBe(true);
    const stats = await commandStats(admin);
    expect(stats['evalsha']?.calls).toBe(4);
    expect(stats['evalsha']?.failed).toBe(4);
    expect(stats['eval']).toEqual({ calls: 4, failed: 0, rejected: 0 });
    // Inside the four EVALs: create GET+SET, update GETRANGE+SET, create GET, delete GETRANGE+DEL.
    expect(calls(stats)).toEqual({ evalsha: 4, eval: 4, get: 2, set: 2, getrange: 2, del: 1 });

    // Cached again: the next call is a single successful EVALSHA.
    await resetStats(admin);
    expect(await store.delete(claim.id, completion.token)).toBe(false);
    expect(calls(await commandStats(admin))).toEqual({ evalsha: 1, getrange: 1 });
  });

  it('the engine replays across a SCRIPT FLUSH', async () => {
    const engine = newEngine();
    const key = `flush-${randomToken()}`;
    expect((await engine.handle(charge(key), async () => created('ch_4'))).outcome).toBe('executed');
    await admin.script('FLUSH');
    const replay = await engine.handle(charge(key), async () => {
      throw new Error('a replay must not execute');
    });
    expect(replay.outcome).toBe('replayed');
    expect(new TextDecoder().decode(replay.response.body)).toBe('{"id":"ch_4"}');
  });
});
