import { type IdempotentRequest, resolveScope } from '@oncely/core';
import type { Context } from 'hono';
import type { Scope } from './scope';

/**
 * Core's view of a Hono request: method, path and query as sent, the Fetch `Headers`, and the raw
 * body bytes, read with `c.req.arrayBuffer()` — Hono caches them, so handlers still read the body
 * with `c.req.json()`, `.text()`, `.formData()`, `.parseBody()` or validators. The scope is
 * computed lazily, on first read.
 */
export async function idempotentRequest(c: Context, scope: Scope): Promise<IdempotentRequest> {
  const rawBody = c.req.raw.body === null ? undefined : new Uint8Array(await c.req.arrayBuffer());
  const base = { method: c.req.method, url: pathAndQuery(c.req.url), headers: c.req.raw.headers };
  const request = rawBody ? { ...base, rawBody } : base;
  let resolved: string | undefined;
  return Object.defineProperty(request, 'scope', {
    enumerable: true,
    get: () => (resolved ??= resolveScope(scope, c)),
  }) as typeof request & { readonly scope: string };
}

/** `/path?query` of an absolute URL, exactly as received (no re-encoding), without a fragment. */
function pathAndQuery(url: string): string {
  const start = url.indexOf('/', url.indexOf('://') + 3);
  if (start === -1) return '/';
  const hash = url.indexOf('#', start);
  return hash === -1 ? url.slice(start) : url.slice(start, hash);
}
