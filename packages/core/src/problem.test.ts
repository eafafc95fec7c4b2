import { describe, expect, it } from 'vitest';
import { InProgressError, KeyReusedError, MissingKeyError, ResponseNotStoredError, StoreUnavailableError } from './errors';
import { DEFAULT_PROBLEM_TYPE_BASE, problemDetails, problemResponse } from './problem';

const decode = (body: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(body));
const header = (headers: readonly (readonly [string, string])[], name: string): string[] =>
  headers.filter(([key]) => key === name).map(([, value]) => value);

describe('problemResponse', () => {
  it('renders an RFC 9457 problem with the stable code', () => {
    const response = problemResponse(new KeyReusedError());
    expect(response.status).toBe(422);
    expect(header(response.headers, 'content-type')).toEqual(['application/problem+json']);
    expect(header(response.headers, 'cache-control')).toEqual(['no-store']);
    const body = decode(response.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'status', 'title', 'type']);
    expect(body).toMatchObject({
      type: 'urn:oncely:problem:key_reused',
      title: 'Idempotency key reused with a different request',
      status: 422,
      code: 'key_reused',
    });
    expect(typeof body['detail']).toBe('string');
    expect((body['detail'] as string).length).toBeGreaterThan(0);
  });

  it('adds Retry-After only when the error has retryAfterSeconds', () => {
    expect(header(problemResponse(new InProgressError(7)).headers, 'retry-after')).toEqual(['7']);
    expect(header(problemResponse(new StoreUnavailableError()).headers, 'retry-after')).toEqual(['1']);
    expect(header(problemResponse(new StoreUnavailableError('down', { retryAfterSeconds: 5 })).headers, 'retry-after')).toEqual(['5']);
    expect(header(problemResponse(new KeyReusedError()).headers, 'retry-after')).toEqual([]);
    expect(header(problemResponse(new MissingKeyError()).headers, 'retry-after')).toEqual([]);
  });

  it('uses a custom type base', () => {
    const response = problemResponse(new MissingKeyError(), 'https://errors.example.com/idempotency/');
    expect(decode(response.body)).toMatchObject({ type: 'https://errors.example.com/idempotency/missing_key', status: 400, code: 'missing_key' });
    expect(DEFAULT_PROBLEM_TYPE_BASE).toBe('urn:oncely:problem:');
  });

  it('carries the status of a response that was not stored', () => {
    const response = problemResponse(new ResponseNotStoredError(201));
    expect(response.status).toBe(201);
    expect(decode(response.body)).toMatchObject({ code: 'response_not_stored', status: 201 });
  });

  it('problemDetails matches the rendered body', () => {
    const error = new InProgressError(3);
    expect(decode(problemResponse(error).body)).toEqual(problemDetails(error));
    expect(problemDetails(error)).toEqual({ type: 'urn:oncely:problem:in_progress', title: error.title, status: 409, detail: error.message, code: 'in_progress' });
  });
});
