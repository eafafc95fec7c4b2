import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import { manualClock } from './clock';
import type { ExecutionContext } from './context';
import { isIdempotencyError } from './errors';
import type { IdempotencyEvent } from './events';
import { idempotent, type IdempotentOptions, jsonSerializer, type Serializer } from './function';
import { memoryStore } from './memory-store';
import type { Store } from './store';
import { eventLog, type EventLog } from '../test/support/event-log';

interface Charge {
  readonly orderId: string;
  readonly cents: number;
  readonly attempt?: number;
}

const START = Date.UTC(2030, 0, 1);

// `events` holds what `onEvent` saw: the decisions (one per decision). `log.all` adds the
// `claimed` / `settled` markers `onLifecycle` saw, whose pairing is checked after every test.
const logs: EventLog[] = [];
afterEach(() => {
  for (const log of logs.splice(0)) log.assertLifecycle();
});

function setup<R = { chargeId: string; cents: number }>(
  handler: (input: Charge, context: ExecutionContext) => Promise<R>,
  options: Partial<IdempotentOptions<Charge, R>> = {},
) {
  const clock = manualClock(START);
  const log = eventLog();
  logs.push(log);
  const events = log.decisions;
  const store = options.store ?? memoryStore();
  let tokens = 0;
  const calls: Charge[] = [];
  const contexts: ExecutionContext[] = [];
  const run = idempotent<Charge, R>({
    store,
    clock,
    scope: 'payments',
    key: (input) => input.orderId,
    generateToken: () => `token-${++tokens}`,
    onEvent: log.listener,
    onLifecycle: log.listener,
    ...options,
    handler: async (input, context) => {
      calls.push(input);
      contexts.push(context);
      return handler(input, context);
    },
  });
  return { run, clock, events, log, calls, contexts, store };
}

