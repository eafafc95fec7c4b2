import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdminOutcome, AdminUnsupportedError, createAdmin, DEFAULT_STUCK_LIMIT } from './admin';
import { utf8 } from './bytes';
import { manualClock } from './clock';
import type { IdempotencyEvent } from './events';
import { recordId } from './hash';
import { createIdempotency } from './http';
import { memoryStore } from './memory-store';
import type { StoredResponse } from './record';
import type { HttpResponse } from './problem';
import type { Store } from './store';

const START = Date.UTC(2030, 0, 1);
const SCOPE = 'tenant-1';
const KEY = 'order-42';
const OK: HttpResponse = { status: 200, headers: [['content-type', 'application/json']], body: utf8('{"ok":true}') };

function setup(options: { ttlMs?: number } = {}) {
  const clock = manualClock(START);
  const store = memoryStore();
  let tokens = 0;
  const admin = createAdmin({ store, clock, generateToken: () => `admin-${++tokens}`, ...options });
  const engine = createIdempotency({ store, clock });
  const request = { scope: SCOPE, method: 'POST', url: '/pay', headers: { 'idempotency-key': KEY }, parsedBody: { cents: 5 } };
  return { clock, store, admin, engine, request };
}

/** A claim left behind by an owner that never finishes (a crashed process), made through the engine. */
async function strandedClaim(engine: ReturnType<typeof setup>['engine'], request: ReturnType<typeof setup>['request']): Promise<void> {
  const decision = await engine.begin(request);
  expect(decision.action).toBe('execute');
}

