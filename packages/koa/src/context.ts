import type { ExecutionContext } from '@oncely/core';

/** What `idempotency()` adds to `ctx.state`. */
export interface IdempotencyState<Tx = unknown> {
  /**
   * Set on a request oncely executes: the key, the scope, `childKey()`, `isProtected`, the
   * lease-loss `signal` and, in atomic mode, the `transaction` client. Unset when the request is
   * not guarded (method not covered, or no key and not required).
   */
  idempotency?: ExecutionContext<Tx>;
}

