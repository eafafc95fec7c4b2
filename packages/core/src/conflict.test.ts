import { expect, it } from 'vitest';
import { utf8 } from './bytes';
import { createIdempotency } from './http';
import { memoryStore } from './memory-store';

const request = { scope: 's', method: 'POST', url: '/charges', headers: { 'idempotency-key': 'k' }, rawBody: utf8('{}') };

it('answers a conflict with an InProgressError built without a stack trace, and leaves Error.stackTraceLimit as it was', async () => {
  const engine = createIdempotency({ store: memoryStore(), heartbeat: false });
  const first = await engine.begin(request);
  expect(first.action).toBe('execute');
  const limit = Error.stackTraceLimit;
  const second = await engine.begin(request);
  expect(Error.stackTraceLimit).toBe(limit);
  if (second.action !== 'respond') throw new Error(`expected respond, got ${second.action}`);
  expect(second.response.status).toBe(409);
  expect(second.error?.code).toBe('in_progress');
  expect(second.error?.stack).toMatch(/^InProgressError: /);
  expect(second.error?.stack).not.toMatch(/\n\s+at /);
  expect(new Error('elsewhere').stack).toMatch(/\n\s+at /);
});
