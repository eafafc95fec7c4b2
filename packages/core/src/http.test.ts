import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import { manualClock } from './clock';
import type { ExecutionContext } from './context';
import { isIdempotencyError, RecordTooLargeError, StoreUnavailableError } from './errors';
import type { IdempotencyEvent, IdempotencyEventType } from './events';
import { createIdempotency, type HandledResponse, type IdempotencyOptions, type IdempotentRequest } from './http';
import { memoryStore } from './memory-store';
import type { HttpResponse } from './problem';
import type { CompletedRecord, IdempotencyRecord, InProgressRecord } from './record';
import type { Store } from './store';
import { webhookKeys } from './webhooks';
import { eventLog, type EventLog } from '../test/support/event-log';

// ---------------------------------------------------------------------------------------------
// Harness: a memory store, a manual clock, deterministic tokens, every event recorded.
// `events` holds what `onEvent` saw: the decisions (one per decision, CONTRACT §9). `log.all` adds
// the `claimed` / `settled` markers `onLifecycle` saw, whose pairing is checked after every test.

const DOCUMENTED: ReadonlySet<IdempotencyEventType> = new Set<IdempotencyEventType>([
  'executed',
  'replayed',
  'conflict',
  'mismatch',
  'takeover',
  'released',
  'lease_lost',
  'store_error',
  'complete_failed',
]);

const START = Date.UTC(2030, 0, 1);
const harnesses: { events: IdempotencyEvent[]; log: EventLog; open: number }[] = [];

function setup(options: Partial<IdempotencyOptions> = {}, store: Store = memoryStore()) {
  const clock = manualClock(START);
  let tokens = 0;
  const log = eventLog();
  const events = log.decisions;
  const engine = createIdempotency({
    store,
    clock,
    generateToken: () => `token-${++tokens}`,
    onEvent: log.listener,
    onLifecycle: log.listener,
    ...options,
  });
  /** `open`: executions a test deliberately leaves running (claimed, never settled). */
  const harness = { clock, store, events, log, open: 0, engine, types: () => events.map((event) => event.type) };
  harnesses.push(harness);
  return harness;
}

// Whatever a test did, every decision it saw is one of the documented ones, with a scope and a key
// hash, and every claimed execution settled exactly once.
afterEach(() => {
  for (const { events, log, open } of harnesses.splice(0)) {
    for (const event of events) {
      expect(DOCUMENTED.has(event.type), event.type).toBe(true);
      expect(event.scope.length).toBeGreaterThan(0);
      expect(event.keyHash).toMatch(/^[0-9a-f]{64}$/);
    }
    log.assertLifecycle({ open });
  }
});

/** A store that records which operations the engine called. */
function countingStore(inner: Store = memoryStore()): { store: Store; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    store: {
      create: (record, now) => (calls.push('create'), inner.create(record, now)),
      update: (id, token, next) => (calls.push('update'), inner.update(id, token, next)),
      delete: (id, token) => (calls.push('delete'), inner.delete(id, token)),
      get: (id, now) => (calls.push('get'), inner.get(id, now)),
    },
  };
}

const request = (overrides: Partial<IdempotentRequest> = {}, key: string | null = 'key-1'): IdempotentRequest => ({
  scope: 'tenant-a',
  method: 'POST',
  url: '/charges',
  headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) },
  rawBody: utf8('{"amount":100,"currency":"eur"}'),
  ...overrides,
});

const BINARY = Uint8Array.of(0x00, 0xff, 0x1f, 0x8b, 0x80, 0x0a, 0x00);

const response = (status = 201, body: Uint8Array | string = BINARY): HttpResponse => ({
  status,
  headers: [
    ['Content-Type', 'application/octet-stream'],
    ['Set-Cookie', 'session=secret'],
    ['Content-Length', String(typeof body === 'string' ? utf8(body).byteLength : body.byteLength)],
    ['X-Request-Id', 'req-1'],
    ['X-Trace', 'trace-1'],
    ['Location', '/charges/ch_1'],
  ],
  body: typeof body === 'string' ? utf8(body) : body,
});

/** A handler that counts its calls and records the context it got. */
function handler(make: (call: number) => HttpResponse | Promise<HttpResponse> = () => response()) {
  const state = {
    calls: 0,
    contexts: [] as (ExecutionContext | null)[],
    run: async (context: ExecutionContext | null): Promise<HttpResponse> => {
      state.calls++;
      state.contexts.push(context);
      return make(state.calls);
    },
  };
  return state;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** Let every pending promise chain run (a macrotask comes after all microtasks). */
const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Flush until `condition` holds (bounded, so a broken engine fails instead of hanging). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await flush();
  expect(condition()).toBe(true);
}

/** Track whether a promise settled, without awaiting it. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  return {
    promise: watched,
    get settled() {
      return settled;
    },
  };
}

/** Advance the clock `stepMs` at a time until `promise` settles. */
async function drive<T>(clock: ReturnType<typeof manualClock>, promise: Promise<T>, stepMs: number): Promise<T> {
  const watched = watch(promise);
  for (let i = 0; i < 500; i++) {
    await flush();
    if (watched.settled) break;
    clock.advance(stepMs);
  }
  expect(watched.settled).toBe(true);
  return watched.promise;
}

const text = (body: Uint8Array): string => new TextDecoder().decode(body);
const problemOf = (result: HandledResponse): Record<string, unknown> => JSON.parse(text(result.response.body)) as Record<string, unknown>;
const headerOf = (result: HandledResponse, name: string): string[] =>
  result.response.headers.filter(([key]) => key.toLowerCase() === name).map(([, value]) => value);

function expectProblem(result: HandledResponse, status: number, code: string): void {
  expect(result.outcome).toBe('rejected');
  expect(result.response.status).toBe(status);
  expect(headerOf(result, 'content-type')).toEqual(['application/problem+json']);
  expect(problemOf(result)).toMatchObject({ type: `urn:oncely:problem:${code}`, status, code });
}

// ---------------------------------------------------------------------------------------------

