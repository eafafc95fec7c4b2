import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import { fixtures, listen, slowly, type RunningApp, type ScenarioApp } from '@oncely/http-tests';
import { idempotency } from '@oncely/koa';
import type Koa from 'koa';

/** Koa 2 or Koa 3 (their default exports). */
export type KoaModule = typeof Koa;

/** The scenario app (routes of @oncely/http-tests) on Koa, with the recommended setup. */
export function scenarioApp(KoaClass: KoaModule, app: ScenarioApp): Koa {
  const { harness } = app;
  const koa = new KoaClass();
  koa.on('error', (error: unknown) => harness.recordError(error));
  koa.use(bodyParser());
  koa.use(idempotency({ ...app.options, scope: (ctx) => app.scope((name) => ctx.get(name) || undefined) }));
  koa.use(async (ctx) => {
    switch (`${ctx.method} ${ctx.path}`) {
      case 'POST /charges': {
        const answer = harness.charge(ctx.request.body, ctx.get('x-tenant') || undefined, ctx.state.idempotency);
        ctx.status = 201;
        ctx.set('location', answer.location);
        ctx.body = answer.json;
        return;
      }
      case 'GET /charges':
        ctx.body = { n: harness.execute('list') };
        return;
      case 'POST /binary':
        harness.execute('binary');
        ctx.type = 'application/octet-stream';
        ctx.body = Buffer.from(fixtures.binary);
        return;
      case 'POST /gzip':
        harness.execute('gzip');
        ctx.type = 'application/json';
        ctx.set('content-encoding', 'gzip');
        ctx.body = Buffer.from(fixtures.gzip);
        return;
      case 'POST /slow': {
        const n = harness.execute('slow');
        await harness.gate();
        ctx.body = { n };
        return;
      }
      case 'POST /fail':
        harness.execute('fail');
        throw new Error('boom');
      case 'POST /error500':
        ctx.status = 500;
        ctx.body = { n: harness.execute('error500') };
        return;
      case 'POST /cookie': {
        const n = harness.execute('cookie');
        ctx.cookies.set('session', `s${n}`, { path: '/', httpOnly: true, overwrite: true });
        ctx.body = { n };
        return;
      }
      case 'POST /large':
        harness.execute('large');
        ctx.type = 'application/octet-stream';
        ctx.body = Buffer.from(fixtures.large);
        return;
      case 'POST /large-stream':
        harness.execute('large-stream');
        ctx.type = 'application/octet-stream';
        ctx.body = Readable.from(slowly(fixtures.largeChunks), { objectMode: false });
        return;
      case 'POST /stream':
        harness.execute('stream');
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = Readable.from(slowly(fixtures.streamChunks), { objectMode: false });
        return;
    }
  });
  return koa;
}

/** Listen on loopback. */
export function start(koa: Koa): Promise<RunningApp> {
  return listen(createServer(koa.callback()));
}
