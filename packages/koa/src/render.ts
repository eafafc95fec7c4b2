import { groupHeaders, type HttpResponse } from '@oncely/core';
import type { ParameterizedContext } from 'koa';

/**
 * Answer with one of core's responses (a replay, a problem, or atomic mode's replacement): its
 * status, its headers (replacing any of the same name), and its body as a Buffer, which makes Koa
 * send `Content-Length` from the body.
 */
export function render(ctx: ParameterizedContext, response: HttpResponse): void {
  ctx.status = response.status;
  for (const [name, values] of groupHeaders(response.headers)) ctx.set(name, values.length === 1 ? (values[0] as string) : values);
  const { body } = response;
  ctx.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
