import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  AbandonedError,
  type IdempotencyError,
  type IdempotencyErrorCode,
  InProgressError,
  InvalidKeyError,
  isIdempotencyError,
  KeyReusedError,
  LeaseLostError,
  MissingKeyError,
  RecordTooLargeError,
  ResponseNotStoredError,
  StoreUnavailableError,
} from './errors';

const BRAND = Symbol.for('oncely.IdempotencyError');

const every: [IdempotencyError, IdempotencyErrorCode, number][] = [
  [new MissingKeyError(), 'missing_key', 400],
  [new InvalidKeyError('bad'), 'invalid_key', 400],
  [new InProgressError(2), 'in_progress', 409],
  [new AbandonedError(), 'abandoned', 409],
  [new KeyReusedError(), 'key_reused', 422],
  [new StoreUnavailableError(), 'store_unavailable', 503],
  [new RecordTooLargeError('too big', { sizeBytes: 500_000, limitBytes: 400_000 }), 'record_too_large', 500],
  [new LeaseLostError(), 'lease_lost', 500],
  [new ResponseNotStoredError(201), 'response_not_stored', 201],
];

describe('IdempotencyError subclasses', () => {
  it.each(every)('%s has its code, status, title, and is an Error', (error, code, status) => {
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.title.length).toBeGreaterThan(0);
    expect(error.message.length).toBeGreaterThan(0);
    expect(error.name).toMatch(/Error$/);
    expect(isIdempotencyError(error)).toBe(true);
    expect(isIdempotencyError(error, code)).toBe(true);
  });

  it('every code is distinct', () => {
    expect(new Set(every.map(([, code]) => code)).size).toBe(every.length);
  });

  it('keeps the cause', () => {
    const cause = new Error('ECONNREFUSED');
    expect(new StoreUnavailableError('down', { cause }).cause).toBe(cause);
    expect(new InvalidKeyError('bad', { cause }).cause).toBe(cause);
  });

  it('carries retry hints only where the status invites a retry', () => {
    expect(new InProgressError(4).retryAfterSeconds).toBe(4);
    expect(new StoreUnavailableError().retryAfterSeconds).toBe(1);
    expect(new KeyReusedError().retryAfterSeconds).toBeUndefined();
    expect(new MissingKeyError().retryAfterSeconds).toBeUndefined();
  });

  it('names the header in MissingKeyError', () => {
    expect(new MissingKeyError('X-Request-Key').message).toContain('X-Request-Key');
  });
});

describe('isIdempotencyError', () => {
  it('is false for the wrong code', () => {
    expect(isIdempotencyError(new KeyReusedError(), 'in_progress')).toBe(false);
  });

  it('recognises an error from a second loaded copy by its registered brand and code', () => {
    const foreign = Object.assign(new Error('from another copy'), { [BRAND]: true, code: 'in_progress', status: 409, retryAfterSeconds: 2 });
    expect(isIdempotencyError(foreign)).toBe(true);
    expect(isIdempotencyError(foreign, 'in_progress')).toBe(true);
    expect(isIdempotencyError(foreign, 'key_reused')).toBe(false);
    expect(isIdempotencyError({ [BRAND]: true, code: 'store_unavailable' }, 'store_unavailable')).toBe(true);
  });

  it('is false for plain errors, look-alikes and non-objects', () => {
    expect(isIdempotencyError(new Error('boom'))).toBe(false);
    expect(isIdempotencyError(Object.assign(new Error('x'), { code: 'in_progress' }))).toBe(false); // no brand
    expect(isIdempotencyError({ [BRAND]: true, code: 'ECONNRESET' })).toBe(false); // unknown code
    expect(isIdempotencyError({ [BRAND]: true })).toBe(false);
    expect(isIdempotencyError({ [BRAND]: 'true', code: 'in_progress' })).toBe(false);
    expect(isIdempotencyError({ [Symbol('oncely.IdempotencyError')]: true, code: 'in_progress' })).toBe(false); // unregistered symbol
    expect(isIdempotencyError(null)).toBe(false);
    expect(isIdempotencyError(undefined)).toBe(false);
    expect(isIdempotencyError('in_progress')).toBe(false);
    expect(isIdempotencyError(409)).toBe(false);
  });

  it('narrows the type to the given code', () => {
    const caught: unknown = new InProgressError(5);
    if (isIdempotencyError(caught, 'in_progress')) {
      expectTypeOf(caught.code).toEqualTypeOf<'in_progress'>();
      expectTypeOf(caught.retryAfterSeconds).toEqualTypeOf<number>();
      expectTypeOf(caught).toEqualTypeOf<InProgressError>();
      expect(caught.retryAfterSeconds).toBe(5);
    } else {
      expect.unreachable('an InProgressError must be recognised');
    }
    const other: unknown = new KeyReusedError();
    if (isIdempotencyError(other)) {
      expectTypeOf(other.code).toEqualTypeOf<IdempotencyErrorCode>();
      expectTypeOf(other.status).toEqualTypeOf<number>();
      expect(other.code).toBe('key_reused');
    } else {
      expect.unreachable('a KeyReusedError must be recognised');
    }
  });
});
