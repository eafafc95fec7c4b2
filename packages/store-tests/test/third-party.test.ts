/**
 * An outsider's store, written only from the `Store` doc comments: records serialized to JSON
 * strings (bytes as base64) in a `Map`, an async delay inside every operation, and a per-id async
 * mutex for atomicity. If this passes `runStoreConformance`, anyone can implement and verify a Store.
 */
import { RecordTooLargeError } from '@oncely/core';
import type { CreateResult, IdempotencyRecord, Store } from '@oncely/core';
import { runStoreConformance } from '@oncely/store-tests';

const BYTES = '$base64';

function encode(record: IdempotencyRecord): string {
  return JSON.stringify(record, (_name, value: unknown) =>
    value instanceof Uint8Array ? { [BYTES]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') } : value,
  );
}

function decode(text: string): IdempotencyRecord {
  return JSON.parse(text, (_name, value: unknown) =>
    typeof value === 'object' && value !== null && BYTES in value
      ? new Uint8Array(Buffer.from((value as Record<typeof BYTES, string>)[BYTES], 'base64'))
      : value,
  ) as IdempotencyRecord;
}

/** One queue per id: operations on the same id run one after another, others in parallel. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(operation, operation);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** A network round trip's worth of waiting: 0–2 ms. */
const latency = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * 2));

function stringStore(maxRecordBytes = 4 * 1024 * 1024): Store {
  const rows = new Map<string, { readonly text: string; readonly token: string; readonly expiresAt: number }>();
  const lock = new KeyedMutex();

  const encodeChecked = (record: IdempotencyRecord): string => {
    const text = encode(record);
    const size = Buffer.byteLength(text, 'utf8');
    if (size > maxRecordBytes) {
      throw new RecordTooLargeError(`record ${record.id} is ${size} bytes encoded; this store holds ${maxRecordBytes}.`, {
        sizeBytes: size,
        limitBytes: maxRecordBytes,
      });
    }
    return text;
  };

  return {
    create: (record, now) =>
      lock.run(record.id, async (): Promise<CreateResult> => {
        await latency();
        const row = rows.get(record.id);
        if (row && row.expiresAt > now) return { created: false, existing: decode(row.text) };
        const text = encodeChecked(record);
        await latency();
        rows.set(record.id, { text, token: record.token, expiresAt: record.expiresAt });
        return { created: true };
      }),
    update: (id, expectedToken, next) =>
      lock.run(id, async () => {
        await latency();
        const row = rows.get(id);
        if (!row || row.token !== expectedToken) return false;
        const text = encodeChecked(next);
        await latency();
        rows.set(id, { text, token: next.token, expiresAt: next.expiresAt });
        return true;
      }),
    delete: (id, expectedToken) =>
      lock.run(id, async () => {
        await latency();
        const row = rows.get(id);
        if (!row || row.token !== expectedToken) return false;
        await latency();
        rows.delete(id);
        return true;
      }),
    get: async (id, now) => {
      await latency();
      const row = rows.get(id);
      return row && row.expiresAt > now ? decode(row.text) : null;
    },
  };
}

runStoreConformance({ name: 'third-party string store', createStore: () => stringStore(), maxRecordBytes: 4 * 1024 * 1024 });
