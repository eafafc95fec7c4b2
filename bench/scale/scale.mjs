// Scale: latency of a first request (claim + complete) and of a replay through the engine, with a
// small (1 thousand) and a large (1 million; --quick: 100 thousand) number of live records in the
// store, for Redis (two private redis-servers) and Postgres (two bench_ tables). Small and large
// are measured in alternating rounds (ABAB) in this sitting; p50/p99 over all rounds' requests.
// Then Postgres purgeExpired() of as many expired rows, with the claim latency while it runs.
//
//   node bench/scale/scale.mjs [--quick] [--json out.json]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PG_URL, percentile, privateRedis } from '../lib.mjs';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
const QUICK = values.quick;
const LARGE = Number(process.env.SCALE_LARGE ?? (QUICK ? 100_000 : 1_000_000));
const SMALL = 1_000;
const ROUNDS = QUICK ? 2 : 4;
const PER_ROUND = QUICK ? 250 : 1000;
const CONCURRENCY = 4; // a few requests in flight, as a server would have

const { createIdempotency, utf8 } = await import('@oncely/core');
const { redisStore } = await import('@oncely/redis');
const { postgresStore, migrate } = await import('@oncely/postgres');
const { Redis } = await import('ioredis');
const { default: pg } = await import('pg');

const runId = Date.now().toString(36);
const body = utf8(JSON.stringify({ amount: 1999, currency: 'eur', customer: 'cus_123' }));
const response = { status: 201, headers: [['content-type', 'application/json']], body: utf8('{"id":"ch_1","status":"succeeded"}') };
const handler = async () => response;
const request = (key) => ({ scope: 'acct_1', method: 'POST', url: '/v1/charges', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, rawBody: body });
let seq = 0;
const log = (line) => process.stderr.write(`  ${line}\n`);

/** Latencies (ms) of `count` requests, CONCURRENCY in flight. */
async function timed(count, fn) {
  const out = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const started = performance.now();
        await fn(i);
        out.push(performance.now() - started);
      }
    }),
  );
  return out;
}

async function compare(label, engines) {
  // engines: { small, large } — prime a replay key on each, warm up, then alternate.
  const lat = { small: { create: [], replay: [] }, large: { create: [], replay: [] } };
  for (const size of ['small', 'large']) {
    await engines[size].handle(request(`${runId}-replay`), handler);
    await timed(200, () => engines[size].handle(request(`${runId}-w-${seq++}`), handler));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of round % 2 === 0 ? ['small', 'large'] : ['large', 'small']) {
      lat[size].create.push(...(await timed(PER_ROUND, () => engines[size].handle(request(`${runId}-${seq++}`), handler))));
      lat[size].replay.push(...(await timed(PER_ROUND, () => engines[size].handle(request(`${runId}-replay`), handler))));
    }
  }
  const summary = {};
  for (const size of ['small', 'large'])
    for (const op of ['create', 'replay']) {
      const xs = lat[size][op];
      (summary[size] ??= {})[op] = { p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length };
    }
  for (const op of ['create', 'replay']) summary[`${op} p99 ratio`] = summary.large[op].p99 / summary.small[op].p99;
  log(`${label}: ${JSON.stringify(summary)}`);
  return summary;
}

const results = { large: LARGE, small: SMALL, rounds: ROUNDS, perRound: PER_ROUND, concurrency: CONCURRENCY };