const charge = async (input: Charge) => ({ chargeId: `ch_${input.orderId}`, cents: input.cents });

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((yes) => {
    resolve = yes;
  });
  return { promise, resolve };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('idempotent', () => {
  it('runs once per key; duplicates get the stored, deserialized result', async () => {
    const { run, calls, events } = setup(charge);
    const first = await run({ orderId: 'o1', cents: 500 });
    expect(first).toEqual({ chargeId: 'ch_o1', cents: 500 });
    const second = await run({ orderId: 'o1', cents: 500 });
    expect(second).toEqual(first);
    expect(second).not.toBe(first); // it came from the store
    expect(calls).toHaveLength(1);
    await run({ orderId: 'o2', cents: 500 });
    expect(calls).toHaveLength(2);
    expect(events.map((event) => event.type)).toEqual(['executed', 'replayed', 'executed']);
  });

  it('marks each claimed execution with claimed and settled, sharing a requestId with its decision', async () => {
    const { run, clock, log } = setup(async (input) => {
      clock.advance(300);
      return charge(input);
    });
    await run({ orderId: 'o1', cents: 500 });
    await run({ orderId: 'o1', cents: 500 });
    expect(log.all.map((event) => [event.type, event.detail ?? event.outcome])).toEqual([
      ['claimed', 'created'],
      ['executed', undefined],
      ['settled', 'completed'],
      ['replayed', undefined],
    ]);
    const [claimed, executed, settled, replayed] = log.all as [IdempotencyEvent, IdempotencyEvent, IdempotencyEvent, IdempotencyEvent];
    expect(executed.requestId).toBe(claimed.requestId);
    expect(settled.requestId).toBe(claimed.requestId);
    expect(replayed.requestId).not.toBe(claimed.requestId);
    expect(settled).toMatchObject({ claimMs: 0, handlerMs: 300, completeMs: 0, durationMs: 300 });
  });

  it('hands the handler its context', async () => {
    const { run, contexts } = setup(charge);
    await run({ orderId: 'o1', cents: 1 });
    expect(contexts[0]).toMatchObject({ key: 'o1', scope: 'payments', isProtected: true });
    expect(contexts[0]?.recordId).toMatch(/^oncely:[0-9a-f]{64}$/);
  });

  it('takes the scope from the input when asked: one key in two scopes runs twice', async () => {
    const { run, calls } = setup(charge, { scope: (input) => `tenant-${input.cents}` });
    await run({ orderId: 'o1', cents: 1 });
    await run({ orderId: 'o1', cents: 2 }); // a different scope, so not a key_reused
    await run({ orderId: 'o1', cents: 1 });
    expect(calls).toHaveLength(2);
  });

  it('stores undefined as null', async () => {
    const { run } = setup(async () => undefined);
    expect(await run({ orderId: 'o1', cents: 1 })).toBeUndefined();
    expect(await run({ orderId: 'o1', cents: 1 })).toBeNull();
  });

  it('rejects a concurrent duplicate with InProgressError', async () => {
    const gate = deferred();
    const started = deferred();
    const { run, calls } = setup(async (input) => {
      started.resolve();
      await gate.promise;
      return charge(input);
    });
    const first = run({ orderId: 'o1', cents: 500 });
    await started.promise;
    const error = await rejection(run({ orderId: 'o1', cents: 500 }));
    expect(isIdempotencyError(error, 'in_progress')).toBe(true);
    if (isIdempotencyError(error, 'in_progress')) expect(error.retryAfterSeconds).toBe(30);
    gate.resolve();
    expect(await first).toEqual({ chargeId: 'ch_o1', cents: 500 });
    expect(await run({ orderId: 'o1', cents: 500 })).toEqual({ chargeId: 'ch_o1', cents: 500 });
    expect(calls).toHaveLength(1);
  });

  it('with wait, a concurrent duplicate waits for the result', async () => {
    const gate = deferred();
    const started = deferred();
    const { run, calls, clock } = setup(
      async (input) => {
        started.resolve();
        await gate.promise;
        return charge(input);
      },
      { wait: { timeoutMs: 1_000 } },
    );
    const first = run({ orderId: 'o1', cents: 500 });
    await started.promise;
    const second = run({ orderId: 'o1', cents: 500 });
    for (let i = 0; i < 50 && clock.pending < 2; i++) await flush();
    gate.resolve();
    await first;
    clock.advance(25);
    expect(await second).toEqual({ chargeId: 'ch_o1', cents: 500 });
    expect(calls).toHaveLength(1);
  });

  it('rejects the same key with a different input as key_reused, running nothing', async () => {
    const { run, calls } = setup(charge);
    await run({ orderId: 'o1', cents: 500 });
    const error = await rejection(run({ orderId: 'o1', cents: 999 }));
    expect(isIdempotencyError(error, 'key_reused')).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('compares inputs canonically: key order does not matter', async () => {
    const { run, calls } = setup(charge);
    await run({ orderId: 'o1', cents: 500 });
    await run({ cents: 500, orderId: 'o1' });
    expect(calls).toHaveLength(1);
  });

  it('allows a different input under the same key with fingerprint: false', async () => {
    const { run, calls } = setup(charge, { fingerprint: false });
    await run({ orderId: 'o1', cents: 500 });
    expect(await run({ orderId: 'o1', cents: 999 })).toEqual({ chargeId: 'ch_o1', cents: 500 });
    expect(calls).toHaveLength(1);
  });

  it('fingerprints only what a custom fingerprint function picks', async () => {
    const { run, calls } = setup(charge, { fingerprint: ({ orderId, cents }) => ({ orderId, cents }) });
    await run({ orderId: 'o1', cents: 500, attempt: 1 });
    await run({ orderId: 'o1', cents: 500, attempt: 2 });
    expect(calls).toHaveLength(1);
    expect(isIdempotencyError(await rejection(run({ orderId: 'o1', cents: 1, attempt: 3 })), 'key_reused')).toBe(true);
  });

  it('releases the key when the handler throws; the error propagates and a redelivery runs afresh', async () => {
    const boom = new Error('downstream 500');
    let fail = true;
    const { run, calls, events, log } = setup(async (input) => {
      if (fail) throw boom;
      return charge(input);
    });
    expect(await rejection(run({ orderId: 'o1', cents: 500 }))).toBe(boom);
    fail = false;
    expect(await run({ orderId: 'o1', cents: 500 })).toEqual({ chargeId: 'ch_o1', cents: 500 });
    expect(calls).toHaveLength(2);
    expect(events.map((event) => event.type)).toEqual(['released', 'executed']);
    const settled = log.all.filter((event) => event.type === 'settled');
    expect(settled.map((event) => event.outcome)).toEqual(['released', 'completed']);
    expect(settled[0]?.error).toBe(boom);
  });

  it('uses a custom serializer both ways', async () => {
    let serialized = 0;
    let deserialized = 0;
    const dates: Serializer<Date> = {
      serialize: (value) => (serialized++, utf8(String(value.getTime()))),
      deserialize: (bytes) => (deserialized++, new Date(Number(new TextDecoder().decode(bytes)))),
    };
    const at = new Date(Date.UTC(2031, 5, 6));
    const { run } = setup(async () => at, { serializer: dates });
    expect(await run({ orderId: 'o1', cents: 1 })).toBe(at);
    const again = await run({ orderId: 'o1', cents: 1 });
    expect(again).toBeInstanceOf(Date);
    expect(again.getTime()).toBe(at.getTime());
    expect([serialized, deserialized]).toEqual([1, 1]);
  });

  it('jsonSerializer round-trips JSON values', () => {
    const json = jsonSerializer<unknown>();
    expect(json.deserialize(json.serialize({ a: [1, 'two', null] }))).toEqual({ a: [1, 'two', null] });
  });

  it('completes a result over maxResultBytes without it: duplicates get response_not_stored, never a re-run', async () => {
    const { run, calls } = setup(async () => 'x'.repeat(100), { maxResultBytes: 10 });
    expect(await run({ orderId: 'o1', cents: 1 })).toBe('x'.repeat(100));
    expect(isIdempotencyError(await rejection(run({ orderId: 'o1', cents: 1 })), 'response_not_stored')).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('rejects empty and over-long keys as invalid_key before touching the store', async () => {
    const touched: string[] = [];
    const inner = memoryStore();
    const store: Store = {
      create: (record, now) => (touched.push('create'), inner.create(record, now)),
      update: (id, token, next) => inner.update(id, token, next),
      delete: (id, token) => inner.delete(id, token),
      get: (id, now) => inner.get(id, now),
    };
    const { run, calls } = setup(charge, { store });
    expect(isIdempotencyError(await rejection(run({ orderId: '', cents: 1 })), 'invalid_key')).toBe(true);
    expect(isIdempotencyError(await rejection(run({ orderId: 'k'.repeat(1025), cents: 1 })), 'invalid_key')).toBe(true);
    expect(calls).toHaveLength(0);
    expect(touched).toEqual([]);
    // Any string of 1-1024 characters is a key: message ids, Unicode, spaces.
    await run({ orderId: 'k'.repeat(1024), cents: 1 });
    await run({ orderId: 'commande n° 42 — 🧾', cents: 1 });
    expect(calls).toHaveLength(2);
  });

  it('throws store_unavailable when the store is down, or runs unprotected with onStoreError: proceed', async () => {
    const down: Store = {
      create: async () => Promise.reject(new Error('ECONNREFUSED')),
      update: async () => false,
      delete: async () => false,
      get: async () => null,
    };
    const closed = setup(charge, { store: down });
    expect(isIdempotencyError(await rejection(closed.run({ orderId: 'o1', cents: 1 })), 'store_unavailable')).toBe(true);
    expect(closed.calls).toHaveLength(0);

    const open = setup(charge, { store: down, onStoreError: 'proceed' });
    expect(await open.run({ orderId: 'o1', cents: 1 })).toEqual({ chargeId: 'ch_o1', cents: 1 });
    expect(open.contexts[0]?.isProtected).toBe(false);
    expect(open.events.map((event) => [event.type, event.detail])).toEqual([['store_error', 'create']]);
    // Unprotected: no claim was won, so no claimed / settled markers either.
    expect(open.log.all.map((event) => event.type)).toEqual(['store_error']);
  });

  it('returns its result even when its lease was lost meanwhile, and reports lease_lost', async () => {
    const gate = deferred();
    const started = deferred();
    let call = 0;
    const { run, clock, events, log } = setup(
      async (input) => {
        const mine = ++call;
        if (mine === 1) {
          started.resolve();
          await gate.promise;
        }
        return { chargeId: `run-${mine}`, cents: input.cents };
      },
      { heartbeat: false, leaseMs: 3_000 },
    );
    const slow = run({ orderId: 'o1', cents: 1 });
    await started.promise;
    clock.advance(3_001);
    expect(await run({ orderId: 'o1', cents: 1 })).toEqual({ chargeId: 'run-2', cents: 1 });
    gate.resolve();
    expect(await slow).toEqual({ chargeId: 'run-1', cents: 1 });
    expect(events.map((event) => event.type)).toEqual(['takeover', 'executed', 'lease_lost']);
    expect(log.all.map((event) => [event.type, event.detail ?? event.outcome])).toEqual([
      ['claimed', 'created'],
      ['takeover', undefined],
      ['claimed', 'takeover'],
      ['executed', undefined],
      ['settled', 'completed'],
      ['lease_lost', undefined],
      ['settled', 'lease_lost'],
    ]);
    expect(await run({ orderId: 'o1', cents: 1 })).toEqual({ chargeId: 'run-2', cents: 1 });
  });
});

describe('childKey', () => {
  it('is stable across executions of one key, distinct per name and per key', async () => {
    let fail = true;
    const { run, contexts } = setup(async (input) => {
      if (fail) throw new Error('crash after the downstream call');
      return charge(input);
    });
    await rejection(run({ orderId: 'o1', cents: 1 }));
    fail = false;
    await run({ orderId: 'o1', cents: 1 });
    await run({ orderId: 'o2', cents: 1 });
    const [crashed, rerun, other] = contexts as [ExecutionContext, ExecutionContext, ExecutionContext];
    expect(rerun.childKey('stripe-charge')).toBe(crashed.childKey('stripe-charge'));
    expect(rerun.childKey('stripe-charge')).toMatch(/^[0-9a-f]{32}\.stripe-charge$/);
    expect(rerun.childKey('send-email')).not.toBe(rerun.childKey('stripe-charge'));
    expect(other.childKey('stripe-charge')).not.toBe(rerun.childKey('stripe-charge'));
  });

  it('accepts 1-64 characters of [A-Za-z0-9_.:-] and throws TypeError otherwise', async () => {
    const { run, contexts } = setup(charge);
    await run({ orderId: 'o1', cents: 1 });
    const context = contexts[0]!;
    expect(context.childKey('a')).toMatch(/\.a$/);
    expect(context.childKey('x'.repeat(64))).toHaveLength(32 + 1 + 64);
    expect(context.childKey('step:1.retry_A-b')).toMatch(/\.step:1\.retry_A-b$/);
    for (const name of ['', 'has space', 'x'.repeat(65), 'clé', 'a/b', 'a\nb']) {
      expect(() => context.childKey(name), JSON.stringify(name)).toThrow(TypeError);
    }
  });

  it('is a valid HTTP idempotency key for a downstream call', async () => {
    const { parseKey } = await import('./parse-key');
    const { run, contexts } = setup(charge);
    await run({ orderId: 'o1', cents: 1 });
    const child = contexts[0]!.childKey('x'.repeat(64));
    expect(parseKey(child)).toBe(child);
  });
});
