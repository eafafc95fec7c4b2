import { type IdempotentRequest, resolveScope } from '@oncely/core';
import type { Request } from 'express';
import type { Scope } from './scope';

/**
 * Core's view of an Express request: method, path and query as sent (`originalUrl`, unaffected by
 * mounting), headers, and the body — the raw bytes when a body parser kept them (`keepRawBody`,
 * or any `req.rawBody` Buffer; `express.raw()` bodies are bytes already), else the parsed
 * `req.body`. The scope is computed lazily, on first read.
 */
export function idempotentRequest(req: Request, scope: Scope): IdempotentRequest {
  return new ExpressRequest(req, scope);
}

/** A class with a lazy `scope` getter: cheaper per request than a literal given a getter by defineProperty. */
class ExpressRequest implements IdempotentRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Request['headers'];
  readonly rawBody: Uint8Array | undefined;
  readonly parsedBody: unknown;
  readonly #req: Request;
  readonly #scope: Scope;
  #resolved: string | undefined;

  constructor(req: Request, scope: Scope) {
    this.#req = req;
    this.#scope = scope;
    this.method = req.method;
    this.url = req.originalUrl;
    this.headers = req.headers;
    this.rawBody = rawBodyOf(req);
    this.parsedBody = this.rawBody ? undefined : (req.body as unknown);
  }

  get scope(): string {
    return (this.#resolved ??= resolveScope(this.#scope, this.#req));
  }
}

function rawBodyOf(req: Request): Uint8Array | undefined {
  const kept: unknown = (req as { rawBody?: unknown }).rawBody;
  if (kept instanceof Uint8Array) return kept;
  if (typeof kept === 'string') return Buffer.from(kept, 'utf8');
  const body: unknown = req.body;
  return body instanceof Uint8Array ? body : undefined;
}
