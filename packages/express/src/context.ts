import type { ExecutionContext } from '@oncely/core';

/**
 * Declare the transaction client type of your atomic-mode store once, and `req.idempotency.transaction`
 * is typed everywhere:
 *
 * @example
 * ```ts
 * declare module '@oncely/express' {
 *   interface Register { transaction: import('pg').PoolClient }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Register {}

/** The transaction client type declared through {@link Register} (`unknown` until declared). */
export type RegisteredTransaction = Register extends { readonly transaction: infer Tx } ? Tx : unknown;

/** What a handler sees of its execution on `req.idempotency`. */
export type IdempotencyContext = ExecutionContext<RegisteredTransaction>;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * Set by oncely's `idempotency()` on a request it executes: the key, the scope, `childKey()`,
       * `isProtected`, the lease-loss `signal` and, in atomic mode, the `transaction` client.
       * Undefined when the request is not guarded (method not covered, or no key and not required).
       */
      idempotency?: IdempotencyContext;
    }
  }
}

