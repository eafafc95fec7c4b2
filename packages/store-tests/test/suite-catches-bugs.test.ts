/**
 * A suite that cannot fail proves nothing. Each store here breaks one guarantee on purpose, and the
 * test asserts that the checks guarding that guarantee reject (called directly, outside describe/it).
 * A faultless twin passes every check, so each failure is the fault's doing.
 */
import { RecordTooLargeError } from '@oncely/core';
import type { AdminStore, CompletedRecord, IdempotencyRecord, InProgressRecord, StoredResponse } from '@oncely/core';
import {
  adminChecks,
  atomicityChecks,
  checkContext,
  expiryChecks,
  fencingChecks,
  fidelityChecks,
  limitChecks,
  modelCheck,
} from '@oncely/store-tests';
import type { StoreCheck, StoreCheckSettings } from '@oncely/store-tests';
import { describe, expect, it } from 'vitest';

type Fault =
  | 'createNotAtomic'
  | 'createOverwritesLiveRecords'
  | 'updateIgnoresToken'
  | 'deleteIgnoresToken'
  | 'updateNotAtomic'
  | 'updateUpserts'
  | 'getIgnoresExpiry'
  | 'createIgnoresExpiry'
  | 'expiryOffByOne'
  | 'bodiesStoredAsText'
  | 'largeBodiesTruncated'
  | 'nullBodyBecomesEmpty'
  | 'unicodeNormalized'
  | 'astralCharactersReplaced'
  | 'longScopesTruncated'
  | 'headersSorted'
  | 'duplicateHeadersMerged'
  | 'timesInSeconds'
  | 'sharesObjects'
  | 'oversizedRecordsTruncated'
  | 'oversizedRecordsThrowPlainError'
  | 'listIncludesCompleted'
  | 'listIncludesExpired'
  | 'listIgnoresClaimedBefore'
  | 'listInInsertionOrder'
  | 'listIgnoresLimit'
  | 'purgeDeletesLive'
  | 'purgeSparesTheBoundary'
  | 'purgeIgnoresBatches'
  | 'purgeMiscounts'
  | 'adminOperationsUndeclared';

