import type { IdempotencyRecord, StoreTransaction } from '@oncely/core';
import { StoreUnavailableError } from '@oncely/core';
import type { PoolClient, QueryResultRow } from 'pg';
import type { Checkout, Runner } from './connection';
import { storeError } from './errors';

/** How the store writes a completion: the `update` statement and its parameters for a record. */
export interface UpdateStatement {
  readonly text: string;
  params(id: string, expectedToken: string, next: IdempotencyRecord): readonly unknown[];
}

/**
 * Opens a transaction for atomic mode: a connection of its own from the pool, `BEGIN ISOLATION
 * LEVEL READ COMMITTED` sent. READ COMMITTED whatever the server's default, because the claim row is
 * renewed by heartbeats (on other connections) while the handler runs: under REPEATABLE READ or
 * SERIALIZABLE the completion's compare-and-set would fail with a serialization error after every
 * heartbeat, while at READ COMMITTED it sees the latest committed token, which is what fencing needs.
 */
export async function beginTransaction(runner: Runner, update: UpdateStatement): Promise<StoreTransaction<PoolClient>> {
  if (!runner.pooled) {
    throw new TypeError(
      '@oncely/postgres: atomic mode needs a pg Pool (each transaction checks out a connection of its own); ' +
        'this store was given a single Client. Pass `postgresStore({ pool })` a Pool.',
    );
  }
  let checkout: Checkout;
  try {
    checkout = await runner.checkout();
  } catch (error) {
    throw storeError(error, 'begin');
  }
  const { client } = checkout;
  let finished = false;
  const finish = (error?: unknown): void => {
    finished = true;
    checkout.release(error);
  };
  const run = <R extends QueryResultRow>(text: string, values: readonly unknown[] = []) => {
    const deadline = runner.timeoutMs > 0 ? Date.now() + runner.timeoutMs : 0;
    return client.query<R>(runner.config(text, values, deadline));
  };

  try {
    await run('BEGIN ISOLATION LEVEL READ COMMITTED');
  } catch (error) {
    finish(error);
    throw storeError(error, 'begin');
  }

  return {
    client,

    async update(id, expectedToken, next) {
      if (finished) throw new Error('@oncely/postgres: this transaction has already ended.');
      const status = transactionStatus(client);
      if (status === 'I' || status === 'E') {
        throw new StoreUnavailableError(
          status === 'I'
            ? 'The handler ended the idempotency transaction itself (COMMIT or ROLLBACK on ctx.transaction); its outcome cannot be recorded.'
            : 'A statement in the handler\'s transaction failed, so the transaction is aborted; its outcome cannot be recorded.',
        );
      }
      try {
        const result = await run(update.text, update.params(id, expectedToken, next));
        return result.rowCount === 1;
      } catch (error) {
        throw storeError(error, 'update');
      }
    },

    async commit() {
      if (finished) throw new Error('@oncely/postgres: this transaction has already ended.');
      let result;
      try {
        result = await run('COMMIT');
      } catch (error) {
        finish(error);
        throw storeError(error, 'commit');
      }
      finish();
      if (result.command !== 'COMMIT') {
        // PostgreSQL answers COMMIT of an aborted transaction with a ROLLBACK, not an error.
        throw new StoreUnavailableError('The idempotency transaction was rolled back by PostgreSQL instead of committed.');
      }
    },

    async rollback() {
      if (finished) return;
      try {
        await run('ROLLBACK');
        finish();
      } catch (error) {
        finish(error);
      }
    },
  };
}

/** `I` idle, `T` in a transaction, `E` in a failed transaction; `undefined` on pg versions without it. */
function transactionStatus(client: PoolClient): string | undefined {
  const withStatus = client as PoolClient & { getTransactionStatus?: () => string | null };
  return typeof withStatus.getTransactionStatus === 'function' ? (withStatus.getTransactionStatus() ?? undefined) : undefined;
}
