import { describe, expect, it } from 'vitest';
import { isIdempotencyError } from './errors';
import { memoryStore } from './memory-store';
import type { CompletedRecord, InProgressRecord } from './record';

const claim = (id: string, overrides: Partial<InProgressRecord> = {}): InProgressRecord => ({
  id,
  key: `key-${id}`,
  scope: 'tenant',
  state: 'in_progress',
  token: 't1',
  fingerprint: 'v1:abc',
  leaseUntil: 1_000,
  expiresAt: 10_000,
  createdAt: 0,
  ...overrides,
});

const completion = (id: string, body: Uint8Array | null, overrides: Partial<CompletedRecord> = {}): CompletedRecord => ({
  id,
  key: `key-${id}`,
  scope: 'tenant',
  state: 'completed',
  token: 't2',
  fingerprint: 'v1:abc',
  expiresAt: 10_000,
  createdAt: 0,
  completedAt: 5,
  response: { status: 201, headers: [['content-type', 'application/octet-stream']], body },
  ...overrides,
});

describe('memoryStore', () => {
  it('creates once, then answers with the live record', async () => {
    const store = memoryStore();
    expect(await store.create(claim('a'), 0)).toEqual({ created: true });
    const again = await store.create(claim('a', { token: 'other' }), 1);
    expect(again.created).toBe(false);
    expect(again.created === false && again.existing.token).toBe('t1');
  });

  it('fences update and delete on the token', async () => {
    const store = memoryStore();
    await store.create(claim('a'), 0);
    expect(await store.update('a', 'wrong', claim('a', { token: 'x' }))).toBe(false);
    expect(await store.delete('a', 'wrong')).toBe(false);
    expect((await store.get('a', 0))?.token).toBe('t1');
    expect(await store.update('a', 't1', completion('a', Uint8Array.of(1)))).toBe(true);
    expect(await store.delete('a', 't1')).toBe(false);
    expect(await store.delete('a', 't2')).toBe(true);
    expect(await store.get('a', 0)).toBeNull();
    expect(await store.update('missing', 't1', claim('missing'))).toBe(false);
  });

  it('treats expired records as absent: invisible to get, replaced by create', async () => {
    const store = memoryStore();
    await store.create(claim('a', { expiresAt: 100 }), 0);
    expect(await store.get('a', 99)).not.toBeNull();
    expect(await store.get('a', 100)).toBeNull();
    expect(await store.create(claim('a', { token: 'new', expiresAt: 1_000 }), 100)).toEqual({ created: true });
    expect((await store.get('a', 100))?.token).toBe('new');
  });

  it('copies on the way in: mutating the record given to create or update changes nothing stored', async () => {
    const store = memoryStore();
    const record = claim('a') as { -readonly [K in keyof InProgressRecord]: InProgressRecord[K] };
    await store.create(record, 0);
    record.token = 'mutated';
    record.leaseUntil = 999_999;
    expect(await store.get('a', 0)).toMatchObject({ token: 't1', leaseUntil: 1_000 });

    const body = Uint8Array.of(1, 2, 3);
    const headers: [string, string][] = [['content-type', 'application/octet-stream']];
    await store.update('a', 't1', { ...completion('a', body), response: { status: 201, headers, body } });
    body[0] = 99;
    headers[0]![1] = 'text/html';
    headers.push(['set-cookie', 'x']);
    const stored = (await store.get('a', 0)) as CompletedRecord;
    expect(Array.from(stored.response!.body!)).toEqual([1, 2, 3]);
    expect(stored.response!.headers).toEqual([['content-type', 'application/octet-stream']]);
  });

  it('copies Node Buffers too (whose slice() is a view, not a copy), both ways', async () => {
    const store = memoryStore();
    await store.create(claim('b'), 0);
    const body = Buffer.from([1, 2, 3]);
    await store.update('b', 't1', completion('b', body));
    body[0] = 99;
    const stored = (await store.get('b', 0)) as CompletedRecord;
    expect(Array.from(stored.response!.body!)).toEqual([1, 2, 3]);
    (stored.response!.body as Uint8Array)[1] = 99;
    expect(Array.from(((await store.get('b', 0)) as CompletedRecord).response!.body!)).toEqual([1, 2, 3]);
  });

  it('copies on the way out: mutating a returned record changes nothing stored', async () => {
    const store = memoryStore();
    await store.create(claim('a'), 0);
    await store.update('a', 't1', completion('a', Uint8Array.of(0, 255, 7), { result: Uint8Array.of(4, 5) }));
    const first = (await store.get('a', 0)) as CompletedRecord;
    first.response!.body![0] = 42;
    (first.response!.headers as [string, string][])[0]![1] = 'text/html';
    (first.response!.headers as [string, string][]).push(['x', 'y']);
    first.result![0] = 9;
    (first as { token: string }).token = 'mutated';
    const fromCreate = await store.create(claim('a'), 0);
    if (fromCreate.created) expect.unreachable('the record is live');
    (fromCreate.existing as CompletedRecord).response!.body![1] = 0;

    const second = (await store.get('a', 0)) as CompletedRecord;
    expect(second.token).toBe('t2');
    expect(Array.from(second.response!.body!)).toEqual([0, 255, 7]);
    expect(second.response!.headers).toEqual([['content-type', 'application/octet-stream']]);
    expect(Array.from(second.result!)).toEqual([4, 5]);
  });

  it('keeps body: null distinct from an empty body', async () => {
    const store = memoryStore();
    await store.create(claim('a'), 0);
    await store.update('a', 't1', completion('a', null));
    await store.create(claim('b'), 0);
    await store.update('b', 't1', completion('b', new Uint8Array(0)));
    expect(((await store.get('a', 0)) as CompletedRecord).response!.body).toBeNull();
    expect(((await store.get('b', 0)) as CompletedRecord).response!.body).toEqual(new Uint8Array(0));
  });

  it('sweeps expired records on writes, so size shrinks', async () => {
    const store = memoryStore();
    for (let i = 0; i < 10; i++) await store.create(claim(`old-${i}`, { expiresAt: 100 }), 0);
    expect(store.size).toBe(10);
    await store.create(claim('fresh', { expiresAt: 10_000 }), 200);
    expect(store.size).toBe(1);
    expect(await store.get('fresh', 200)).not.toBeNull();
  });

  it('sweeps incrementally, sweepBatch records per write', async () => {
    const store = memoryStore({ sweepBatch: 2 });
    for (let i = 0; i < 6; i++) await store.create(claim(`old-${i}`, { expiresAt: 100 }), 0);
    await store.create(claim('fresh'), 200);
    expect(store.size).toBe(5); // 2 of 6 expired swept, 1 added
    await store.create(claim('fresh-2'), 200);
    expect(store.size).toBe(4);
  });

  it('sweeps a record that expires before the rest, written after them and updated to expire sooner', async () => {
    const store = memoryStore({ sweepBatch: 100 });
    for (let i = 0; i < 5; i++) await store.create(claim(`long-${i}`, { expiresAt: 10_000 }), 0);
    await store.create(claim('short', { expiresAt: 100 }), 0);
    await store.create(claim('other'), 50);
    expect(store.size).toBe(7); // nothing has expired at 50
    await store.create(claim('later'), 150);
    expect(store.size).toBe(7); // 'short' swept, 'later' added
    expect(await store.get('short', 150)).toBeNull();
    expect(await store.update('long-0', 't1', claim('long-0', { expiresAt: 300 }))).toBe(true);
    await store.create(claim('last'), 400);
    expect(store.size).toBe(7); // 'long-0' swept once its new expiry passed, 'last' added
    expect(await store.get('long-0', 400)).toBeNull();
  });

  it('purgeExpired removes every expired record and counts them', async () => {
    const store = memoryStore({ sweepBatch: 1 });
    for (let i = 0; i < 5; i++) await store.create(claim(`old-${i}`, { expiresAt: 100 }), 0);
    for (let i = 0; i < 3; i++) await store.create(claim(`live-${i}`, { expiresAt: 10_000 }), 0);
    expect(await store.purgeExpired({ now: 100 })).toBe(5);
    expect(store.size).toBe(3);
    expect(await store.purgeExpired({ now: 100 })).toBe(0);
    store.clear();
    expect(store.size).toBe(0);
  });

  it('purgeExpired deletes batchSize per batch and stops after maxBatches', async () => {
    const store = memoryStore({ sweepBatch: 1 });
    for (let i = 0; i < 7; i++) await store.create(claim(`old-${i}`, { expiresAt: 100 }), 0);
    await store.create(claim('live', { expiresAt: 10_000 }), 0);
    expect(await store.purgeExpired({ now: 100, batchSize: 2, maxBatches: 2 })).toBe(4);
    expect(store.size).toBe(4);
    expect(await store.purgeExpired({ now: 100, batchSize: 2 })).toBe(3);
    expect(await store.get('live', 100)).not.toBeNull();
    expect(await store.purgeExpired({ now: 99 })).toBe(0);
  });

  it('purgeExpired rejects nonsense batch settings with a TypeError', async () => {
    const store = memoryStore();
    await expect(store.purgeExpired({ batchSize: 0 })).rejects.toThrow(/batchSize must be a whole number >= 1/);
    await expect(store.purgeExpired({ maxBatches: 1.5 })).rejects.toThrow(/maxBatches/);
    await expect(store.purgeExpired({ now: Number.NaN })).rejects.toThrow(/now must be whole epoch milliseconds/);
  });

  it('listInProgress lists live claims made at or before claimedBefore, oldest first, at most limit', async () => {
    const store = memoryStore();
    await store.create(claim('c', { createdAt: 30, expiresAt: 10_000 }), 0);
    await store.create(claim('a', { createdAt: 10, expiresAt: 10_000 }), 0);
    await store.create(claim('b', { createdAt: 20, expiresAt: 10_000 }), 0);
    await store.create(claim('late', { createdAt: 41, expiresAt: 10_000 }), 0);
    await store.create(claim('expired', { createdAt: 5, expiresAt: 100 }), 0);
    await store.create(completion('done', null, { createdAt: 1 }), 0);
    const listed = await store.listInProgress({ claimedBefore: 40, now: 100, limit: 10 });
    expect(listed.map((record) => record.id)).toEqual(['a', 'b', 'c']);
    expect((await store.listInProgress({ claimedBefore: 40, now: 100, limit: 2 })).map((record) => record.id)).toEqual(['a', 'b']);
    expect((await store.listInProgress({ claimedBefore: 40, now: 99, limit: 10 })).map((record) => record.id)).toEqual(['expired', 'a', 'b', 'c']);
    (listed[0] as { key: string }).key = 'mutated';
    expect((await store.get('a', 100))?.key).toBe('key-a');
    await expect(store.listInProgress({ claimedBefore: 40, now: 100, limit: 0 })).rejects.toThrow(/limit must be a whole number >= 1/);
  });

  it('when full of live records, create throws store_unavailable and evicts nothing', async () => {
    const store = memoryStore({ maxEntries: 3 });
    for (let i = 0; i < 3; i++) await store.create(claim(`r${i}`), 0);
    let thrown: unknown;
    try {
      await store.create(claim('r3'), 1);
    } catch (error) {
      thrown = error;
    }
    expect(isIdempotencyError(thrown, 'store_unavailable')).toBe(true);
    expect(store.size).toBe(3);
    for (let i = 0; i < 3; i++) expect(await store.get(`r${i}`, 1), `r${i}`).not.toBeNull();
    expect(await store.get('r3', 1)).toBeNull();
    // A key already held still answers (no insert needed).
    expect((await store.create(claim('r1'), 1)).created).toBe(false);
  });

  it('when full but some records expired, create succeeds', async () => {
    const store = memoryStore({ maxEntries: 3, sweepBatch: 0 });
    await store.create(claim('live-0'), 0);
    await store.create(claim('old', { expiresAt: 50 }), 0);
    await store.create(claim('live-1'), 0);
    expect(await store.create(claim('new'), 100)).toEqual({ created: true });
    expect(await store.get('new', 100)).not.toBeNull();
    expect(await store.get('live-0', 100)).not.toBeNull();
    expect(await store.get('live-1', 100)).not.toBeNull();
    expect(store.size).toBe(3);
  });

  it('when full, an expired record under the same id is replaced', async () => {
    const store = memoryStore({ maxEntries: 2, sweepBatch: 0 });
    await store.create(claim('a', { expiresAt: 50 }), 0);
    await store.create(claim('b'), 0);
    expect(await store.create(claim('a', { token: 'again' }), 100)).toEqual({ created: true });
    expect((await store.get('a', 100))?.token).toBe('again');
  });

  it('rejects a non-positive maxEntries', () => {
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => memoryStore({ maxEntries: -1 })).toThrow(TypeError);
    expect(() => memoryStore({ maxEntries: Number.NaN })).toThrow(TypeError);
  });
});
