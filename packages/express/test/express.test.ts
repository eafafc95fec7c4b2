/**
 * Express-specific behaviour, on Express 4 and 5: every way a handler can write a response, body
 * parsers, error paths, headersSent, atomic mode. The shared scenarios are in scenarios.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { memoryStore, recordId, type CompletedRecord, type IdempotencyEvent } from '@oncely/core';
import { idempotency, idempotencyErrors, keepRawBody, type ExpressIdempotencyOptions } from '@oncely/express';
import { fixtures, send, transactionalStore, until, type HttpResult } from '@oncely/http-tests';
import express5 from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import { start, type ExpressModule } from './app';

const dir = mkdtempSync(join(tmpdir(), 'oncely-express-'));
const file = join(dir, 'payload.bin');
writeFileSync(file, fixtures.large.subarray(0, 20_000));

async function withApp(
  express: ExpressModule,
  build: (app: ReturnType<ExpressModule>) => void,
  test: (url: string) => Promise<void>,
): Promise<void> {
  const app = express();
  build(app);
  const running = await start(app);
  try {
    await test(running.url);
  } finally {
    await running.close();
  }
}

const guard = (options: Partial<ExpressIdempotencyOptions> = {}) => idempotency({ store: memoryStore(), scope: 'test', ...options });

function expectReplay(replay: HttpResult, original: HttpResult): void {
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(replay.status).toBe(original.status);
  expect(replay.body.equals(original.body)).toBe(true);
}

describe('setup', () => {
  it('requires a scope: a non-empty string or a function, else TypeError at setup', () => {
    const store = memoryStore();
    expect(() => idempotency({ store } as unknown as ExpressIdempotencyOptions)).toThrow(TypeError);
    expect(() => idempotency({ store, scope: '' })).toThrow(/scope/);
    expect(() => idempotency({ store, scope: 'x'.repeat(1025) })).toThrow(/1-1024/);
    expect(() => idempotency({ store, scope: 42 } as unknown as ExpressIdempotencyOptions)).toThrow(TypeError);
    expect(() => idempotency({ store, scope: 'tenant' })).not.toThrow();
  });

  it("rejects core's invalid options at setup too", () => {
    expect(() => idempotency({ store: memoryStore(), scope: 's', maxBodyBytes: -1 })).toThrow(TypeError);
    expect(() => idempotency({ store: memoryStore(), scope: 's', atomic: true })).toThrow(/transactions/);
  });
});

for (const [name, express] of [
  ['express 5', express5],
  ['express 4', express4],
] as const) {
  describe(name, () => {
    it('captures res.write + res.end chunks in every encoding, byte for byte', async () => {
      const expected = Buffer.concat([
        Buffer.from('héllo ', 'utf8'),
        Buffer.from('caf\u00e9 ', 'latin1'),
        Buffer.from('AAEC/w==', 'base64'),
        Buffer.from('00ff10', 'hex'),
        Buffer.from(fixtures.binary.subarray(0, 64)),
        Buffer.from('end'),
      ]);
      let ended = 0;
      let written = 0;
      await withApp(
        express,
        (app) =>
          app.post('/chunks', guard(), (_req, res) => {
            res.status(202).setHeader('content-type', 'application/octet-stream');
            res.write('héllo ');
            res.write('caf\u00e9 ', 'latin1');
            res.write('AAEC/w==', 'base64', () => written++);
            res.write('00ff10', 'hex');
            res.write(new Uint8Array(fixtures.binary.subarray(0, 64)));
            res.end(Buffer.from('end'), () => ended++);
          }),
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/chunks', { key });
          expect(first.status).toBe(202);
          expect(first.body.equals(expected)).toBe(true);
          await until(() => ended === 1 && written === 1, 'write and end callbacks');
          const replay = await send(url, '/chunks', { key });
          expectReplay(replay, first);
          expect(replay.headers['content-type']).toBe('application/octet-stream');
        },
      );
    });

    it('captures writeHead(status, reason, headers) — object and flat-array forms — and headers set by inner writeHead hooks', async () => {
      await withApp(
        express,
        (app) => {
          const keep = guard({ replayHeaders: ['x-object', 'x-array', 'x-hooked'] });
          app.post('/object', keep, (_req, res) => {
            res.writeHead(201, 'Made', { 'content-type': 'text/plain', 'x-object': '1' });
            res.end('object');
          });
          app.post('/array', keep, (_req, res) => {
            res.setHeader('x-array', 'old');
            res.writeHead(201, ['content-type', 'text/plain', 'x-array', 'a', 'x-array', 'b']);
            res.end('array');
          });
          app.post('/hooked', keep, (_req, res) => {
            // What on-headers (compression, response-time) does: set headers just before they go out.
            const writeHead = res.writeHead;
            res.writeHead = function (this: typeof res, ...args: Parameters<typeof res.writeHead>) {
              this.setHeader('x-hooked', 'yes');
              return writeHead.apply(this, args);
            } as typeof res.writeHead;
            res.type('text/plain').send('hooked');
          });
        },
        async (url) => {
          for (const [path, header, value] of [
            ['/object', 'x-object', '1'],
            ['/array', 'x-array', 'a, b'],
            ['/hooked', 'x-hooked', 'yes'],
          ] as const) {
            const key = randomUUID();
            const first = await send(url, path, { key });
            expect(first.headers[header]).toBe(value);
            const replay = await send(url, path, { key });
            expectReplay(replay, first);
            expect(replay.headers[header]).toBe(value);
            expect(replay.headers['content-type']).toBe('text/plain' + (path === '/hooked' ? '; charset=utf-8' : ''));
          }
        },
      );
    });

    it('captures piped file streams and res.sendFile', async () => {
      const bytes = fixtures.large.subarray(0, 20_000);
      await withApp(
        express,
        (app) => {
          app.post('/pipe', guard(), (_req, res) => {
            res.type('application/octet-stream');
            createReadStream(file).pipe(res);
          });
          app.post('/sendfile', guard(), (_req, res, next) => res.sendFile(file, (error) => error && next(error)));
        },
        async (url) => {
          for (const path of ['/pipe', '/sendfile']) {
            const key = randomUUID();
            const first = await send(url, path, { key });
            expect(first.status).toBe(200);
            expect(first.body.equals(Buffer.from(bytes))).toBe(true);
            expectReplay(await send(url, path, { key }), first);
          }
        },
      );
    });

    it('reports headersSent and writableEnded as Node would: false until the first write (end), true after', async () => {
      const seen: boolean[] = [];
      await withApp(
        express,
        (app) =>
          app.post('/sent', guard(), (_req, res) => {
            seen.push(res.headersSent, res.writableEnded);
            res.write('a');
            seen.push(res.headersSent, res.writableEnded);
            res.end('b');
            seen.push(res.headersSent, res.writableEnded);
          }),
        async (url) => {
          expect((await send(url, '/sent', { key: randomUUID() })).text()).toBe('ab');
          expect(seen).toEqual([false, false, true, false, true, true]);
        },
      );
    });

    it('sends and stores a one-piece body as given: a string in any encoding, a byte-array view at an offset', async () => {
      const backing = Uint8Array.from({ length: 16 }, (_, i) => 200 + i);
      const cases: Record<string, [send: (res: express5.Response) => void, expected: Buffer]> = {
        utf8: [(res) => res.end('héllo'), Buffer.from('héllo', 'utf8')],
        latin1: [(res) => res.end('caf\u00e9', 'latin1'), Buffer.from('caf\u00e9', 'latin1')],
        hex: [(res) => res.end('00ff10', 'hex'), Buffer.from('00ff10', 'hex')],
        json: [(res) => res.json({ a: 'é' }), Buffer.from('{"a":"é"}')],
        view: [(res) => res.end(new Uint8Array(backing.buffer, 3, 5)), Buffer.from(backing.subarray(3, 8))],
      };
      await withApp(
        express,
        (app) => {
          for (const [path, [write]] of Object.entries(cases)) app.post(`/${path}`, guard(), (_req, res) => write(res as unknown as express5.Response));
        },
        async (url) => {
          for (const [path, [, expected]] of Object.entries(cases)) {
            const key = randomUUID();
            const first = await send(url, `/${path}`, { key });
            expect([path, first.body.toString('hex')]).toEqual([path, expected.toString('hex')]);
            expect(first.headers['content-length']).toBe(String(expected.length));
            expectReplay(await send(url, `/${path}`, { key }), first);
          }
        },
      );
    });

    it('a response wrapped by an earlier middleware: stores what the handler sent, sends and replays it through the wrapper', async () => {
      await withApp(
        express,
        (app) => {
          app.use((_req, res, next) => {
            const end = res.end as (...args: unknown[]) => unknown;
            res.end = function (this: unknown, chunk?: unknown, ...rest: unknown[]) {
              // Length-preserving (replays carry the stored content-length) and not idempotent: reversed.
              return end.call(this, chunk === undefined || typeof chunk === 'function' ? chunk : [...String(chunk)].reverse().join(''), ...rest);
            } as typeof res.end;
            next();
          });
          app.post('/wrapped', guard(), (_req, res) => {
            res.status(201).end('hello');
          });
        },
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/wrapped', { key });
          expect([first.status, first.text()]).toEqual([201, 'olleh']);
          const replay = await send(url, '/wrapped', { key });
          expect([replay.status, replay.text(), replay.headers['idempotent-replayed']]).toEqual([201, 'olleh', 'true']);
        },
      );
    });

    it('a route guarded twice (two scopes, two stores): both capture the response and store it', async () => {
      const outer = memoryStore();
      const inner = memoryStore();
      let runs = 0;
      await withApp(
        express,
        (app) =>
          app.post('/twice', idempotency({ store: outer, scope: 'outer' }), idempotency({ store: inner, scope: 'inner' }), (_req, res) => {
            runs++;
            res.status(201).json({ run: runs });
          }),
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/twice', { key });
          expect([first.status, first.text()]).toEqual([201, '{"run":1}']);
          for (const [store, scope] of [
            [outer, 'outer'],
            [inner, 'inner'],
          ] as const) {
            const record = (await store.get(recordId('oncely', scope, key), Date.now())) as CompletedRecord | null;
            expect([scope, record?.state, Buffer.from(record?.response?.body ?? []).toString()]).toEqual([scope, 'completed', '{"run":1}']);
          }
          expectReplay(await send(url, '/twice', { key }), first);
          expect(runs).toBe(1);
        },
      );
    });

    it('captures a response inside a mounted sub-app (which swaps its prototype), headersSent included', async () => {
      const seen: boolean[] = [];
      await withApp(
        express,
        (app) => {
          const sub = express();
          sub.post('/charge', (_req, res) => {
            seen.push(res.headersSent);
            res.writeHead(202, { 'content-type': 'text/plain' });
            seen.push(res.headersSent);
            res.end('sub');
          });
          app.use('/sub', guard(), sub);
        },
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/sub/charge', { key });
          expect([first.status, first.text()]).toEqual([202, 'sub']);
          expect(seen).toEqual([false, true]);
          expectReplay(await send(url, '/sub/charge', { key }), first);
          expect(seen).toHaveLength(2);
        },
      );
    });

    it('reports headersSent per response while several are captured at once', async () => {
      const seen: [string, boolean][] = [];
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      await withApp(
        express,
        (app) =>
          app.post('/pair/:name', guard(), async (req, res) => {
            const name = String(req.params.name);
            if (name === 'first') {
              res.writeHead(200);
              seen.push([name, res.headersSent]);
              await gate;
            } else {
              seen.push([name, res.headersSent]);
              release();
            }
            res.end(name);
          }),
        async (url) => {
          const first = send(url, '/pair/first', { key: randomUUID() });
          await until(() => seen.length === 1, 'the first handler to write its head');
          const second = await send(url, '/pair/second', { key: randomUUID() });
          expect([(await first).text(), second.text()]).toEqual(['first', 'second']);
          expect(seen).toEqual([
            ['first', true],
            ['second', false],
          ]);
        },
      );
    });

    it('streams a body that outgrows maxBodyBytes while written, whole, and stores it without its body', async () => {
      await withApp(
        express,
        (app) =>
          app.post('/big', guard({ maxBodyBytes: 1000 }), (_req, res) => {
            res.type('application/octet-stream');
            for (const chunk of fixtures.largeChunks) res.write(chunk);
            res.end();
          }),
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/big', { key });
          expect(first.body.equals(Buffer.from(fixtures.large))).toBe(true);
          const replay = await send(url, '/big', { key });
          expect(replay.status).toBe(200);
          expect(replay.json()).toMatchObject({ code: 'response_not_stored' });
        },
      );
    });

    it('next(err) with idempotencyErrors(): the key is released whatever status the error handler renders', async () => {
      let runs = 0;
      await withApp(
        express,
        (app) => {
          app.post('/invalid', guard(), (_req, _res, next) => {
            runs++;
            next(Object.assign(new Error('invalid card'), { status: 402 }));
          });
          app.use(idempotencyErrors());
          app.use(((error, _req, res, _next) => {
            res.status((error as { status: number }).status).json({ error: (error as Error).message });
          }) as express5.ErrorRequestHandler);
        },
        async (url) => {
          const key = randomUUID();
          expect((await send(url, '/invalid', { key })).status).toBe(402);
          const retry = await send(url, '/invalid', { key });
          expect(retry.status).toBe(402);
          expect(retry.headers['idempotent-replayed']).toBeUndefined();
          expect(runs).toBe(2);
        },
      );
    });

    it('next(err) without idempotencyErrors(): judged by the rendered status (a 4xx is stored, as documented)', async () => {
      let runs = 0;
      await withApp(
        express,
        (app) => {
          app.post('/invalid', guard(), (_req, _res, next) => {
            runs++;
            next(Object.assign(new Error('invalid card'), { status: 402 }));
          });
          app.use(((error, _req, res, _next) => {
            res.status((error as { status: number }).status).json({ error: (error as Error).message });
          }) as express5.ErrorRequestHandler);
        },
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/invalid', { key });
          expectReplay(await send(url, '/invalid', { key }), first);
          expect(runs).toBe(1);
        },
      );
    });

    it("a handler that fails after writing part of its body: the client's connection is reset and the key released", async () => {
      let runs = 0;
      await withApp(
        express,
        (app) => {
          app.post('/partial', guard(), (_req, res, next) => {
            runs++;
            res.write('partial');
            next(new Error('failed mid-body'));
          });
          app.use(idempotencyErrors());
        },
        async (url) => {
          const key = randomUUID();
          await expect(send(url, '/partial', { key })).rejects.toThrow();
          // The key is released when the connection closes; a retry runs again (and fails the same way).
          for (;;) {
            const retry = await send(url, '/partial', { key }).catch(() => undefined);
            if (retry?.status !== 409) break;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          expect(runs).toBe(2);
        },
      );
    });

    it('works with express.raw, express.text and express.urlencoded bodies (fingerprinted from the raw bytes)', async () => {
      await withApp(
        express,
        (app) => {
          app.post('/raw', express.raw({ type: '*/*', verify: keepRawBody }), guard(), (req, res) => res.json({ bytes: (req.body as Buffer).length }));
          app.post('/text', express.text({ verify: keepRawBody }), guard(), (req, res) => res.json({ text: req.body as string }));
          app.post('/form', express.urlencoded({ extended: false, verify: keepRawBody }), guard(), (req, res) => res.json(req.body));
        },
        async (url) => {
          const cases = [
            ['/raw', 'application/octet-stream', Buffer.from([0, 1, 2, 255]), Buffer.from([0, 1, 2, 254])],
            ['/text', 'text/plain', 'hello', 'hellp'],
            ['/form', 'application/x-www-form-urlencoded', 'a=1&b=2', 'a=1&b=3'],
          ] as const;
          for (const [path, type, body, changed] of cases) {
            const key = randomUUID();
            const headers = { 'content-type': type };
            const first = await send(url, path, { key, body, headers });
            expect(first.status).toBe(200);
            expectReplay(await send(url, path, { key, body, headers }), first);
            const reused = await send(url, path, { key, body: changed, headers });
            expect(reused.status).toBe(422);
          }
        },
      );
    });

    it('without keepRawBody, fingerprints the parsed req.body (canonical JSON)', async () => {
      await withApp(
        express,
        (app) => {
          app.use(express.json());
          app.post('/parsed', guard(), (req, res) => res.json(req.body));
        },
        async (url) => {
          const key = randomUUID();
          const headers = { 'content-type': 'application/json' };
          const first = await send(url, '/parsed', { key, body: '{"a":1,"b":[1,2]}', headers });
          expectReplay(await send(url, '/parsed', { key, body: '{ "b": [1, 2], "a": 1 }', headers }), first);
          expect((await send(url, '/parsed', { key, body: '{"a":2,"b":[1,2]}', headers })).status).toBe(422);
        },
      );
    });

    it('fingerprints the full originalUrl under a mounted router', async () => {
      await withApp(
        express,
        (app) => {
          const router = express.Router();
          router.post('/a', (_req, res) => res.json({ route: 'a' }));
          router.post('/b', (_req, res) => res.json({ route: 'b' }));
          app.use('/v1', guard(), router);
        },
        async (url) => {
          const key = randomUUID();
          expect((await send(url, '/v1/a?x=1', { key })).status).toBe(200);
          expect((await send(url, '/v1/b?x=1', { key })).status).toBe(422);
          expect((await send(url, '/v1/a?x=2', { key })).status).toBe(422);
          expect((await send(url, '/v1/a?x=1', { key })).headers['idempotent-replayed']).toBe('true');
        },
      );
    });

    it('atomic mode: req.idempotency.transaction is the client; writes commit with the record', async () => {
      const store = transactionalStore();
      await withApp(
        express,
        (app) =>
          app.post('/ledger', idempotency({ store, scope: 'test', atomic: true }), (req, res) => {
            const tx = req.idempotency?.transaction as { write(entry: string): void };
            tx.write(`charge:${req.idempotency?.key}`);
            res.status(201).json({ ok: true });
          }),
        async (url) => {
          const key = randomUUID();
          const first = await send(url, '/ledger', { key });
          expect(first.status).toBe(201);
          expectReplay(await send(url, '/ledger', { key }), first);
          expect(store.ledger).toEqual([`charge:${key}`]);
        },
      );
    });

    it("atomic mode: a rolled-back completion sends core's 503 instead, without the handler's headers", async () => {
      const store = transactionalStore({ failCommit: true });
      await withApp(
        express,
        (app) =>
          app.post('/ledger', idempotency({ store, scope: 'test', atomic: true }), (req, res) => {
            (req.idempotency?.transaction as { write(entry: string): void }).write('lost');
            res.status(201).location('/ledger/1').cookie('s', '1').json({ ok: true });
          }),
        async (url) => {
          const answer = await send(url, '/ledger', { key: randomUUID() });
          expect(answer.status).toBe(503);
          expect(answer.json()).toMatchObject({ code: 'store_unavailable' });
          expect(answer.headers.location).toBeUndefined();
          expect(answer.headers['set-cookie']).toBeUndefined();
          expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
          expect(store.ledger).toEqual([]);
        },
      );
    });

    it('exposes the execution on req.idempotency only for guarded requests', async () => {
      const seen: unknown[] = [];
      await withApp(
        express,
        (app) => {
          app.use(guard({ scope: (req) => `tenant:${req.get('x-tenant') ?? 'none'}` }));
          app.all('/ctx', (req, res) => {
            const ctx = req.idempotency;
            seen.push(ctx && { key: ctx.key, scope: ctx.scope, isProtected: ctx.isProtected, aborted: ctx.signal.aborted, recordId: ctx.recordId });
            res.json({ ok: true });
          });
        },
        async (url) => {
          await send(url, '/ctx', { key: 'k-1', headers: { 'x-tenant': 't1' } });
          await send(url, '/ctx', { method: 'GET' });
          expect(seen[0]).toMatchObject({ key: 'k-1', scope: 'tenant:t1', isProtected: true, aborted: false });
          expect((seen[0] as { recordId: string }).recordId).toMatch(/^oncely:[0-9a-f]{64}$/);
          expect(seen[1]).toBeUndefined();
        },
      );
    });

    it('req.idempotency adds no own property to req, and still replaces a value set before oncely', async () => {
      const seen: [boolean, string | undefined][] = [];
      await withApp(
        express,
        (app) => {
          app.post('/own', guard(), (req, res) => {
            seen.push([Object.prototype.hasOwnProperty.call(req, 'idempotency'), req.idempotency?.key]);
            res.json({ ok: true });
          });
          app.post(
            '/preset',
            (req, _res, next) => {
              (req as { idempotency?: unknown }).idempotency = 'preset';
              next();
            },
            guard(),
            (req, res) => {
              seen.push([Object.prototype.hasOwnProperty.call(req, 'idempotency'), req.idempotency?.key]);
              res.json({ ok: true });
            },
          );
        },
        async (url) => {
          await send(url, '/own', { key: 'k-own' });
          await send(url, '/preset', { key: 'k-preset' });
          expect(seen).toEqual([
            [false, 'k-own'],
            [true, 'k-preset'],
          ]);
        },
      );
    });

    it('emits one event per decision through onEvent', async () => {
      const events: IdempotencyEvent[] = [];
      await withApp(
        express,
        (app) => app.post('/e', guard({ onEvent: (event) => events.push(event) }), (_req, res) => res.json({})),
        async (url) => {
          const key = randomUUID();
          await send(url, '/e', { key });
          await send(url, '/e', { key });
          expect(events.map((event) => event.type)).toEqual(['executed', 'replayed']);
        },
      );
    });

    it('a handler that writes after end gets an error callback, not a crash', async () => {
      let error: unknown;
      await withApp(
        express,
        (app) =>
          app.post('/twice', guard(), (_req, res) => {
            res.end('once');
            res.write('again', (e) => (error = e));
          }),
        async (url) => {
          expect((await send(url, '/twice', { key: randomUUID() })).text()).toBe('once');
          await until(() => error !== undefined, 'the write callback');
          expect((error as { code: string }).code).toBe('ERR_STREAM_WRITE_AFTER_END');
        },
      );
    });
  });
}

describe('express 5 only', () => {
  it('an async handler that throws: released, rendered by the error handler', async () => {
    let runs = 0;
    await withApp(
      express5,
      (app) => {
        app.post('/async', guard(), async () => {
          runs++;
          await Promise.resolve();
          throw new Error('async boom');
        });
        app.use(idempotencyErrors());
        app.use(((_error, _req, res, _next) => res.status(400).json({ error: 'bad' })) as express5.ErrorRequestHandler);
      },
      async (url) => {
        const key = randomUUID();
        expect((await send(url, '/async', { key })).status).toBe(400);
        expect((await send(url, '/async', { key })).status).toBe(400);
        expect(runs).toBe(2);
      },
    );
  });

  it('Readable.from streams of strings and Buffers', async () => {
    await withApp(
      express5,
      (app) =>
        app.post('/readable', guard(), (_req, res) => {
          res.type('text/plain');
          Readable.from(['a', Buffer.from('b'), 'c']).pipe(res);
        }),
      async (url) => {
        const key = randomUUID();
        const first = await send(url, '/readable', { key });
        expect(first.text()).toBe('abc');
        expectReplay(await send(url, '/readable', { key }), first);
      },
    );
  });
});
