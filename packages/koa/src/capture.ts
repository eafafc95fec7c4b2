import { type CapturedResponse, headerEntries } from '@oncely/core';
import type { ParameterizedContext } from 'koa';
import { Readable, Stream } from 'node:stream';

/** Statuses whose responses Koa sends without a body. */
const EMPTY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/**
 * What the handler answered, as Koa is about to send it: `ctx.status`, the response headers, and
 * the body bytes Koa would write.
 *
 * Strings, Buffers and JSON values are serialized exactly as Koa's `respond()` does (JSON values
 * and web bodies are swapped for the Buffer captured, so what is sent is what is stored). Node
 * streams, web `ReadableStream`s, `Blob`s and `Response`s are read up to `maxBodyBytes`: a body
 * that ends within the cap becomes a Buffer; a longer one is handed back to Koa as a stream of
 * what was read followed by the rest (never truncated), and is not stored (`body: null`). A stream
 * that fails while being read throws: the handler failed.
 */
export async function captureResponse(ctx: ParameterizedContext, maxBodyBytes: number): Promise<CapturedResponse> {
  const body = await bodyBytes(ctx, maxBodyBytes);
  return { status: ctx.status, headers: headerEntries(ctx.response.headers), body };
}

async function bodyBytes(ctx: ParameterizedContext, maxBodyBytes: number): Promise<Uint8Array | null> {
  if (ctx.respond === false) return null;
  if (EMPTY_STATUSES.has(ctx.status) || ctx.method === 'HEAD') return new Uint8Array(0);
  const body: unknown = ctx.body;
  if (body === null || body === undefined) {
    if ((ctx.response as { _explicitNullBody?: boolean })._explicitNullBody) return new Uint8Array(0);
    const message = ctx.message || String(ctx.status);
    ctx.status = ctx.status;
    ctx.body = message;
    return Buffer.from(message);
  }
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Stream && isReadable(body)) return readAll(ctx, nodeChunks(body), maxBodyBytes);
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return readAll(ctx, webChunks(body as ReadableStream<Uint8Array>), maxBodyBytes);
  if (typeof Response !== 'undefined' && body instanceof Response) {
    return body.body ? readAll(ctx, webChunks(body.body), maxBodyBytes) : replaceBody(ctx, new Uint8Array(0));
  }
  if (typeof Blob !== 'undefined' && body instanceof Blob) {
    return body.size > maxBodyBytes ? null : replaceBody(ctx, new Uint8Array(await body.arrayBuffer()));
  }
  const json = JSON.stringify(body) as string | undefined;
  return json === undefined ? new Uint8Array(0) : replaceBody(ctx, Buffer.from(json));
}

/** Swap the body for the bytes captured (Koa keeps the status and content type, sets the length). */
function replaceBody(ctx: ParameterizedContext, bytes: Uint8Array): Uint8Array {
  ctx.body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes;
}

/** Read `chunks` up to the cap: the whole body as a Buffer, or the stream handed back whole. */
async function readAll(ctx: ParameterizedContext, chunks: AsyncGenerator<Buffer>, maxBodyBytes: number): Promise<Uint8Array | null> {
  const held: Buffer[] = [];
  let size = 0;
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (error) {
      await chunks.return(undefined).catch(() => undefined);
      throw error;
    }
    if (next.done) return replaceBody(ctx, Buffer.concat(held));
    held.push(next.value);
    size += next.value.length;
    if (size > maxBodyBytes) {
      const length = ctx.response.get('Content-Length');
      ctx.body = Readable.from(resume(held, chunks), { objectMode: false });
      if (length) ctx.set('Content-Length', length);
      return null;
    }
  }
}

async function* resume(held: Buffer[], rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* held.splice(0);
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

function isReadable(stream: Stream): stream is Readable {
  return typeof (stream as Partial<Readable>)[Symbol.asyncIterator] === 'function';
}

/** A Node stream's chunks as bytes, as `pipe()` would write them (strings as UTF-8). */
async function* nodeChunks(stream: Readable): AsyncGenerator<Buffer> {
  for await (const chunk of stream) yield toBuffer(chunk);
}

async function* webChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Buffer> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield toBuffer(next.value);
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`oncely: a response stream produced a ${typeof chunk} chunk; only strings and bytes can be sent.`);
}
