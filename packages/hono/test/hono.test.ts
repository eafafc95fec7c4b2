/**
 * Hono-specific behaviour: the fetch runtime (`app.request()`, no server), request bodies still
 * readable after the middleware, streaming preserved, typed variables, errors, atomic mode, and
 * Workers-safe sources. The shared scenarios (over @hono/node-server) are in scenarios.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { memoryStore } from '@oncely/core';
import { fixtures, requestParts, transactionalStore, unreachableStore, type LedgerClient } from '@oncely/http-tests';
import { idempotency, type HonoIdempotencyOptions, type IdempotencyVariables } from '@oncely/hono';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { validator } from 'hono/validator';
import { describe, expect, it } from 'vitest';
import { start } from './app';

const guard = (options: Partial<HonoIdempotencyOptions> = {}) => idempotency({ store: memoryStore(), scope: 'test', ...options });

type Fetchable = { request(path: string, init?: RequestInit): Response | Promise<Response> };

async function post(app: Fetchable, path: string, key?: string, init: RequestInit = {}): Promise<{ res: Response; bytes: Uint8Array }> {
  const headers = new Headers(init.headers);
  if (key !== undefined) headers.set('idempotency-key', key);
  const res = await app.request(path, { method: 'POST', ...init, headers });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('setup', () => {
  it('requires a scope: a non-empty string or a function, else TypeError at setup', () => {
    const store = memoryStore();
    expect(() => idempotency({ store } as unknown as HonoIdempotencyOptions)).toThrow(TypeError);
    expect(() => idempotency({ store, scope: '' })).toThrow(/scope/);
    expect(() => idempotency({ store, scope: 'x'.repeat(1025) })).toThrow(/1-1024/);
    expect(() => idempotency({ store, scope: (c) => c.req.header('x-tenant') ?? 'public' })).not.toThrow();
  });
});

describe('fetch runtime (app.request, no server)', () => {
  it('replays byte for byte, marks replays, and answers problems with Content-Length', async () => {
    let runs = 0;
    const app = new Hono();
    app.use(guard());
    app.post('/bin', (c) => {
      runs++;
      return c.body(fixtures.binary as Uint8Array<ArrayBuffer>, 201, { 'content-type': 'application/octet-stream', etag: '"v1"' });
    });
    const key = randomUUID();
    const first = await post(app, '/bin', key);
    const replay = await post(app, '/bin', key);
    expect(first.res.status).toBe(201);
    expect(first.res.headers.get('idempotent-replayed')).toBeNull();
    expect(replay.res.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.res.headers.get('etag')).toBe('"v1"');
    expect(replay.res.headers.get('content-length')).toBe(String(fixtures.binary.length));
    expect(same(replay.bytes, first.bytes) && same(first.bytes, fixtures.binary)).toBe(true);
    const missing = await post(app, '/bin');
    expect(missing.res.status).toBe(400);
    expect(missing.res.headers.get('content-type')).toBe('application/problem+json');
    expect(missing.res.headers.get('content-length')).toBe(String(missing.bytes.length));
    expect(runs).toBe(1);
  });

  it('503 store_unavailable when the store is down, 204 replays without a body', async () => {
    const down = new Hono();
    down.use(guard({ store: unreachableStore() }));
    down.post('/', (c) => c.text('never'));
    const unavailable = await post(down, '/', 'k');
    expect(unavailable.res.status).toBe(503);
    expect(unavailable.res.headers.get('retry-after')).toBe('1');

    const app = new Hono();
    app.use(guard());
    app.post('/', (c) => c.body(null, 204));
    const key = randomUUID();
    expect((await post(app, '/', key)).res.status).toBe(204);
    const replay = await post(app, '/', key);
    expect([replay.res.status, replay.bytes.length, replay.res.headers.get('idempotent-replayed')]).toEqual([204, 0, 'true']);
  });
});

describe('request bodies stay readable after the middleware (Hono caches c.req.arrayBuffer())', () => {
  const app = new Hono();
  app.use(guard());
  app.post('/json', async (c) => c.json({ got: await c.req.json() }));
  app.post('/text', async (c) => c.json({ got: await c.req.text() }));
  app.post('/bytes', async (c) => c.json({ got: (await c.req.arrayBuffer()).byteLength }));
  app.post('/form', async (c) => c.json({ got: (await c.req.formData()).get('a') }));
  app.post('/parse', async (c) => c.json({ got: await c.req.parseBody() }));
  app.post(
    '/validated',
    validator('json', (value) => value as { amount: number }),
    async (c) => c.json({ got: c.req.valid('json').amount }),
  );

  const cases: [string, RequestInit, unknown][] = [
    ['/json', { body: '{"a":1}', headers: { 'content-type': 'application/json' } }, { a: 1 }],
    ['/text', { body: 'hello', headers: { 'content-type': 'text/plain' } }, 'hello'],
    ['/bytes', { body: new Uint8Array([0, 1, 2]) }, 3],
    ['/parse', { body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, { a: '1', b: '2' }],
    ['/validated', { body: '{"amount":7}', headers: { 'content-type': 'application/json' } }, 7],
  ];
  for (const [path, init, expected] of cases) {
    it(`${path}`, async () => {
      const { res, bytes } = await post(app, path, randomUUID(), init);
      expect(res.status).toBe(200);
      expect(JSON.parse(new TextDecoder().decode(bytes)).got).toEqual(expected);
    });
  }

  it('multipart form data (formData and parseBody)', async () => {
    for (const path of ['/form', '/parse']) {
      const form = new FormData();
      form.set('a', 'x');
      const { res, bytes } = await post(app, path, randomUUID(), { body: form });
      expect(res.status).toBe(200);
      const got = JSON.parse(new TextDecoder().decode(bytes)).got;
      expect(path === '/form' ? got : got.a).toBe('x');
    }
  });

  it('fingerprints the raw bytes: reformatted JSON replays, changed JSON is 422', async () => {
    const key = randomUUID();
    const json = { 'content-type': 'application/json' };
    const first = await post(app, '/json', key, { body: '{"a":1,"b":2}', headers: json });
    const replay = await post(app, '/json', key, { body: '{ "b": 2, "a": 1 }', headers: json });
    expect(same(replay.bytes, first.bytes)).toBe(true);
    expect(replay.res.headers.get('idempotent-replayed')).toBe('true');
    expect((await post(app, '/json', key, { body: '{"a":1,"b":3}', headers: json })).res.status).toBe(422);
  });
});

describe('responses', () => {
  it('a body over the cap streams to the client as it is produced (teed, not consumed)', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const app = new Hono();
    app.use(guard({ maxBodyBytes: 1000 }));
    app.post('/sse', (c) => {
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(fixtures.large.subarray(0, 4000));
          await held;
          controller.enqueue(new TextEncoder().encode('tail'));
          controller.close();
        },
      });
      return c.body(stream, 200, { 'content-type': 'application/octet-stream' });
    });
    const running = await start(app);
    try {
      const parts = requestParts(running.url, '/sse', { key: randomUUID() });
      const received = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(parts.options, (res) => {
          let size = 0;
          // The first bytes arrive while the producer is still held: nothing waits for the end.
          res.once('data', () => release());
          res.on('data', (chunk: Buffer) => (size += chunk.length));
          res.on('end', () => resolve(size));
        });
        req.on('error', reject);
        req.end();
      });
      expect(received).toBe(4004);
    } finally {
      await running.close();
    }
  });

  it('headers set with c.header() before returning are captured and replayed (allow-listed ones)', async () => {
    const app = new Hono();
    app.use(guard({ replayHeaders: ['x-request-cost'] }));
    app.post('/', (c) => {
      c.header('x-request-cost', '3');
      c.header('location', '/things/1');
      return c.json({ ok: true }, 201);
    });
    const key = randomUUID();
    await post(app, '/', key);
    const replay = await post(app, '/', key);
    expect(replay.res.headers.get('x-request-cost')).toBe('3');
    expect(replay.res.headers.get('location')).toBe('/things/1');
  });

  it('a thrown HTTPException releases the key; onError renders it; a retry executes again', async () => {
    let runs = 0;
    const app = new Hono();
    app.use(guard());
    app.post('/', () => {
      runs++;
      throw new HTTPException(402, { message: 'card declined' });
    });
    const key = randomUUID();
    expect((await post(app, '/', key)).res.status).toBe(402);
    const retry = await post(app, '/', key);
    expect(retry.res.status).toBe(402);
    expect(retry.res.headers.get('idempotent-replayed')).toBeNull();
    expect(runs).toBe(2);
  });

  it('a scope function that throws goes to app.onError; GET requests never compute it', async () => {
    const errors: unknown[] = [];
    const app = new Hono();
    app.use(
      guard({
        scope: () => {
          throw new Error('no tenant');
        },
      }),
    );
    app.all('/', (c) => c.text('ran'));
    app.onError((error, c) => {
      errors.push(error);
      return c.text('app error', 500);
    });
    expect((await post(app, '/', 'k')).res.status).toBe(500);
    expect((errors[0] as Error).message).toBe('no tenant');
    const get = await app.request('/', { headers: { 'idempotency-key': 'k' } });
    expect(await get.text()).toBe('ran');
  });
});

describe('context variables', () => {
  it("c.get('idempotency') is the execution on guarded requests (typed with the app's transaction), undefined otherwise", async () => {
    const store = transactionalStore();
    const app = new Hono<{ Variables: IdempotencyVariables<LedgerClient> }>();
    app.use(idempotency({ store, scope: (c) => `tenant:${c.req.header('x-tenant')}`, atomic: true }));
    const seen: unknown[] = [];
    app.all('/', (c) => {
      const ctx = c.get('idempotency');
      ctx?.transaction?.write(`charge:${ctx.key}`);
      seen.push(ctx && { key: ctx.key, scope: ctx.scope, isProtected: ctx.isProtected, child: ctx.childKey('psp') });
      return c.json({ ok: true }, 201);
    });
    await post(app, '/', 'k-1', { headers: { 'x-tenant': 't1' } });
    await app.request('/');
    expect(seen[0]).toMatchObject({ key: 'k-1', scope: 'tenant:t1', isProtected: true });
    expect(seen[1]).toBeUndefined();
    expect(store.ledger).toEqual(['charge:k-1']);
  });

  it('route-level middleware types the handler context', async () => {
    const app = new Hono();
    app.post('/charges', guard(), (c) => c.text(c.get('idempotency')?.key ?? 'none'));
    expect(new TextDecoder().decode((await post(app, '/charges', 'abc')).bytes)).toBe('abc');
  });

  it("atomic mode: a rolled-back completion answers core's 503 instead, without the handler's headers", async () => {
    const store = transactionalStore({ failCommit: true });
    const app = new Hono();
    app.use(idempotency({ store, scope: 'test', atomic: true }));
    app.post('/', (c) => {
      c.header('set-cookie', 's=1');
      return c.json({ ok: true }, 201, { location: '/x' });
    });
    const { res, bytes } = await post(app, '/', randomUUID());
    expect(res.status).toBe(503);
    expect(JSON.parse(new TextDecoder().decode(bytes))).toMatchObject({ code: 'store_unavailable' });
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(store.ledger).toEqual([]);
  });
});

describe('runs on Workers', () => {
  it('no node: imports and no Buffer in the sources', () => {
    const dir = join(__dirname, '..', 'src');
    for (const file of readdirSync(dir)) {
      const source = readFileSync(join(dir, file), 'utf8');
      expect(source, file).not.toMatch(/from ['"]node:|require\(|\bBuffer\b|\bprocess\./);
    }
  });
});
