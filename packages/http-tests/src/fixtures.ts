import { gzipSync } from 'node:zlib';

/** Deterministic pseudo-random bytes (xorshift32), every byte value present. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = i < 256 ? i : state & 0xff;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

const encoder = new TextEncoder();
const gzipJson = JSON.stringify({ compressed: true, text: 'oncely '.repeat(50) });
const smiley = encoder.encode('\u{1F600}');
/** A streamed text body whose 4-byte emoji is split across two chunks: only bytes count. */
const streamChunks: readonly Uint8Array[] = [
  encoder.encode('alpha\n'),
  encoder.encode('b\u00e9ta\n'),
  smiley.subarray(0, 2),
  concat([smiley.subarray(2), encoder.encode('\n')]),
  encoder.encode('omega\n'),
];
const maxBodyBytes = 64 * 1024;
const large = pseudoRandomBytes(4 * maxBodyBytes, 0x9e3779b9);

/** Bodies the scenario app's routes send, and the cap the suite configures. */
export const fixtures = {
  /** `maxBodyBytes` of every scenario app. */
  maxBodyBytes,
  /** `POST /binary`: 4 KiB of binary, 0x00–0xFF included (not UTF-8). */
  binary: pseudoRandomBytes(4096, 0x2545f491),
  /** `POST /gzip`: a gzip member, sent with `Content-Encoding: gzip`; it inflates to {@link gzipJson}. */
  gzip: new Uint8Array(gzipSync(gzipJson)),
  gzipJson,
  /** `POST /large` and `POST /large-stream`: four times `maxBodyBytes`. */
  large,
  /** `POST /large-stream` sends {@link large} in these 16 KiB chunks. */
  largeChunks: Array.from({ length: large.byteLength / 16384 }, (_, i) => large.subarray(i * 16384, (i + 1) * 16384)),
  /** `POST /stream` sends these chunks, one per turn of the event loop. */
  streamChunks,
  /** All of {@link streamChunks}. */
  streamBody: concat(streamChunks),
} as const;

/** The chunks one by one, yielding to the event loop between them (a producer that takes time). */
export async function* slowly(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield chunk;
  }
}

/** {@link slowly} as a web `ReadableStream` (for fetch-style frameworks). */
export function webStream(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  const source = slowly(chunks);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await source.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await source.return(undefined);
    },
  });
}
