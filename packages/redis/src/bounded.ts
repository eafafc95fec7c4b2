import { isIdempotencyError, StoreUnavailableError } from '@oncely/core';

/** The `cause` of a `StoreUnavailableError` thrown because Redis did not answer in time. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`Redis did not answer ${operation} within ${timeoutMs} ms.`);
  }
}

/**
 * Settle with `work`'s outcome, or reject with `StoreUnavailableError` after `timeoutMs`. Every
 * driver failure (connection refused or closed, `MaxRetriesPerRequestError`, `commandTimeout`,
 * `OOM`, `READONLY`, `CLUSTERDOWN`, ...) becomes a `StoreUnavailableError` whose `cause` is the
 * driver's error. The command itself may still reach Redis later (ioredis queues it): every script
 * is safe to run late or twice.
 */
export function bounded<T>(operation: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const cause = new RedisTimeoutError(operation, timeoutMs);
      reject(new StoreUnavailableError(`The idempotency store (Redis) did not answer ${operation} within ${timeoutMs} ms.`, { cause }));
    }, timeoutMs);
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(unavailable(operation, error));
      },
    );
  });
}

function unavailable(operation: string, error: unknown): unknown {
  if (isIdempotencyError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`The idempotency store (Redis) failed during ${operation}: ${reason}`, { cause: error });
}
