/** The README's example, verbatim but for the export, and its curl session (on the fetch runtime). */
import { Hono } from 'hono';
import { memoryStore } from '@oncely/core';
import { idempotency, type IdempotencyVariables } from '@oncely/hono';
import { expect, it } from 'vitest';

const app = new Hono<{ Variables: IdempotencyVariables & { tenantId: string } }>();

// Authenticate before idempotency: the scope is whose key it is.
app.use(async (c, next) => {
  c.set('tenantId', c.req.header('x-tenant-id') ?? 'demo-tenant'); // stand-in for your auth middleware
  await next();
});

// Guard what must not run twice (POST and PATCH by default; GETs pass through untouched).
app.use(idempotency({ store: memoryStore(), scope: (c) => c.get('tenantId') }));

let charges = 0;
app.post('/v1/charges', async (c) => {
  const { amount } = await c.req.json<{ amount: number }>(); // the body is still readable
  const idem = c.get('idempotency'); // key, scope, childKey(), signal, isProtected, transaction
  const id = `ch_${++charges}`;
  return c.json({ id, amount, providerKey: idem?.childKey('psp') }, 201, { location: `/v1/charges/${id}` });
});

it('the README example behaves as its curl session says', async () => {
  const request = (amount: number) =>
    app.request('/v1/charges', {
      method: 'POST',
      headers: { 'idempotency-key': '8e03978e', 'content-type': 'application/json' },
      body: JSON.stringify({ amount }),
    });
  const first = await request(1500);
  const firstBody = await first.text();
  expect(first.status).toBe(201);
  expect(JSON.parse(firstBody)).toMatchObject({ id: 'ch_1', amount: 1500 });
  const replay = await request(1500);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(await replay.text()).toBe(firstBody);
  const reused = await request(9900);
  expect([reused.status, ((await reused.json()) as { code: string }).code]).toEqual([422, 'key_reused']);
  expect(charges).toBe(1);
});