describe('createIdempotency: step 1, the key', () => {
  it('passes methods it does not guard straight through, without touching the store', async () => {
    const { store, calls } = countingStore();
    const { engine } = setup({}, store);
    const h = handler();
    for (const method of ['GET', 'PUT', 'DELETE', 'HEAD']) {
      const result = await engine.handle(request({ method }), h.run);
      expect(result.outcome).toBe('passed');
    }
    expect(h.calls).toBe(4);
    expect(h.contexts).toEqual([null, null, null, null]);
    expect(calls).toEqual([]);
  });

  it('guards POST and PATCH by default, in any case, and the configured methods otherwise', async () => {
    const { engine } = setup();
    expect((await engine.handle(request({ method: 'post' }), handler().run)).outcome).toBe('executed');
    expect((await engine.handle(request({ method: 'PATCH' }, 'key-2'), handler().run)).outcome).toBe('executed');
    const custom = setup({ methods: ['put'] });
    expect((await custom.engine.handle(request({ method: 'POST' }), handler().run)).outcome).toBe('passed');
    expect((await custom.engine.handle(request({ method: 'PUT' }), handler().run)).outcome).toBe('executed');
  });

  it('answers 400 missing_key when the key is absent or empty, without running the handler or touching the store', async () => {
    const { store, calls } = countingStore();
    const { engine } = setup({}, store);
    const h = handler();
    expectProblem(await engine.handle(request({}, null), h.run), 400, 'missing_key');
    expectProblem(await engine.handle(request({}, ''), h.run), 400, 'missing_key');
    expect(h.calls).toBe(0);
    expect(calls).toEqual([]);
  });

  it('passes a keyless request through with required: false, but still rejects a bad key', async () => {
    const { engine } = setup({ required: false });
    const h = handler();
    const result = await engine.handle(request({}, null), h.run);
    expect(result.outcome).toBe('passed');
    expect(h.contexts).toEqual([null]);
    expectProblem(await engine.handle(request({}, 'has space'), h.run), 400, 'invalid_key');
    expect(h.calls).toBe(1);
  });

  it('answers 400 invalid_key before any store access', async () => {
    const { store, calls } = countingStore();
    const { engine } = setup({}, store);
    const h = handler();
    for (const key of ['has space', 'k'.repeat(256), 'clé', '"unterminated', '"a"b', 'x'.repeat(20_000), '""']) {
      expectProblem(await engine.handle(request({}, key), h.run), 400, 'invalid_key');
    }
    expect(h.calls).toBe(0);
    expect(calls).toEqual([]);
  });

  it('treats a quoted key as its unquoted value', async () => {
    const { engine } = setup();
    const h = handler();
    expect((await engine.handle(request({}, 'key-1'), h.run)).outcome).toBe('executed');
    expect((await engine.handle(request({}, '"key-1"'), h.run)).outcome).toBe('replayed');
    expect((await engine.handle(request({}, '  key-1\t'), h.run)).outcome).toBe('replayed');
    expect(h.calls).toBe(1);
  });

  it('reads the key from a custom key source', async () => {
    const { engine } = setup({ key: webhookKeys.github() });
    const h = handler(() => response(200, 'ok'));
    const delivery = (id: string | null): IdempotentRequest => ({
      scope: 'github:/webhooks/github',
      method: 'POST',
      url: '/webhooks/github',
      headers: id === null ? {} : { 'X-GitHub-Delivery': id },
      rawBody: utf8('{"action":"opened"}'),
    });
    expect((await engine.handle(delivery('d-1'), h.run)).outcome).toBe('executed');
    expect((await engine.handle(delivery('d-1'), h.run)).outcome).toBe('replayed');
    expect((await engine.handle(delivery('d-2'), h.run)).outcome).toBe('executed');
    expectProblem(await engine.handle(delivery(null), h.run), 400, 'missing_key');
    expect(h.calls).toBe(2);
  });

  it('refuses a request without a scope', async () => {
    const { engine } = setup();
    await expect(engine.handle(request({ scope: '' }), handler().run)).rejects.toThrow(TypeError);
  });
});

