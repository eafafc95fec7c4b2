import { type HttpResponse, type IdempotencyEngine, type IdempotentRequest, utf8 } from '@oncely/core';

/** A POST /charges request with `key`, as a binding hands it to the engine. */
export function charge(key: string, body = '{"amount":1000,"currency":"chf"}'): IdempotentRequest {
  return {
    scope: 'tenant_redis_test',
    method: 'POST',
    url: '/v1/charges',
    headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    rawBody: utf8(body),
  };
}

/** A handler's 201 with a small JSON body. */
export function created(id: string): HttpResponse {
  return { status: 201, headers: [['content-type', 'application/json']], body: utf8(JSON.stringify({ id })) };
}

/** The problem `code` of a response body, if it is a problem. */
export function problemCode(response: HttpResponse): string | undefined {
  try {
    return (JSON.parse(new TextDecoder().decode(response.body)) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

export type Engine = IdempotencyEngine;
