import type { EventListener, IdempotencyDecision, IdempotencyEvent } from './events';
import { isDecisionEvent } from './events';

/**
 * One level of a {@link Logger}: called as `method(fields, message)` — an object first, the message
 * second. pino (`logger.info(obj, msg)`) reads it as structured fields plus `msg`; `console.info`
 * prints both arguments.
 */
export type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/**
 * The logger shape the `logger` option accepts: pino, `console`, or anything with these four
 * methods taking `(fields, message)` (bunyan, a winston child wrapped in two lines, a test recorder).
 */
export interface Logger {
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
}

/** The level each decision is logged at (documented in the core README). */
export const LOG_LEVELS: { readonly [type in IdempotencyDecision]: keyof Logger } = {
  executed: 'debug',
  replayed: 'debug',
  conflict: 'info',
  mismatch: 'info',
  takeover: 'info',
  released: 'warn',
  lease_lost: 'error',
  store_error: 'error',
  complete_failed: 'error',
};

/**
 * The fields of one log line: `event`, `scope`, `keyHash` (`key` only with `logRawKeys`, which is
 * already reflected in the event), `requestId`, the timings, and `status`, `detail`, `error` (the
 * error's message, never the object) where present.
 */
export function logFields(event: IdempotencyEvent): Record<string, unknown> {
  const fields: Record<string, unknown> = { event: event.type, scope: event.scope, keyHash: event.keyHash };
  if (event.key !== undefined) fields.key = event.key;
  fields.requestId = event.requestId;
  if (event.status !== undefined) fields.status = event.status;
  fields.durationMs = event.durationMs;
  fields.storeLatencyMs = event.storeLatencyMs;
  if (event.handlerMs !== undefined) fields.handlerMs = event.handlerMs;
  if (event.detail !== undefined) fields.detail = event.detail;
  if (event.error !== undefined) fields.error = errorMessage(event.error);
  return fields;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'unprintable error';
  }
}

/**
 * The listener behind the `logger` option: one line per decision (lifecycle markers are not
 * logged), at the level of {@link LOG_LEVELS}, message `oncely <event>`.
 */
export function loggerListener(logger: Logger): EventListener {
  return (event) => {
    if (!isDecisionEvent(event)) return;
    logger[LOG_LEVELS[event.type]](logFields(event), `oncely ${event.type}`);
  };
}
