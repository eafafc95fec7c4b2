import { checkListInProgressOptions, type InProgressRecord, type ListInProgressOptions, StoreUnavailableError } from '@oncely/core';
import type { Cluster, Redis } from 'ioredis';
import { bounded } from './bounded';
import { decodeRecord, encodedExpiresAt, FORMAT_VERSION } from './codec';

/** SCAN's `COUNT` hint: keys Redis examines per step (each step is short; the scan is incremental). */
export const SCAN_COUNT = 1000;

/** What listing needs of one node: ioredis' `SCAN ... TYPE string` returning Buffers, and `GET`. */
interface ScanNode {
  scanBuffer(cursor: string | Buffer, ...args: (string | number)[]): Promise<[Buffer, Buffer[]]>;
  getBuffer(key: Buffer): Promise<Buffer | null>;
}

/** The nodes holding records: every master of a Cluster, or the one server. */
function nodesOf(client: Redis | Cluster): readonly ScanNode[] {
  const cluster = client as Partial<Cluster> & { isCluster?: boolean };
  if (cluster.isCluster !== true || typeof cluster.nodes !== 'function') return [client as unknown as ScanNode];
  const masters = cluster.nodes('master') as unknown as ScanNode[];
  // An empty list would read as "nothing is stuck": say that the cluster is not reachable instead.
  if (masters.length === 0) throw new StoreUnavailableError('The idempotency store (Redis Cluster) knows no master yet: listInProgress cannot scan.');
  return masters;
}

/** `SCAN MATCH` pattern of every key starting with `prefix` (glob characters escaped). */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
}

/**
 * `listInProgress` on Redis: an incremental `SCAN` of the store's keys (`prefix*`, strings only,
 * `COUNT` {@link SCAN_COUNT} per step) on every master, a `GET` of each key found, and the records
 * decoded, filtered (in progress, claimed at or before `claimedBefore`, live at `now`) and kept
 * oldest first, never more than `limit` held at once. Redis keeps no index by age, so this visits
 * every key under the prefix: a maintenance operation, never on a request's path. Each step is
 * bounded by `operationTimeoutMs`. Keys under the prefix that are not records are ignored.
 */
export async function listInProgress(
  client: Redis | Cluster,
  prefix: string,
  operationTimeoutMs: number,
  options: ListInProgressOptions,
): Promise<InProgressRecord[]> {
  const { claimedBefore, now, limit } = checkListInProgressOptions(options);
  const pattern = prefixPattern(prefix);
  const prefixBytes = Buffer.byteLength(prefix, 'utf8');
  const oldest: InProgressRecord[] = [];

  const consider = (key: Buffer, value: Buffer | null): void => {
    if (value === null || value.length < 9 || value[0] !== FORMAT_VERSION || encodedExpiresAt(value) <= now) return;
    let record;
    try {
      record = decodeRecord(key.subarray(prefixBytes).toString('utf8'), value);
    } catch {
      return; // a string under the prefix that is not a record
    }
    if (record.state !== 'in_progress' || record.createdAt > claimedBefore) return;
    if (oldest.length === limit && !isOlder(record, oldest[limit - 1] as InProgressRecord)) return;
    oldest.splice(insertionIndex(oldest, record), 0, record);
    if (oldest.length > limit) oldest.pop();
  };

  for (const node of nodesOf(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await bounded('listInProgress', operationTimeoutMs, () =>
        node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'string'),
      );
      cursor = next.toString();
      if (keys.length === 0) continue;
      const values = await bounded('listInProgress', operationTimeoutMs, () => Promise.all(keys.map((key) => node.getBuffer(key))));
      keys.forEach((key, i) => consider(key, values[i] ?? null));
    } while (cursor !== '0');
  }
  return oldest;
}

/** Oldest claim first; equal ages by id, so the answer does not depend on the scan order. */
function isOlder(a: InProgressRecord, b: InProgressRecord): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}

function insertionIndex(sorted: readonly InProgressRecord[], record: InProgressRecord): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isOlder(sorted[middle] as InProgressRecord, record)) low = middle + 1;
    else high = middle;
  }
  return low;
}
