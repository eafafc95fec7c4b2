// HTTP throughput of a node:http app guarded by the engine on @oncely/redis, with and without
// ioredis `enableAutoPipelining`, against the same app without idempotency. Run after
// `pnpm build` (core and redis): `node bench/http-pipelining.mjs`.
//
// Starts a private redis-server (no persistence) and three app processes (plain, redis without
// autopipelining, redis with it); this process is the load generator: keep-alive connections,
// CONCURRENCY requests in flight, each a POST with a fresh Idempotency-Key (claim + completion:
// 2 round trips). Rounds alternate between the apps. Server, apps, Redis and load share the
// machine: only ratios measured in one sitting mean anything.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const ROUND_MS = Number(process.env.ROUND_MS ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 4);

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

if (process.argv[2] === 'app') await app(process.argv[3], Number(process.argv[4]));
else await main();

async function app(mode, redisPort) {
  const { createIdempotency, utf8 } = await import('@oncely/core');
  const { Redis } = await import('ioredis');
  const { redisStore } = await import('../dist/index.js');
  const body = utf8('{"id":"ch_1","amount":1000}');
  const handler = async () => ({ status: 201, headers: [['content-type', 'application/json']], body });
  let engine = null;
  if (mode !== 'plain') {
    const client = new Redis({ host: '127.0.0.1', port: redisPort, enableAutoPipelining: mode === 'pipelined', maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    await client.ping();
    engine = createIdempotency({ store: redisStore({ client }) });
  }
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      const rawBody = new Uint8Array(Buffer.concat(chunks));
      const { response } = engine
        ? await engine.handle({ scope: 'bench', method: req.method, url: req.url, headers: req.headers, rawBody }, handler)
        : { response: await handler() };
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(response.body);
    });
  });
  server.keepAliveTimeout = 120_000; // idle between rounds: keep the load generator's sockets
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
}

async function main() {
  const redisPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-'));
  const children = [];
  process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
  children.push(redis);
  await new Promise((resolve) => setTimeout(resolve, 300));

  const apps = [];
  for (const mode of ['plain', 'unpipelined', 'pipelined']) {
    const child = fork(fileURLToPath(import.meta.url), ['app', mode, String(redisPort)], { stdio: 'inherit' });
    children.push(child);
    const { port } = await new Promise((resolve) => child.once('message', resolve));
    apps.push({ mode, port, agent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) });
  }

  let sequence = 0;
  const payload = Buffer.from('{"amount":1000,"currency":"chf"}');
  const post = ({ port, agent }) =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, agent, method: 'POST', path: '/v1/charges', headers: { 'content-type': 'application/json', 'idempotency-key': `bench-${process.pid}-${sequence++}`, 'content-length': payload.length } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const round = async (target) => {
    const deadline = performance.now() + ROUND_MS;
    let done = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          await post(target);
          done++;
        }
      }),
    );
    return done / (ROUND_MS / 1000);
  };

  for (const target of apps) await round(target); // warm-up
  const results = new Map(apps.map((target) => [target.mode, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...apps].reverse() : apps;
    for (const target of order) results.get(target.mode).push(await round(target));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const plain = median(results.get('plain'));
  console.log(`node ${process.version}, HTTP POST with fresh keys, concurrency ${CONCURRENCY}, ${ROUNDS} rounds of ${ROUND_MS} ms each`);
  for (const [mode, xs] of results) {
    console.log(`${mode.padEnd(12)} median ${String(Math.round(median(xs))).padStart(6)} req/s  (${(median(xs) / plain).toFixed(2)}x plain)   rounds ${xs.map(Math.round).join(', ')}`);
  }
  for (const child of children) child.kill('SIGTERM');
  apps.forEach((target) => target.agent.destroy());
  rmSync(dir, { recursive: true, force: true });
}