interface FaultyStoreOptions {
  /** Compare expiry in whole seconds (a correct store for `expiryGranularityMs: 1000`). */
  readonly secondsPrecision?: boolean;
  readonly maxRecordBytes?: number;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
const toText = new TextDecoder();
const toBytes = new TextEncoder();

/** A plain in-memory store with the admin operations, correct unless told which fault to commit. */
function faultyStore(fault?: Fault, options: FaultyStoreOptions = {}): AdminStore {
  const records = new Map<string, IdempotencyRecord>();
  const copy = (record: IdempotencyRecord): IdempotencyRecord => (fault === 'sharesObjects' ? record : structuredClone(record));

  const isLive = (record: IdempotencyRecord, now: number): boolean => {
    if (fault === 'expiryOffByOne') return record.expiresAt >= now;
    if (options.secondsPrecision) return Math.floor(record.expiresAt / 1000) > Math.floor(now / 1000);
    return record.expiresAt > now;
  };

  const transformBody = (body: Uint8Array | null): Uint8Array | null => {
    if (body === null) return fault === 'nullBodyBecomesEmpty' ? new Uint8Array(0) : null;
    if (fault === 'bodiesStoredAsText') return toBytes.encode(toText.decode(body));
    if (fault === 'largeBodiesTruncated') return body.slice(0, 65_536);
    return body;
  };

  const transformText = (text: string): string => {
    if (fault === 'unicodeNormalized') return text.normalize('NFC');
    if (fault === 'astralCharactersReplaced') return text.replace(/[\u{10000}-\u{10ffff}]/gu, '\ufffd');
    return text;
  };

  const transformResponse = (response: StoredResponse): StoredResponse => {
    let headers = response.headers;
    if (fault === 'headersSorted') headers = [...headers].sort(([a], [b]) => a.localeCompare(b));
    if (fault === 'duplicateHeadersMerged') {
      const merged = new Map<string, string>();
      for (const [name, value] of headers) merged.set(name, merged.has(name) ? `${merged.get(name)}, ${value}` : value);
      headers = [...merged];
    }
    return { ...response, headers, body: transformBody(response.body) };
  };

  const limit = (record: IdempotencyRecord): IdempotencyRecord => {
    if (options.maxRecordBytes === undefined || record.state !== 'completed') return record;
    const size = 512 + (record.response?.body?.byteLength ?? 0) + (record.result?.byteLength ?? 0);
    if (size <= options.maxRecordBytes) return record;
    if (fault === 'oversizedRecordsThrowPlainError') throw new Error('item too large');
    if (fault !== 'oversizedRecordsTruncated' || !record.response?.body) throw new RecordTooLargeError('too large', { sizeBytes: size });
    return { ...record, response: { ...record.response, body: record.response.body.slice(0, options.maxRecordBytes - 512) } };
  };

  const seconds = (ms: number): number => Math.floor(ms / 1000) * 1000;

  const write = (input: IdempotencyRecord): void => {
    let record = limit(copy(input));
    record = { ...record, key: transformText(record.key), scope: transformText(record.scope) };
    if (fault === 'longScopesTruncated') record = { ...record, scope: record.scope.slice(0, 255) };
    if (record.state === 'completed' && record.response) record = { ...record, response: transformResponse(record.response) };
    if (record.state === 'completed' && record.result) record = { ...record, result: transformBody(record.result) ?? new Uint8Array(0) };
    if (fault === 'timesInSeconds') {
      record = { ...record, createdAt: seconds(record.createdAt), expiresAt: seconds(record.expiresAt) };
      if (record.state === 'completed') record = { ...record, completedAt: seconds(record.completedAt) } satisfies CompletedRecord;
    }
    records.set(record.id, fault === 'sharesObjects' ? input : record);
  };

  return {
    async create(record, now) {
      const existing = records.get(record.id);
      const blocks = existing !== undefined && (fault === 'createIgnoresExpiry' || isLive(existing, now));
      if (existing && blocks && fault !== 'createOverwritesLiveRecords') return { created: false, existing: copy(existing) };
      if (fault === 'createNotAtomic') await tick();
      write(record);
      return { created: true };
    },
    async update(id, expectedToken, next) {
      const current = records.get(id);
      if (!current) {
        if (fault !== 'updateUpserts') return false;
      } else if (current.token !== expectedToken && fault !== 'updateIgnoresToken') return false;
      if (fault === 'updateNotAtomic') await tick();
      write(next);
      return true;
    },
    async delete(id, expectedToken) {
      const current = records.get(id);
      if (!current || (current.token !== expectedToken && fault !== 'deleteIgnoresToken')) return false;
      records.delete(id);
      return true;
    },
    async get(id, now) {
      const current = records.get(id);
      return current && (fault === 'getIgnoresExpiry' || isLive(current, now)) ? copy(current) : null;
    },
    async listInProgress({ claimedBefore, now, limit }) {
      if (!(limit >= 1)) throw new TypeError('limit must be >= 1');
      const found = [...records.values()].filter(
        (record): record is InProgressRecord =>
          (record.state === 'in_progress' || fault === 'listIncludesCompleted') &&
          (record.createdAt <= claimedBefore || fault === 'listIgnoresClaimedBefore') &&
          (isLive(record, now) || fault === 'listIncludesExpired'),
      );
      if (fault !== 'listInInsertionOrder') found.sort((a, b) => a.createdAt - b.createdAt);
      return (fault === 'listIgnoresLimit' ? found : found.slice(0, limit)).map((record) => copy(record) as InProgressRecord);
    },
    async purgeExpired({ now = Date.now(), batchSize = 1000, maxBatches = Number.POSITIVE_INFINITY } = {}) {
      if (!(batchSize >= 1) || !(maxBatches >= 1)) throw new TypeError('batchSize and maxBatches must be >= 1');
      let budget = fault === 'purgeIgnoresBatches' ? Number.POSITIVE_INFINITY : batchSize * maxBatches;
      let deleted = 0;
      for (const [id, record] of records) {
        if (budget <= 0) break;
        // purgeDeletesLive: expiresAt read as seconds (a unit mix-up), so every record looks expired.
        const expiresAt = fault === 'purgeDeletesLive' ? record.expiresAt / 1000 : record.expiresAt;
        if (fault === 'purgeSparesTheBoundary' ? expiresAt < now : expiresAt <= now) {
          records.delete(id);
          deleted++;
          budget--;
        }
      }
      return fault === 'purgeMiscounts' ? 0 : deleted;
    },
  };
}

const settings: StoreCheckSettings = { concurrency: 20, modelRuns: 100, largeBodyBytes: 262_144, listInProgress: true, purgeExpired: true };
const limited: FaultyStoreOptions = { maxRecordBytes: 128 * 1024 };

/** Which checks must reject each fault. `model` is the model-based check. */
const catches: ReadonlyArray<readonly [Fault, readonly StoreCheck[], FaultyStoreOptions?]> = [
  ['createNotAtomic', [atomicityChecks.concurrentCreatesHaveOneWinner]],
  ['createOverwritesLiveRecords', [atomicityChecks.createReturnsLiveRecord, atomicityChecks.concurrentCreatesHaveOneWinner, modelCheck]],
  [
    'updateIgnoresToken',
    [
      fencingChecks.updateWithWrongTokenIsRefused,
      fencingChecks.takeoverFencesTheOldToken,
      fencingChecks.concurrentTakeoversHaveOneWinner,
      modelCheck,
      adminChecks.adminReleasesAndCompletes,
    ],
  ],
  ['deleteIgnoresToken', [fencingChecks.deleteWithWrongTokenIsRefused, fencingChecks.takeoverFencesTheOldToken, modelCheck, adminChecks.adminReleasesAndCompletes]],
  ['updateNotAtomic', [fencingChecks.concurrentTakeoversHaveOneWinner]],
  ['updateUpserts', [fencingChecks.absentIdsAreNeverTouched]],
  ['getIgnoresExpiry', [expiryChecks.expiredRecordsAreInvisible, expiryChecks.completedRecordsExpire, modelCheck]],
  ['createIgnoresExpiry', [expiryChecks.expiredRecordsAreReplacedByCreate, expiryChecks.completedRecordsExpire, modelCheck]],
  ['expiryOffByOne', [expiryChecks.expiryBoundaryIsExact]],
  ['bodiesStoredAsText', [fidelityChecks.bodiesAreByteExact, fidelityChecks.completedResponsesRoundTrip, fidelityChecks.resultBytesRoundTrip, modelCheck]],
  ['largeBodiesTruncated', [fidelityChecks.bodiesAreByteExact]],
  ['nullBodyBecomesEmpty', [fidelityChecks.nullBodyStaysDistinctFromEmptyBody, modelCheck]],
  ['unicodeNormalized', [fidelityChecks.unicodeKeysAndScopesRoundTrip]],
  ['astralCharactersReplaced', [fidelityChecks.unicodeKeysAndScopesRoundTrip]],
  ['longScopesTruncated', [fidelityChecks.unicodeKeysAndScopesRoundTrip]],
  ['headersSorted', [fidelityChecks.completedResponsesRoundTrip]],
  ['duplicateHeadersMerged', [fidelityChecks.completedResponsesRoundTrip]],
  ['timesInSeconds', [fidelityChecks.inProgressRecordsRoundTrip, fidelityChecks.numbersAreExact, modelCheck]],
  ['sharesObjects', [fidelityChecks.returnedRecordsAreFreshObjects]],
  ['oversizedRecordsTruncated', [limitChecks.oversizedCreateThrows, limitChecks.oversizedUpdateThrows], limited],
  ['oversizedRecordsThrowPlainError', [limitChecks.oversizedCreateThrows, limitChecks.oversizedUpdateThrows], limited],
  ['listIncludesCompleted', [adminChecks.listsStuckClaims]],
  ['listIncludesExpired', [adminChecks.listsStuckClaims]],
  ['listIgnoresClaimedBefore', [adminChecks.listsStuckClaims]],
  ['listInInsertionOrder', [adminChecks.listsStuckClaims]],
  ['listIgnoresLimit', [adminChecks.listsStuckClaims]],
  ['purgeDeletesLive', [adminChecks.purgesExactlyTheExpired]],
  ['purgeSparesTheBoundary', [adminChecks.purgesExactlyTheExpired]],
  ['purgeIgnoresBatches', [adminChecks.purgesExactlyTheExpired]],
  ['purgeMiscounts', [adminChecks.purgesExactlyTheExpired]],
  ['adminOperationsUndeclared', [adminChecks.declaresItsOperations]],
];

const everyCheck: readonly StoreCheck[] = [
  ...Object.values(atomicityChecks),
  ...Object.values(fencingChecks),
  ...Object.values(expiryChecks),
  ...Object.values(fidelityChecks),
  ...Object.values(limitChecks),
  modelCheck,
  ...Object.values(adminChecks),
];

describe('the conformance suite fails broken stores', () => {
  for (const [fault, checks, options] of catches) {
    for (const check of checks) {
      it(`${fault} is caught by: ${check.name}`, async () => {
        const declared = fault === 'adminOperationsUndeclared' ? { listInProgress: false, purgeExpired: false } : {};
        const ctx = checkContext(faultyStore(fault, options), { ...settings, maxRecordBytes: options?.maxRecordBytes, ...declared });
        await expect(check.run(ctx)).rejects.toThrow();
      });
    }
  }
});

describe('the conformance suite passes the faultless twin', () => {
  for (const check of everyCheck) {
    it(check.name, async () => {
      const ctx = checkContext(faultyStore(undefined, limited), {
        concurrency: settings.concurrency,
        modelRuns: settings.modelRuns,
        maxRecordBytes: limited.maxRecordBytes,
        listInProgress: true,
        purgeExpired: true,
      });
      await check.run(ctx);
    });
  }

  it('lets a store with second-precise expiry pass the expiry checks and the model at expiryGranularityMs 1000', async () => {
    for (const check of [...Object.values(expiryChecks), modelCheck]) {
      const ctx = checkContext(faultyStore(undefined, { secondsPrecision: true }), { ...settings, expiryGranularityMs: 1000 });
      if (check.appliesTo && !check.appliesTo(ctx)) continue;
      await check.run(ctx);
    }
  });
});
