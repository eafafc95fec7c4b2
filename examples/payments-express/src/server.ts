/**
 * Runs the payments API: `node dist/server.js [--store memory|postgres|redis] [--port 3000]`.
 * With `--stats` it also serves `GET /_demo/stats` (charges booked, provider calls, oncely events).
 * Prints one line `listening <url> (<store>)` once it accepts requests.
 */
import { parseArgs } from 'node:util';
import type { IdempotencyEventType } from '@oncely/core';
import { createPaymentsApp } from './app';
import { simulatedProvider } from './provider';
import { openBackend, type StoreKind } from './stores';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: process.env['DATABASE_URL'] ? 'postgres' : 'memory' },
    port: { type: 'string', default: process.env['PORT'] ?? '3000' },
    stats: { type: 'boolean', default: false },
  },
});
const kind = values.store as StoreKind;
if (!['memory', 'postgres', 'redis'].includes(kind)) {
  console.error(`--store must be memory, postgres or redis (got ${kind})`);
  process.exit(2);
}

const backend = await openBackend(kind, { resetLedger: values.stats });
const provider = simulatedProvider();
const events: Partial<Record<IdempotencyEventType, number>> = {};
const app = createPaymentsApp({
  store: backend.store,
  ledger: backend.ledger,
  provider,
  atomic: backend.atomic,
  onEvent: (event) => {
    events[event.type] = (events[event.type] ?? 0) + 1;
    if (event.type === 'lease_lost' || event.type === 'complete_failed') console.error(`oncely: ${event.type}`, event);
  },
  ...(values.stats ? { stats: async () => ({ charges: await backend.ledger.count(), provider: provider.stats(), events }) } : {}),
});

const server = app.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : values.port;
  console.log(`listening http://127.0.0.1:${port} (${backend.label})`);
});
server.keepAliveTimeout = 30_000;

const shutdown = (): void => {
  server.close(() => void backend.close().then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
