import type { ExecutionContext } from '@oncely/core';

/**
 * The variables `idempotency()` sets on the context. Declare them on your app to type
 * `c.get('idempotency')` with your atomic-mode transaction client:
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: IdempotencyVariables<PoolClient> }>();
 * ```
 */
export type IdempotencyVariables<Tx = unknown> = {
  /**
   * Set on a request oncely executes: the key, the scope, `childKey()`, `isProtected`, the
   * lease-loss `signal` and, in atomic mode, the `transaction` client. Undefined when the request
   * is not guarded (method not covered, or no key and not required).
   */
  idempotency: ExecutionContext<Tx> | undefined;
};

