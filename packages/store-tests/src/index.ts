export { runStoreConformance, describeChecks, describeAtomicity, describeFencing, describeExpiry, describeFidelity, describeLimits, describeModel, describeAdmin } from './register';
export { adminChecks } from './admin';
export { atomicityChecks } from './atomicity';
export { fencingChecks } from './fencing';
export { expiryChecks } from './expiry';
export { fidelityChecks } from './fidelity';
export { limitChecks } from './limits';
export { modelCheck } from './model';
export { checkContext, defineChecks, DEFAULT_CONCURRENCY, DEFAULT_LARGE_BODY_BYTES, DEFAULT_MODEL_RUNS, DEFAULT_TIMEOUT_MS } from './options';
export type { StoreCheck, StoreCheckContext, StoreCheckGroup, StoreCheckSettings, StoreConformanceOptions } from './options';
export {
  CONFORMANCE_ID_PREFIX,
  LONG_UNICODE_SCOPE,
  SAMPLE_HEADERS,
  UNICODE_SAMPLES,
  YEAR_2100_MS,
  afterExpiry,
  beforeExpiry,
  completedRecord,
  conformanceId,
  expectRecord,
  expectSameBytes,
  freshToken,
  inProgressRecord,
  randomBytes,
  retentionMs,
} from './fixtures';
export type { RecordOverrides } from './fixtures';
