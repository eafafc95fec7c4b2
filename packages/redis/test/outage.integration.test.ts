/**
 * A Redis outage under load, on a private redis-server: the server is stopped (SIGTERM, no
 * persistence) while concurrent requests — first sends, concurrent duplicates and retries — go
 * through the core's engine. Every request must settle (the test's own timeout is the hang
 * detector, no timing is asserted) with 201, a 409 `in_progress`, or a 503 `store_unavailable`:
 * never a 500. No key's handler may run twice. After a restart on the same port, the same client
 * and store serve requests again.
 */
import { createIdempotency, type IdempotencyEvent, randomToken } from '@oncely/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index';
import { charge, created, problemCode } from './support/engine';
import { RECOMMENDED } from './support/env';
import { RedisServer, sleep } from './support/servers';

const OPERATION_TIMEOUT_MS = 1_000;
const WAVES = 40;
const KEYS_PER_WAVE = 6;
const WAVE_INTERVAL_MS = 15;
/** Each key is sent in its first wave twice (concurrent duplicates), then retried two waves later. */
const RETRY_AFTER_WAVES = 2;

let server: RedisServer;
let client: Redis;

beforeAll(async () => {
  server = await RedisServer.start();
  client = new Redis(server.url, RECOMMENDED);
  // ioredis reports every failed reconnect as an 'error' event; an app logs them, the test expects them.
  client.on('error', () => {});
  await client.ping();
}, 30_000);

afterAll(async () => {
  client?.disconnect();
  await server?.destroy();
}, 30_000);

interface Outcome {
  readonly key: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly outcome: string;
  readonly ms: number;
}

describe('redis: outage under load', () => {
  it('stopping the server mid-load gives 503 store_unavailable (never 500, never a hang), runs no key twice, and recovers after a restart', async () => {
    const store = redisStore({ client, operationTimeoutMs: OPERATION_TIMEOUT_MS });
    const events: IdempotencyEvent[] = [];
    const engine = createIdempotency({ store, onEvent: (event) => events.push(event) });
    const executions = new Map<string, number>();

    const send = async (key: string): Promise<Outcome> => {
      const started = performance.now();
      const { response, outcome } = await engine.handle(charge(key), async () => {
        executions.set(key, (executions.get(key) ?? 0) + 1);
        await sleep(5 + Math.floor(Math.random() * 20));
        return created(`ch_${key}`);
      });
      return { key, status: response.status, code: response.status >= 400 ? problemCode(response) : undefined, outcome, ms: performance.now() - started };
    };

    // Phase 1: waves of requests; the server stops halfway, while requests are in flight.
    const run = randomToken().slice(0, 8);
    const keyOf = (wave: number, i: number): string => `outage-${run}-${wave}-${i}`;
    const pending: Promise<Outcome>[] = [];
    let stopped: Promise<void> | undefined;
    for (let wave = 0; wave < WAVES; wave++) {
      for (let i = 0; i < KEYS_PER_WAVE; i++) {
        pending.push(send(keyOf(wave, i)), send(keyOf(wave, i)));
        if (wave >= RETRY_AFTER_WAVES) pending.push(send(keyOf(wave - RETRY_AFTER_WAVES, i)));
      }
      if (wave === WAVES / 2) stopped = server.stop('SIGTERM');
      await sleep(WAVE_INTERVAL_MS);
    }
    const outcomes = await Promise.all(pending);
    await stopped;

    const byStatus = new Map<number, number>();
    for (const result of outcomes) byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
    const twice = [...executions].filter(([, count]) => count > 1);
    const slowest = Math.max(...outcomes.map((result) => result.ms));
    console.info(
      `outage: ${outcomes.length} requests, statuses ${JSON.stringify(Object.fromEntries(byStatus))}, ` +
        `${executions.size} keys executed, slowest ${Math.round(slowest)} ms, events ${JSON.stringify(countBy(events.map((event) => event.type)))}`,
    );

    for (const result of outcomes) {
      expect([201, 409, 503], `status of ${result.key} (${result.outcome}, ${result.code ?? ''})`).toContain(result.status);
      if (result.status === 503) expect(result.code).toBe('store_unavailable');
      if (result.status === 409) expect(result.code).toBe('in_progress');
    }
    expect(twice, 'keys whose handler ran more than once').toEqual([]);
    expect(byStatus.get(201) ?? 0, 'requests served before the outage').toBeGreaterThan(0);
    expect(byStatus.get(503) ?? 0, 'requests refused during the outage').toBeGreaterThan(0);

    // Phase 2: the server comes back on the same port (empty: no persistence); the same client
    // reconnects by itself and the same store and engine work again.
    await server.restart();
    await waitUntil(async () => (await client.ping()) === 'PONG');
    const fresh = Array.from({ length: 20 }, (_, i) => `recovered-${run}-${i}`);
    const firsts = await Promise.all(fresh.map((key) => send(key)));
    for (const result of firsts) expect([result.status, result.outcome]).toEqual([201, 'executed']);
    const replays = await Promise.all(fresh.map((key) => send(key)));
    for (const result of replays) expect([result.status, result.outcome]).toEqual([201, 'replayed']);
    for (const key of fresh) expect(executions.get(key)).toBe(1);
  }, 90_000);
});

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Polls `condition` (errors count as "not yet") every 50 ms; the test timeout bounds it. */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // not yet
    }
    await sleep(50);
  }
}
