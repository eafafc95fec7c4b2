/**
 * Runs the webhook receivers and the fulfilment consumer in one process:
 *
 *   node dist/server.js [--port 3000] [--store memory|redis] [--redelivery-rate 0.2] [--duplicate-rate 0.1] [--stats]
 *
 * The store is Redis when `REDIS_URL` is set (or `--store redis`), memory otherwise; the routes and
 * the consumer share it. The queue redelivers jobs at random (`--redelivery-rate`: lost acks,
 * `--duplicate-rate`: two consumers at once) to show the consumer deduplicating them. With `--stats`
 * it also serves `GET /_demo/stats`. Prints one line `listening <url> (<store>)` once it accepts
 * requests.
 */
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import type { IdempotencyEventType } from '@oncely/core';
import { createWebhooksApp } from './app';
import { simulatedEmailSender } from './email';
import { createFulfilment, type FulfilmentJob } from './fulfilment';
import { memoryLedger } from './ledger';
import { InProcessQueue } from './queue';
import { secretsFromEnv } from './secrets';
import { openBackend, type StoreKind } from './stores';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: process.env['REDIS_URL'] ? 'redis' : 'memory' },
    port: { type: 'string', default: process.env['PORT'] ?? '3000' },
    'redelivery-rate': { type: 'string', default: '0.2' },
    'duplicate-rate': { type: 'string', default: '0.1' },
    stats: { type: 'boolean', default: false },
  },
});
const kind = values.store as StoreKind;
if (kind !== 'memory' && kind !== 'redis') {
  console.error(`--store must be memory or redis (got ${kind})`);
  process.exit(2);
}
const secrets = secretsFromEnv();
if (secrets.dev && process.env['NODE_ENV'] === 'production') {
  console.error('Set STRIPE_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET and STANDARD_WEBHOOK_SECRET: the development secrets are public.');
  process.exit(2);
}

const backend = await openBackend(kind);
const ledger = memoryLedger();
const email = simulatedEmailSender();
const queue = new InProcessQueue<FulfilmentJob>({
  redeliveryRate: Number(values['redelivery-rate']),
  duplicateRate: Number(values['duplicate-rate']),
  visibilityTimeoutMs: 200,
});
const events: Record<string, number> = {};
const count = (scope: string, type: IdempotencyEventType): void => {
  const name = `${scope.startsWith('consumer:') ? 'consumer' : 'webhooks'}.${type}`;
  events[name] = (events[name] ?? 0) + 1;
  if (type === 'lease_lost' || type === 'complete_failed') console.error(`oncely: ${type} in ${scope}`);
};

const fulfilment = createFulfilment({
  store: backend.store,
  ledger,
  email,
  onEvent: (event) => count(event.scope, event.type),
  onFulfilled: (result, job) => console.log(`fulfilled ${job.eventId} (${job.type}) → ledger #${result.entry}, email ${result.emailId}`),
});
queue.consume(fulfilment.consume);

const app = createWebhooksApp({
  store: backend.store,
  secrets,
  enqueue: (job) => queue.enqueue(job),
  onEvent: (event) => count(event.scope, event.type),
  ...(values.stats
    ? {
        stats: () => ({
          ledger: ledger.entries().length,
          executions: fulfilment.executions(),
          email: email.stats(),
          queue: queue.stats,
          deadLetters: queue.deadLetters.length,
          events,
        }),
      }
    : {}),
});

const server = serve({ fetch: app.fetch, port: Number(values.port), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening http://127.0.0.1:${info.port} (${backend.label})`);
  if (secrets.dev) console.log('using the development webhook secrets (see src/secrets.ts)');
});

const shutdown = (): void => {
  server.close();
  // Let jobs in flight finish (up to a second), then stop redeliveries and the store client.
  void Promise.race([queue.drain(), new Promise((resolve) => setTimeout(resolve, 1_000))])
    .then(() => queue.close())
    .then(() => backend.close())
    .then(() => process.exit(0));
  setTimeout(() => process.exit(0), 3_000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