describe('createIdempotency: execution and replay', () => {
  it('executes the first request, hands the handler its context, and returns the response untouched', async () => {
    const { engine, store } = setup();
    const h = handler();
    const result = await engine.handle(request(), h.run);
    expect(result.outcome).toBe('executed');
    expect(result.response).toEqual(response());
    const context = h.contexts[0];
    expect(context).toMatchObject({ key: 'key-1', scope: 'tenant-a', isProtected: true });
    expect(context?.recordId).toMatch(/^oncely:[0-9a-f]{64}$/);
    expect(context?.signal.aborted).toBe(false);
    const stored = (await store.get(context!.recordId, START)) as CompletedRecord;
    expect(stored).toMatchObject({ state: 'completed', key: 'key-1', scope: 'tenant-a', completedAt: START });
    expect(stored.fingerprint).toMatch(/^v1:[0-9a-f]{64}$/);
  });

  it('replays a duplicate: same status and body bytes, allow-listed headers only, Idempotent-Replayed, handler once', async () => {
    const { engine } = setup({ replayHeaders: ['X-Trace', 'Set-Cookie', 'Content-Length'] });
    const h = handler();
    await engine.handle(request(), h.run);
    const again = await engine.handle(request(), h.run);
    expect(h.calls).toBe(1);
    expect(again.outcome).toBe('replayed');
    expect(again.response.status).toBe(201);
    expect(Array.from(again.response.body)).toEqual(Array.from(BINARY));
    expect(again.response.headers).toEqual([
      ['content-type', 'application/octet-stream'],
      ['x-trace', 'trace-1'],
      ['location', '/charges/ch_1'],
      ['idempotent-replayed', 'true'],
    ]);
    expect(headerOf(again, 'set-cookie')).toEqual([]);
    expect(headerOf(again, 'content-length')).toEqual([]);
    expect(headerOf(again, 'x-request-id')).toEqual([]);
  });

  it('does not replay a custom header unless it is listed', async () => {
    const { engine } = setup();
    const h = handler();
    await engine.handle(request(), h.run);
    const again = await engine.handle(request(), h.run);
    expect(headerOf(again, 'x-trace')).toEqual([]);
    expect(headerOf(again, 'content-type')).toEqual(['application/octet-stream']);
    expect(headerOf(again, 'idempotent-replayed')).toEqual(['true']);
  });

  it('replays a request whose JSON body only differs in key order or whitespace', async () => {
    const { engine } = setup();
    const h = handler();
    await engine.handle(request(), h.run);
    const again = await engine.handle(request({ rawBody: utf8('{ "currency": "eur", "amount": 100 }') }), h.run);
    expect(again.outcome).toBe('replayed');
    expect(h.calls).toBe(1);
  });

  it('answers 422 key_reused for the same key with a different body, path or method, running nothing', async () => {
    const { engine, types } = setup();
    const h = handler();
    await engine.handle(request(), h.run);
    expectProblem(await engine.handle(request({ rawBody: utf8('{"amount":200,"currency":"eur"}') }), h.run), 422, 'key_reused');
    expectProblem(await engine.handle(request({ url: '/refunds' }), h.run), 422, 'key_reused');
    expectProblem(await engine.handle(request({ method: 'PATCH' }), h.run), 422, 'key_reused');
    expect(h.calls).toBe(1);
    expect(types()).toEqual(['executed', 'mismatch', 'mismatch', 'mismatch']);
    // The original is still there to replay.
    expect((await engine.handle(request(), h.run)).outcome).toBe('replayed');
  });

  it('allows a different body under the same key with fingerprint: false', async () => {
    const { engine } = setup({ fingerprint: false });
    const h = handler();
    await engine.handle(request(), h.run);
    const again = await engine.handle(request({ rawBody: utf8('{"amount":200}') }), h.run);
    expect(again.outcome).toBe('replayed');
    expect(h.calls).toBe(1);
  });

  it('isolates tenants: the same key in two scopes executes twice and never cross-replays', async () => {
    const { engine } = setup();
    const a = handler(() => response(201, 'for tenant a'));
    const b = handler(() => response(201, 'for tenant b'));
    await engine.handle(request({ scope: 'tenant-a' }), a.run);
    const first = await engine.handle(request({ scope: 'tenant-b' }), b.run);
    expect(first.outcome).toBe('executed');
    expect(a.calls).toBe(1);
    expect(b.calls).toBe(1);
    expect(text((await engine.handle(request({ scope: 'tenant-a' }), b.run)).response.body)).toBe('for tenant a');
    expect(text((await engine.handle(request({ scope: 'tenant-b' }), a.run)).response.body)).toBe('for tenant b');
    expect(a.contexts[0]?.recordId).not.toBe(b.contexts[0]?.recordId);
    expect(a.calls + b.calls).toBe(2);
  });

  it('stores and replays 4xx answers such as 400 and 404', async () => {
    for (const status of [400, 404, 422]) {
      const { engine } = setup();
      const h = handler(() => response(status, `error ${status}`));
      await engine.handle(request(), h.run);
      const again = await engine.handle(request(), h.run);
      expect(again.outcome).toBe('replayed');
      expect(again.response.status).toBe(status);
      expect(text(again.response.body)).toBe(`error ${status}`);
      expect(h.calls).toBe(1);
    }
  });

  it('releases the key on 5xx and on 408/409/425/429, so a retry executes afresh', async () => {
    for (const status of [500, 502, 503, 408, 409, 425, 429]) {
      const { engine, store, types } = setup();
      const h = handler((call) => (call === 1 ? response(status, 'transient') : response(201, 'done')));
      const first = await engine.handle(request(), h.run);
      expect(first.outcome).toBe('executed');
      expect(first.response.status).toBe(status);
      expect(await store.get(h.contexts[0]!.recordId, START)).toBeNull();
      const retry = await engine.handle(request(), h.run);
      expect(retry.outcome, String(status)).toBe('executed');
      expect(text(retry.response.body)).toBe('done');
      expect(h.calls).toBe(2);
      expect(types()).toEqual(['released', 'executed']);
      expect((await engine.handle(request(), h.run)).outcome).toBe('replayed');
    }
  });

  it('follows a custom storable predicate', async () => {
    const { engine } = setup({ storable: (status) => status === 202 });
    const h = handler((call) => response(call === 1 ? 201 : 202));
    await engine.handle(request(), h.run);
    expect((await engine.handle(request(), h.run)).outcome).toBe('executed');
    expect((await engine.handle(request(), h.run)).outcome).toBe('replayed');
    expect(h.calls).toBe(2);
  });

  it('releases the key when the handler throws, and the error propagates', async () => {
    const { engine, types, events } = setup();
    const boom = new Error('handler failed');
    const h = handler((call) => {
      if (call === 1) throw boom;
      return response(201, 'second try');
    });
    await expect(engine.handle(request(), h.run)).rejects.toBe(boom);
    const retry = await engine.handle(request(), h.run);
    expect(retry.outcome).toBe('executed');
    expect(text(retry.response.body)).toBe('second try');
    expect(h.calls).toBe(2);
    expect(types()).toEqual(['released', 'executed']);
    expect(events[0]?.error).toBe(boom);
  });

  it('stores an over-large body as body: null and replays its status with a response_not_stored problem, never re-executing', async () => {
    const { engine, store } = setup({ maxBodyBytes: 16, replayHeaders: ['x-trace'] });
    const big = handler(() => response(201, 'x'.repeat(17)));
    const first = await engine.handle(request(), big.run);
    expect(first.outcome).toBe('executed');
    expect(text(first.response.body)).toBe('x'.repeat(17)); // the client of the first request gets it all
    const stored = (await store.get(big.contexts[0]!.recordId, START)) as CompletedRecord;
    expect(stored.state).toBe('completed');
    expect(stored.response?.body).toBeNull();
    expect(stored.response?.status).toBe(201);

    const again = await engine.handle(request(), big.run);
    expect(big.calls).toBe(1);
    expect(again.outcome).toBe('replayed');
    expect(again.response.status).toBe(201);
    expect(headerOf(again, 'content-type')).toEqual(['application/problem+json']);
    expect(headerOf(again, 'idempotent-replayed')).toEqual(['true']);
    expect(headerOf(again, 'x-trace')).toEqual(['trace-1']);
    expect(problemOf(again)).toMatchObject({ code: 'response_not_stored', status: 201, type: 'urn:oncely:problem:response_not_stored' });
  });

  it('stores a body of exactly maxBodyBytes', async () => {
    const { engine } = setup({ maxBodyBytes: 16 });
    const h = handler(() => response(201, 'y'.repeat(16)));
    await engine.handle(request(), h.run);
    expect(text((await engine.handle(request(), h.run)).response.body)).toBe('y'.repeat(16));
  });

  it('replays an empty body as empty, not as response_not_stored', async () => {
    const { engine } = setup();
    const h = handler(() => ({ status: 204, headers: [], body: new Uint8Array(0) }));
    await engine.handle(request(), h.run);
    const again = await engine.handle(request(), h.run);
    expect(again.response.status).toBe(204);
    expect(again.response.body.byteLength).toBe(0);
    expect(again.response.headers).toEqual([['idempotent-replayed', 'true']]);
  });

  it('uses a custom problem type base', async () => {
    const { engine } = setup({ problemTypeBase: 'https://api.example.com/problems/' });
    const result = await engine.handle(request({}, null), handler().run);
    expect(problemOf(result)).toMatchObject({ type: 'https://api.example.com/problems/missing_key', code: 'missing_key' });
  });

  it('answers a deeply nested JSON body (never a 500) and still deduplicates it', async () => {
    const { engine } = setup();
    const h = handler();
    const deep = utf8(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect((await engine.handle(request({ rawBody: deep }), h.run)).outcome).toBe('executed');
    expect((await engine.handle(request({ rawBody: deep }), h.run)).outcome).toBe('replayed');
    expect(h.calls).toBe(1);
  });

  it('answers a parsed body nested 100,000 levels deep (never a 500), and tells two such bodies apart', async () => {
    const { engine } = setup();
    const h = handler();
    const nest = (leaf: number): unknown => {
      let value: unknown = leaf;
      for (let i = 0; i < 100_000; i++) value = { a: value };
      return value;
    };
    expect((await engine.handle(request({ rawBody: undefined, parsedBody: nest(1) }), h.run)).outcome).toBe('executed');
    expect((await engine.handle(request({ rawBody: undefined, parsedBody: nest(1) }), h.run)).outcome).toBe('replayed');
    expectProblem(await engine.handle(request({ rawBody: undefined, parsedBody: nest(2) }), h.run), 422, 'key_reused');
    expect(h.calls).toBe(1);
  });

  it('meets the round-trip budget: first request 2 store calls, replay 1, in-flight conflict 1', async () => {
    const { store, calls } = countingStore();
    const harness = setup({ heartbeat: false }, store);
    const { engine } = harness;
    harness.open = 1; // key-2's claim below is left running on purpose
    await engine.handle(request(), handler().run);
    expect(calls).toEqual(['create', 'update']);
    calls.length = 0;
    await engine.handle(request(), handler().run);
    expect(calls).toEqual(['create']);
    calls.length = 0;
    const running = await engine.begin(request({}, 'key-2'));
    expect(running.action).toBe('execute');
    calls.length = 0;
    await engine.handle(request({}, 'key-2'), handler().run);
    expect(calls).toEqual(['create']);
  });
});

describe('createIdempotency: concurrency and waiting', () => {
  it('answers 409 in_progress while the twin runs, with Retry-After = seconds left on the lease, rounded up, at least 1', async () => {
    const { engine, clock, types } = setup({ heartbeat: false });
    const gate = deferred();
    const started = deferred();
    const first = engine.handle(request(), async () => {
      started.resolve();
      await gate.promise;
      return response(201, 'first');
    });
    await started.promise;
    const h = handler();

    const immediate = await engine.handle(request(), h.run);
    expectProblem(immediate, 409, 'in_progress');
    expect(headerOf(immediate, 'retry-after')).toEqual(['30']);

    clock.advance(10_600);
    expect(headerOf(await engine.handle(request(), h.run), 'retry-after')).toEqual(['20']); // 19.4 s left, rounded up

    clock.advance(19_200);
    expect(headerOf(await engine.handle(request(), h.run), 'retry-after')).toEqual(['1']); // 0.2 s left

    // A different request under the same key is a mismatch even while in flight.
    expectProblem(await engine.handle(request({ url: '/refunds' }), h.run), 422, 'key_reused');
    expect(h.calls).toBe(0);

    gate.resolve();
    expect((await first).outcome).toBe('executed');
    expect(text((await engine.handle(request(), h.run)).response.body)).toBe('first');
    expect(h.calls).toBe(0);
    expect(types()).toEqual(['conflict', 'conflict', 'conflict', 'mismatch', 'executed', 'replayed']);
  });

  it('with wait, a duplicate waits for its twin and replays its response', async () => {
    const { engine, clock } = setup({ wait: { timeoutMs: 1_000 } });
    const gate = deferred();
    const started = deferred();
    const first = engine.handle(request(), async () => {
      started.resolve();
      await gate.promise;
      return response(201, 'first');
    });
    await started.promise;
    const h = handler();
    const second = watch(engine.handle(request(), h.run));
    await until(() => clock.pending >= 2); // the first one's heartbeat and the second one's poll
    gate.resolve();
    expect((await first).outcome).toBe('executed');
    await flush();
    expect(second.settled).toBe(false); // still sleeping until its next poll
    clock.advance(25);
    const result = await second.promise;
    expect(result.outcome).toBe('replayed');
    expect(text(result.response.body)).toBe('first');
    expect(h.calls).toBe(0);
  });

  it('with wait, gives up with 409 in_progress at the deadline', async () => {
    const { engine, clock, types } = setup({ wait: { timeoutMs: 100 }, heartbeat: false });
    const gate = deferred();
    const started = deferred();
    const first = engine.handle(request(), async () => {
      started.resolve();
      await gate.promise;
      return response();
    });
    await started.promise;
    const h = handler();
    const result = await drive(clock, engine.handle(request(), h.run), 25);
    expectProblem(result, 409, 'in_progress');
    expect(clock.now()).toBe(START + 100);
    expect(headerOf(result, 'retry-after')).toEqual(['30']); // 29.9 s left on the lease
    expect(h.calls).toBe(0);
    gate.resolve();
    await first;
    expect(types()).toEqual(['conflict', 'executed']);
  });

  it('with wait, a twin that fails leaves the key to the waiter, which executes', async () => {
    const { engine, clock } = setup({ wait: { timeoutMs: 1_000 } });
    const gate = deferred();
    const started = deferred();
    const first = engine.handle(request(), async () => {
      started.resolve();
      await gate.promise;
      throw new Error('first failed');
    });
    await started.promise;
    const h = handler(() => response(201, 'second'));
    const second = watch(engine.handle(request(), h.run));
    await until(() => clock.pending >= 2);
    gate.resolve();
    await expect(first).rejects.toThrow('first failed');
    clock.advance(25);
    const result = await second.promise;
    expect(result.outcome).toBe('executed');
    expect(h.calls).toBe(1);
  });

  it('with wait, a twin that fails just before the deadline leaves the key to the waiter, which claims it at the last poll', async () => {
    const { engine, clock } = setup({ wait: { timeoutMs: 100, initialPollMs: 25 }, heartbeat: false });
    const gate = deferred();
    const started = deferred();
    const first = engine.handle(request(), async () => {
      started.resolve();
      await gate.promise;
      throw new Error('first failed');
    });
    await started.promise;
    const h = handler(() => response(201, 'second'));
    const second = watch(engine.handle(request(), h.run));
    await until(() => clock.pending >= 1);
    clock.advance(25); // poll 1 (in progress), next in 50
    await flush();
    clock.advance(50); // poll 2 at 75 (in progress), next at the deadline
    await flush();
    gate.resolve();
    await expect(first).rejects.toThrow('first failed');
    clock.advance(25); // poll 3, exactly at the deadline: the key is free
    const result = await second.promise;
    expect(clock.now()).toBe(START + 100);
    expect(result.outcome).toBe('executed');
    expect(h.calls).toBe(1);
  });

  it('renews the lease every lease/3 while the handler runs: a retry long after the lease gets 409, not a takeover', async () => {
    const { store, calls } = countingStore();
    const { engine, clock, types } = setup({ leaseMs: 3_000 }, store);
    const gate = deferred();
    const started = deferred<ExecutionContext | null>();
    const first = engine.handle(request(), async (context) => {
      started.resolve(context);
      await gate.promise;
      return response(201, 'first');
    });
    const { recordId } = (await started.promise)!;
    for (let i = 1; i <= 12; i++) {
      await flush();
      clock.advance(1_000);
      await flush();
      // Renewed at each lease/3: the lease now ends a full lease from now.
      expect(((await store.get(recordId, clock.now())) as InProgressRecord).leaseUntil).toBe(clock.now() + 3_000);
    }
    expect(calls.filter((call) => call === 'update')).toHaveLength(12);
    const h = handler();
    const retry = await engine.handle(request(), h.run);
    expectProblem(retry, 409, 'in_progress');
    expect(h.calls).toBe(0);
    gate.resolve();
    expect((await first).outcome).toBe('executed');
    expect(types()).toEqual(['conflict', 'executed']);
  });
});

describe('createIdempotency: lease expiry', () => {
  it('a retry takes over an expired lease; the stale owner then loses its completion (lease_lost) and overwrites nothing', async () => {
    const { engine, clock, store, types } = setup({ heartbeat: false, leaseMs: 3_000 });
    const stale = await engine.begin(request());
    if (stale.action !== 'execute') throw new Error('the first request must execute');
    clock.advance(3_001);

    const h = handler(() => response(201, 'second owner'));
    const takeover = await engine.handle(request(), h.run);
    expect(takeover.outcome).toBe('executed');
    expect(h.contexts[0]?.isProtected).toBe(true);
    expect(types()).toEqual(['takeover', 'executed']);

    expect(stale.execution.signal.aborted).toBe(false);
    await stale.execution.finish({ status: 201, headers: [], body: utf8('stale owner') });
    expect(types()).toEqual(['takeover', 'executed', 'lease_lost']);
    expect(stale.execution.signal.aborted).toBe(true);

    const stored = (await store.get(stale.execution.recordId, clock.now())) as CompletedRecord;
    expect(text(stored.response!.body!)).toBe('second owner');
    const replayed = await engine.handle(request(), handler().run);
    expect(text(replayed.response.body)).toBe('second owner');
  });

  it('a stale owner finishing while the new owner still runs cannot complete, nor release the new claim', async () => {
    const harness = setup({ heartbeat: false, leaseMs: 3_000 });
    const { engine, clock, types } = harness;
    harness.open = 1; // ownerToo never finishes
    const stale = await engine.begin(request());
    const staleToo = await engine.begin(request({}, 'key-2'));
    if (stale.action !== 'execute' || staleToo.action !== 'execute') throw new Error('both must execute');
    clock.advance(3_001);
    const owner = await engine.begin(request());
    const ownerToo = await engine.begin(request({}, 'key-2'));
    if (owner.action !== 'execute' || ownerToo.action !== 'execute') throw new Error('both takeovers must execute');

    await stale.execution.finish({ status: 201, headers: [], body: utf8('stale') });
    await staleToo.execution.fail(new Error('stale failure'));
    // Both new claims are intact: a retry still sees them in progress.
    expectProblem(await engine.handle(request(), handler().run), 409, 'in_progress');
    expectProblem(await engine.handle(request({}, 'key-2'), handler().run), 409, 'in_progress');

    await owner.execution.finish({ status: 201, headers: [], body: utf8('owner') });
    expect(text((await engine.handle(request(), handler().run)).response.body)).toBe('owner');
    expect(types().filter((type) => type === 'lease_lost')).toHaveLength(2);
    expect(types().filter((type) => type === 'released')).toHaveLength(0);
    expect(types().filter((type) => type === 'takeover')).toHaveLength(2);
    // The stale completion settles as lease_lost; so does the stale release (its fenced delete
    // changed nothing: the claim was no longer its own); the owner that finished, as completed.
    const settled = harness.log.all.filter((event) => event.type === 'settled').map((event) => [event.outcome, event.status]);
    expect(settled).toEqual([
      ['lease_lost', 201],
      ['lease_lost', undefined],
      ['completed', 201],
    ]);
  });

  it('a takeover racing with the slow owner\'s completion loses, and the retry replays instead of executing again', async () => {
    const inner = memoryStore();
    const takeoverReached = deferred();
    const takeoverGate = deferred();
    const store: Store = {
      ...pick(inner),
      update: async (id, token, next) => {
        if (next.state === 'in_progress' && next.token !== token) {
          // A takeover: hold it until the slow owner has completed.
          takeoverReached.resolve();
          await takeoverGate.promise;
        }
        return inner.update(id, token, next);
      },
    };
    const { engine, clock, types } = setup({ heartbeat: false, leaseMs: 3_000 }, store);
    const slow = await engine.begin(request());
    if (slow.action !== 'execute') throw new Error('must execute');
    clock.advance(3_001);
    const h = handler();
    const retry = engine.handle(request(), h.run);
    await takeoverReached.promise;
    await slow.execution.finish({ status: 201, headers: [], body: utf8('slow owner') });
    takeoverGate.resolve();
    const result = await retry;
    expect(result.outcome).toBe('replayed');
    expect(text(result.response.body)).toBe('slow owner');
    expect(h.calls).toBe(0);
    expect(types()).toEqual(['executed', 'replayed']);
  });

  it('a slow owner whose expired lease nobody took completes normally', async () => {
    const { engine, clock } = setup({ heartbeat: false, leaseMs: 3_000 });
    const slow = await engine.begin(request());
    if (slow.action !== 'execute') throw new Error('must execute');
    clock.advance(10_000);
    await slow.execution.finish({ status: 201, headers: [], body: utf8('slow') });
    expect(text((await engine.handle(request(), handler().run)).response.body)).toBe('slow');
  });

  it("leasePolicy 'reject' answers 409 abandoned; the slow owner can still complete", async () => {
    const { engine, clock, events } = setup({ heartbeat: false, leaseMs: 3_000, leasePolicy: 'reject' });
    const slow = await engine.begin(request());
    if (slow.action !== 'execute') throw new Error('must execute');
    clock.advance(3_001);
    const h = handler();
    expectProblem(await engine.handle(request(), h.run), 409, 'abandoned');
    expect(h.calls).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'conflict', detail: 'abandoned' });
    await slow.execution.finish({ status: 201, headers: [], body: utf8('slow') });
    expect(text((await engine.handle(request(), h.run)).response.body)).toBe('slow');
  });

  it('a reconcile function sees the abandoned claim and chooses', async () => {
    const seen: InProgressRecord[] = [];
    let choice: 'takeover' | 'reject' | 'throw' = 'reject';
    const harness = setup({
      heartbeat: false,
      leaseMs: 3_000,
      leasePolicy: async (record) => {
        seen.push(record);
        if (choice === 'throw') throw new Error('provider unreachable');
        return choice;
      },
    });
    const { engine, clock } = harness;
    harness.open = 1; // the abandoned owner never finishes
    await engine.begin(request());
    clock.advance(3_001);
    const h = handler();
    expectProblem(await engine.handle(request(), h.run), 409, 'abandoned');
    expect(seen[0]).toMatchObject({ state: 'in_progress', key: 'key-1', scope: 'tenant-a', token: 'token-1', leaseUntil: START + 3_000 });
    choice = 'throw';
    expectProblem(await engine.handle(request(), h.run), 409, 'abandoned'); // unsure: never run twice
    expect(h.calls).toBe(0);
    choice = 'takeover';
    expect((await engine.handle(request(), h.run)).outcome).toBe('executed');
    expect(h.calls).toBe(1);
    expect(seen).toHaveLength(3);
  });

  it('a reconcile function is not consulted while the lease is live', async () => {
    let consulted = 0;
    const harness = setup({ heartbeat: false, leasePolicy: () => (consulted++, 'takeover') });
    const { engine } = harness;
    harness.open = 1; // the live owner never finishes
    await engine.begin(request());
    expectProblem(await engine.handle(request(), handler().run), 409, 'in_progress');
    expect(consulted).toBe(0);
  });
});

