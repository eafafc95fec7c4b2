/**
 * Koa-specific behaviour, on Koa 2 and 3: every kind of `ctx.body`, streams failing or outgrowing
 * the cap, `ctx.throw`, `ctx.respond = false`, atomic mode. The shared scenarios are in scenarios.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import { memoryStore } from '@oncely/core';
import { fixtures, requestParts, send, slowly, transactionalStore, webStream, type HttpResult } from '@oncely/http-tests';
import { request as httpRequest } from 'node:http';
import { idempotency, type KoaIdempotencyOptions } from '@oncely/koa';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { describe, expect, it } from 'vitest';
import { start, type KoaModule } from './app';

const dir = mkdtempSync(join(tmpdir(), 'oncely-koa-'));
const file = join(dir, 'payload.bin');
writeFileSync(file, fixtures.large.subarray(0, 20_000));

type App = Koa3;

async function withApp(KoaClass: KoaModule, build: (app: App) => void, test: (url: string, errors: unknown[]) => Promise<void>): Promise<void> {
  const app: App = new KoaClass();
  const errors: unknown[] = [];
  app.on('error', (error: unknown) => errors.push(error));
  build(app);
  const running = await start(app);
  try {
    await test(running.url, errors);
  } finally {
    await running.close();
  }
}

const guard = (options: Partial<KoaIdempotencyOptions> = {}) => idempotency({ store: memoryStore(), scope: 'test', ...options });

function expectReplay(replay: HttpResult, original: HttpResult): void {
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(replay.status).toBe(original.status);
  expect(replay.body.equals(original.body)).toBe(true);
  expect(replay.headers['content-type']).toBe(original.headers['content-type']);
}

async function firstAndReplay(url: string, path = '/'): Promise<[HttpResult, HttpResult]> {
  const key = randomUUID();
  const first = await send(url, path, { key });
  return [first, await send(url, path, { key })];
}

describe('setup', () => {
  it('requires a scope: a non-empty string or a function, else TypeError at setup', () => {
    const store = memoryStore();
    expect(() => idempotency({ store } as unknown as KoaIdempotencyOptions)).toThrow(TypeError);
    expect(() => idempotency({ store, scope: '' })).toThrow(/scope/);
    expect(() => idempotency({ store, scope: 'x'.repeat(1025) })).toThrow(/1-1024/);
    expect(() => idempotency({ store, scope: 'tenant' })).not.toThrow();
    expect(() => idempotency({ store, scope: 's', maxBodyBytes: 1.5 })).toThrow(TypeError);
  });
});

for (const [name, KoaClass] of [
  ['koa 3', Koa3],
  ['koa 2', Koa2],
] as const) {
  describe(name, () => {
    const bodies: [string, (ctx: Koa3.Context) => void, (first: HttpResult) => void][] = [
      ['a string (html)', (ctx) => (ctx.body = '<p>caf\u00e9</p>'), (r) => expect(r.headers['content-type']).toBe('text/html; charset=utf-8')],
      ['a string (text)', (ctx) => (ctx.body = 'plain \u{1F600}'), (r) => expect(r.text()).toBe('plain \u{1F600}')],
      ['a Buffer', (ctx) => (ctx.body = Buffer.from(fixtures.binary)), (r) => expect(r.body.equals(Buffer.from(fixtures.binary))).toBe(true)],
      ['an object', (ctx) => ((ctx.status = 201), (ctx.body = { b: 1, a: [1, 'x'] })), (r) => expect(r.json()).toEqual({ b: 1, a: [1, 'x'] })],
      ['a number', (ctx) => (ctx.body = 42), (r) => expect(r.text()).toBe('42')],
      ['a Node stream', (ctx) => (ctx.body = Readable.from(slowly(fixtures.streamChunks), { objectMode: false })), (r) => expect(r.body.equals(Buffer.from(fixtures.streamBody))).toBe(true)],
      ['a file stream', (ctx) => ((ctx.type = 'bin'), (ctx.body = createReadStream(file))), (r) => expect(r.body.length).toBe(20_000)],
      ['null (204)', (ctx) => (ctx.body = null), (r) => expect(r.status).toBe(204)],
      ['nothing, with an explicit 404', (ctx) => (ctx.status = 404), (r) => expect([r.status, r.text()]).toEqual([404, 'Not Found'])],
    ];
    for (const [what, handler, check] of bodies) {
      it(`captures ctx.body as ${what} exactly as Koa sends it, and replays it`, async () => {
        await withApp(
          KoaClass,
          (app) => {
            app.use(guard());
            app.use(async (ctx) => handler(ctx as Koa3.Context));
          },
          async (url) => {
            const [first, replay] = await firstAndReplay(url);
            check(first);
            expectReplay(replay, first);
          },
        );
      });
    }

    it('a stream that fails while being read: released, and the error goes to Koa', async () => {
      let runs = 0;
      await withApp(
        KoaClass,
        (app) => {
          app.use(guard());
          app.use(async (ctx) => {
            runs++;
            ctx.body = Readable.from(
              (async function* () {
                yield Buffer.from('partial');
                throw new Error('disk gone');
              })(),
              { objectMode: false },
            );
          });
        },
        async (url, errors) => {
          const key = randomUUID();
          expect((await send(url, '/', { key })).status).toBe(500);
          expect((await send(url, '/', { key })).status).toBe(500);
          expect(runs).toBe(2);
          expect((errors[0] as Error).message).toBe('disk gone');
        },
      );
    });

    it('ctx.throw(402): released, rendered by Koa, a retry executes again', async () => {
      let runs = 0;
      await withApp(
        KoaClass,
        (app) => {
          app.use(guard());
          app.use(async (ctx) => {
            runs++;
            ctx.set('location', '/leaked');
            ctx.throw(402, 'card declined');
          });
        },
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/', { key });
          expect([first.status, first.text()]).toEqual([402, 'card declined']);
          const retry = await send(url, '/', { key });
          expect(retry.headers['idempotent-replayed']).toBeUndefined();
          expect(runs).toBe(2);
        },
      );
    });

    it('a stream over maxBodyBytes streams whole, keeps its Content-Length, and is stored without its body', async () => {
      await withApp(
        KoaClass,
        (app) => {
          app.use(guard({ maxBodyBytes: 1000 }));
          app.use(async (ctx) => {
            ctx.type = 'application/octet-stream';
            ctx.length = 20_000;
            ctx.body = createReadStream(file);
          });
        },
        async (url) => {
          const [first, replay] = await firstAndReplay(url);
          expect(first.headers['content-length']).toBe('20000');
          expect(first.body.equals(Buffer.from(fixtures.large.subarray(0, 20_000)))).toBe(true);
          expect(replay.status).toBe(200);
          expect(replay.json()).toMatchObject({ code: 'response_not_stored' });
        },
      );
    });

    it('ctx.respond = false: the handler wrote the response itself; it completes without a stored body', async () => {
      let runs = 0;
      await withApp(
        KoaClass,
        (app) => {
          app.use(guard());
          app.use(async (ctx) => {
            runs++;
            ctx.respond = false;
            ctx.res.statusCode = 200;
            ctx.res.end('raw');
          });
        },
        async (url) => {
          const [first, replay] = await firstAndReplay(url);
          expect(first.text()).toBe('raw');
          expect(replay.json()).toMatchObject({ code: 'response_not_stored' });
          expect(runs).toBe(1);
        },
      );
    });

    it('fingerprints @koa/bodyparser raw bodies: reformatted JSON replays, a changed body is 422, text too', async () => {
      await withApp(
        KoaClass,
        (app) => {
          app.use(bodyParser({ enableTypes: ['json', 'form', 'text'] }));
          app.use(guard());
          app.use(async (ctx) => (ctx.body = { got: ctx.request.body }));
        },
        async (url) => {
          const json = { 'content-type': 'application/json' };
          const key = randomUUID();
          const first = await send(url, '/', { key, body: '{"a":1,"b":2}', headers: json });
          expectReplay(await send(url, '/', { key, body: '{ "b": 2, "a": 1 }', headers: json }), first);
          expect((await send(url, '/', { key, body: '{"a":1,"b":3}', headers: json })).status).toBe(422);
          const text = { 'content-type': 'text/plain' };
          const textKey = randomUUID();
          expect((await send(url, '/', { key: textKey, body: 'one', headers: text })).status).toBe(200);
          expect((await send(url, '/', { key: textKey, body: 'two', headers: text })).status).toBe(422);
        },
      );
    });

    it('atomic mode: ctx.state.idempotency.transaction commits with the record; a rolled-back one answers 503 without the handler headers', async () => {
      for (const failCommit of [false, true]) {
        const store = transactionalStore({ failCommit });
        await withApp(
          KoaClass,
          (app) => {
            app.use(idempotency({ store, scope: 'test', atomic: true }));
            app.use(async (ctx) => {
              (ctx.state.idempotency?.transaction as { write(entry: string): void }).write('charge');
              ctx.status = 201;
              ctx.set('location', '/charges/1');
              ctx.body = Readable.from([Buffer.from('{"ok":true}')]);
            });
          },
          async (url) => {
            const [first, second] = await firstAndReplay(url);
            if (!failCommit) {
              expect(first.status).toBe(201);
              expectReplay(second, first);
              expect(store.ledger).toEqual(['charge']);
            } else {
              expect(first.status).toBe(503);
              expect(first.json()).toMatchObject({ code: 'store_unavailable' });
              expect(first.headers.location).toBeUndefined();
              expect(Number(first.headers['content-length'])).toBe(first.body.length);
              expect(store.ledger).toEqual([]);
            }
          },
        );
      }
    });

    it('ctx.state.idempotency: the execution on guarded requests, unset otherwise', async () => {
      const seen: unknown[] = [];
      await withApp(
        KoaClass,
        (app) => {
          app.use(guard({ scope: (ctx) => `tenant:${ctx.get('x-tenant')}` }));
          app.use(async (ctx) => {
            const c = ctx.state.idempotency;
            seen.push(c && { key: c.key, scope: c.scope, isProtected: c.isProtected, child: c.childKey('x') });
            ctx.body = {};
          });
        },
        async (url) => {
          await send(url, '/', { key: 'k-1', headers: { 'x-tenant': 't1' } });
          await send(url, '/', { method: 'GET' });
          expect(seen[0]).toMatchObject({ key: 'k-1', scope: 'tenant:t1', isProtected: true });
          expect(seen[1]).toBeUndefined();
        },
      );
    });
  });
}

describe('koa 3 web bodies', () => {
  const cases: [string, (ctx: Koa3.Context) => void, Uint8Array][] = [
    ['a ReadableStream', (ctx) => (ctx.body = webStream(fixtures.streamChunks)), fixtures.streamBody],
    ['a Blob', (ctx) => (ctx.body = new Blob([fixtures.binary as Uint8Array<ArrayBuffer>], { type: 'application/x-blob' })), fixtures.binary],
    ['a Response', (ctx) => (ctx.body = new Response(fixtures.binary as Uint8Array<ArrayBuffer>, { status: 202, headers: { 'x-from': 'response' } })), fixtures.binary],
  ];
  for (const [what, handler, bytes] of cases) {
    it(`captures ${what} body and replays it byte for byte`, async () => {
      await withApp(
        Koa3,
        (app) => {
          app.use(guard());
          app.use(async (ctx) => handler(ctx));
        },
        async (url) => {
          const [first, replay] = await firstAndReplay(url);
          expect(first.body.equals(Buffer.from(bytes))).toBe(true);
          expectReplay(replay, first);
        },
      );
    });
  }

  it('a ReadableStream over maxBodyBytes streams whole and is not stored', async () => {
    await withApp(
      Koa3,
      (app) => {
        app.use(guard({ maxBodyBytes: 1000 }));
        app.use(async (ctx) => (ctx.body = webStream(fixtures.largeChunks)));
      },
      async (url) => {
        const [first, replay] = await firstAndReplay(url);
        expect(first.body.equals(Buffer.from(fixtures.large))).toBe(true);
        expect(replay.json()).toMatchObject({ code: 'response_not_stored' });
      },
    );
  });

  it('over the cap the record completes before streaming: a client dropping mid-stream leaves a completed key', async () => {
    await withApp(
      Koa3,
      (app) => {
        app.use(guard({ maxBodyBytes: 1000 }));
        app.use(async (ctx) => (ctx.body = Readable.from(slowly(fixtures.largeChunks), { objectMode: false })));
      },
      async (url) => {
        const key = randomUUID();
        const parts = requestParts(url, '/', { key });
        await new Promise<void>((resolve) => {
          const req = httpRequest(parts.options, (res) => res.once('data', () => (req.destroy(), resolve())));
          req.on('error', () => undefined);
          req.end();
        });
        const retry = await send(url, '/', { key });
        expect(retry.headers['idempotent-replayed']).toBe('true');
        expect(retry.json()).toMatchObject({ code: 'response_not_stored' });
      },
    );
  });
});
