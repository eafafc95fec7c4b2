import { createIdempotency, DEFAULT_MAX_BODY_BYTES, type IdempotencyOptions, scopeOption } from '@oncely/core';
import type { Middleware, ParameterizedContext } from 'koa';
import { captureResponse } from './capture';
import { type IdempotencyState } from './context';
import { render } from './render';
import { idempotentRequest } from './request';
import type { Scope } from './scope';

/** Options of {@link idempotency}: core's `IdempotencyOptions`, plus the required `scope`. */
export interface KoaIdempotencyOptions<Tx = unknown> extends IdempotencyOptions<Tx> {
  /**
   * Whose key it is: a constant string, or a function of the context (e.g. `(ctx) => ctx.state.user.tenantId`).
   * Required. A function is called only for guarded requests that carry a key; if it throws or
   * returns an empty value, the error is thrown to Koa's error handling.
   */
  readonly scope: Scope;
}

/** Core's default `maxBodyBytes`: the binding reads streamed bodies up to the same cap. */

/**
 * Koa middleware (Koa 2 and 3) that makes the middleware after it idempotent: a request with an
 * `Idempotency-Key` runs once per (scope, key); retries get the stored response byte for byte with
 * `Idempotent-Replayed: true`; a retry racing the first gets 409, a different payload under the
 * same key 422 (CONTRACT §5–7). Every decision is core's; this middleware only translates.
 *
 * After the downstream middleware returns, the response (`ctx.status`, headers, `ctx.body` as Koa
 * would send it, streams read up to `maxBodyBytes`) is recorded before Koa sends it. A thrown
 * error releases the key and is rethrown. `ctx.state.idempotency` carries the execution.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { bodyParser } from '@koa/bodyparser';
 * import { memoryStore } from '@oncely/core';
 * import { idempotency } from '@oncely/koa';
 *
 * const app = new Koa();
 * app.use(bodyParser());
 * app.use(idempotency({ store: memoryStore(), scope: (ctx) => ctx.get('x-tenant-id') || 'public' }));
 * app.use(async (ctx) => {
 *   const charge = await payments.charge(ctx.request.body, { idempotencyKey: ctx.state.idempotency?.childKey('psp') });
 *   ctx.status = 201;
 *   ctx.body = charge;
 * });
 * ```
 */
export function idempotency<Tx = unknown>(options: KoaIdempotencyOptions<Tx>): Middleware<IdempotencyState<Tx>> {
  const scope = scopeOption((options as Partial<KoaIdempotencyOptions<Tx>>).scope);
  const engine = createIdempotency<Tx>(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return async function idempotency(ctx: ParameterizedContext<IdempotencyState<Tx>>, next): Promise<void> {
    const decision = await engine.begin(idempotentRequest(ctx, scope));
    if (decision.action === 'pass') return next();
    if (decision.action === 'respond') return render(ctx, decision.response);
    const { execution } = decision;
    ctx.state.idempotency = execution.context;
    const headersBefore = ctx.response.headers;
    let captured;
    try {
      await next();
      captured = await captureResponse(ctx, maxBodyBytes);
    } catch (error) {
      await execution.fail(error);
      throw error;
    }
    const replacement = await execution.finish(captured);
    if (!replacement) return;
    const previous: unknown = ctx.body;
    for (const name of Object.keys(ctx.response.headers)) ctx.remove(name);
    for (const [name, value] of Object.entries(headersBefore)) if (value !== undefined) ctx.set(name, Array.isArray(value) ? value : String(value));
    render(ctx, replacement);
    if (previous && typeof (previous as { destroy?: unknown }).destroy === 'function') (previous as { destroy(): void }).destroy();
  };
}
