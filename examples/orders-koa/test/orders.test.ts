/**
 * The orders example over real loopback HTTP against the real Redis (`REDIS_URL`, default
 * redis://127.0.0.1:6379), under a key prefix of this run's own, deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { recordId, StoreUnavailableError, type IdempotencyEvent, type Store } from '@oncely/core';
import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrdersApp } from '../src/app';
import type { Order } from '../src/orders';
import { openRedis, type Backend } from '../src/redis';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `oncely-test:example-orders:${randomUUID()}:`;

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Buffer;
  readonly json: Record<string, unknown>;
}

async function listen(app: ReturnType<typeof createOrdersApp>): Promise<{ server: Server; base: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function client(base: string) {
  return async (method: string, path: string, options: { key?: string; customer?: string; body?: string | object } = {}): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (options.customer !== undefined) headers['x-customer-id'] = options.customer;
    if (options.key !== undefined) headers['idempotency-key'] = options.key;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(base + path, {
      method,
      headers,
      ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, bytes, json };
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const order = (sku = 'sku_tea', quantity = 2) => ({ currency: 'eur', items: [{ sku, quantity, unitPrice: 450 }] });

describe('orders example on the real Redis', () => {
  let backend: Backend;
  let server: Server;
  let request: ReturnType<typeof client>;
  const events: IdempotencyEvent[] = [];

  beforeAll(async () => {
    backend = await openRedis({ url: REDIS_URL, prefix });
    const started = await listen(createOrdersApp({ store: backend.store, orders: backend.orders, latencyMs: 25, onEvent: (event) => events.push(event) }));
    server = started.server;
    request = client(started.base);
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (backend) {
      for await (const keys of backend.client.scanStream({ match: `${prefix}*`, count: 500 })) if ((keys as string[]).length) await backend.client.del(...(keys as string[]));
      await backend.close();
    }
  });

  it('creates one order per key under concurrent retries, and every client ends with the same bytes', async () => {
    const key = randomUUID();
    const customer = `cus_${randomUUID().slice(0, 8)}`;
    // 8 clients send the same order at once; told 409 (in flight), each backs off and retries.
    const clientRun = async (): Promise<{ first: number; final: Reply }> => {
      let first = 0;
      for (let attempt = 0; ; attempt++) {
        const reply = await request('POST', '/orders', { key, customer, body: order() });
        first ||= reply.status;
        if (reply.status !== 409) return { first, final: reply };
        expect(reply.json['code']).toBe('in_progress');
        expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        await sleep(Math.min(200, 10 * 2 ** attempt));
      }
    };
    const runs = await Promise.all(Array.from({ length: 8 }, clientRun));
    expect(runs.map((run) => run.final.status)).toEqual(Array(8).fill(201));
    expect(runs.filter((run) => run.final.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    const [one] = runs;
    for (const run of runs) expect(run.final.bytes.equals(one?.final.bytes as Buffer)).toBe(true);
    expect(await backend.orders.ids(customer)).toEqual([one?.final.json['id']]);
  });

  it('replays the first response byte for byte, with its Location, and Idempotent-Replayed: true', async () => {
    const key = randomUUID();
    const customer = 'cus_replay';
    const first = await request('POST', '/orders', { key, customer, body: order('sku_coffee', 3) });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ customer, status: 'pending', total: 1350, id: expect.stringMatching(/^ord_[0-9a-f]{24}$/) });
    expect(first.headers.get('location')).toBe(`/orders/${String(first.json['id'])}`);
    // The same JSON with other key order and whitespace is the same request (canonical JSON).
    const reordered = `{ "items": [ { "unitPrice": 450, "quantity": 3, "sku": "sku_coffee" } ],\n  "currency": "eur" }`;
    for (const body of [order('sku_coffee', 3), reordered]) {
      const again = await request('POST', '/orders', { key, customer, body });
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.bytes.equals(first.bytes)).toBe(true);
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
      expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(again.headers.get('content-length')).toBe(String(first.bytes.byteLength));
    }
    expect(await backend.orders.ids(customer)).toHaveLength(1);
  });

  it('answers 422 key_reused when the key comes back with a different order, creating nothing', async () => {
    const key = randomUUID();
    const customer = `cus_${randomUUID().slice(0, 8)}`;
    expect((await request('POST', '/orders', { key, customer, body: order('sku_a', 1) })).status).toBe(201);
    const reused = await request('POST', '/orders', { key, customer, body: order('sku_a', 100) });
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toContain('application/problem+json');
    expect(reused.json['code']).toBe('key_reused');
    expect(await backend.orders.ids(customer)).toHaveLength(1);
  });

  it('keeps customers apart: the same key for two customers is two orders, and neither sees the other', async () => {
    const key = randomUUID();
    const [a, b] = [`cus_a_${randomUUID().slice(0, 6)}`, `cus_b_${randomUUID().slice(0, 6)}`];
    const first = await request('POST', '/orders', { key, customer: a, body: order() });
    const second = await request('POST', '/orders', { key, customer: b, body: order() });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(second.json['id']).not.toBe(first.json['id']);
    expect(second.json['customer']).toBe(b);
    expect(await backend.orders.ids(a)).toHaveLength(1);
    expect(await backend.orders.ids(b)).toHaveLength(1);
    expect((await request('GET', `/orders/${String(first.json['id'])}`, { customer: b })).status).toBe(404);
    expect((await request('PATCH', `/orders/${String(first.json['id'])}`, { customer: b, key: randomUUID(), body: { status: 'cancelled' } })).status).toBe(404);
  });

  it('leaves GET untouched: no key needed, a key is ignored, nothing recorded, always fresh', async () => {
    const customer = `cus_${randomUUID().slice(0, 8)}`;
    const created = await request('POST', '/orders', { key: randomUUID(), customer, body: order() });
    const path = `/orders/${String(created.json['id'])}`;
    const eventsBefore = events.length;
    const plain = await request('GET', path, { customer });
    const getKey = randomUUID();
    const withKey = await request('GET', path, { customer, key: getKey });
    for (const reply of [plain, withKey]) {
      expect(reply.status).toBe(200);
      expect(reply.headers.get('idempotent-replayed')).toBeNull();
      expect(reply.json).toMatchObject({ id: created.json['id'], status: 'pending' });
    }
    expect(events.length).toBe(eventsBefore); // oncely made no decision at all
    expect(await backend.store.get(recordId('oncely', `customer:${customer}`, getKey), Date.now())).toBeNull();
    // Cancel it, then the same GET with the same key shows the change: nothing was replayed.
    expect((await request('PATCH', path, { customer, key: randomUUID(), body: { status: 'cancelled' } })).status).toBe(200);
    const after = await request('GET', path, { customer, key: getKey });
    expect(after.json).toMatchObject({ status: 'cancelled' });
  });

  it('guards PATCH: a retried cancel replays its 200, a new cancel of a cancelled order gets 409', async () => {
    const customer = `cus_${randomUUID().slice(0, 8)}`;
    const created = await request('POST', '/orders', { key: randomUUID(), customer, body: order() });
    const path = `/orders/${String(created.json['id'])}`;
    const cancelKey = randomUUID();
    const cancel = await request('PATCH', path, { customer, key: cancelKey, body: { status: 'cancelled' } });
    expect(cancel.status).toBe(200);
    expect(cancel.json).toMatchObject({ status: 'cancelled', cancelledAt: expect.any(String) });
    const retry = await request('PATCH', path, { customer, key: cancelKey, body: { status: 'cancelled' } });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.bytes.equals(cancel.bytes)).toBe(true);
    const another = await request('PATCH', path, { customer, key: randomUUID(), body: { status: 'cancelled' } });
    expect(another.status).toBe(409);
    expect(another.json['code']).toBe('order_not_pending');
    const unkeyed = await request('PATCH', path, { customer, body: { status: 'cancelled' } });
    expect(unkeyed.status).toBe(400);
    expect(unkeyed.json['code']).toBe('missing_key');
  });

  it('refuses a POST without a key (400 missing_key) or without a customer (401), creating nothing', async () => {
    const customer = `cus_${randomUUID().slice(0, 8)}`;
    const missingKey = await request('POST', '/orders', { customer, body: order() });
    expect(missingKey.status).toBe(400);
    expect(missingKey.json['code']).toBe('missing_key');
    const invalidKey = await request('POST', '/orders', { customer, key: 'no spaces allowed', body: order() });
    expect(invalidKey.json['code']).toBe('invalid_key');
    const anonymous = await request('POST', '/orders', { key: randomUUID(), body: order() });
    expect(anonymous.status).toBe(401);
    expect(await backend.orders.ids(customer)).toEqual([]);
    const broken = await request('POST', '/orders', { key: randomUUID(), customer, body: '{"currency":' });
    expect(broken.status).toBe(400);
    expect(broken.headers.get('content-type')).toContain('application/problem+json');
  });

  it('a re-execution after a lost completion (a crash stand-in) finds the order its first attempt wrote', async () => {
    // Every completion write fails while `down` is set: the first attempt creates the order, answers,
    // and leaves its claim in progress — as if the process had died before recording the response.
    let down = true;
    const flaky: Store = {
      create: (record, now) => backend.store.create(record, now),
      get: (id, now) => backend.store.get(id, now),
      delete: (id, token) => backend.store.delete(id, token),
      update: (id, token, next) =>
        down && next.state === 'completed' ? Promise.reject(new StoreUnavailableError('completion lost (simulated)')) : backend.store.update(id, token, next),
    };
    const seen: IdempotencyEvent[] = [];
    const { server: crashy, base } = await listen(createOrdersApp({ store: flaky, orders: backend.orders, leaseMs: 300, onEvent: (event) => seen.push(event) }));
    const post = client(base);
    try {
      const key = randomUUID();
      const customer = `cus_${randomUUID().slice(0, 8)}`;
      const first = await post('POST', '/orders', { key, customer, body: order() });
      expect(first.status).toBe(201);
      expect(seen.map((event) => event.type)).toContain('complete_failed');
      down = false;
      // Retries get 409 until the abandoned claim's lease runs out, then one takes it over and runs again.
      let retry: Reply;
      for (let attempt = 0; ; attempt++) {
        retry = await post('POST', '/orders', { key, customer, body: order() });
        if (retry.status !== 409) break;
        await sleep(Math.min(200, 10 * 2 ** attempt));
      }
      expect(seen.map((event) => event.type)).toContain('takeover');
      expect(retry.status).toBe(201);
      expect(retry.json['id']).toBe(first.json['id']); // childKey('order'): the same order id on re-execution
      expect(retry.bytes.equals(first.bytes)).toBe(true);
      expect(await backend.orders.ids(customer)).toEqual([first.json['id']]);
      const replay = await post('POST', '/orders', { key, customer, body: order() });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
    } finally {
      await new Promise((resolve) => crashy.close(resolve));
    }
  }, 30_000);

  it('fails closed when the store is unreachable: 503 store_unavailable with Retry-After, nothing created, GET still served', async () => {
    // A port nobody listens on: open one, close it, point a client there.
    const probe = createNetServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const dead = new Redis({ host: '127.0.0.1', port: closedPort, maxRetriesPerRequest: 1, connectTimeout: 1_000 });
    dead.on('error', () => undefined); // ECONNREFUSED on every reconnect attempt: expected here
    const storeEvents: IdempotencyEvent[] = [];
    const app = createOrdersApp({
      store: redisStore({ client: dead, prefix, operationTimeoutMs: 1_000 }),
      orders: backend.orders, // the orders themselves are still reachable
      onEvent: (event) => storeEvents.push(event),
    });
    const { server: outage, base } = await listen(app);
    const degraded = client(base);
    try {
      const customer = `cus_${randomUUID().slice(0, 8)}`;
      const existing = (await request('POST', '/orders', { key: randomUUID(), customer, body: order() })).json as unknown as Order;
      for (const [method, path, body] of [
        ['POST', '/orders', order()],
        ['PATCH', `/orders/${existing.id}`, { status: 'cancelled' }],
      ] as const) {
        const reply = await degraded(method, path, { key: randomUUID(), customer, body });
        expect(reply.status).toBe(503);
        expect(reply.headers.get('content-type')).toContain('application/problem+json');
        expect(reply.json['code']).toBe('store_unavailable');
        expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      expect(await backend.orders.ids(customer)).toEqual([existing.id]); // the POST created nothing
      const read = await degraded('GET', `/orders/${existing.id}`, { customer });
      expect(read.status).toBe(200);
      expect(read.json).toMatchObject({ id: existing.id, status: 'pending' }); // the PATCH cancelled nothing
    } finally {
      await new Promise((resolve) => outage.close(resolve));
      dead.disconnect();
    }
  }, 30_000);
});