describe('createIdempotency: store failures', () => {
  const failingCreate = (error: unknown = new Error('ECONNREFUSED')): Store => {
    const inner = memoryStore();
    return { ...pick(inner), create: async () => Promise.reject(error) };
  };

  it('answers 503 store_unavailable with Retry-After when the claim fails (fail closed)', async () => {
    const { engine, events } = setup({}, failingCreate());
    const h = handler();
    const result = await engine.handle(request(), h.run);
    expectProblem(result, 503, 'store_unavailable');
    expect(headerOf(result, 'retry-after')).toEqual(['1']);
    expect(h.calls).toBe(0);
    expect(events.map((event) => [event.type, event.detail])).toEqual([['store_error', 'create']]);
  });

  it('answers 503 when a store throws synchronously, with or without event listeners', async () => {
    // Without listeners store calls are not timed (a faster path): a synchronous throw must still be a store error.
    const throwing = (): Store => ({
      ...pick(memoryStore()),
      create: () => {
        throw new Error('ECONNREFUSED');
      },
    });
    const quiet = createIdempotency({ store: throwing(), clock: manualClock(START) });
    expectProblem(await quiet.handle(request(), handler().run), 503, 'store_unavailable');
    const { engine, events } = setup({}, throwing());
    expectProblem(await engine.handle(request(), handler().run), 503, 'store_unavailable');
    expect(events.map((event) => [event.type, event.detail])).toEqual([['store_error', 'create']]);
  });

  it("keeps a store's Retry-After hint but never shows clients the store's own message", async () => {
    const { engine } = setup({}, failingCreate(new StoreUnavailableError('pool exhausted at 10.0.0.7:5432', { retryAfterSeconds: 7 })));
    const result = await engine.handle(request(), handler().run);
    expectProblem(result, 503, 'store_unavailable');
    expect(headerOf(result, 'retry-after')).toEqual(['7']);
    expect(JSON.stringify(problemOf(result))).not.toContain('10.0.0.7');
  });

  it("with onStoreError: 'proceed', runs the handler unprotected and reports store_error", async () => {
    const { engine, events } = setup({ onStoreError: 'proceed' }, failingCreate());
    const h = handler();
    const result = await engine.handle(request(), h.run);
    expect(result.outcome).toBe('executed');
    expect(result.response.status).toBe(201);
    expect(h.contexts[0]?.isProtected).toBe(false);
    expect(events.map((event) => [event.type, event.detail])).toEqual([['store_error', 'create']]);
    expect(events[0]?.error).toBeInstanceOf(Error);
    // Nothing protects the next one either.
    await engine.handle(request(), h.run);
    expect(h.calls).toBe(2);
  });

  it('retries a failing completion write with backoff until it lands', async () => {
    const inner = memoryStore();
    let failures = 2;
    const store: Store = {
      ...pick(inner),
      update: async (id, token, next) => {
        if (next.state === 'completed' && failures > 0) {
          failures--;
          throw new Error('ETIMEDOUT');
        }
        return inner.update(id, token, next);
      },
    };
    const { engine, clock, types } = setup({ heartbeat: false }, store);
    const h = handler(() => response(201, 'charged'));
    const result = await drive(clock, engine.handle(request(), h.run), 10);
    expect(result.outcome).toBe('executed');
    expect(failures).toBe(0);
    expect(clock.now() - START).toBeGreaterThanOrEqual(50 + 100); // slept 50 ms, then 100 ms
    expect(types()).toEqual(['executed']);
    expect(text((await engine.handle(request(), h.run)).response.body)).toBe('charged');
    expect(h.calls).toBe(1);
  });

  it('a retried completion whose first write did land (ambiguous failure) still counts as completed', async () => {
    const inner = memoryStore();
    let failed = false;
    const store: Store = {
      ...pick(inner),
      update: async (id, token, next) => {
        const written = await inner.update(id, token, next);
        if (next.state === 'completed' && !failed) {
          failed = true;
          throw new Error('connection reset after the write');
        }
        return written;
      },
    };
    const { engine, clock, types } = setup({ heartbeat: false }, store);
    const h = handler(() => response(201, 'charged'));
    expect((await drive(clock, engine.handle(request(), h.run), 10)).outcome).toBe('executed');
    expect(types()).toEqual(['executed']);
    expect(text((await engine.handle(request(), h.run)).response.body)).toBe('charged');
  });

  it('reports complete_failed after exhausting completion retries; the client still gets its response', async () => {
    const inner = memoryStore();
    let attempts = 0;
    const store: Store = {
      ...pick(inner),
      update: async (id, token, next) => {
        if (next.state === 'completed') {
          attempts++;
          throw new Error('store down');
        }
        return inner.update(id, token, next);
      },
    };
    const { engine, clock, events, log } = setup({ heartbeat: false, completionRetries: 2, completionRetryDelayMs: 10 }, store);
    const result = await drive(clock, engine.handle(request(), handler().run), 10);
    expect(result.outcome).toBe('executed');
    expect(result.response.status).toBe(201);
    expect(attempts).toBe(3);
    expect(events.map((event) => event.type)).toEqual(['complete_failed']);
    expect(events[0]).toMatchObject({ status: 201 });
    expect((events[0]?.error as Error).message).toBe('store down');
    const settled = log.all.at(-1);
    expect(settled).toMatchObject({ type: 'settled', outcome: 'failed', status: 201, completeMs: 30 });
    expect(settled?.error).toBe(events[0]?.error);
  });

  it('completes with body: null when the store refuses the record as too large', async () => {
    const inner = memoryStore();
    const store: Store = {
      ...pick(inner),
      update: async (id, token, next) => {
        const body = next.state === 'completed' ? next.response?.body : null;
        if (body && body.byteLength > 8) throw new RecordTooLargeError('item over 400 KB', { sizeBytes: body.byteLength, limitBytes: 8 });
        return inner.update(id, token, next);
      },
    };
    const { engine, clock, types } = setup({ heartbeat: false }, store);
    const h = handler(() => response(201, 'a body over the backend limit'));
    expect((await drive(clock, engine.handle(request(), h.run), 10)).outcome).toBe('executed');
    const again = await engine.handle(request(), h.run);
    expect(h.calls).toBe(1);
    expect(again.response.status).toBe(201);
    expect(problemOf(again)).toMatchObject({ code: 'response_not_stored' });
    expect(types()).toEqual(['executed', 'replayed']);
  });

  it('a failing release leaves the claim to expire and reports store_error', async () => {
    const inner = memoryStore();
    const store: Store = { ...pick(inner), delete: async () => Promise.reject(new Error('store down')) };
    const { engine, clock, events, log } = setup({ heartbeat: false, completionRetries: 1, completionRetryDelayMs: 10 }, store);
    const h = handler(() => response(500, 'oops'));
    await drive(clock, engine.handle(request(), h.run), 10);
    expect(events.map((event) => [event.type, event.detail])).toEqual([['store_error', 'delete']]);
    expect(log.all.at(-1)).toMatchObject({ type: 'settled', outcome: 'failed', status: 500 });
    expectProblem(await engine.handle(request(), h.run), 409, 'in_progress');
  });
});

