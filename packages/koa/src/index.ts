export { idempotency } from './middleware';
export type { KoaIdempotencyOptions } from './middleware';
export type { IdempotencyState } from './context';
export type { Scope } from './scope';
