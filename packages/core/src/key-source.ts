import type { RequestFacts } from './fingerprint';
import { headerValue } from './headers';

/**
 * Where a request's idempotency key comes from: a header by default, or a webhook provider's
 * event/delivery id (see `webhookKeys`). Returns the raw value, or `undefined` when absent; the
 * core validates it.
 */
export type KeySource = (request: RequestFacts) => string | undefined | Promise<string | undefined>;

/** Read the key from header `name` (default `Idempotency-Key`). */
export function headerKey(name = 'Idempotency-Key'): KeySource {
  return (request) => headerValue(request.headers, name);
}
