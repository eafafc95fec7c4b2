export { reliabilityScale, scaled } from './scale';
export { RESULTS_DIR, writeResult } from './results';
export type { ReliabilityResult } from './results';
export { STORE_NAMES, openStore } from './stores';
export type { OpenStoreOptions, StoreHandle, StoreName } from './stores';
export { BINDING_NAMES, MAX_REQUEST_BYTES, clientErrorStatus, startApp } from './apps';
export type { AppSpec, BindingName, PayAnswer, PayHandler, PayRequest, ReliabilityApp } from './apps';
export { mapLimit, sendUntilSettled } from './retry';
export type { RetryOptions, Settled } from './retry';
