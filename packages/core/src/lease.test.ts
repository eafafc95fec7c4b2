import { describe, expect, it } from 'vitest';
import { decideExpiredLease, retryAfterSeconds } from './lease';
import type { InProgressRecord } from './record';

const record: InProgressRecord = {
  id: 'oncely:abc',
  key: 'k',
  scope: 's',
  state: 'in_progress',
  token: 't',
  fingerprint: '',
  leaseUntil: 1_000,
  expiresAt: 10_000,
  createdAt: 0,
};

describe('retryAfterSeconds', () => {
  it('rounds the time left on the lease up to whole seconds', () => {
    expect(retryAfterSeconds(30_000, 0)).toBe(30);
    expect(retryAfterSeconds(30_000, 10_600)).toBe(20);
    expect(retryAfterSeconds(30_000, 28_999)).toBe(2);
    expect(retryAfterSeconds(30_000, 29_000)).toBe(1);
  });

  it('is at least 1, even when the lease has just run out', () => {
    expect(retryAfterSeconds(30_000, 29_999)).toBe(1);
    expect(retryAfterSeconds(30_000, 30_000)).toBe(1);
    expect(retryAfterSeconds(30_000, 90_000)).toBe(1);
  });
});

describe('decideExpiredLease', () => {
  it('applies a fixed policy', async () => {
    expect(await decideExpiredLease('takeover', record)).toBe('takeover');
    expect(await decideExpiredLease('reject', record)).toBe('reject');
  });

  it('asks a reconcile function, sync or async, with the record', async () => {
    const seen: InProgressRecord[] = [];
    expect(await decideExpiredLease((r) => (seen.push(r), 'takeover'), record)).toBe('takeover');
    expect(await decideExpiredLease(async (): Promise<'reject'> => 'reject', record)).toBe('reject');
    expect(seen).toEqual([record]);
  });

  it('treats a throwing or nonsensical reconcile as reject: when unsure, never run twice', async () => {
    expect(await decideExpiredLease(() => { throw new Error('unreachable provider'); }, record)).toBe('reject');
    expect(await decideExpiredLease(async () => Promise.reject(new Error('x')), record)).toBe('reject');
    expect(await decideExpiredLease(() => 'TAKEOVER' as 'takeover', record)).toBe('reject');
  });
});
