/** The README's example, verbatim but for `listen`, and its curl session. */
import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { memoryStore } from '@oncely/core';
import { idempotency } from '@oncely/koa';
import { send } from '@oncely/http-tests';
import { expect, it } from 'vitest';
import { start } from './app';

const app = new Koa();

// 1. Parse bodies first: @koa/bodyparser keeps the raw body, which oncely fingerprints.
app.use(bodyParser());

// 2. Authenticate before idempotency: the scope is whose key it is.
app.use(async (ctx, next) => {
  ctx.state.tenantId = ctx.get('x-tenant-id') || 'demo-tenant'; // stand-in for your auth middleware
  await next();
});

// 3. Guard what must not run twice (POST and PATCH by default; GETs pass through untouched).
let charges = 0;
app.use(idempotency({ store: memoryStore(), scope: (ctx) => ctx.state.tenantId }));

app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/v1/charges') return;
  const body = ctx.request.body as { amount: number };
  const idem = ctx.state.idempotency; // key, scope, childKey(), signal, isProtected, transaction
  ctx.status = 201;
  ctx.set('location', `/v1/charges/ch_${++charges}`);
  ctx.body = { id: `ch_${charges}`, amount: body.amount, providerKey: idem?.childKey('psp') };
});

it('the README example behaves as its curl session says', async () => {
  const running = await start(app);
  try {
    const request = (amount: number) => send(running.url, '/v1/charges', { key: '8e03978e', json: { amount } });
    const first = await request(1500);
    expect(first.status).toBe(201);
    expect(first.json()).toMatchObject({ id: 'ch_1', amount: 1500 });
    const replay = await request(1500);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.equals(first.body)).toBe(true);
    const reused = await request(9900);
    expect([reused.status, reused.json().code]).toEqual([422, 'key_reused']);
    expect(charges).toBe(1);
  } finally {
    await running.close();
  }
});
