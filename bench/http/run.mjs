// HTTP benchmark: autocannon (in this process) against Express servers (separate processes; see
// server.mjs), one private redis-server and the shared PostgreSQL. Rounds are interleaved: every
// round runs every server on every workload, so the ratios come from one sitting; the figure per
// configuration is the median over rounds.
//
//   node bench/http/run.mjs [--quick] [--json out.json]
//
// Workloads: `new` (every request a fresh Idempotency-Key: claim + handler + completion),
// `replay` (a pool of 16 keys completed beforehand: every request a replay), `mixed` (each request
// a fresh key or a pooled one, 50/50).
// Then round trips per request, counted at the server: Redis INFO commandstats (private instance,
// after CONFIG RESETSTAT), Postgres statements through a wrapped pool.
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, PG_URL, privateRedis, startNode } from '../lib.mjs';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
const QUICK = values.quick;
const DURATION = Number(process.env.HTTP_SECONDS ?? (QUICK ? 1 : 4));
const ROUNDS = Number(process.env.HTTP_ROUNDS ?? (QUICK ? 2 : 4));
const CONNECTIONS = Number(process.env.HTTP_CONNECTIONS ?? 32);
const MODES = (process.env.HTTP_MODES ?? 'bare,memory,redis,redis-limit,redis-ap,redis-limit-ap,postgres,postgres-limit').split(',');
const WORKLOADS = ['new', 'replay', 'mixed'];
const POOL = 16;
const body = JSON.stringify({ amount: 1999, currency: 'eur', customer: 'cus_123' });
const serverScript = fileURLToPath(new URL('./server.mjs', import.meta.url));
const runId = Date.now().toString(36);

const redis = await privateRedis();
const { default: pg } = await import('pg');
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
await admin.query('DROP TABLE IF EXISTS bench_http, bench_http_limit');

const servers = {};
try {
  for (const mode of MODES) servers[mode] = await startNode(serverScript, [mode], { REDIS_PORT: String(redis.port), PG_URL });

  let seq = 0;
  const newKey = () => `${runId}-${seq++}`;
  const poolKey = (i) => `${runId}-replay-${i}`;
  const post = (port, key) =>
    fetch(`http://127.0.0.1:${port}/v1/charges`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-account-id': 'acct_1', 'idempotency-key': key }, body });

  // Complete the replay pool on every server, and warm each one up.
  for (const mode of MODES) {
    for (let i = 0; i < POOL; i++) {
      const r = await post(servers[mode].port, poolKey(i));
      await r.arrayBuffer();
    }
    await load(mode, "mixed", QUICK ? 0.3 : 1);
  }

  function load(mode, workload, seconds) {
    let toggle = 0;
    const keyFor = () => {
      if (workload === 'new') return newKey();
      if (workload === 'replay') return poolKey(seq++ % POOL);
      return toggle++ % 2 === 0 ? newKey() : poolKey(seq++ % POOL);
    };
    return new Promise((resolve, reject) => {
      autocannon(
        {
          url: `http://127.0.0.1:${servers[mode].port}`,
          connections: CONNECTIONS,
          duration: seconds,
          requests: [
            {
              method: 'POST',
              path: '/v1/charges',
              headers: { 'content-type': 'application/json', 'x-account-id': 'acct_1' },
              body,
              setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'idempotency-key': keyFor() } }),
            },
          ],
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      );
    });
  }

  const samples = {}; // mode -> workload -> [{rps, p50, p99, errors}]
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order every round (ABAB... then BABA...), so no configuration always runs first.
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const workload of WORKLOADS) {
      for (const mode of order) {
        const r = await load(mode, workload, DURATION);
        const errors = r.errors + r.timeouts + (r.non2xx ?? 0);
        ((samples[mode] ??= {})[workload] ??= []).push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors });
        process.stderr.write(`  round ${round + 1}/${ROUNDS} ${workload.padEnd(6)} ${mode.padEnd(15)} ${Math.round(r.requests.average)} req/s p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms${errors ? ` (${errors} errors/non-2xx)` : ''}\n`);
      }
    }
  }
  const results = {};
  for (const mode of MODES)
    for (const workload of WORKLOADS) {
      const s = samples[mode][workload];
      (results[mode] ??= {})[workload] = {
        rps: median(s.map((x) => x.rps)),
        p50: median(s.map((x) => x.p50)),
        p99: median(s.map((x) => x.p99)),
        errors: s.reduce((a, x) => a + x.errors, 0),
        rounds: s.map((x) => Math.round(x.rps)),
      };
    }

  // Round trips per request, counted at the server.
  const N = QUICK ? 50 : 200;
  const roundTrips = {};
  const redisCalls = async () => {
    const info = await redis.admin.info('commandstats');
    let calls = 0;
    const byCommand = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (['info', 'config', 'ping', 'client', 'hello', 'select'].includes(m[1])) continue;
      calls += Number(m[2]);
      byCommand[m[1]] = Number(m[2]);
    }
    return { calls, byCommand };
  };
  const pgCalls = async (mode) => (await (await fetch(`http://127.0.0.1:${servers[mode].port}/_stats`)).json()).queries;
  for (const mode of MODES.filter((m) => m !== 'bare' && m !== 'memory')) {
    const isRedis = mode.startsWith('redis');
    const count = isRedis ? async () => (await redisCalls()).calls : () => pgCalls(mode);
    roundTrips[mode] = {};
    for (const workload of ['first request', 'replay']) {
      if (isRedis) await redis.admin.config('RESETSTAT');
      const before = await count();
      for (let i = 0; i < N; i++) await (await post(servers[mode].port, workload === 'replay' ? poolKey(i % POOL) : newKey())).arrayBuffer();
      const after = await count();
      if (isRedis) {
        // commandstats also counts the commands a script runs inside Redis: when the client sent
        // scripts, the round trips are the EVAL/EVALSHA calls; the inner commands are listed apart.
        const { byCommand } = await redisCalls();
        delete byCommand['config|resetstat'];
        const scripts = (byCommand.evalsha ?? 0) + (byCommand.eval ?? 0) + (byCommand.evalsha_ro ?? 0) + (byCommand.fcall ?? 0);
        const total = Object.values(byCommand).reduce((a, b) => a + b, 0);
        roundTrips[mode][workload] = (scripts || total) / N;
        roundTrips[mode][`${workload} commands`] = Object.fromEntries(Object.entries(byCommand).map(([k, v]) => [k, v / N]));
      } else roundTrips[mode][workload] = (after - before) / N;
    }
  }

  const out = { duration: DURATION, rounds: ROUNDS, connections: CONNECTIONS, modes: MODES, workloads: WORKLOADS, results, roundTrips };
  if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2));
  else console.log(JSON.stringify(out, null, 2));
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await admin.query('DROP TABLE IF EXISTS bench_http, bench_http_limit').catch(() => {});
  await admin.end();
  await redis.stop();
}
