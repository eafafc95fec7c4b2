// Throughput of the engine on @oncely/redis with and without ioredis `enableAutoPipelining`.
// Run after `pnpm build` (core and redis): `node bench/pipelining.mjs`. Starts a private
// redis-server on a free loopback port (no persistence) and stops it at the end.
//
// Workload: first requests (claim + completion = 2 round trips each, trivial handler) with
// CONCURRENCY requests in flight, in one process; rounds alternate between the two clients so
// that drift on a shared machine hits both. Only the ratio means anything.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIdempotency, utf8 } from '@oncely/core';
import { Redis } from 'ioredis';
import { redisStore } from '../dist/index.js';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const ROUND_MS = Number(process.env.ROUND_MS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 4);

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'oncely-bench-'));
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
process.on('exit', () => redis.kill('SIGKILL'));

const body = utf8('{"id":"ch_1","amount":1000}');
const handler = async () => ({ status: 201, headers: [['content-type', 'application/json']], body });

function setup(enableAutoPipelining) {
  const client = new Redis({ port, host: '127.0.0.1', enableAutoPipelining, maxRetriesPerRequest: 1, lazyConnect: false });
  const engine = createIdempotency({ store: redisStore({ client }) });
  return { name: enableAutoPipelining ? 'autopipelining on ' : 'autopipelining off', client, engine };
}

let sequence = 0;
async function round({ engine }) {
  const deadline = performance.now() + ROUND_MS;
  let done = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const key = `bench-${sequence++}`;
      const { outcome } = await engine.handle({ scope: 'bench', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, rawBody: body }, handler);
      if (outcome !== 'executed') throw new Error(`unexpected ${outcome}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done / (ROUND_MS / 1000);
}

const variants = [setup(false), setup(true)];
for (let i = 0; i < 100; i++) {
  try {
    await Promise.all(variants.map((v) => v.client.ping()));
    break;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
for (const variant of variants) await round(variant); // warm-up: JIT, script cache
const results = new Map(variants.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const variant of r % 2 ? [...variants].reverse() : variants) results.get(variant.name).push(await round(variant));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, first requests (2 round trips each), concurrency ${CONCURRENCY}, ${ROUNDS} rounds of ${ROUND_MS} ms`);
for (const [name, xs] of results) console.log(`${name}  median ${Math.round(median(xs))} req/s   rounds ${xs.map(Math.round).join(', ')}`);
const [off, on] = [...results.values()].map(median);
console.log(`ratio on/off: ${(on / off).toFixed(2)}x`);
for (const v of variants) v.client.disconnect();
redis.kill('SIGTERM');
await new Promise((resolve) => redis.once('exit', resolve));
rmSync(dir, { recursive: true, force: true });
