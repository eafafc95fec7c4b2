/**
 * Atomic mode (CONTRACT §5 with a transactional store): the handler's writes and the completion
 * commit together or not at all. The store here stages writes per transaction and applies them at
 * commit, like a database; @oncely/postgres proves the same against PostgreSQL with crashes.
 */
import { describe, expect, it } from 'vitest';
import {
  createIdempotency,
  isDecisionEvent,
  manualClock,
  memoryStore,
  utf8,
  type IdempotencyEvent,
  type IdempotencyRecord,
  type StoreTransaction,
  type TransactionalStore,
  RecordTooLargeError,
} from '../src/index';

interface Ledger {
  charges: string[];
}
interface LedgerClient {
  charge(id: string): void;
}

function transactionalMemoryStore(
  ledger: Ledger,
  faults: { begin?: boolean; commit?: boolean; maxBodyBytes?: number } = {},
): TransactionalStore<LedgerClient> {
  const base = memoryStore();
  return {
    create: base.create,
    update: base.update,
    delete: base.delete,
    get: base.get,
    async beginTransaction(): Promise<StoreTransaction<LedgerClient>> {
      if (faults.begin) throw new Error('pool exhausted');
      const staged: string[] = [];
      let completion: { id: string; token: string; next: IdempotencyRecord } | undefined;
      return {
        client: { charge: (id) => staged.push(id) },
        async update(id, expectedToken, next) {
          const size = next.state === 'completed' ? (next.response?.body?.byteLength ?? 0) : 0;
          if (faults.maxBodyBytes !== undefined && size > faults.maxBodyBytes) throw new RecordTooLargeError(`body of ${size} bytes`);
          const current = await base.get(id, 0);
          if (current?.token !== expectedToken) return false;
          completion = { id, token: expectedToken, next };
          return true;
        },
        async commit() {
          if (faults.commit) throw new Error('connection lost during COMMIT');
          if (completion && !(await base.update(completion.id, completion.token, completion.next))) {
            throw new Error('serialization failure');
          }
          ledger.charges.push(...staged);
        },
        async rollback() {
          staged.length = 0;
        },
      };
    },
  };
}

