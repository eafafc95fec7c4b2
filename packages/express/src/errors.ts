import type { ErrorRequestHandler } from 'express';
import { captureOf } from './capture';

/**
 * Error middleware that tells oncely a guarded handler failed (`next(err)`, or a throw, which
 * Express turns into `next(err)`), so the key is released — a retry runs afresh — whatever status
 * your error handler then renders. It passes the error on unchanged. Register it after your routes
 * and before your own error handlers.
 *
 * Without it, a failed request is judged by the status your error handling sends: 5xx (Express's
 * default) releases the key, but an error rendered as, say, 400 would be stored and replayed.
 *
 * @example
 * ```ts
 * app.post('/charges', idempotency({ store, scope }), createCharge);
 * app.use(idempotencyErrors());
 * app.use(myErrorHandler);
 * ```
 */
export function idempotencyErrors(): ErrorRequestHandler {
  return function idempotencyErrors(error, req, _res, next) {
    captureOf(req)?.failed(error);
    next(error);
  };
}
