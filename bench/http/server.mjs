// One Express app, several ways of guarding its route. `node bench/http/server.mjs <mode>`
// (REDIS_PORT / PG_URL in the environment). Prints one line `listening <port>` on stdout.
//
// Every mode serves the same route: POST /v1/charges, express.json() keeping the raw bytes, an
// account check, and a handler answering 201 with a small JSON charge (no I/O of its own, so
// whatever the idempotency layer costs is not hidden behind a slow handler).
//
// modes:
//   bare                      the app without any idempotency
//   memory                    oncely (@oncely/express) on memoryStore()
//   redis | redis-ap          oncely on @oncely/redis; ioredis without / with enableAutoPipelining
//   redis-limit | redis-limit-ap   the raw commands an ideal layer needs, without oncely:
//                             SET key value NX PX ttl GET before the handler (one round trip that
//                             claims, or returns the stored response for a replay), SET key value PX
//                             ttl after it
//   postgres                  oncely on @oncely/postgres (non-atomic mode), table bench_http
//   postgres-limit            one INSERT ... ON CONFLICT DO NOTHING RETURNING (falling back, in the
//                             same statement, to the stored row) before, one UPDATE after, on
//                             bench_http_limit (same table shape as the store's)
//
// GET /_stats answers {queries} for the Postgres modes: statements sent through the pool (a
// wrapped pool counts them — each is one round trip).
import express from 'express';
import { createHash, randomUUID } from 'node:crypto';

const mode = process.argv[2];
const TTL = 86_400_000;
const app = express();
app.disable('x-powered-by');
app.disable('etag');

let counter = { queries: 0 };
let close = async () => {};

function handlerBody(req) {
  return JSON.stringify({ id: `ch_${randomUUID().replaceAll('-', '')}`, amount: req.body?.amount ?? 0, currency: req.body?.currency ?? 'eur', status: 'succeeded' });
}
const requireAccount = (req, res, next) => (/^[A-Za-z0-9_-]{1,64}$/.test(req.header('x-account-id') ?? '') ? next() : res.status(401).end());
const handler = (req, res) => {
  res.status(201).type('application/json').send(handlerBody(req));
};

async function pgPool() {
  const { default: pg } = await import('pg');
  // Count every statement any connection sends (pool.query goes through Client#query too).
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...args) {
    counter.queries++;
    return query.apply(this, args);
  };
  const pool = (new pg.Pool({ connectionString: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 16 }));
  pool.on('error', () => {});
  close = () => pool.end();
  return pool;
}

async function redisClient(pipelined) {
  const { Redis } = await import('ioredis');
  const client = new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), enableAutoPipelining: pipelined, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.ping();
  close = async () => void client.disconnect();
  return client;
}

const { keepRawBody, idempotency, idempotencyErrors } = await import('@oncely/express');
app.use(express.json({ limit: '100kb', verify: keepRawBody }));
const scope = (req) => `acct:${String(req.header('x-account-id'))}`;

if (mode === 'bare') {
  app.post('/v1/charges', requireAccount, handler);
} else if (mode === 'memory' || mode === 'redis' || mode === 'redis-ap' || mode === 'postgres') {
  let store;
  if (mode === 'memory') store = (await import('@oncely/core')).memoryStore();
  else if (mode.startsWith('redis')) store = (await import('@oncely/redis')).redisStore({ client: await redisClient(mode === 'redis-ap'), prefix: 'bench-http:' });
  else {
    const { postgresStore, migrate } = await import('@oncely/postgres');
    const pool = await pgPool();
    await migrate(pool, { table: 'bench_http' });
    store = postgresStore({ pool, table: 'bench_http' });
  }
  app.post('/v1/charges', requireAccount, idempotency({ store, scope }), handler);
  app.use(idempotencyErrors());
} else if (mode === 'redis-limit' || mode === 'redis-limit-ap') {
  const client = await redisClient(mode === 'redis-limit-ap');
  app.post('/v1/charges', requireAccount, async (req, res, next) => {
    const key = `bench-limit:${scope(req)}:${req.header('idempotency-key')}`;
    // One round trip: claim, or get what is stored (a replay).
    const previous = await client.set(key, 'in_progress', 'PX', TTL, 'NX', 'GET');
    if (previous === 'in_progress') return void res.status(409).end();
    if (previous !== null) return void res.status(201).type('application/json').set('idempotent-replayed', 'true').send(previous);
    const body = handlerBody(req);
    await client.set(key, body, 'PX', TTL);
    res.status(201).type('application/json').send(body);
  });
} else if (mode === 'postgres-limit') {
  const pool = await pgPool();
  const { migrate } = await import('@oncely/postgres');
  await migrate(pool, { table: 'bench_http_limit' });
  const table = 'bench_http_limit';
  const claim =
    `WITH ins AS (INSERT INTO ${table} (id, key, scope, state, token, fingerprint, lease_until, expires_at, created_at) ` +
    `VALUES ($1, $2, $3, 'in_progress', $4, '', $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING true AS created, NULL::text AS state, NULL::bytea AS body) ` +
    `SELECT * FROM ins UNION ALL SELECT false, state, response_body FROM ${table} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`;
  const complete = `UPDATE ${table} SET state = 'completed', lease_until = NULL, completed_at = $3, response_status = 201, response_headers = $4, response_body = $5 WHERE id = $1 AND token = $2`;
  app.post('/v1/charges', requireAccount, async (req, res) => {
    const key = String(req.header('idempotency-key'));
    const s = scope(req);
    const id = `bench:${createHash('sha256').update(s).update('\0').update(key).digest('hex')}`;
    const token = randomUUID();
    const now = Date.now();
    const { rows } = await pool.query({ name: 'limit-claim', text: claim, values: [id, key, s, token, now + 30_000, now + TTL, now] });
    const row = rows[0];
    if (row && !row.created) {
      if (row.state !== 'completed') return void res.status(409).end();
      return void res.status(201).type('application/json').set('idempotent-replayed', 'true').send(row.body);
    }
    const body = handlerBody(req);
    await pool.query({ name: 'limit-complete', text: complete, values: [id, token, Date.now(), '[["content-type","application/json"]]', Buffer.from(body)] });
    res.status(201).type('application/json').send(body);
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
app.get('/_stats', (_req, res) => void res.json(counter));
app.use((error, _req, res, _next) => {
  console.error(error);
  res.status(500).end();
});

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
server.keepAliveTimeout = 120_000;
const shutdown = () => {
  server.close();
  server.closeAllConnections?.();
  void close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1500).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
