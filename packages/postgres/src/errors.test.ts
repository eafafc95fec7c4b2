import { describe, expect, it } from 'vitest';
import { isIdempotencyError, StoreUnavailableError } from '@oncely/core';
import { sqlState, storeError } from './errors';

describe('storeError', () => {
  it('maps program_limit_exceeded (54000) to RecordTooLargeError and everything else to StoreUnavailableError, with cause', () => {
    const tooBig = Object.assign(new Error('row is too big'), { code: '54000' });
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(isIdempotencyError(storeError(tooBig, 'update'), 'record_too_large')).toBe(true);
    for (const error of [terminated, refused, new Error('Query read timeout'), 'weird']) {
      const mapped = storeError(error, 'create');
      expect(isIdempotencyError(mapped, 'store_unavailable')).toBe(true);
      expect(mapped.cause).toBe(error);
    }
  });

  it('keeps database details out of the message (it can reach clients as a problem detail)', () => {
    const mapped = storeError(Object.assign(new Error('relation "secret_table" does not exist'), { code: '42P01' }), 'get');
    expect(mapped.message).not.toContain('secret_table');
  });

  it('passes oncely errors through', () => {
    const own = new StoreUnavailableError('x');
    expect(storeError(own, 'get')).toBe(own);
  });

  it('reads SQLSTATEs only', () => {
    expect(sqlState({ code: '57P01' })).toBe('57P01');
    expect(sqlState({ code: 'ECONNREFUSED' })).toBeUndefined();
    expect(sqlState(null)).toBeUndefined();
  });
});
