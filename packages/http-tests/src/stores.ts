import { memoryStore, type IdempotencyRecord, type Store, type StoreTransaction, type TransactionalStore } from '@oncely/core';

type Operation = 'create' | 'update' | 'delete' | 'get';

/** A memory store that counts its operations and can hold completions back. */
export interface CountingStore extends Store {
  readonly calls: Readonly<Record<Operation, number>>;
  /** Hold every completion write (`update` to `completed`) until the returned function is called. */
  holdCompletions(): () => void;
}

/** {@link CountingStore} over `memoryStore()`. */
export function countingStore(): CountingStore {
  const inner = memoryStore();
  const calls: Record<Operation, number> = { create: 0, update: 0, delete: 0, get: 0 };
  let held: Promise<void> | undefined;
  return {
    calls,
    holdCompletions() {
      let release!: () => void;
      held = new Promise<void>((resolve) => (release = resolve));
      return () => {
        held = undefined;
        release();
      };
    },
    create: (record, now) => {
      calls.create++;
      return inner.create(record, now);
    },
    async update(id: string, expectedToken: string, next: IdempotencyRecord) {
      calls.update++;
      if (next.state === 'completed') await held;
      return inner.update(id, expectedToken, next);
    },
    delete: (id, expectedToken) => {
      calls.delete++;
      return inner.delete(id, expectedToken);
    },
    get: (id, now) => {
      calls.get++;
      return inner.get(id, now);
    },
  };
}

/** A store whose backend is down: every operation rejects. */
export function unreachableStore(): Store {
  const down = async (): Promise<never> => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  };
  return { create: down, update: down, delete: down, get: down };
}

/** The handler's side of {@link transactionalStore}: writes staged until the transaction commits. */
export interface LedgerClient {
  write(entry: string): void;
}

/** A transactional store for atomic-mode tests, with its committed ledger. */
export interface LedgerStore extends TransactionalStore<LedgerClient> {
  /** Entries written by handlers whose transaction committed. */
  readonly ledger: readonly string[];
}

/**
 * A {@link TransactionalStore} over `memoryStore()` that stages handler writes and the completion per
 * transaction and applies both at commit, like a database. `failCommit`: every COMMIT fails.
 */
export function transactionalStore(options: { readonly failCommit?: boolean } = {}): LedgerStore {
  const base = memoryStore();
  const ledger: string[] = [];
  return {
    ledger,
    create: base.create,
    update: base.update,
    delete: base.delete,
    get: base.get,
    async beginTransaction(): Promise<StoreTransaction<LedgerClient>> {
      const staged: string[] = [];
      let completion: { id: string; token: string; next: IdempotencyRecord } | undefined;
      return {
        client: { write: (entry) => staged.push(entry) },
        async update(id, token, next) {
          if ((await base.get(id, 0))?.token !== token) return false;
          completion = { id, token, next };
          return true;
        },
        async commit() {
          if (options.failCommit) throw new Error('connection lost during COMMIT');
          if (completion && !(await base.update(completion.id, completion.token, completion.next))) throw new Error('serialization failure');
          ledger.push(...staged);
        },
        async rollback() {
          staged.length = 0;
        },
      };
    },
  };
}
