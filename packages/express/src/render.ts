import { groupHeaders, type HttpResponse } from '@oncely/core';
import type { ServerResponse } from 'node:http';

/**
 * Send one of core's responses (a replay or a problem): its status, its headers (replacing any of
 * the same name set earlier), `Content-Length` from the body, and the body bytes.
 */
export function render(res: ServerResponse, response: HttpResponse, callback?: () => void): void {
  res.statusCode = response.status;
  for (const [name, values] of groupHeaders(response.headers)) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
  const { body } = response;
  res.setHeader('content-length', String(body.byteLength));
  res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength), callback);
}
