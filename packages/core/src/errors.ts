import type { IdempotencyRecord } from './record';

/** Every stable error code of oncely. `code` is API: it never changes meaning. */
export type IdempotencyErrorCode =
  | 'missing_key'
  | 'invalid_key'
  | 'in_progress'
  | 'abandoned'
  | 'key_reused'
  | 'store_unavailable'
  | 'record_too_large'
  | 'lease_lost'
  | 'response_not_stored';

const BRAND = Symbol.for('oncely.IdempotencyError');

interface ErrorDetails {
  readonly cause?: unknown;
}

/**
 * Base of every error oncely throws or renders. Carries a literal `code`, the HTTP `status` it maps
 * to, and a short human `title` (RFC 9457). Check with {@link isIdempotencyError}, not
 * `instanceof`: two loaded copies of this package still agree on codes.
 */
export abstract class IdempotencyError extends Error {
  abstract readonly code: IdempotencyErrorCode;
  abstract readonly status: number;
  abstract readonly title: string;
  /** Seconds a client should wait before retrying, when the status invites a retry. */
  readonly retryAfterSeconds: number | undefined;
  readonly [BRAND] = true;

  protected constructor(message: string, details: ErrorDetails & { retryAfterSeconds?: number } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** 400: a key is required on this route and none was sent. */
export class MissingKeyError extends IdempotencyError {
  override readonly name = 'MissingKeyError';
  readonly code = 'missing_key' as const;
  readonly status = 400;
  readonly title = 'Idempotency key required';
  constructor(header = 'Idempotency-Key', details: ErrorDetails = {}) {
    super(`This request requires an ${header} header.`, details);
  }
}

/** 400: the key is not 1–255 visible ASCII characters (bare, or an RFC 8941 quoted string). */
export class InvalidKeyError extends IdempotencyError {
  override readonly name = 'InvalidKeyError';
  readonly code = 'invalid_key' as const;
  readonly status = 400;
  readonly title = 'Invalid idempotency key';
  constructor(reason: string, details: ErrorDetails = {}) {
    super(reason, details);
  }
}

/** 409: a request with the same key is still being processed. Retry after `retryAfterSeconds`. */
export class InProgressError extends IdempotencyError {
  override readonly name = 'InProgressError';
  readonly code = 'in_progress' as const;
  readonly status = 409;
  readonly title = 'A request with this idempotency key is in progress';
  override readonly retryAfterSeconds: number;
  readonly record: IdempotencyRecord | undefined;
  constructor(retryAfterSeconds: number, details: ErrorDetails & { record?: IdempotencyRecord } = {}) {
    super(`Another request with this key is still running; retry in ${retryAfterSeconds}s.`, {
      ...details,
      retryAfterSeconds,
    });
    this.retryAfterSeconds = retryAfterSeconds;
    this.record = details.record;
  }
}

/** 409: the owner of this key died mid-request and the lease policy is `reject`. */
export class AbandonedError extends IdempotencyError {
  override readonly name = 'AbandonedError';
  readonly code = 'abandoned' as const;
  readonly status = 409;
  readonly title = 'The request with this idempotency key was abandoned';
  readonly record: IdempotencyRecord | undefined;
  constructor(details: ErrorDetails & { record?: IdempotencyRecord } = {}) {
    super(
      'An earlier request with this key stopped before finishing; its outcome is unknown. ' +
        'It stays blocked until an operator resolves it or the record expires.',
      details,
    );
    this.record = details.record;
  }
}

/** 422: the same key arrived with a different request (fingerprint mismatch). Nothing executed. */
export class KeyReusedError extends IdempotencyError {
  override readonly name = 'KeyReusedError';
  readonly code = 'key_reused' as const;
  readonly status = 422;
  readonly title = 'Idempotency key reused with a different request';
  readonly record: IdempotencyRecord | undefined;
  constructor(details: ErrorDetails & { record?: IdempotencyRecord } = {}) {
    super('This key was already used for a different request; use a new key for a new request.', details);
    this.record = details.record;
  }
}

/** 503: the store could not be reached or failed (fail-closed). Retry after `retryAfterSeconds`. */
export class StoreUnavailableError extends IdempotencyError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'store_unavailable' as const;
  readonly status = 503;
  readonly title = 'Idempotency store unavailable';
  constructor(message = 'The idempotency store is unavailable.', details: ErrorDetails & { retryAfterSeconds?: number } = {}) {
    super(message, { retryAfterSeconds: 1, ...details });
  }
}

/**
 * Thrown by a store when a record exceeds the backend's size limit (CONTRACT §3). Never a silent
 * truncation. The core reacts by storing the response without its body (CONTRACT §6).
 */
export class RecordTooLargeError extends IdempotencyError {
  override readonly name = 'RecordTooLargeError';
  readonly code = 'record_too_large' as const;
  readonly status = 500;
  readonly title = 'Idempotency record too large for the store';
  readonly sizeBytes: number | undefined;
  readonly limitBytes: number | undefined;
  constructor(message: string, details: ErrorDetails & { sizeBytes?: number; limitBytes?: number } = {}) {
    super(message, details);
    this.sizeBytes = details.sizeBytes;
    this.limitBytes = details.limitBytes;
  }
}

/**
 * The claim was taken over while its handler ran (its lease expired): the completion was not
 * written, and another execution may have happened. Reported as the `lease_lost` event, and the
 * `reason` of the handler's `context.signal` when it aborts. The result of the finished work is
 * still returned (throwing would only make a caller retry it).
 */
export class LeaseLostError extends IdempotencyError {
  override readonly name = 'LeaseLostError';
  readonly code = 'lease_lost' as const;
  readonly status = 500;
  readonly title = 'Idempotency lease lost';
  constructor(details: ErrorDetails = {}) {
    super('The claim on this key was taken over by another request while the handler ran.', details);
  }
}

/** The replay body of a response that was too large to store (CONTRACT §6). */
export class ResponseNotStoredError extends IdempotencyError {
  override readonly name = 'ResponseNotStoredError';
  readonly code = 'response_not_stored' as const;
  readonly status: number;
  readonly title = 'Original response body not stored';
  constructor(status: number, details: ErrorDetails = {}) {
    super(
      'This request already succeeded, but its response was too large to keep; it was not executed again.',
      details,
    );
    this.status = status;
  }
}

const CODES: ReadonlySet<string> = new Set<IdempotencyErrorCode>([
  'missing_key',
  'invalid_key',
  'in_progress',
  'abandoned',
  'key_reused',
  'store_unavailable',
  'record_too_large',
  'lease_lost',
  'response_not_stored',
]);

/** The error class of each code, for {@link isIdempotencyError}'s narrowing. */
export interface IdempotencyErrorsByCode {
  missing_key: MissingKeyError;
  invalid_key: InvalidKeyError;
  in_progress: InProgressError;
  abandoned: AbandonedError;
  key_reused: KeyReusedError;
  store_unavailable: StoreUnavailableError;
  record_too_large: RecordTooLargeError;
  lease_lost: LeaseLostError;
  response_not_stored: ResponseNotStoredError;
}

/**
 * Whether `value` is an oncely error (optionally of one `code`, narrowing to its class). Works
 * across duplicate copies of this package, which `instanceof` does not.
 *
 * @example
 * ```ts
 * try { await chargeOnce(event) } catch (err) {
 *   if (isIdempotencyError(err, 'in_progress')) return retryLater(err.retryAfterSeconds); // a number
 *   throw err;
 * }
 * ```
 */
export function isIdempotencyError(value: unknown): value is IdempotencyError;
export function isIdempotencyError<C extends IdempotencyErrorCode>(value: unknown, code: C): value is IdempotencyErrorsByCode[C];
export function isIdempotencyError(value: unknown, code?: IdempotencyErrorCode): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { [BRAND]?: unknown; code?: unknown };
  if (candidate[BRAND] !== true || typeof candidate.code !== 'string' || !CODES.has(candidate.code)) return false;
  return code === undefined || candidate.code === code;
}
