import { MAX_SCOPE_LENGTH } from './target';

/**
 * Whose key it is, as a binding's option: a constant (e.g. one webhook endpoint), or a function of
 * the framework's request or context (e.g. the authenticated tenant). Required: there is no global
 * default, so tenant A's key never replays tenant B's response.
 */
export type ScopeOption<C> = string | ((context: C) => string);

/** Check a binding's `scope` option at setup: a string of 1–1024 characters, or a function. */
export function scopeOption<C>(scope: ScopeOption<C> | undefined): ScopeOption<C> {
  if (typeof scope === 'function' || (typeof scope === 'string' && scope.length > 0 && scope.length <= MAX_SCOPE_LENGTH)) return scope;
  throw new TypeError(
    `oncely: \`scope\` is required: a string of 1-${MAX_SCOPE_LENGTH} characters, or a function of the request returning one (e.g. the tenant id). There is no global default.`,
  );
}

/**
 * The scope of one request. Bindings call it only when the engine needs it (a guarded request with
 * a key), so a scope function may assume an authenticated request. A scope function must answer
 * synchronously; what it throws (and the TypeError for a promise) goes to the framework's error
 * handling. The engine then checks the value itself (1–1024 characters).
 */
export function resolveScope<C>(scope: ScopeOption<C>, context: C): string {
  if (typeof scope === 'string') return scope;
  const value: unknown = scope(context);
  if (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function') {
    throw new TypeError('oncely: the scope function must return a string synchronously; resolve the tenant in an earlier middleware.');
  }
  return value as string;
}
