export type { HeaderEntry, StoredResponse, InProgressRecord, CompletedRecord, IdempotencyRecord } from './record';
export { isLive } from './record';
export type { Store, CreateResult, StoreTransaction, TransactionalStore, AdminStore, PurgeOptions, ListInProgressOptions } from './store';
export { isTransactionalStore, canListInProgress, canPurgeExpired, resolvePurgeOptions, checkListInProgressOptions, DEFAULT_PURGE_BATCH_SIZE } from './store';
export type { PurgeSettings } from './store';
export { createAdmin, AdminUnsupportedError, DEFAULT_STUCK_LIMIT } from './admin';
export type { AdminOptions, AdminOutcome, IdempotencyAdmin, AdminReleaseOptions, AdminCompleteOptions, StuckOptions } from './admin';
export {
  IdempotencyError,
  MissingKeyError,
  InvalidKeyError,
  InProgressError,
  AbandonedError,
  KeyReusedError,
  StoreUnavailableError,
  RecordTooLargeError,
  LeaseLostError,
  ResponseNotStoredError,
  isIdempotencyError,
} from './errors';
export type { IdempotencyErrorCode, IdempotencyErrorsByCode } from './errors';
export { parseKey, MAX_KEY_LENGTH } from './parse-key';
export { recordId, randomToken, sha256Hex } from './hash';
export { canonicalJson } from './canonical-json';
export { fingerprint, fingerprintsDiffer, FINGERPRINT_VERSION } from './fingerprint';
export type { RequestFacts, FingerprintOption, FingerprintSettings } from './fingerprint';
export { headerValue, headerEntries, groupHeaders, DEFAULT_REPLAYED_HEADERS } from './headers';
export type { RequestHeaders, HeaderMap } from './headers';
export { problemResponse, problemDetails, DEFAULT_PROBLEM_TYPE_BASE } from './problem';
export type { HttpResponse, ProblemDetails } from './problem';
export { systemClock, manualClock } from './clock';
export type { Clock, ManualClock } from './clock';
export type { IdempotencyEvent, IdempotencyEventType, IdempotencyDecision, IdempotencyLifecycle, SettledOutcome, EventListener } from './events';
export { DECISIONS, isDecisionEvent, combineListeners } from './events';
export type { Logger, LogMethod } from './logger';
export { LOG_LEVELS } from './logger';
export { DEFAULTS } from './options';
export type { CoreOptions, LeasePolicy, LeaseDecision, WaitOptions } from './options';
export { createIdempotency, defaultStorable, replay, DEFAULT_MAX_BODY_BYTES } from './http';
export { MAX_SCOPE_LENGTH } from './target';
export { scopeOption, resolveScope } from './scope';
export type { ScopeOption } from './scope';
export type {
  IdempotencyOptions,
  IdempotencyEngine,
  IdempotentRequest,
  CapturedResponse,
  HttpExecution,
  Decision,
  HandledResponse,
} from './http';
export type { ExecutionContext } from './context';
export { headerKey } from './key-source';
export type { KeySource } from './key-source';
export { webhookKeys } from './webhooks';
export { memoryStore } from './memory-store';
export type { MemoryStore, MemoryStoreOptions } from './memory-store';
export { idempotent, jsonSerializer } from './function';
export type { IdempotentOptions, Serializer } from './function';
export { childKey } from './lifecycle';
export { utf8, utf8Length, bytesEqual } from './bytes';
