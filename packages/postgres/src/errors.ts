import { isIdempotencyError, RecordTooLargeError, StoreUnavailableError } from '@oncely/core';

/** SQLSTATEs meaning "the record is too big for PostgreSQL": program_limit_exceeded (row or value too large). */
const TOO_LARGE_STATES = new Set(['54000']);

/** The SQLSTATE of a `pg` error (a `DatabaseError`), if it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * The typed error for a failed store operation: oncely's own errors as they are; a record PostgreSQL
 * refuses for its size as `RecordTooLargeError`; everything else — refused or terminated connections
 * (`57P01` etc.), pool checkout and query timeouts, any server error — as `StoreUnavailableError`
 * with the driver's error as `cause`. Messages name the operation only: they may reach HTTP clients
 * as a problem `detail`, so database details stay in `cause`.
 */
export function storeError(error: unknown, operation: string): Error {
  if (isIdempotencyError(error)) return error;
  const state = sqlState(error);
  if (state !== undefined && TOO_LARGE_STATES.has(state)) {
    return new RecordTooLargeError(`The PostgreSQL idempotency store refused a record as too large during ${operation}.`, { cause: error });
  }
  return new StoreUnavailableError(`The PostgreSQL idempotency store failed during ${operation}.`, { cause: error });
}
