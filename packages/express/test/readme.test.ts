/** The README's example, verbatim but for `listen`, and its curl session. */
import express from 'express';
import { memoryStore } from '@oncely/core';
import { idempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
import { send } from '@oncely/http-tests';
import { expect, it } from 'vitest';
import { start } from './app';

const app = express();

// 1. Parse bodies first, keeping the raw bytes so oncely fingerprints exactly what was sent.
app.use(express.json({ verify: keepRawBody }));

// 2. Authenticate before idempotency: the scope is whose key it is.
app.use((req, _res, next) => {
  req.headers['x-tenant-id'] ??= 'demo-tenant'; // stand-in for your auth middleware
  next();
});

// 3. Guard the routes that must not run twice.
const once = idempotency({
  store: memoryStore(),
  scope: (req) => String(req.headers['x-tenant-id']),
});

let charges = 0;
app.post('/v1/charges', once, async (req, res) => {
  const ctx = req.idempotency; // key, scope, childKey(), signal, isProtected, transaction
  const charge = { id: `ch_${++charges}`, amount: req.body.amount, providerKey: ctx?.childKey('psp') };
  res.status(201).location(`/v1/charges/${charge.id}`).json(charge);
});

// 4. After the routes, before your error handlers: a failed handler releases its key.
app.use(idempotencyErrors());
app.use((_err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: 'internal' });
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