describe('createIdempotency: events', () => {
  it('marks a claimed execution with claimed and settled carrying phase timings; decisions stay one per decision', async () => {
    const inner = memoryStore();
    const { engine, clock, events, log } = setup({ heartbeat: false }, {
      ...pick(inner),
      create: async (record, now) => {
        clock.advance(5);
        return inner.create(record, now);
      },
      update: async (id, token, next) => {
        clock.advance(7);
        return inner.update(id, token, next);
      },
    });
    await engine.handle(request(), handler(async () => {
      clock.advance(100);
      return response(201, 'ok');
    }).run);
    await engine.handle(request(), handler().run);
    expect(events.map((event) => event.type)).toEqual(['executed', 'replayed']);
    expect(log.all.map((event) => event.type)).toEqual(['claimed', 'executed', 'settled', 'replayed']);
    const [claimed, executed, settled, replayed] = log.all as [IdempotencyEvent, IdempotencyEvent, IdempotencyEvent, IdempotencyEvent];
    expect(claimed).toMatchObject({ detail: 'created', claimMs: 5, durationMs: 5, storeLatencyMs: 5, at: START + 5 });
    expect(executed).toMatchObject({ requestId: claimed.requestId, handlerMs: 100, durationMs: 112, storeLatencyMs: 12 });
    expect(settled).toMatchObject({
      requestId: claimed.requestId,
      outcome: 'completed',
      status: 201,
      claimMs: 5,
      handlerMs: 100,
      completeMs: 7,
      durationMs: 112,
      storeLatencyMs: 12,
    });
    expect(replayed.requestId).not.toBe(claimed.requestId);
    expect(replayed.requestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps the channels apart: onEvent sees decisions only, onLifecycle the markers only', async () => {
    const decisions: IdempotencyEvent[] = [];
    const markers: IdempotencyEvent[] = [];
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, onEvent: (e) => decisions.push(e), onLifecycle: (e) => markers.push(e) });
    await engine.handle(request(), handler().run);
    await engine.handle(request(), handler().run);
    expect(decisions.map((event) => event.type)).toEqual(['executed', 'replayed']);
    expect(markers.map((event) => event.type)).toEqual(['claimed', 'settled']);
    const onlyDecisions: IdempotencyEvent[] = [];
    const plain = createIdempotency({ store: memoryStore(), heartbeat: false, onEvent: (e) => onlyDecisions.push(e) });
    await plain.handle(request(), handler().run);
    expect(onlyDecisions.map((event) => event.type)).toEqual(['executed']);
  });

  it('settles released executions (handler threw, non-storable status) with their status or error', async () => {
    const { engine, log } = setup({ heartbeat: false });
    const boom = new Error('boom');
    await engine.handle(request({}, 'k-500'), handler(() => response(500, 'nope')).run);
    await expect(engine.handle(request({}, 'k-throw'), handler(() => Promise.reject(boom)).run)).rejects.toBe(boom);
    const settled = log.all.filter((event) => event.type === 'settled');
    expect(settled.map((event) => [event.outcome, event.status, event.error])).toEqual([
      ['released', 500, undefined],
      ['released', undefined, boom],
    ]);
  });

  it('emits one event per decision, with scope, key hash, timings and status, and never the raw key', async () => {
    const { engine, clock, events } = setup({ heartbeat: false });
    const h = handler(async () => {
      clock.advance(750);
      return response(201, 'ok');
    });
    await engine.handle(request({}, 'secret-key-123'), h.run);
    await engine.handle(request({}, 'secret-key-123'), h.run);
    expect(events.map((event) => event.type)).toEqual(['executed', 'replayed']);
    const [executed, replayed] = events as [IdempotencyEvent, IdempotencyEvent];
    expect(executed).toMatchObject({ scope: 'tenant-a', status: 201, handlerMs: 750, durationMs: 750, at: START + 750 });
    expect(executed.storeLatencyMs).toBe(0);
    expect(replayed).toMatchObject({ scope: 'tenant-a', status: 201, durationMs: 0 });
    expect(executed.keyHash).toBe(replayed.keyHash);
    expect(executed.keyHash).toBe(h.contexts[0]!.recordId.slice('oncely:'.length));
    for (const event of events) {
      expect('key' in event).toBe(false);
      expect(JSON.stringify(event)).not.toContain('secret-key-123');
    }
  });

  it('includes raw keys with logRawKeys', async () => {
    const { engine, events } = setup({ logRawKeys: true });
    await engine.handle(request({}, 'visible-key'), handler().run);
    expect(events[0]).toMatchObject({ type: 'executed', key: 'visible-key' });
  });

  it('measures store latency', async () => {
    const inner = memoryStore();
    const { engine, clock, events } = setup({ heartbeat: false }, {
      ...pick(inner),
      create: async (record, now) => {
        clock.advance(40);
        return inner.create(record, now);
      },
    });
    await engine.handle(request(), handler().run);
    expect(events[0]).toMatchObject({ type: 'executed', storeLatencyMs: 40 });
  });

  it('an onEvent that throws never breaks a request', async () => {
    let seen = 0;
    const { engine } = setup({
      onEvent: () => {
        seen++;
        throw new Error('telemetry down');
      },
    });
    const h = handler();
    expect((await engine.handle(request(), h.run)).outcome).toBe('executed');
    expect((await engine.handle(request(), h.run)).outcome).toBe('replayed');
    expectProblem(await engine.handle(request({ url: '/other' }), h.run), 422, 'key_reused');
    expect(seen).toBe(3);
    expect(h.calls).toBe(1);
  });
});

