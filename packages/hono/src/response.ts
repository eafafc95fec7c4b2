import type { CapturedResponse, HttpResponse } from '@oncely/core';

/** Statuses a `Response` must have without a body. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/** One of core's responses (a replay, a problem, atomic mode's replacement) as a `Response`, with `Content-Length`. */
export function toResponse(response: HttpResponse): Response {
  const headers = new Headers();
  for (const [name, value] of response.headers) headers.append(name, value);
  if (NULL_BODY_STATUSES.has(response.status)) return new Response(null, { status: response.status, headers });
  headers.set('content-length', String(response.body.byteLength));
  return new Response(response.body as Uint8Array<ArrayBuffer>, { status: response.status, headers });
}

/**
 * What the handler answered: status, headers, and the body read from a clone (`res.clone()` tees
 * the stream), so `res` itself is untouched and still streams to the client. The clone is read up
 * to `maxBodyBytes`; a longer body is not stored (`body: null`) and the clone is cancelled — the
 * client still gets all of it from `res`.
 */
export async function captureResponse(res: Response, maxBodyBytes: number): Promise<CapturedResponse> {
  const head = { status: res.status, headers: [...res.headers] };
  if (res.body === null) return { ...head, body: new Uint8Array(0) };
  const reader = (res.clone().body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) return { ...head, body: concat(chunks, size) };
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size > maxBodyBytes) {
      // Not awaited: a tee branch's cancel settles only once the other branch (the client's) does.
      reader.cancel().catch(() => undefined);
      return { ...head, body: null };
    }
  }
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
