import { manualClock, memoryStore } from '@oncely/core';
import { idempotency } from '@oncely/hono';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { otelEvents } from '../src/index';
import { telemetry } from './telemetry';

let open: ReturnType<typeof telemetry> | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

describe('otelEvents through a real binding (@oncely/hono, app.request)', () => {
  it('counts, times and traces requests under the server span', async () => {
    const t = telemetry();
    open = t;
    const clock = manualClock(Date.UTC(2030, 0, 1));
    let charges = 0;
    const app = new Hono();
    app.use(
      '/charges',
      idempotency({
        store: memoryStore(),
        clock,
        heartbeat: false,
        scope: (c) => c.req.header('x-account') ?? 'anonymous',
        ...otelEvents({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider }),
      }),
    );
    app.post('/charges', async (c) => {
      clock.advance(80);
      return c.json({ charge: ++charges }, 201);
    });
    const post = async (key: string, body: string): Promise<Response> =>
      app.request('/charges', { method: 'POST', headers: { 'idempotency-key': key, 'x-account': 'acct_1', 'content-type': 'application/json' }, body });

    const first = await t.withParent('POST /charges', () => post('k1', '{"cents":100}'));
    const retry = await t.withParent('POST /charges', () => post('k1', '{"cents":100}'));
    const reused = await t.withParent('POST /charges', () => post('k1', '{"cents":999}'));
    expect([first.result.status, retry.result.status, reused.result.status]).toEqual([201, 201, 422]);
    expect(retry.result.headers.get('idempotent-replayed')).toBe('true');
    expect(charges).toBe(1);

    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed', 'oncely.scope': 'acct_1' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'replayed', 'oncely.scope': 'acct_1' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'mismatch', 'oncely.scope': 'acct_1' })).toBe(1);
    expect(await t.value('oncely.in_flight', { 'oncely.scope': 'acct_1' })).toBe(0);
    expect(await t.value('oncely.handler.duration', { 'oncely.outcome': 'completed' })).toBe(1);

    const spans = t.spans();
    const byParent = (parent: ReadableSpan) =>
      spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId).map((span) => [span.name, span.attributes['oncely.outcome']]);
    expect(byParent(first.parent)).toEqual([
      ['oncely.claim', 'claimed'],
      ['oncely.handler', 'completed'],
      ['oncely.complete', 'completed'],
    ]);
    expect(byParent(retry.parent)).toEqual([['oncely.claim', 'replayed']]);
    expect(byParent(reused.parent)).toEqual([['oncely.claim', 'mismatch']]);
    const handler = spans.find((span) => span.name === 'oncely.handler');
    expect(handler?.attributes).toMatchObject({ 'oncely.scope': 'acct_1', 'oncely.status': 201 });
    expect(handler && handler.endTime[0] * 1e3 + handler.endTime[1] / 1e6 - (handler.startTime[0] * 1e3 + handler.startTime[1] / 1e6)).toBe(80);
  });
});
