// Core lifecycle cost on memoryStore(): first request, replay, conflict — µs per request and
// requests per second, median of several samples after a warm-up. Runs against the built package.
import { writeFileSync } from 'node:fs';
import { createIdempotency, memoryStore } from '../dist/index.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 7);
const OPS = Number(process.env.BENCH_OPS ?? 20_000);
const body = new TextEncoder().encode(JSON.stringify({ amount: 1999, currency: 'eur', customer: 'cus_123', metadata: { order: 'o_42' } }));
const response = { status: 201, headers: [['content-type', 'application/json']], body: new TextEncoder().encode('{"id":"ch_1","status":"succeeded"}') };
const request = (key) => ({
  scope: 'acct_1',
  method: 'POST',
  url: '/v1/charges',
  headers: { 'idempotency-key': key, 'content-type': 'application/json' },
  rawBody: body,
});

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure(name, setup, run) {
  const state = await setup();
  await run(state, Math.min(OPS, 2000)); // warm-up
  const perOp = [];
  for (let sample = 0; sample < SAMPLES; sample++) {
    const fresh = await setup();
    const started = process.hrtime.bigint();
    await run(fresh, OPS);
    perOp.push(Number(process.hrtime.bigint() - started) / 1000 / OPS);
  }
  const us = median(perOp);
  return { name, us, opsPerSec: 1e6 / us, spread: `${Math.min(...perOp).toFixed(2)}–${Math.max(...perOp).toFixed(2)}` };
}

const handler = async () => response;

const results = [
  await measure(
    'first request (claim + complete)',
    () => ({ engine: createIdempotency({ store: memoryStore() }), n: 0 }),
    async (state, ops) => {
      for (let i = 0; i < ops; i++) await state.engine.handle(request(`k-${state.n++}`), handler);
    },
  ),
  await measure(
    'replay',
    async () => {
      const engine = createIdempotency({ store: memoryStore() });
      await engine.handle(request('replayed'), handler);
      return { engine };
    },
    async (state, ops) => {
      for (let i = 0; i < ops; i++) await state.engine.handle(request('replayed'), handler);
    },
  ),
  await measure(
    'conflict (409 while in flight)',
    async () => {
      const engine = createIdempotency({ store: memoryStore(), heartbeat: false });
      const decision = await engine.begin(request('busy'));
      return { engine, decision };
    },
    async (state, ops) => {
      for (let i = 0; i < ops; i++) await state.engine.handle(request('busy'), handler);
    },
  ),
  await measure(
    'baseline: memoryStore create + update alone',
    () => ({ store: memoryStore(), n: 0 }),
    async (state, ops) => {
      const now = Date.now();
      for (let i = 0; i < ops; i++) {
        const id = `oncely:${state.n++}`;
        const record = { id, key: id, scope: 's', state: 'in_progress', token: 't', fingerprint: '', leaseUntil: now + 30_000, expiresAt: now + 86_400_000, createdAt: now };
        await state.store.create(record, now);
        await state.store.update(id, 't', { ...record, state: 'completed', token: 'u', completedAt: now, response });
      }
    },
  ),
];

const baseline = results.at(-1);
const overhead = { name: 'core overhead of a first request (first request − store alone)', us: results[0].us - baseline.us };
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ node: process.version, samples: SAMPLES, ops: OPS, results, overhead }, null, 2));
console.log(`@oncely/core lifecycle on memoryStore — node ${process.version}, ${SAMPLES} samples × ${OPS} requests, median`);
console.log('| operation | µs/request | requests/s | sample range µs |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of results) console.log(`| ${r.name} | ${r.us.toFixed(2)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.spread} |`);
console.log(`| ${overhead.name} | ${overhead.us.toFixed(2)} | | |`);
