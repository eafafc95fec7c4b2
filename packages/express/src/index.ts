export { idempotency } from './middleware';
export type { ExpressIdempotencyOptions } from './middleware';
export { idempotencyErrors } from './errors';
export { keepRawBody } from './raw-body';
export type { Scope } from './scope';
export type { IdempotencyContext, Register, RegisteredTransaction } from './context';
