import {
  combineListeners as coreCombine,
  createIdempotency,
  type HttpResponse,
  idempotent,
  type IdempotencyEvent,
  type IdempotencyOptions,
  type IdempotentRequest,
  manualClock,
  memoryStore,
  type Store,
  utf8,
} from '@oncely/core';
import { type HrTime, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { combineListeners, DURATION_BUCKETS_S, INSTRUMENTATION_NAME, otelEvents, type OtelEventsOptions } from '../src/index';
import { telemetry } from './telemetry';

const START = Date.UTC(2030, 0, 1);

let open: ReturnType<typeof telemetry> | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

function request(key: string, overrides: Partial<IdempotentRequest> = {}): IdempotentRequest {
  return { scope: 'tenant-a', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, rawBody: utf8('{"cents":500}'), ...overrides };
}

const ok = (status = 201): HttpResponse => ({ status, headers: [['content-type', 'text/plain']], body: utf8('ok') });

/** A memory store whose operations take simulated time on the manual clock: create 2 ms, update 3 ms. */
function slowStore(clock: ReturnType<typeof manualClock>, overrides: Partial<Store> = {}): Store {
  const inner = memoryStore();
  return {
    create: async (record, now) => {
      clock.advance(2);
      return inner.create(record, now);
    },
    update: async (id, token, next) => {
      clock.advance(3);
      return inner.update(id, token, next);
    },
    delete: (id, token) => inner.delete(id, token),
    get: (id, now) => inner.get(id, now),
    ...overrides,
  };
}

function setup(options: Partial<IdempotencyOptions> = {}, otel: OtelEventsOptions = {}, store?: Store) {
  const t = telemetry();
  open = t;
  const clock = manualClock(START);
  const listeners = otelEvents({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider, ...otel });
  const engine = createIdempotency({ store: store ?? slowStore(clock), clock, heartbeat: false, ...listeners, ...options });
  return { t, clock, engine, listeners };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((yes) => (resolve = yes));
  return { promise, resolve };
}

const ms = (time: HrTime): number => time[0] * 1000 + time[1] / 1e6;
const lengthMs = (span: ReadableSpan): number => ms(span.endTime) - ms(span.startTime);
const named = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);
const childOf = (span: ReadableSpan, parent: ReadableSpan): boolean =>
  span.parentSpanContext?.spanId === parent.spanContext().spanId && span.spanContext().traceId === parent.spanContext().traceId;

