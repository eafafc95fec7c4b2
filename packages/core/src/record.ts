/** A header as stored and replayed: `[name, value]`, names lower-case. */
export type HeaderEntry = readonly [name: string, value: string];

/**
 * An HTTP response as oncely stores and replays it.
 *
 * `body` is bytes, never a string, so binary, gzip and non-UTF-8 responses replay byte-exact.
 * `body: null` means the response was too large to store (CONTRACT §6): its replay never
 * re-executes; it answers with the stored status and a `response_not_stored` problem body.
 */
export interface StoredResponse {
  readonly status: number;
  readonly headers: readonly HeaderEntry[];
  readonly body: Uint8Array | null;
}

/** Fields every record has, whatever its state. */
interface RecordBase {
  /** Record id: `namespace:sha256(scope, key)` in hex. What a store is keyed by. */
  readonly id: string;
  /** The client's raw key, kept for operators. Any Unicode (webhook ids included). */
  readonly key: string;
  /** Whose key it is (tenant, account, webhook endpoint). Any Unicode. */
  readonly scope: string;
  /**
   * Random 128-bit fencing token: new on every claim, every takeover and every completion, so a
   * compare-and-set holding an older token can never land on a newer state.
   */
  readonly token: string;
  /** `'v1:'` + hex digest of the request (or `''` when fingerprinting is off). */
  readonly fingerprint: string;
  /** Epoch ms. After it the record is as if absent: invisible to `get`, replaceable by `create`. */
  readonly expiresAt: number;
  /** Epoch ms of the first claim. */
  readonly createdAt: number;
}

/** A claim whose handler is (presumed) running. */
export interface InProgressRecord extends RecordBase {
  readonly state: 'in_progress';
  /** Epoch ms. After it the owner is presumed dead and the lease policy decides. */
  readonly leaseUntil: number;
}

/** A finished execution: what every retry replays. Exactly one of `response` / `result` is set. */
export interface CompletedRecord extends RecordBase {
  readonly state: 'completed';
  /** Epoch ms when the completion was written. */
  readonly completedAt: number;
  /** HTTP executions: the response to replay. */
  readonly response?: StoredResponse;
  /** Function-wrapper executions: the serialized return value. */
  readonly result?: Uint8Array;
}

/** The unit a {@link Store} persists (CONTRACT §2). */
export type IdempotencyRecord = InProgressRecord | CompletedRecord;

/** Whether `record` is live at `now` (its retention has not ended). */
export function isLive(record: IdempotencyRecord, now: number): boolean {
  return record.expiresAt > now;
}
