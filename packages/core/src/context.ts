import type { Execution } from './lifecycle';

/** What a handler sees of its execution. */
export interface ExecutionContext<Tx = unknown> {
  readonly key: string;
  readonly scope: string;
  readonly recordId: string;
  /** False only when the store was down and `onStoreError` is `'proceed'`. */
  readonly isProtected: boolean;
  /** Aborts when the lease was lost to another request (see `lease_lost`). */
  readonly signal: AbortSignal;
  /**
   * Atomic mode: the open transaction's client (e.g. a `pg` `PoolClient`). Write through it and
   * your writes commit together with the idempotency record, or not at all. Otherwise undefined.
   */
  readonly transaction: Tx | undefined;
  /** A stable key for a downstream call, derived from this request's key (CONTRACT §8). */
  childKey(name: string): string;
}

/**
 * The {@link ExecutionContext} of an execution, as handed to handlers by every entry point. A class,
 * not an object literal with a getter and a closure: one is built per request, so it must be cheap.
 */
export class HandlerContext<Tx = unknown> implements ExecutionContext<Tx> {
  readonly key: string;
  readonly scope: string;
  readonly recordId: string;
  readonly isProtected: boolean;
  readonly transaction: Tx | undefined;
  readonly #execution: Execution;

  constructor(execution: Execution) {
    this.#execution = execution;
    this.key = execution.key;
    this.scope = execution.scope;
    this.recordId = execution.recordId;
    this.isProtected = execution.isProtected;
    this.transaction = execution.transactionClient as Tx | undefined;
  }

  get signal(): AbortSignal {
    return this.#execution.signal;
  }

  childKey(name: string): string {
    return this.#execution.childKey(name);
  }
}

/** The {@link ExecutionContext} of an execution, as handed to handlers by every entry point. */
export function executionContext<Tx>(execution: Execution): ExecutionContext<Tx> {
  return new HandlerContext<Tx>(execution);
}
