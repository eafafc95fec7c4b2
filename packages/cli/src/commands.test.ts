/**
 * How commands render the outcomes that are hard to provoke from outside: a record that changed
 * between the admin's read and its token-checked write. The store is core's memoryStore, wrapped so
 * that a racing owner completes the claim at exactly that moment.
 */
import { createAdmin, type IdempotencyRecord, memoryStore, type Store, utf8 } from '@oncely/core';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from './commands';
import type { Backend } from './connect';
import { CliError } from './errors';

const NOW = Date.now();
const claim: IdempotencyRecord = {
  id: '',
  key: 'order-1',
  scope: 'acct',
  token: 'owner-token',
  fingerprint: '',
  state: 'in_progress',
  createdAt: NOW - 60_000,
  leaseUntil: NOW - 30_000,
  expiresAt: NOW + 3_600_000,
};

/** A store where the owner completes its claim just before any admin write lands. */
function racingStore(): Store {
  const inner = memoryStore();
  const ownerFinishes = async (id: string): Promise<void> => {
    const current = await inner.get(id, Date.now());
    if (current?.state === 'in_progress') {
      await inner.update(id, current.token, { ...current, state: 'completed', token: 'owner-done', completedAt: Date.now(), response: { status: 200, headers: [], body: utf8('ok') } } as IdempotencyRecord);
    }
  };
  return {
    create: (record, now) => inner.create(record, now),
    get: (id, now) => inner.get(id, now),
    async update(id, token, next) {
      await ownerFinishes(id);
      return inner.update(id, token, next);
    },
    async delete(id, token) {
      await ownerFinishes(id);
      return inner.delete(id, token);
    },
  };
}

async function backendWithClaim(): Promise<Backend> {
  const store = racingStore();
  const admin = createAdmin({ store });
  await store.create({ ...claim, id: admin.recordId(claim.scope, claim.key) }, NOW);
  return {
    kind: 'postgres',
    store,
    admin,
    location: 'table "t"',
    migrate: async () => true,
    close: async () => undefined,
    failure: (error) => new CliError('store_error', String(error), 3),
  };
}

const input = { scope: claim.scope, key: claim.key };

describe('changed outcomes', () => {
  it('release: exit 1, says the record changed and what it is now; --json has outcome changed and the record', async () => {
    const release = COMMANDS['release'];
    if (!release) throw new Error('no release command');
    const result = await release.run(await backendWithClaim(), { ...input, includeCompleted: false, token: undefined }, Date.now);
    expect(result.exitCode).toBe(1);
    expect(result.text).toBe('changed: the record changed while this ran (now completed); inspect it and try again\n');
    expect(result.json).toMatchObject({ ok: false, outcome: 'changed', reason: null, before: null, after: null, record: { state: 'completed', token: 'owner-done' } });
  });

  it('complete: exit 1, the owner\'s completion is kept', async () => {
    const complete = COMMANDS['complete'];
    if (!complete) throw new Error('no complete command');
    const backend = await backendWithClaim();
    const result = await complete.run(backend, { ...input, response: { status: 202, headers: [], body: utf8('manual') }, token: undefined }, Date.now);
    expect(result.exitCode).toBe(1);
    expect(result.json).toMatchObject({ outcome: 'changed', record: { state: 'completed', response: { status: 200 } } });
    const stored = await backend.admin.inspect(claim.scope, claim.key);
    expect(stored?.state === 'completed' ? stored.response?.status : undefined).toBe(200);
  });
});