const request = (key: string) => ({ scope: 'acct_1', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, parsedBody: { cents: 500 } });
const ok = (body: string) => ({ status: 201, headers: [['content-type', 'text/plain']] as [string, string][], body: utf8(body) });
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('atomic mode', () => {
  it('commits the handler writes with the completion, and replays without re-running', async () => {
    const ledger: Ledger = { charges: [] };
    const engine = createIdempotency({ store: transactionalMemoryStore(ledger), atomic: true });
    const first = await engine.handle(request('k1'), async (ctx) => {
      ctx?.transaction?.charge('ch_1');
      return ok('charged');
    });
    const again = await engine.handle(request('k1'), async (ctx) => {
      ctx?.transaction?.charge('ch_2');
      return ok('charged twice');
    });
    expect(first.outcome).toBe('executed');
    expect(again.outcome).toBe('replayed');
    expect(text(again.response.body)).toBe('charged');
    expect(ledger.charges).toEqual(['ch_1']);
  });

  it('rolls the handler writes back when it throws or answers 5xx, and a retry runs afresh', async () => {
    const ledger: Ledger = { charges: [] };
    const engine = createIdempotency({ store: transactionalMemoryStore(ledger), atomic: true });
    await expect(
      engine.handle(request('k2'), async (ctx) => {
        ctx?.transaction?.charge('lost');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const failed = await engine.handle(request('k2'), async (ctx) => {
      ctx?.transaction?.charge('also lost');
      return { status: 503, headers: [], body: utf8('try later') };
    });
    expect(failed.response.status).toBe(503);
    const retry = await engine.handle(request('k2'), async (ctx) => {
      ctx?.transaction?.charge('ch_3');
      return ok('charged');
    });
    expect(retry.outcome).toBe('executed');
    expect(ledger.charges).toEqual(['ch_3']);
  });

  it('rolls back a stale owner whose lease was taken over: its writes vanish and it answers 409', async () => {
    const ledger: Ledger = { charges: [] };
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const events: IdempotencyEvent[] = [];
    const store = transactionalMemoryStore(ledger);
    const engine = createIdempotency({ store, atomic: true, clock, leaseMs: 1000, heartbeat: false, onEvent: (e) => events.push(e), onLifecycle: (e) => events.push(e) });
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => (resume = resolve));
    const stale = engine.handle(request('k3'), async (ctx) => {
      ctx?.transaction?.charge('stale');
      await paused;
      return ok('stale');
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    clock.advance(1500);
    const fresh = await engine.handle(request('k3'), async (ctx) => {
      ctx?.transaction?.charge('fresh');
      return ok('fresh');
    });
    resume();
    const staleAnswer = await stale;
    expect(fresh.outcome).toBe('executed');
    expect(staleAnswer.response.status).toBe(409);
    expect(ledger.charges).toEqual(['fresh']);
    // Decisions only (`isDecisionEvent`); the lifecycle markers (onLifecycle) show the stale owner settling as lease_lost.
    expect(events.filter(isDecisionEvent).map((e) => e.type)).toEqual(['takeover', 'executed', 'lease_lost']);
    expect(events.filter((e) => e.type === 'settled').map((e) => e.outcome)).toEqual(['completed', 'lease_lost']);
  });

  it('answers 503 and releases the claim when no transaction can be opened', async () => {
    const ledger: Ledger = { charges: [] };
    const events: IdempotencyEvent[] = [];
    const engine = createIdempotency({ store: transactionalMemoryStore(ledger, { begin: true }), atomic: true, onEvent: (e) => events.push(e), onLifecycle: (e) => events.push(e) });
    let ran = false;
    const answer = await engine.handle(request('k4'), async () => {
      ran = true;
      return ok('x');
    });
    expect(ran).toBe(false);
    expect(answer.response.status).toBe(503);
    expect(JSON.parse(text(answer.response.body)).code).toBe('store_unavailable');
    expect(events.map((e) => [e.type, e.detail ?? e.outcome])).toEqual([
      ['claimed', 'created'],
      ['store_error', 'begin'],
      ['released', undefined],
      ['settled', 'released'],
    ]);
  });

  it('answers 503 when COMMIT fails, leaving the claim for the lease to settle', async () => {
    const ledger: Ledger = { charges: [] };
    const store = transactionalMemoryStore(ledger, { commit: true });
    const events: IdempotencyEvent[] = [];
    const engine = createIdempotency({ store, atomic: true, onEvent: (e) => events.push(e), onLifecycle: (e) => events.push(e) });
    const answer = await engine.handle(request('k5'), async (ctx) => {
      ctx?.transaction?.charge('maybe');
      return ok('maybe');
    });
    expect(answer.response.status).toBe(503);
    expect(ledger.charges).toEqual([]);
    const retry = await engine.handle(request('k5'), async () => ok('again'));
    expect(retry.response.status).toBe(409);
    expect(events.map((e) => [e.type, e.detail ?? e.outcome])).toEqual([
      ['claimed', 'created'],
      ['complete_failed', 'commit'],
      ['settled', 'rolled_back'],
      ['conflict', 'in_progress'],
    ]);
  });

  it('completes without the body when the store refuses the record as too large, keeping the handler writes', async () => {
    const ledger: Ledger = { charges: [] };
    const engine = createIdempotency({ store: transactionalMemoryStore(ledger, { maxBodyBytes: 4 }), atomic: true });
    const first = await engine.handle(request('k6'), async (ctx) => {
      ctx?.transaction?.charge('ch_big');
      return ok('a body longer than four bytes');
    });
    expect(first.outcome).toBe('executed');
    expect(text(first.response.body)).toBe('a body longer than four bytes');
    const replay = await engine.handle(request('k6'), async () => ok('never'));
    expect(replay.outcome).toBe('replayed');
    expect(replay.response.status).toBe(201);
    expect(JSON.parse(text(replay.response.body)).code).toBe('response_not_stored');
    expect(ledger.charges).toEqual(['ch_big']);
  });

  it('refuses atomic mode on a store without transactions, at setup', () => {
    expect(() => createIdempotency({ store: memoryStore(), atomic: true })).toThrow(TypeError);
  });
});
