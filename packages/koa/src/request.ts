import { type IdempotentRequest, resolveScope } from '@oncely/core';
import type { ParameterizedContext } from 'koa';
import type { Scope } from './scope';

/**
 * Core's view of a Koa request: method, path and query as sent (`originalUrl`), headers, and the
 * body — the raw bytes when a body parser kept them (`ctx.request.rawBody`, a string with
 * `@koa/bodyparser`, or bytes), else the parsed `ctx.request.body`. The scope is computed lazily.
 */
export function idempotentRequest(ctx: ParameterizedContext, scope: Scope): IdempotentRequest {
  const rawBody = rawBodyOf(ctx.request);
  const request = rawBody
    ? { method: ctx.method, url: ctx.originalUrl, headers: ctx.headers, rawBody }
    : { method: ctx.method, url: ctx.originalUrl, headers: ctx.headers, parsedBody: (ctx.request as { body?: unknown }).body };
  let resolved: string | undefined;
  return Object.defineProperty(request, 'scope', {
    enumerable: true,
    get: () => (resolved ??= resolveScope(scope, ctx)),
  }) as typeof request & { readonly scope: string };
}

function rawBodyOf(request: object): Uint8Array | undefined {
  const { rawBody, body } = request as { rawBody?: unknown; body?: unknown };
  if (rawBody instanceof Uint8Array) return rawBody;
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  return body instanceof Uint8Array ? body : undefined;
}
