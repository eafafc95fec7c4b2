import { createIdempotency, DEFAULT_MAX_BODY_BYTES, type IdempotencyOptions, scopeOption } from '@oncely/core';
import type { MiddlewareHandler } from 'hono';
import { type IdempotencyVariables } from './context';
import { idempotentRequest } from './request';
import { captureResponse, toResponse } from './response';
import type { Scope } from './scope';

/** Options of {@link idempotency}: core's `IdempotencyOptions`, plus the required `scope`. */
export interface HonoIdempotencyOptions<Tx = unknown> extends IdempotencyOptions<Tx> {
  /**
   * Whose key it is: a constant string, or a function of the context (e.g. `(c) => c.get('tenantId')`).
   * Required. A function is called only for guarded requests that carry a key; if it throws or
   * returns an empty value, the error goes to Hono's error handling (`app.onError`).
   */
  readonly scope: Scope;
}

/** Core's default `maxBodyBytes`: the binding reads response bodies up to the same cap. */

/**
 * Hono middleware that makes the handlers after it idempotent, on every runtime Hono runs on (Node
 * with `@hono/node-server`, Bun, Deno, Cloudflare Workers): a request with an `Idempotency-Key`
 * runs once per (scope, key); retries get the stored response byte for byte with
 * `Idempotent-Replayed: true`; a retry racing the first gets 409, a different payload under the
 * same key 422 (CONTRACT §5–7). Every decision is core's; this middleware only translates.
 *
 * The handler's `Response` is recorded before it is returned: its body is read from a clone up to
 * `maxBodyBytes` (a longer one streams through unstored). A handler that throws releases the key;
 * Hono's `onError` renders the error. `c.get('idempotency')` carries the execution.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { memoryStore } from '@oncely/core';
 * import { idempotency } from '@oncely/hono';
 *
 * const app = new Hono();
 * app.post('/charges', idempotency({ store: memoryStore(), scope: (c) => c.req.header('x-tenant-id') ?? 'public' }), async (c) => {
 *   const charge = await payments.charge(await c.req.json(), { idempotencyKey: c.get('idempotency')?.childKey('psp') });
 *   return c.json(charge, 201);
 * });
 * ```
 */
export function idempotency<Tx = unknown>(options: HonoIdempotencyOptions<Tx>): MiddlewareHandler<{ Variables: IdempotencyVariables<Tx> }> {
  const scope = scopeOption((options as Partial<HonoIdempotencyOptions<Tx>>).scope);
  const engine = createIdempotency<Tx>(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return async function idempotency(c, next) {
    const decision = await engine.begin(await idempotentRequest(c, scope));
    if (decision.action === 'pass') return next();
    if (decision.action === 'respond') return toResponse(decision.response);
    const { execution } = decision;
    c.set('idempotency', execution.context);
    let captured;
    try {
      await next();
      if (c.error) throw c.error;
      captured = await captureResponse(c.res, maxBodyBytes);
    } catch (error) {
      await execution.fail(error);
      if (error === c.error) return;
      throw error;
    }
    const replacement = await execution.finish(captured);
    if (!replacement) return;
    c.res = undefined;
    c.res = toResponse(replacement);
  };
}