// ---------- Redis
{
  const servers = { small: await privateRedis(), large: await privateRedis() };
  const clients = {};
  try {
    const engines = {};
    for (const size of ['small', 'large']) {
      clients[size] = new Redis({ port: servers[size].port, host: '127.0.0.1', enableAutoPipelining: true, maxRetriesPerRequest: 1 });
      engines[size] = createIdempotency({ store: redisStore({ client: clients[size], prefix: 'bench-scale:' }) });
    }
    // A real completed record's bytes, as filler value: same size and encoding as the live records.
    await engines.small.handle(request(`${runId}-sample`), handler);
    const [sampleKey] = await servers.small.admin.keys('bench-scale:*');
    const value = await servers.small.admin.getBuffer(sampleKey);
    const fill = async (admin, n) => {
      const started = performance.now();
      const script = `local pxat = ARGV[2]
for i = tonumber(ARGV[3]), tonumber(ARGV[4]) do
  redis.call('SET', 'bench-scale:oncely:' .. redis.sha1hex('a' .. i) .. string.sub(redis.sha1hex('b' .. i), 1, 24), ARGV[1], 'PXAT', pxat)
end
return 1`;
      for (let from = 1; from <= n; from += 50_000) await admin.eval(script, 0, value, String(Date.now() + 86_400_000), String(from), String(Math.min(n, from + 49_999)));
      return (performance.now() - started) / 1000;
    };
    const fillSmall = await fill(servers.small.admin, SMALL);
    const fillLarge = await fill(servers.large.admin, LARGE);
    const dbsize = { small: await servers.small.admin.dbsize(), large: await servers.large.admin.dbsize() };
    log(`redis: loaded ${dbsize.small} / ${dbsize.large} keys (${fillLarge.toFixed(1)} s for the large one)`);
    results.redis = { ...(await compare('redis (enableAutoPipelining: true)', engines)), loadSeconds: fillLarge, dbsize, valueBytes: value.length };
    void fillSmall;
  } finally {
    for (const c of Object.values(clients)) c.disconnect();
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}

// ---------- Postgres
{
  const pool = new pg.Pool({ connectionString: PG_URL, max: 8 });
  pool.on('error', () => {});
  const tables = { small: 'bench_scale_small', large: 'bench_scale_large', purge: 'bench_scale_purge' };
  const drop = () => pool.query(`DROP TABLE IF EXISTS ${Object.values(tables).join(', ')}`);
  try {
    await drop();
    const stores = {};
    for (const [size, table] of Object.entries(tables)) {
      await migrate(pool, { table });
      stores[size] = postgresStore({ pool, table });
    }
    // Rows encoded as the store writes them: completed records with a response, ids shaped like
    // `oncely:<sha256 hex>`. `expires` is relative to now, in ms.
    const fill = async (table, n, expires) => {
      const started = performance.now();
      const now = Date.now();
      await pool.query(
        `INSERT INTO ${table} (id, key, scope, state, token, fingerprint, lease_until, expires_at, created_at, completed_at, response_status, response_headers, response_body, result)
         SELECT 'oncely:' || encode(sha256(('fill' || i)::bytea), 'hex'), 'fill-' || i, 'acct_1', 'completed', md5(i::text), 'v1:' || encode(sha256(('fp' || i)::bytea), 'hex'),
                NULL, $1::bigint, $2::bigint, $2::bigint, 201, '[["content-type","application/json"]]'::jsonb, convert_to('{"id":"ch_' || i || '","status":"succeeded"}', 'UTF8'), NULL
         FROM generate_series(1, $3::int) AS i`,
        [now + expires, now, n],
      );
      await pool.query(`ANALYZE ${table}`);
      return (performance.now() - started) / 1000;
    };
    await fill(tables.small, SMALL, 86_400_000);
    const loadSeconds = await fill(tables.large, LARGE, 86_400_000);
    log(`postgres: loaded ${LARGE} rows in ${loadSeconds.toFixed(1)} s`);
    const engines = { small: createIdempotency({ store: stores.small }), large: createIdempotency({ store: stores.large }) };
    results.postgres = { ...(await compare('postgres', engines)), loadSeconds };

    // Purge LARGE expired rows while claims keep arriving on the same table (which also holds
    // SMALL live records).
    await fill(tables.purge, SMALL, 86_400_000);
    await pool.query(`INSERT INTO ${tables.purge} SELECT 'oncely:x' || substr(id, 8), key, scope, state, token, fingerprint, lease_until, $1::bigint, created_at, completed_at, response_status, response_headers, response_body, result FROM ${tables.large} WHERE key LIKE 'fill-%'`, [Date.now() - 1000]);
    await pool.query(`ANALYZE ${tables.purge}`);
    const engine = createIdempotency({ store: stores.purge });
    await timed(200, () => engine.handle(request(`${runId}-pw-${seq++}`), handler));
    const before = await timed(QUICK ? 500 : 2000, () => engine.handle(request(`${runId}-p-${seq++}`), handler));
    let purging = true;
    const started = performance.now();
    const purge = stores.purge.purgeExpired().then((n) => {
      purging = false;
      return n;
    });
    const during = [];
    const claimers = Array.from({ length: CONCURRENCY }, async () => {
      while (purging) {
        const t = performance.now();
        await engine.handle(request(`${runId}-p-${seq++}`), handler);
        during.push(performance.now() - t);
      }
    });
    const deleted = await purge;
    const purgeSeconds = (performance.now() - started) / 1000;
    await Promise.all(claimers);
    results.purge = {
      deleted,
      seconds: purgeSeconds,
      rowsPerSecond: deleted / purgeSeconds,
      batchSize: 1000,
      before: { p50: percentile(before, 50), p99: percentile(before, 99), n: before.length },
      during: { p50: percentile(during, 50), p99: percentile(during, 99), max: Math.max(...during), n: during.length },
    };
    log(`postgres purge: ${JSON.stringify(results.purge)}`);
  } finally {
    await drop().catch(() => {});
    await pool.end();
  }
}

if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
else console.log(JSON.stringify(results, null, 2));