describe('createIdempotency: begin/finish/fail for bindings', () => {
  it('finish stores and fail releases', async () => {
    const { engine } = setup();
    const first = await engine.begin(request());
    if (first.action !== 'execute') throw new Error('must execute');
    await first.execution.fail(new Error('boom'));
    const second = await engine.begin(request());
    if (second.action !== 'execute') throw new Error('the released key must execute again');
    expect(await second.execution.finish({ status: 201, headers: [['content-type', 'text/plain']], body: utf8('done') })).toBeUndefined();
    const third = await engine.begin(request());
    expect(third.action).toBe('respond');
    if (third.action === 'respond') {
      expect(third.replayed).toBe(true);
      expect(text(third.response.body)).toBe('done');
    }
  });

  it('a captured response without a body (not buffered) is stored as not stored', async () => {
    const { engine } = setup();
    const first = await engine.begin(request());
    if (first.action !== 'execute') throw new Error('must execute');
    await first.execution.finish({ status: 200, headers: [], body: null });
    const again = await engine.handle(request(), handler().run);
    expect(again.response.status).toBe(200);
    expect(problemOf(again)).toMatchObject({ code: 'response_not_stored' });
  });

  it('a rejection carries its typed error', async () => {
    const { engine } = setup();
    const decision = await engine.begin(request({}, null));
    expect(decision.action).toBe('respond');
    if (decision.action === 'respond') expect(isIdempotencyError(decision.error, 'missing_key')).toBe(true);
  });
});

/** The four Store methods of a memory store, as a plain object to override. */
function pick(store: Store): Store {
  return {
    create: (record: IdempotencyRecord, now: number) => store.create(record, now),
    update: (id: string, token: string, next: IdempotencyRecord) => store.update(id, token, next),
    delete: (id: string, token: string) => store.delete(id, token),
    get: (id: string, now: number) => store.get(id, now),
  };
}
