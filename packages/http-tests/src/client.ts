import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** An answer as it came off the wire: no decompression, no decoding. */
export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  text(): string;
  json<T = Record<string, unknown>>(): T;
}

/** A request of the scenario client. */
export interface SendOptions {
  readonly method?: string;
  /** `Idempotency-Key` header, sent as given. */
  readonly key?: string;
  /** Sent as `application/json`. */
  readonly json?: unknown;
  /** Sent as is (with `content-type` from `headers`, if any). */
  readonly body?: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  /** Connection pool to send through. Default none: a fresh connection per request. */
  readonly agent?: Agent;
  /** Fail with `Error('request timed out ...')` (and destroy the socket) after this many ms. Default none. */
  readonly timeoutMs?: number;
}

function result(status: number, headers: IncomingHttpHeaders, body: Buffer): HttpResult {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

/** Build the `http.request` options and body bytes of a scenario request. */
export function requestParts(base: string, path: string, options: SendOptions = {}) {
  const url = new URL(path, base);
  const headers: Record<string, string> = { ...options.headers };
  let body: Uint8Array | undefined;
  if (options.json !== undefined) {
    body = Buffer.from(JSON.stringify(options.json));
    headers['content-type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  }
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  if (body !== undefined) headers['content-length'] = String(body.byteLength);
  return {
    options: { hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? 'POST', headers, agent: options.agent ?? (false as const) },
    body,
  };
}

/**
 * One request over a fresh loopback connection with `http.request`: bodies arrive as raw bytes
 * (gzip stays gzip), headers exactly as sent.
 */
export function send(base: string, path: string, options: SendOptions = {}): Promise<HttpResult> {
  const parts = requestParts(base, path, options);
  return new Promise<HttpResult>((resolve, reject) => {
    const req = httpRequest(parts.options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(result(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      const timer = setTimeout(() => req.destroy(new Error(`request timed out after ${timeoutMs} ms: ${parts.options.method} ${path}`)), timeoutMs);
      req.on('close', () => clearTimeout(timer));
    }
    req.end(parts.body);
  });
}

/**
 * Write `head` (request line and headers, CRLF-separated, without the blank line) on a raw TCP
 * connection, for header bytes `http.request` refuses to send. Answers the status code.
 */
export function sendRaw(base: string, head: string): Promise<number> {
  const url = new URL(base);
  return new Promise<number>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.end(Buffer.from(`${head}\r\nHost: ${url.host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 'latin1'));
    });
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0)));
  });
}

/** What {@link sendBytes} got back: the final status (0 when no status line came) and every byte received. */
export interface RawResult {
  readonly status: number;
  readonly raw: Buffer;
}

/**
 * Write `bytes` as they are (request line, headers, body — anything, malformed included) on a raw
 * TCP connection and collect what comes back until the server closes it (send `Connection: close`).
 * The connection stays open for writing — a Node server that sees the client's FIN drops answers
 * still being computed — unless `endAfterMs` is given: then it is half-closed that many ms after
 * the write, as a client giving up on an incomplete request does. Fails with
 * `Error('raw request timed out ...')` after `timeoutMs` (default 10 s): a hang is an error.
 */
export function sendBytes(base: string, bytes: Uint8Array, options: { readonly timeoutMs?: number; readonly endAfterMs?: number } = {}): Promise<RawResult> {
  const url = new URL(base);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<RawResult>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ender: ReturnType<typeof setTimeout> | undefined;
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(bytes);
      if (options.endAfterMs !== undefined) ender = setTimeout(() => socket.end(), options.endAfterMs);
    });
    const timer = setTimeout(() => {
      clearTimeout(ender);
      socket.destroy();
      reject(new Error(`raw request timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server may reset a connection it has already answered (e.g. a body it refused to read).
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') {
        clearTimeout(timer);
        clearTimeout(ender);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(ender);
      const raw = Buffer.concat(chunks);
      // The final status: interim 1xx answers (e.g. 100 Continue) come first.
      const statuses = [...raw.toString('latin1').matchAll(/(?:^|\r\n\r\n)HTTP\/1\.[01] (\d{3})/g)].map((match) => Number(match[1]));
      resolve({ status: statuses.find((status) => status >= 200) ?? statuses[0] ?? 0, raw });
    });
  });
}

/** Poll `condition` until it holds (every few ms, failing after `timeoutMs`). For sequencing only. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