describe('otelEvents: metrics and spans from a real engine on memoryStore()', () => {
  it('executed, replayed, mismatch and conflict: exact counts, durations, in-flight back to 0, spans under the request span', async () => {
    const { t, clock, engine } = setup();
    const { parent: parentA } = await t.withParent('POST a', () =>
      engine.handle(request('a'), async () => {
        clock.advance(250);
        return ok();
      }),
    );
    const { parent: parentReplay } = await t.withParent('POST a again', () => engine.handle(request('a'), async () => ok()));
    const { parent: parentMismatch } = await t.withParent('POST a changed', () => engine.handle(request('a', { url: '/refunds' }), async () => ok()));

    const gate = deferred();
    const started = deferred();
    let parentB!: ReadableSpan;
    const runningB = t.withParent('POST b', async (span) => {
      parentB = span as unknown as ReadableSpan;
      return engine.handle(request('b'), async () => {
        started.resolve();
        await gate.promise;
        return ok(202);
      });
    });
    await started.promise;
    expect(await t.value('oncely.in_flight', { 'oncely.scope': 'tenant-a' })).toBe(1);
    const { result: conflict, parent: parentConflict } = await t.withParent('POST b twin', () => engine.handle(request('b'), async () => ok()));
    expect(conflict.response.status).toBe(409);
    gate.resolve();
    expect((await runningB).result.outcome).toBe('executed');

    // Counter: one per decision, by outcome and scope.
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed', 'oncely.scope': 'tenant-a' })).toBe(2);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'replayed' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'mismatch' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'conflict' })).toBe(1);
    const points = await t.points();
    expect(points.filter((point) => point.name === 'oncely.requests')).toHaveLength(4);
    expect(await t.value('oncely.in_flight')).toBe(0);

    // Histograms, in seconds: store time once per request, handler time once per execution.
    const store = points.filter((point) => point.name === 'oncely.store.duration');
    expect(store.map((point) => [point.attributes['oncely.outcome'], point.value]).sort()).toEqual([
      ['completed', 2],
      ['conflict', 1],
      ['mismatch', 1],
      ['replayed', 1],
    ]);
    const completedStore = store.find((point) => point.attributes['oncely.outcome'] === 'completed');
    expect(completedStore?.sum).toBeCloseTo(0.01, 9); // create 2 ms + update 3 ms, twice
    expect(completedStore?.unit).toBe('s');
    expect(completedStore?.buckets).toEqual(DURATION_BUCKETS_S);
    const handler = points.filter((point) => point.name === 'oncely.handler.duration');
    expect(handler).toHaveLength(1);
    expect(handler[0]).toMatchObject({ unit: 's', value: 2, attributes: { 'oncely.outcome': 'completed', 'oncely.scope': 'tenant-a' } });
    expect(handler[0]?.sum).toBeCloseTo(0.252, 9); // a: 250 ms; b: the 2 ms its twin's create took

    // Spans: claim for every request, handler and complete for each execution, under its request span.
    const spans = t.spans();
    const claims = named(spans, 'oncely.claim');
    expect(claims.map((span) => span.attributes['oncely.outcome'])).toEqual(['claimed', 'replayed', 'mismatch', 'claimed', 'conflict']);
    expect(named(spans, 'oncely.handler')).toHaveLength(2);
    expect(named(spans, 'oncely.complete')).toHaveLength(2);
    const ofRequest = (id: unknown) => spans.filter((span) => span.attributes['oncely.request_id'] === id);
    const [claimA, replay, mismatch, claimB, conflictSpan] = claims as [ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan];
    const spansA = ofRequest(claimA.attributes['oncely.request_id']);
    expect(spansA.map((span) => span.name)).toEqual(['oncely.claim', 'oncely.handler', 'oncely.complete']);
    for (const span of spansA) expect(childOf(span, parentA), span.name).toBe(true);
    for (const span of ofRequest(claimB.attributes['oncely.request_id'])) expect(childOf(span, parentB), span.name).toBe(true);
    expect(childOf(replay, parentReplay)).toBe(true);
    expect(childOf(mismatch, parentMismatch)).toBe(true);
    expect(childOf(conflictSpan, parentConflict)).toBe(true);
    expect(ofRequest(replay.attributes['oncely.request_id'])).toHaveLength(1);

    const [, handlerA, completeA] = spansA as [ReadableSpan, ReadableSpan, ReadableSpan];
    expect(claimA.attributes).toMatchObject({ 'oncely.scope': 'tenant-a', 'oncely.outcome': 'claimed', 'oncely.detail': 'created' });
    expect(claimA.attributes['oncely.key_hash']).toMatch(/^[0-9a-f]{64}$/);
    expect(claimA.attributes['oncely.key_hash']).toBe(replay.attributes['oncely.key_hash']);
    expect(Object.values(claimA.attributes)).not.toContain('a');
    expect(replay.attributes).toMatchObject({ 'oncely.outcome': 'replayed', 'oncely.status': 201 });
    expect(conflictSpan.attributes).toMatchObject({ 'oncely.outcome': 'conflict', 'oncely.detail': 'in_progress' });
    expect(handlerA.attributes).toMatchObject({ 'oncely.outcome': 'completed', 'oncely.status': 201 });
    expect([lengthMs(claimA), lengthMs(handlerA), lengthMs(completeA)]).toEqual([2, 250, 3]);
    expect(ms(claimA.startTime)).toBe(START);
    expect(ms(handlerA.startTime)).toBe(ms(claimA.endTime));
    expect(ms(completeA.startTime)).toBe(ms(handlerA.endTime));
    for (const span of spans) {
      expect(span.status.code, span.name).toBe(SpanStatusCode.UNSET);
      expect(span.instrumentationScope.name).toBe(span.name.startsWith('oncely.') ? INSTRUMENTATION_NAME : 'test');
    }
    expect(spans.filter((span) => span.name.startsWith('oncely.'))).toHaveLength(9);
  });

  it('store_error at claim time: counted, claim span ERROR with the exception, nothing in flight', async () => {
    const clock = manualClock(START);
    const down = new Error('ECONNREFUSED 127.0.0.1:6379');
    const store = slowStore(clock, { create: async () => Promise.reject(down) });
    const { t, engine } = setup({}, {}, store);
    const { result, parent } = await t.withParent('POST', () => engine.handle(request('k'), async () => ok()));
    expect(result.response.status).toBe(503);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'store_error' })).toBe(1);
    expect(await t.value('oncely.store.duration', { 'oncely.outcome': 'store_error' })).toBe(1);
    expect(await t.value('oncely.in_flight')).toBe(0);
    const spans = t.spans().filter((span) => span.name.startsWith('oncely.'));
    expect(spans.map((span) => span.name)).toEqual(['oncely.claim']);
    const [claim] = spans as [ReadableSpan];
    expect(childOf(claim, parent)).toBe(true);
    expect(claim.status).toEqual({ code: SpanStatusCode.ERROR, message: down.message });
    expect(claim.attributes).toMatchObject({ 'oncely.outcome': 'store_error', 'oncely.detail': 'create' });
    expect(claim.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([['exception', down.message]]);
  });

  it("store_error with onStoreError: 'proceed': the unprotected run holds no claim, so no in-flight change and no handler span", async () => {
    const clock = manualClock(START);
    const store = slowStore(clock, { create: async () => Promise.reject(new Error('down')) });
    const { t, engine } = setup({ onStoreError: 'proceed' }, {}, store);
    expect((await engine.handle(request('k'), async () => ok())).outcome).toBe('executed');
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'store_error' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed' })).toBe(0);
    expect((await t.points()).filter((point) => point.name === 'oncely.in_flight')).toEqual([]);
    expect(t.spans().map((span) => span.name)).toEqual(['oncely.claim']);
  });

  it('lease_lost: the takeover is counted, the stale owner\'s complete span is ERROR, in-flight returns to 0', async () => {
    const { t, clock, engine } = setup({ leaseMs: 3_000 });
    const gate = deferred();
    const started = deferred();
    const stale = t.withParent('POST stale', () =>
      engine.handle(request('k'), async () => {
        started.resolve();
        await gate.promise;
        return ok();
      }),
    );
    await started.promise;
    clock.advance(3_001);
    const { result: fresh } = await t.withParent('POST retry', () => engine.handle(request('k'), async () => ok()));
    expect(fresh.outcome).toBe('executed');
    expect(await t.value('oncely.in_flight')).toBe(1); // the stale owner still runs
    gate.resolve();
    await stale;

    expect(await t.value('oncely.requests', { 'oncely.outcome': 'takeover' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'lease_lost' })).toBe(1);
    expect(await t.value('oncely.in_flight')).toBe(0);
    expect(await t.value('oncely.handler.duration', { 'oncely.outcome': 'lease_lost' })).toBe(1);
    expect(await t.value('oncely.handler.duration', { 'oncely.outcome': 'completed' })).toBe(1);

    const spans = t.spans();
    expect(named(spans, 'oncely.claim').map((span) => span.attributes['oncely.outcome'])).toEqual(['claimed', 'takeover']);
    const completes = named(spans, 'oncely.complete');
    expect(completes.map((span) => [span.attributes['oncely.outcome'], span.status.code])).toEqual([
      ['completed', SpanStatusCode.UNSET],
      ['lease_lost', SpanStatusCode.ERROR],
    ]);
    expect(completes[1]?.status.message).toMatch(/lease lost/);
  });

  it('complete_failed: counted, complete span ERROR with the store error, in-flight returns to 0', async () => {
    const clock = manualClock(START);
    const inner = slowStore(clock);
    const store: Store = {
      ...inner,
      update: async (id, token, next) => (next.state === 'completed' ? Promise.reject(new Error('store down')) : inner.update(id, token, next)),
    };
    const { t, engine } = setup({ completionRetries: 0 }, {}, store);
    expect((await engine.handle(request('k'), async () => ok())).response.status).toBe(201);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'complete_failed' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed' })).toBe(0);
    expect(await t.value('oncely.in_flight')).toBe(0);
    const [complete] = named(t.spans(), 'oncely.complete');
    expect(complete?.attributes['oncely.outcome']).toBe('failed');
    expect(complete?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'store down' });
    expect(named(t.spans(), 'oncely.handler')[0]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('released: a handler that throws gets an ERROR handler span; the release itself succeeds', async () => {
    const { t, engine } = setup();
    const boom = new Error('payment provider 500');
    await expect(engine.handle(request('k'), async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'released' })).toBe(1);
    expect(await t.value('oncely.in_flight')).toBe(0);
    const [handler] = named(t.spans(), 'oncely.handler');
    const [complete] = named(t.spans(), 'oncely.complete');
    expect(handler?.status).toEqual({ code: SpanStatusCode.ERROR, message: boom.message });
    expect(complete?.attributes['oncely.outcome']).toBe('released');
    expect(complete?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('without an active span, its spans are roots', async () => {
    const { t, engine } = setup();
    await engine.handle(request('k'), async () => ok());
    const spans = t.spans();
    expect(spans).toHaveLength(3);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
  });

  it('recordScope: false drops oncely.scope from metrics (not from spans); prefix renames metrics and spans', async () => {
    const { t, engine } = setup({}, { recordScope: false, prefix: 'billing.idem' });
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k'), async () => ok());
    const points = await t.points();
    expect([...new Set(points.map((point) => point.name))].sort()).toEqual([
      'billing.idem.handler.duration',
      'billing.idem.in_flight',
      'billing.idem.requests',
      'billing.idem.store.duration',
    ]);
    for (const point of points) expect(point.attributes['oncely.scope'], point.name).toBeUndefined();
    expect(await t.value('billing.idem.requests', { 'oncely.outcome': 'replayed' })).toBe(1);
    const spans = t.spans();
    expect(spans.map((span) => span.name)).toEqual(['billing.idem.claim', 'billing.idem.handler', 'billing.idem.complete', 'billing.idem.claim']);
    for (const span of spans) expect(span.attributes['oncely.scope']).toBe('tenant-a');
  });

  it('puts the raw key on spans only with logRawKeys', async () => {
    const { t, engine } = setup({ logRawKeys: true });
    await engine.handle(request('visible-key'), async () => ok());
    for (const span of t.spans()) expect(span.attributes['oncely.key']).toBe('visible-key');
  });

  it('instruments the function wrapper idempotent() the same way', async () => {
    const t = telemetry();
    open = t;
    const clock = manualClock(START);
    const run = idempotent({
      store: memoryStore(),
      clock,
      heartbeat: false,
      scope: 'jobs',
      key: (job: { id: string }) => job.id,
      handler: async (job: { id: string }) => {
        clock.advance(40);
        return job.id.length;
      },
      ...otelEvents({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider }),
    });
    const { parent } = await t.withParent('consume', async () => {
      await run({ id: 'job-1' });
      await run({ id: 'job-1' });
    });
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed', 'oncely.scope': 'jobs' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'replayed', 'oncely.scope': 'jobs' })).toBe(1);
    expect(await t.value('oncely.in_flight', { 'oncely.scope': 'jobs' })).toBe(0);
    const spans = t.spans().filter((span) => span.name.startsWith('oncely.'));
    expect(spans.map((span) => span.name)).toEqual(['oncely.claim', 'oncely.handler', 'oncely.complete', 'oncely.claim']);
    for (const span of spans) expect(childOf(span, parent), span.name).toBe(true);
    expect(lengthMs(spans[1] as ReadableSpan)).toBe(40);
    expect(spans[1]?.attributes['oncely.status']).toBeUndefined();
  });

  it('combines with the app\'s own listener: both see every decision, and one that throws stops neither', async () => {
    const t = telemetry();
    open = t;
    const seen: IdempotencyEvent[] = [];
    const otel = otelEvents({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
    const engine = createIdempotency({
      store: memoryStore(),
      heartbeat: false,
      ...otel,
      onEvent: combineListeners(
        () => {
          throw new Error('broken audit sink');
        },
        otel.onEvent,
        (event) => seen.push(event),
      ),
    });
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k'), async () => ok());
    expect(seen.map((event) => event.type)).toEqual(['executed', 'replayed']);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'executed' })).toBe(1);
    expect(await t.value('oncely.requests', { 'oncely.outcome': 'replayed' })).toBe(1);
    expect(combineListeners).toBe(coreCombine);
  });

  it('each listener ignores the other\'s events, so one combined function can serve both options', async () => {
    const t = telemetry();
    open = t;
    const otel = otelEvents({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider });
    const both = combineListeners(otel.onEvent, otel.onLifecycle);
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, onEvent: both, onLifecycle: both });
    await engine.handle(request('k'), async () => ok());
    const points = await t.points();
    expect(points.filter((point) => point.name === 'oncely.requests').map((point) => [point.attributes['oncely.outcome'], point.value])).toEqual([['executed', 1]]);
    expect(await t.value('oncely.in_flight')).toBe(0);
    expect(await t.value('oncely.handler.duration')).toBe(1);
    expect(t.spans().map((span) => span.name)).toEqual(['oncely.claim', 'oncely.handler', 'oncely.complete']);
  });

  it('uses the global providers by default (no-ops until an SDK registers), and refuses a bad prefix', async () => {
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, ...otelEvents() });
    expect((await engine.handle(request('k'), async () => ok())).outcome).toBe('executed');
    expect(() => otelEvents({ prefix: '' })).toThrow(TypeError);
    expect(() => otelEvents({ prefix: '1oncely' })).toThrow(/prefix/);
    expect(() => otelEvents({ prefix: 'has space' })).toThrow(/prefix/);
  });
});
