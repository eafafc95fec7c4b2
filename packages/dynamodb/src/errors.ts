import { isIdempotencyError, RecordTooLargeError, StoreUnavailableError } from '@oncely/core';
import type { IdempotencyError } from '@oncely/core';

/** DynamoDB's answer to a failed `ConditionExpression`. */
export function isConditionalCheckFailed(error: unknown): error is Error & { Item?: Record<string, unknown> } {
  return nameOf(error) === 'ConditionalCheckFailedException';
}

/**
 * Whether `error` is DynamoDB refusing an item over 400 KB: a `ValidationException` saying "Item size
 * has exceeded the maximum allowed size" (PutItem) or "Item size to update has exceeded the maximum
 * allowed size" (UpdateItem).
 */
export function isItemTooLarge(error: unknown): boolean {
  if (nameOf(error) !== 'ValidationException') return false;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && /item size.*exceeded the maximum allowed size/i.test(message);
}

/**
 * The typed error for a failed store operation: oncely's own errors as they are, DynamoDB's item
 * size refusal as `RecordTooLargeError`, and everything else — throttling after the SDK's retries
 * (`ProvisionedThroughputExceededException`, `ThrottlingException`, `RequestLimitExceeded`),
 * connection refused or reset, timeouts, aborts, a missing table, credentials, internal server
 * errors — as `StoreUnavailableError` with the SDK's error as `cause`. `id` is `undefined` for
 * table-wide operations.
 */
export function storeError(operation: string, id: string | undefined, error: unknown): IdempotencyError {
  if (isIdempotencyError(error)) return error;
  const described = describe(error);
  const what = subject(operation, id);
  if (isItemTooLarge(error)) {
    return new RecordTooLargeError(`dynamoStore: ${what} refused by DynamoDB as too large (${described}).`, {
      cause: error,
    });
  }
  return new StoreUnavailableError(`dynamoStore: ${what} failed (${described}).`, { cause: error });
}

/** `create of record <id>`, or just the operation's name for table-wide ones (`listInProgress`, `purgeExpired`). */
export function subject(operation: string, id: string | undefined): string {
  return id === undefined ? operation : `${operation} of record ${id}`;
}

function nameOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const message = error.message || (typeof code === 'string' ? code : '');
  return `${error.name}: ${message}`;
}
