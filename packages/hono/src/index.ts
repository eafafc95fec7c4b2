import type { IdempotencyVariables } from './context';

export { idempotency } from './middleware';
export type { HonoIdempotencyOptions } from './middleware';
export type { IdempotencyVariables } from './context';
export type { Scope } from './scope';

declare module 'hono' {
  // `c.get('idempotency')` is typed in every app, like Hono's own middleware variables.
  interface ContextVariableMap extends IdempotencyVariables {}
}