describe('createAdmin', () => {
  it('checks its options like the core does', () => {
    const store = memoryStore();
    expect(() => createAdmin({ store, namespace: 'has space' })).toThrow(/namespace must be 1-64 characters/);
    expect(() => createAdmin({ store: {} as Store })).toThrow(/must implement create, update, delete and get/);
    expect(() => createAdmin({ store, ttlMs: 0 })).toThrow(/ttlMs must be a positive number/);
    expect(createAdmin({ store }).namespace).toBe('oncely');
  });

  it('computes record ids exactly as the engine does, and rejects bad scopes and keys', async () => {
    const { admin } = setup();
    expect(admin.recordId(SCOPE, KEY)).toBe(recordId('oncely', SCOPE, KEY));
    expect(createAdmin({ store: memoryStore(), namespace: 'payments' }).recordId('a', 'b')).toBe(recordId('payments', 'a', 'b'));
    expect(() => admin.recordId('', KEY)).toThrow(TypeError);
    expect(() => admin.recordId(SCOPE, '')).toThrow(/key is a string of 1-1024 characters/);
    expect(() => admin.recordId(SCOPE, 'k'.repeat(1025))).toThrow(TypeError);
    await expect(admin.inspect('x'.repeat(1025), KEY)).rejects.toThrow(TypeError);
  });

  it('inspects the live record of a scope and key, and nothing once it expired', async () => {
    const { admin, engine, request, clock } = setup();
    expect(await admin.inspect(SCOPE, KEY)).toBeNull();
    await engine.handle(request, async () => OK);
    const record = await admin.inspect(SCOPE, KEY);
    expect(record).toMatchObject({ state: 'completed', scope: SCOPE, key: KEY, response: { status: 200 } });
    clock.advance(24 * 60 * 60 * 1000);
    expect(await admin.inspect(SCOPE, KEY)).toBeNull();
  });

  describe('release', () => {
    it('deletes a stranded claim, so the next retry executes afresh', async () => {
      const { admin, engine, request } = setup();
      await strandedClaim(engine, request);
      expect((await engine.handle(request, async () => OK)).response.status).toBe(409);
      const outcome = await admin.release(SCOPE, KEY);
      expect(outcome).toMatchObject({ outcome: 'released', before: { state: 'in_progress', key: KEY } });
      expect(await admin.inspect(SCOPE, KEY)).toBeNull();
      let runs = 0;
      const retried = await engine.handle(request, async () => (runs++, OK));
      expect([retried.outcome, runs]).toEqual(['executed', 1]);
    });

    it('refuses a completed record unless includeCompleted', async () => {
      const { admin, engine, request } = setup();
      await engine.handle(request, async () => OK);
      const refused = await admin.release(SCOPE, KEY);
      expect(refused).toMatchObject({ outcome: 'refused', reason: 'completed', record: { state: 'completed' } });
      expect(await admin.inspect(SCOPE, KEY)).not.toBeNull();
      expect(await admin.release(SCOPE, KEY, { includeCompleted: true })).toMatchObject({ outcome: 'released', before: { state: 'completed' } });
      expect(await admin.inspect(SCOPE, KEY)).toBeNull();
    });

    it('acts only on the expected token when one is given', async () => {
      const { admin, engine, request } = setup();
      await strandedClaim(engine, request);
      const record = await admin.inspect(SCOPE, KEY);
      expect(await admin.release(SCOPE, KEY, { expectedToken: 'not-it' })).toMatchObject({ outcome: 'refused', reason: 'token_mismatch', record });
      expect(await admin.inspect(SCOPE, KEY)).toEqual(record);
      expect(await admin.release(SCOPE, KEY, { expectedToken: record?.token as string })).toEqual({ outcome: 'released', before: record });
      await expect(admin.release(SCOPE, KEY, { expectedToken: '' })).rejects.toThrow(/expectedToken/);
    });

    it('answers not_found when nothing is there', async () => {
      const { admin } = setup();
      expect(await admin.release(SCOPE, KEY)).toEqual({ outcome: 'not_found' });
    });

    it('answers changed, doing nothing, when the record moves between its read and its delete', async () => {
      const { admin, engine, request, store } = setup();
      await strandedClaim(engine, request);
      const moved = { ...(await store.get(admin.recordId(SCOPE, KEY), START))!, token: 'someone-else' };
      const racing: Store = {
        ...store,
        get: store.get.bind(store),
        create: store.create.bind(store),
        update: store.update.bind(store),
        async delete(id, token) {
          const current = await store.get(id, START);
          await store.update(id, current!.token, moved);
          return store.delete(id, token);
        },
      };
      const outcome = await createAdmin({ store: racing, clock: manualClock(START) }).release(SCOPE, KEY);
      expect(outcome).toEqual({ outcome: 'changed', record: moved });
      expect(await store.get(moved.id, START)).toEqual(moved);
    });
  });

  describe('complete', () => {
    it('replaces a stranded claim with a completion that every retry replays', async () => {
      const { admin, engine, request, clock } = setup({ ttlMs: 60_000 });
      await strandedClaim(engine, request);
      const before = await admin.inspect(SCOPE, KEY);
      clock.advance(5_000);
      const outcome = await admin.complete(SCOPE, KEY, { status: 201, headers: [['Content-Type', 'text/plain']], body: utf8('done') });
      expect(outcome.outcome).toBe('completed');
      if (outcome.outcome !== 'completed') return;
      expect(outcome.before).toEqual(before);
      expect(outcome.after).toEqual({
        id: before!.id,
        key: KEY,
        scope: SCOPE,
        token: 'admin-1',
        fingerprint: before!.fingerprint,
        createdAt: before!.createdAt,
        state: 'completed',
        completedAt: START + 5_000,
        expiresAt: START + 5_000 + 60_000,
        response: { status: 201, headers: [['content-type', 'text/plain']], body: utf8('done') },
      });
      expect(await admin.inspect(SCOPE, KEY)).toEqual(outcome.after);
      let runs = 0;
      const retried = await engine.handle(request, async () => (runs++, OK));
      expect(retried.outcome).toBe('replayed');
      expect(retried.response.status).toBe(201);
      expect(new TextDecoder().decode(retried.response.body)).toBe('done');
      expect(runs).toBe(0);
    });

    it('refuses a completed record, and a claim with another token', async () => {
      const { admin, engine, request } = setup();
      await strandedClaim(engine, request);
      expect(await admin.complete(SCOPE, KEY, OK, { expectedToken: 'nope' })).toMatchObject({ outcome: 'refused', reason: 'token_mismatch' });
      const claim = await admin.inspect(SCOPE, KEY);
      expect(await admin.complete(SCOPE, KEY, OK, { expectedToken: claim!.token })).toMatchObject({ outcome: 'completed' });
      expect(await admin.complete(SCOPE, KEY, OK)).toMatchObject({ outcome: 'refused', reason: 'completed', record: { token: 'admin-1' } });
      expect(await admin.complete(SCOPE, 'other', OK)).toEqual({ outcome: 'not_found' });
    });

    it('stores a body of null as "not stored"', async () => {
      const { admin, engine, request } = setup();
      await strandedClaim(engine, request);
      await admin.complete(SCOPE, KEY, { status: 202, headers: [], body: null });
      const replay = await engine.handle(request, async () => OK);
      expect(replay.response.status).toBe(202);
      expect(new TextDecoder().decode(replay.response.body)).toContain('response_not_stored');
    });

    it('answers changed when the claim was taken over between its read and its write', async () => {
      const { admin, engine, request, store } = setup();
      await strandedClaim(engine, request);
      const id = admin.recordId(SCOPE, KEY);
      const taken = { ...(await store.get(id, START))!, token: 'retry' };
      const racing: Store = {
        create: store.create.bind(store),
        delete: store.delete.bind(store),
        get: store.get.bind(store),
        async update(recordId, token, next) {
          await store.update(recordId, token, taken);
          return store.update(recordId, token, next);
        },
      };
      expect(await createAdmin({ store: racing, clock: manualClock(START) }).complete(SCOPE, KEY, OK)).toEqual({ outcome: 'changed', record: taken });
    });

    it.each([
      [{ status: 99, headers: [], body: null }, /status must be a whole number 100-599/],
      [{ status: 600, headers: [], body: null }, /status must be a whole number 100-599/],
      [{ status: 200.5, headers: [], body: null }, /status/],
      [{ status: 200, headers: {}, body: null }, /headers must be an array/],
      [{ status: 200, headers: [['x-a']], body: null }, /headers\[0\] must be a \[name, value\] pair/],
      [{ status: 200, headers: [['bad name', 'v']], body: null }, /invalid header name/],
      [{ status: 200, headers: [['x-a', 'a\r\nb']], body: null }, /CR, LF or NUL/],
      [{ status: 200, headers: [], body: 'text' }, /body must be a Uint8Array, or null/],
      [null, /response must be/],
    ])('rejects a malformed response %j with a TypeError', async (response, message) => {
      const { admin, engine, request } = setup();
      await strandedClaim(engine, request);
      await expect(admin.complete(SCOPE, KEY, response as unknown as StoredResponse)).rejects.toThrow(message);
      expect((await admin.inspect(SCOPE, KEY))?.state).toBe('in_progress');
    });
  });

  describe('stuck', () => {
    it('lists claims made olderThanMs ago or earlier, oldest first, never completed ones', async () => {
      const { admin, engine, clock } = setup();
      const claimAt = async (key: string): Promise<void> => {
        const decision = await engine.begin({ scope: SCOPE, method: 'POST', url: '/', headers: { 'idempotency-key': key } });
        expect(decision.action).toBe('execute');
      };
      await claimAt('first');
      clock.advance(1_000);
      await claimAt('second');
      await engine.handle({ scope: SCOPE, method: 'POST', url: '/', headers: { 'idempotency-key': 'done' } }, async () => OK);
      clock.advance(1_000);
      await claimAt('third');
      expect((await admin.stuck({ olderThanMs: 1_000 })).map((record) => record.key)).toEqual(['first', 'second']);
      expect((await admin.stuck({ olderThanMs: 1_001 })).map((record) => record.key)).toEqual(['first']);
      expect((await admin.stuck({ olderThanMs: 0, limit: 2 })).map((record) => record.key)).toEqual(['first', 'second']);
      expect((await admin.stuck({ olderThanMs: 0 })).map((record) => record.key)).toEqual(['first', 'second', 'third']);
    });

    it(`returns at most ${DEFAULT_STUCK_LIMIT} by default`, async () => {
      const { admin, store } = setup();
      for (let i = 0; i <= DEFAULT_STUCK_LIMIT; i++) {
        await store.create({ id: `r${i}`, key: `k${i}`, scope: SCOPE, state: 'in_progress', token: 't', fingerprint: '', leaseUntil: START, expiresAt: START + 1e6, createdAt: START - i }, START);
      }
      const listed = await admin.stuck({ olderThanMs: 0 });
      expect(listed).toHaveLength(DEFAULT_STUCK_LIMIT);
      expect(listed[0]?.key).toBe(`k${DEFAULT_STUCK_LIMIT}`);
    });

    it('rejects bad options, and stores that cannot list', async () => {
      const { admin, store } = setup();
      await expect(admin.stuck({ olderThanMs: -1 })).rejects.toThrow(/olderThanMs must be a whole number/);
      await expect(admin.stuck({ olderThanMs: 10, limit: 0 })).rejects.toThrow(/limit must be a whole number >= 1/);
      const bare: Store = { create: store.create, update: store.update, delete: store.delete, get: store.get };
      const plain = createAdmin({ store: bare });
      const error = await plain.stuck({ olderThanMs: 0 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AdminUnsupportedError);
      expect(error).toMatchObject({ name: 'AdminUnsupportedError', operation: 'stuck' });
      await expect(plain.purge()).rejects.toMatchObject({ operation: 'purge' });
    });
  });

  describe('purge', () => {
    it("deletes what expired by the admin's clock, in batches", async () => {
      const { admin, engine, request, store, clock } = setup();
      await engine.handle(request, async () => OK);
      await engine.handle({ ...request, headers: { 'idempotency-key': 'other' } }, async () => OK);
      expect(await admin.purge()).toBe(0);
      clock.advance(24 * 60 * 60 * 1000);
      expect(await admin.purge({ batchSize: 1, maxBatches: 1 })).toBe(1);
      expect(await admin.purge()).toBe(1);
      expect(store.size).toBe(0);
      await expect(admin.purge({ batchSize: -1 })).rejects.toThrow(/batchSize/);
    });
  });

  describe('racing a live execution', () => {
    /** Every store operation waits for the scheduler, so admin and owner interleave in every order. */
    const scheduled = (store: Store, s: fc.Scheduler, who: string): Store => ({
      create: (record, now) => s.schedule(Promise.resolve(), `${who} create`).then(() => store.create(record, now)),
      update: (id, token, next) => s.schedule(Promise.resolve(), `${who} update`).then(() => store.update(id, token, next)),
      delete: (id, token) => s.schedule(Promise.resolve(), `${who} delete`).then(() => store.delete(id, token)),
      get: (id, now) => s.schedule(Promise.resolve(), `${who} get`).then(() => store.get(id, now)),
    });

    it('either wins cleanly (the owner then loses its lease) or does nothing; nothing is doubled', async () => {
      const seen = new Set<string>();
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), fc.constantFrom('release', 'complete'), fc.integer({ min: 0, max: 6 }), async (s, action, delay) => {
          const clock = manualClock(START);
          const shared = memoryStore();
          const events: IdempotencyEvent[] = [];
          const engine = createIdempotency({ store: scheduled(shared, s, 'owner'), clock, onEvent: (event) => events.push(event) });
          const admin = createAdmin({ store: scheduled(shared, s, 'admin'), clock, generateToken: () => 'admin-token' });
          let runs = 0;
          const owner = engine.handle({ scope: SCOPE, method: 'POST', url: '/pay', headers: { 'idempotency-key': KEY } }, async () => {
            runs++;
            await s.schedule(Promise.resolve(), 'handler');
            return { status: 200, headers: [], body: utf8('owner') };
          });
          const operator = (async (): Promise<AdminOutcome> => {
            for (let i = 0; i < delay; i++) await s.schedule(Promise.resolve(), 'admin waits');
            return action === 'release' ? admin.release(SCOPE, KEY) : admin.complete(SCOPE, KEY, { status: 299, headers: [], body: utf8('admin') });
          })();
          const both = Promise.all([owner, operator]);
          let done = false;
          void both.then(() => (done = true));
          for (let round = 0; round < 100 && !done; round++) {
            await s.waitIdle();
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          expect(done, 'owner and admin both finished').toBe(true);
          const [answer, outcome] = await both;
          seen.add(outcome.outcome === 'refused' ? `refused/${outcome.reason}` : outcome.outcome);

          expect(runs).toBe(1);
          expect(answer.response.status).toBe(200);
          const executed = events.filter((event) => event.type === 'executed').length;
          const lost = events.filter((event) => event.type === 'lease_lost').length;
          const final = await shared.get(admin.recordId(SCOPE, KEY), clock.now());
          if (outcome.outcome === 'released' || outcome.outcome === 'completed') {
            expect([executed, lost]).toEqual([0, 1]);
            if (outcome.outcome === 'released') expect(final).toBeNull();
            else expect(final).toEqual(outcome.after);
          } else {
            expect([executed, lost]).toEqual([1, 0]);
            expect(final).toMatchObject({ state: 'completed', response: { status: 200, body: utf8('owner') } });
          }
        }),
        { numRuns: 300 },
      );
      // The interleavings must reach a win, a miss and a lost race, or the property proves little.
      console.log('admin race outcomes seen:', [...seen].sort().join(', '));
      expect([...seen].sort()).toEqual(expect.arrayContaining(['not_found', 'refused/completed', 'changed']));
      expect([...seen].some((outcome) => outcome === 'released' || outcome === 'completed')).toBe(true);
    });
  });
});
