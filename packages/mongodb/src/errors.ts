import { isIdempotencyError, RecordTooLargeError, StoreUnavailableError } from '@oncely/core';

/** MongoDB's duplicate key error. */
const DUPLICATE_KEY = 11000;
/** Server codes for a document over the BSON limit: BSONObjectTooLarge, and "document after update is larger than". */
const TOO_LARGE_CODES = new Set([10334, 17419, 17420]);

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** Whether `error` is MongoDB's duplicate key error (code 11000). */
export function isDuplicateKey(error: unknown): boolean {
  return codeOf(error) === DUPLICATE_KEY;
}

function isTooLarge(error: unknown): boolean {
  if (TOO_LARGE_CODES.has(codeOf(error) as number)) return true;
  // The driver's own check, before sending: "Document is larger than the maximum size ...".
  return error instanceof Error && /BSON/.test(error.name) && /larger than the maximum/i.test(error.message);
}

/**
 * The typed error for a failed store operation: oncely's own errors as they are, a document over
 * the server's limit as `RecordTooLargeError`, and everything else — network errors, server
 * selection timeouts, server errors, malformed documents — as `StoreUnavailableError` with the
 * driver's error as `cause`. `id` is `undefined` for collection-wide operations (`listInProgress`,
 * `purgeExpired`).
 */
export function storeError(operation: string, id: string | undefined, error: unknown): Error {
  if (isIdempotencyError(error)) return error;
  const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const what = id === undefined ? operation : `${operation} of record ${id}`;
  if (isTooLarge(error)) {
    return new RecordTooLargeError(`mongoStore: ${what} refused by MongoDB as too large (${described}).`, { cause: error });
  }
  return new StoreUnavailableError(`mongoStore: ${what} failed (${described}).`, { cause: error });
}
