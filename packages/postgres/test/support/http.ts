/** Requests and responses for driving core's engine in the integration tests. */
import { type HttpResponse, type IdempotentRequest, utf8 } from '@oncely/core';

/** A POST /payments for `key` in scope `acct_test`, with a fixed JSON body. */
export function paymentRequest(key: string, scope = 'acct_test'): IdempotentRequest {
  return { scope, method: 'POST', url: '/payments', headers: { 'idempotency-key': key }, parsedBody: { amount: 1000, currency: 'chf' } };
}

/** A 201 JSON response. */
export function created(body: unknown): HttpResponse {
  return { status: 201, headers: [['content-type', 'application/json']], body: utf8(JSON.stringify(body)) };
}

/** The body of a response as text. */
export function text(response: HttpResponse): string {
  return new TextDecoder().decode(response.body);
}

/** The problem `code` of a problem response, if it is one. */
export function problemCode(response: HttpResponse): string | undefined {
  const type = response.headers.find(([name]) => name === 'content-type')?.[1];
  return type === 'application/problem+json' ? (JSON.parse(text(response)) as { code?: string }).code : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
