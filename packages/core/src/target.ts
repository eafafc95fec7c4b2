import { recordId } from './hash';
import type { CoreSettings } from './options';
import type { Target } from './trace';

/** Longest scope, in characters: scopes are the app's own names (tenant ids, endpoints), never payloads. */
export const MAX_SCOPE_LENGTH = 1024;

/**
 * Build the {@link Target} of a request: check the scope, hash (scope, key) into the record id.
 * A missing or oversized scope is the app's mistake (its scope function), so it throws a TypeError
 * before anything touches the store.
 */
export function resolveTarget(settings: Pick<CoreSettings, 'namespace'>, scope: string, key: string, fingerprint: string): Target {
  if (typeof scope !== 'string' || scope.length === 0 || scope.length > MAX_SCOPE_LENGTH) {
    throw new TypeError(`oncely: every request needs a scope of 1-${MAX_SCOPE_LENGTH} characters (tenant, account or webhook endpoint).`);
  }
  const id = recordId(settings.namespace, scope, key);
  return { scope, key, recordId: id, keyHash: id.slice(settings.namespace.length + 1), fingerprint };
}
