/** What the MongoDB tests connect to (see global-setup.ts), and helpers to connect. */
import { randomUUID } from 'node:crypto';
import { type Collection, type Document, MongoClient, type MongoClientOptions } from 'mongodb';
import { inject } from 'vitest';

/** The server under test. */
export interface MongoTarget {
  readonly url: string;
  /** True: the wire-protocol stand-in (mockupdb + mongomock), not MongoDB. */
  readonly standIn: boolean;
  /** For test names: says stand-in or real server. */
  readonly label: string;
}

export function mongoTarget(): MongoTarget {
  return inject('mongodb');
}

/** Database the tests write to; each test file uses collections of its own, dropped afterwards. */
export const TEST_DATABASE = 'oncely_test';

/** A client with bounded timeouts, so a dead server fails a test instead of hanging it. */
export function connect(options: MongoClientOptions = {}): MongoClient {
  return new MongoClient(mongoTarget().url, {
    serverSelectionTimeoutMS: 10_000,
    connectTimeoutMS: 10_000,
    socketTimeoutMS: 60_000,
    ...options,
  });
}

/** A fresh collection name: `<prefix>_<8 hex>`. */
export function freshCollection(client: MongoClient, prefix: string): Collection<Document> {
  return client.db(TEST_DATABASE).collection(`${prefix}_${randomUUID().slice(0, 8)}`);
}

/** Drop a test collection; absent is fine. */
export async function dropQuietly(collection: Collection<Document>): Promise<void> {
  await collection.drop().catch(() => undefined);
}
