/**
 * Runs the orders API on the Redis store: `node dist/server.js [--port 3000]`, Redis at
 * `REDIS_URL` (default redis://127.0.0.1:6379). Prints one line `listening <url> (<store>)` once it
 * accepts requests.
 */
import { parseArgs } from 'node:util';
import { createOrdersApp } from './app';
import { openRedis } from './redis';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env['PORT'] ?? '3000' },
  },
});

const backend = await openRedis();
const app = createOrdersApp({
  store: backend.store,
  orders: backend.orders,
  onEvent: (event) => {
    if (event.type === 'lease_lost' || event.type === 'complete_failed' || event.type === 'store_error') console.error(`oncely: ${event.type}`, event);
  },
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
