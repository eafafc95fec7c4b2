import { createIdempotency, DEFAULT_MAX_BODY_BYTES, type IdempotencyOptions, scopeOption } from '@oncely/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { exposeContext, ResponseCapture } from './capture';
import { render } from './render';
import { idempotentRequest } from './request';
import type { Scope } from './scope';

/** Options of {@link idempotency}: core's `IdempotencyOptions`, plus the required `scope`. */
export interface ExpressIdempotencyOptions<Tx = unknown> extends IdempotencyOptions<Tx> {
  /**
   * Whose key it is: a constant string, or a function of the request (e.g. `(req) => req.user.tenantId`).
   * Required. A function is called only for guarded requests that carry a key; if it throws or
   * returns an empty value, the error goes to Express's error handling (`next(err)`).
   */
  readonly scope: Scope;
}

/** Core's default `maxBodyBytes`: the binding buffers response bodies up to the same cap. */

/**
 * Express middleware (Express 4 and 5) that makes the routes after it idempotent: a request with an
 * `Idempotency-Key` runs once per (scope, key); retries get the stored response byte for byte with
 * `Idempotent-Replayed: true`; a retry racing the first gets 409, a different payload under the
 * same key 422 (CONTRACT §5–7). Every decision is core's; this middleware only translates.
 *
 * The handler's response is held until the record is written, buffered up to `maxBodyBytes` (a
 * larger body streams through and is not stored). `req.idempotency` carries the execution's key,
 * scope, `childKey()`, `signal` and atomic-mode `transaction`. Put a body parser with
 * {@link keepRawBody} before it, and {@link idempotencyErrors} after your routes.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { memoryStore } from '@oncely/core';
 * import { idempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
 *
 * const app = express();
 * app.use(express.json({ verify: keepRawBody }));
 * app.post('/charges', idempotency({ store: memoryStore(), scope: (req) => req.get('x-tenant-id') ?? 'public' }), async (req, res) => {
 *   const charge = await payments.charge(req.body, { idempotencyKey: req.idempotency?.childKey('psp') });
 *   res.status(201).json(charge);
 * });
 * app.use(idempotencyErrors());
 * ```
 */
export function idempotency<Tx = unknown>(options: ExpressIdempotencyOptions<Tx>): RequestHandler {
  const scope = scopeOption((options as Partial<ExpressIdempotencyOptions<Tx>>).scope);
  const engine = createIdempotency<Tx>(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return function idempotency(req: Request, res: Response, next: NextFunction): void {
    engine.begin(idempotentRequest(req, scope)).then((decision) => {
      if (decision.action === 'pass') return next();
      if (decision.action === 'respond') return render(res, decision.response);
      const { execution } = decision;
      new ResponseCapture(req, res, maxBodyBytes, execution, execution.context);
      exposeContext(req, execution.context);
      next();
    }, next);
  };
}
