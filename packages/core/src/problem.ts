import { utf8 } from './bytes';
import type { IdempotencyError } from './errors';
import type { HeaderEntry } from './record';

/** A response for a binding to render: status, headers, body bytes. Content-Length is the binding's. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: readonly HeaderEntry[];
  readonly body: Uint8Array;
}

/** Default base of problem `type` URIs (CONTRACT §7). */
export const DEFAULT_PROBLEM_TYPE_BASE = 'urn:oncely:problem:';

/** The RFC 9457 problem object of an error. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
}

/** The problem object of `error`, its `type` under `typeBase`. */
export function problemDetails(error: IdempotencyError, typeBase: string = DEFAULT_PROBLEM_TYPE_BASE): ProblemDetails {
  return { type: `${typeBase}${error.code}`, title: error.title, status: error.status, detail: error.message, code: error.code };
}

/**
 * The `application/problem+json` response of `error` (CONTRACT §7), with `Retry-After` when the
 * error invites a retry, and `Cache-Control: no-store` so no cache keeps a transient answer.
 *
 * @example
 * ```ts
 * problemResponse(new InProgressError(3))
 * // { status: 409, headers: [['content-type', 'application/problem+json'], ['retry-after', '3'], ...], body }
 * ```
 */
export function problemResponse(error: IdempotencyError, typeBase: string = DEFAULT_PROBLEM_TYPE_BASE): HttpResponse {
  const headers: HeaderEntry[] = [
    ['content-type', 'application/problem+json'],
    ['cache-control', 'no-store'],
  ];
  if (error.retryAfterSeconds !== undefined) headers.push(['retry-after', String(error.retryAfterSeconds)]);
  return { status: error.status, headers, body: utf8(JSON.stringify(problemDetails(error, typeBase))) };
}
