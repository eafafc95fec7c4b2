import { type CapturedResponse, headerEntries, type HttpResponse } from '@oncely/core';
import { IncomingMessage, OutgoingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { render } from './render';

/** What the middleware does once the handler has ended its response (or failed). */
export interface CaptureHooks {
  /** Store or release; resolves with a response to send instead (atomic mode), or undefined. */
  finish(response: CapturedResponse): Promise<HttpResponse | undefined>;
  /** The handler failed (reported by `idempotencyErrors()`): release the key. */
  fail(error: unknown): Promise<void>;
}

type Callback = (error?: Error | null) => void;

/**
 * - `buffering`: the handler is writing; nothing has reached the socket.
 * - `streaming`: the body outgrew `maxBodyBytes`; it goes straight through, only its end is held.
 * - `settling`: the handler ended the response; the record is being written.
 * - `done`: everything passes through to the real response.
 */
type Mode = 'buffering' | 'streaming' | 'settling' | 'done';

/**
 * Which request and response objects are being captured, and by what. A WeakMap, not a property:
 * Express swaps the prototype of every req and res, after which each property added to them costs
 * V8 a copy of the object's shape (about 1.6 µs each). Registered globally, so two copies of this
 * package (ESM and CJS) see each other's captures.
 */
const CAPTURES: WeakMap<object, ResponseCapture> = ((globalThis as { [key: symbol]: unknown })[Symbol.for('@oncely/express.captures')] ??= new WeakMap<
  object,
  ResponseCapture
>()) as WeakMap<object, ResponseCapture>;
/** Responses captured through `ServerResponse.prototype`'s hooks (at most one capture each), shared likewise. */
const PROTOTYPE_CAPTURES: WeakMap<object, ResponseCapture> = ((globalThis as { [key: symbol]: unknown })[
  Symbol.for('@oncely/express.prototypeCaptures')
] ??= new WeakMap<object, ResponseCapture>()) as WeakMap<object, ResponseCapture>;
const realHeadersSent = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'headersSent')?.get;
const realWritableEnded = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'writableEnded')?.get;

/**
 * The accessors of a captured response: the same two functions for every response (they find the
 * capture in {@link CAPTURES}) — on `ServerResponse.prototype`, or on the response itself if it is
 * some other kind of object.
 */
const HEADERS_SENT = {
  configurable: true,
  enumerable: true,
  get(this: object): boolean {
    const capture = CAPTURES.get(this);
    if (capture) return capture.headersSent();
    return realHeadersSent ? Boolean(realHeadersSent.call(this)) : false;
  },
};
const WRITABLE_ENDED = {
  configurable: true,
  enumerable: true,
  get(this: object): boolean {
    const capture = CAPTURES.get(this);
    if (capture) return capture.writableEnded();
    return realWritableEnded ? Boolean(realWritableEnded.call(this)) : false;
  },
};

type Hooked = Pick<ServerResponse, 'writeHead' | 'write' | 'end' | 'flushHeaders'>;
const HOOKS_INSTALLED = Symbol.for('@oncely/express.prototypeHooks');

/**
 * `ServerResponse.prototype` as Node defines it, with pass-through hooks added once (by the first
 * capture in the process): `writeHead`, `write`, `end`, `flushHeaders`, `headersSent` and
 * `writableEnded` go to the capture of a response captured through the prototype, and to Node's own
 * members for every other response — unchanged. Capturing a response then adds no property to it:
 * after Express has swapped a response's prototype, every property added to it costs V8 a copy of
 * its shape (about 1.6 µs each, and garbage), which was most of this binding's own CPU per request.
 * Returns Node's own members, or undefined when the prototype cannot be hooked.
 */
function prototypeHooks(): Hooked | undefined {
  const proto = ServerResponse.prototype as ServerResponse & { [HOOKS_INSTALLED]?: Hooked };
  const installed = proto[HOOKS_INSTALLED];
  if (installed) return installed;
  const real: Hooked = { writeHead: proto.writeHead, write: proto.write, end: proto.end, flushHeaders: proto.flushHeaders };
  if (Object.values(real).some((member) => typeof member !== 'function') || !realHeadersSent || !realWritableEnded) return undefined;
  const through = (response: ServerResponse): ResponseCapture | undefined => PROTOTYPE_CAPTURES.get(response);
  Object.defineProperties(proto, {
    writeHead: {
      configurable: true,
      writable: true,
      value: function writeHead(this: ServerResponse, ...args: unknown[]) {
        const capture = through(this);
        return capture ? capture.writeHead(args) : (real.writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
      },
    },
    write: {
      configurable: true,
      writable: true,
      value: function write(this: ServerResponse, ...args: unknown[]) {
        const capture = through(this);
        return capture ? capture.write(args[0], args[1], args[2]) : (real.write as (...a: unknown[]) => boolean).apply(this, args);
      },
    },
    end: {
      configurable: true,
      writable: true,
      value: function end(this: ServerResponse, ...args: unknown[]) {
        const capture = through(this);
        return capture ? capture.end(args[0], args[1], args[2]) : (real.end as (...a: unknown[]) => ServerResponse).apply(this, args);
      },
    },
    flushHeaders: {
      configurable: true,
      writable: true,
      value: function flushHeaders(this: ServerResponse) {
        const capture = through(this);
        if (capture) capture.flushHeaders();
        else real.flushHeaders.call(this);
      },
    },
    headersSent: HEADERS_SENT,
    writableEnded: WRITABLE_ENDED,
    [HOOKS_INSTALLED]: { value: real },
  });
  return real;
}

const CONTEXT_ACCESSOR = Symbol.for('@oncely/express.requestContext');

/**
 * Make `req.idempotency` the context of `req`'s capture. On a Node request this adds no property to
 * `req`: an accessor added once to `IncomingMessage.prototype` reads it from {@link CAPTURES} (after
 * Express has swapped a request's prototype, adding a property to it costs a copy of its shape and
 * of its property store, ≈ 1.1 KB of garbage per request). A value assigned to `req.idempotency`
 * (by the application, or on a request of another kind) is an own property, as before.
 */
export function exposeContext(req: object, context: unknown): void {
  if (req instanceof IncomingMessage && contextAccessor() && !Object.prototype.hasOwnProperty.call(req, 'idempotency')) return;
  (req as { idempotency?: unknown }).idempotency = context;
}

function contextAccessor(): boolean {
  const proto = IncomingMessage.prototype as IncomingMessage & { [CONTEXT_ACCESSOR]?: true };
  if (proto[CONTEXT_ACCESSOR]) return true;
  if (Object.prototype.hasOwnProperty.call(proto, 'idempotency')) return false;
  Object.defineProperties(proto, {
    idempotency: {
      configurable: true,
      enumerable: false,
      get(this: object): unknown {
        return captureOf(this)?.context;
      },
      set(this: object, value: unknown) {
        Object.defineProperty(this, 'idempotency', { configurable: true, enumerable: true, writable: true, value });
      },
    },
    [CONTEXT_ACCESSOR]: { value: true },
  });
  return true;
}

/** One `close` listener for every captured response (a response closes once). */
function onClose(this: object): void {
  PROTOTYPE_CAPTURES.get(this)?.closed();
}

/**
 * The capture of `req`'s response, if oncely is executing it: found through `req.res` (Express links
 * every request to its response), else through `req` itself.
 */
export function captureOf(req: object): ResponseCapture | undefined {
  const capture = CAPTURES.get(req);
  if (capture) return capture;
  const res = (req as { res?: unknown }).res;
  return typeof res === 'object' && res !== null ? CAPTURES.get(res) : undefined;
}

/** Whether something has wrapped one of `res`'s members on the instance. */
function wrappedOnInstance(res: object): boolean {
  const own = Object.prototype.hasOwnProperty;
  return own.call(res, 'writeHead') || own.call(res, 'write') || own.call(res, 'end') || own.call(res, 'flushHeaders');
}

/**
 * Holds a response back while its handler runs, so the idempotency record is written before the
 * client sees anything: `writeHead`, `write`, `end` and `flushHeaders` are intercepted on this one
 * response object, whatever calls them (`res.send`/`res.json` end in `res.end`; piped streams call
 * `write` and `end`). Status and headers are read from the response when the handler ends it, so
 * headers set by `writeHead(status, headers)` or by other middleware count too.
 *
 * Bodies are buffered up to `maxBodyBytes`. A body that grows past it while being written is
 * passed through as it comes (never truncated) and completes without being stored; only its end is
 * held until the record is written. `headersSent` and `writableEnded` report what Node would
 * (true from the first write, and from `end()`), so error handlers behave as they would without oncely.
 */
export class ResponseCapture {
  private mode: Mode = 'buffering';
  private chunks: Buffer[] = [];
  /**
   * The body when it came as one string (`res.send('...')`, `res.json()`): sent as that string, so
   * Node writes the head and the body in one piece, as it does without oncely.
   */
  private text: { readonly chunk: string; readonly encoding: BufferEncoding } | undefined;
  private size = 0;
  private headWritten = false;
  private failure: { readonly error: unknown } | undefined;
  private endCallback: Callback | undefined;
  /** The headers set before the handler ran, restored under a replacement (a rolled-back completion). */
  private readonly headersBefore: OutgoingHttpHeaders;
  private readonly original: Hooked;

  constructor(
    req: object,
    private readonly res: ServerResponse,
    private readonly maxBodyBytes: number,
    private readonly hooks: CaptureHooks,
    /** What `req.idempotency` reads (see {@link exposeContext}). */
    readonly context: unknown = undefined,
  ) {
    const real = res instanceof ServerResponse ? prototypeHooks() : undefined;
    // Already captured (oncely guards this route twice) or wrapped by a middleware before oncely: wrap
    // the instance, outermost, as that middleware would see the handler's output.
    const wrapped = CAPTURES.has(res) || wrappedOnInstance(res);
    // Found through `req.res` when Express has linked them (one WeakMap entry fewer per request).
    if ((req as { res?: unknown }).res !== res) CAPTURES.set(req, this);
    CAPTURES.set(res, this);
    this.headersBefore = res.getHeaders();
    if (real && !wrapped) {
      // Nothing has wrapped this response yet: the prototype's hooks capture it, and Node's own members send it.
      PROTOTYPE_CAPTURES.set(res, this);
      this.original = real;
      res.on('close', onClose);
    } else {
      // Send through what was there (another capture, a middleware's wrapper, or Node's own members).
      this.original = { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders };
      const capture = this;
      res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
        return capture.writeHead(args);
      } as ServerResponse['writeHead'];
      res.write = function write(chunk: unknown, encoding?: unknown, callback?: unknown) {
        return capture.write(chunk, encoding, callback);
      } as ServerResponse['write'];
      res.end = function end(chunk?: unknown, encoding?: unknown, callback?: unknown) {
        return capture.end(chunk, encoding, callback);
      } as ServerResponse['end'];
      res.flushHeaders = function flushHeaders() {
        capture.flushHeaders();
      };
      if (!real) {
        Object.defineProperty(res, 'headersSent', HEADERS_SENT);
        Object.defineProperty(res, 'writableEnded', WRITABLE_ENDED);
      }
      res.once('close', () => this.closed());
    }
  }

  /** The handler failed (`next(err)`): release the key instead of storing what the error handler sends. */
  failed(error: unknown): void {
    if (this.mode === 'buffering' || this.mode === 'streaming') this.failure ??= { error };
  }

  private get passingThrough(): boolean {
    return this.mode === 'streaming' || this.mode === 'done';
  }

  /** What `res.headersSent` reports. */
  headersSent(): boolean {
    if (this.passingThrough) return realHeadersSent ? Boolean(realHeadersSent.call(this.res)) : this.headWritten;
    return this.headWritten;
  }

  /** What `res.writableEnded` reports. */
  writableEnded(): boolean {
    if (this.mode === 'done') return realWritableEnded ? Boolean(realWritableEnded.call(this.res)) : true;
    return this.mode === 'settling';
  }

  /** `res.writeHead`, while captured. */
  writeHead(args: unknown[]): ServerResponse {
    const { res } = this;
    if (this.passingThrough) return (this.original.writeHead as (...a: unknown[]) => ServerResponse).apply(res, args);
    if (this.headWritten) throw headersSentError();
    const [statusCode, reasonOrHeaders, maybeHeaders] = args;
    const status = Number(statusCode) | 0;
    if (status < 100 || status > 999) throw new RangeError(`Invalid status code: ${String(statusCode)}`);
    let headers = maybeHeaders;
    if (typeof reasonOrHeaders === 'string') res.statusMessage = reasonOrHeaders;
    else headers ??= reasonOrHeaders;
    res.statusCode = status;
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new TypeError('The headers array of writeHead() must hold name, value pairs.');
      for (let i = 0; i < headers.length; i += 2) res.removeHeader(String(headers[i]));
      for (let i = 0; i < headers.length; i += 2) if (headers[i]) res.appendHeader(String(headers[i]), headers[i + 1] as string | string[]);
    } else if (typeof headers === 'object' && headers !== null) {
      for (const [name, value] of Object.entries(headers)) if (name) res.setHeader(name, value as string | number | readonly string[]);
    }
    this.headWritten = true;
    return res;
  }

  /** `res.write`, while captured. */
  write(chunk: unknown, encoding: unknown, callback: unknown): boolean {
    if (typeof encoding === 'function') [callback, encoding] = [encoding, undefined];
    const done = typeof callback === 'function' ? (callback as Callback) : undefined;
    if (this.passingThrough) return (this.original.write as (...a: unknown[]) => boolean).call(this.res, chunk, encoding, done);
    if (this.mode === 'settling') {
      const error = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
      if (done) process.nextTick(done, error);
      return false;
    }
    const bytes = toBuffer(chunk, encoding);
    this.implicitHead();
    this.append(bytes, chunk, encoding);
    if (this.size > this.maxBodyBytes) return this.startStreaming(done);
    if (done) process.nextTick(done);
    return true;
  }

  /** `res.end`, while captured. */
  end(chunk: unknown, encoding: unknown, callback: unknown): ServerResponse {
    const { res } = this;
    if (typeof chunk === 'function') [callback, chunk, encoding] = [chunk, undefined, undefined];
    else if (typeof encoding === 'function') [callback, encoding] = [encoding, undefined];
    const done = typeof callback === 'function' ? (callback as Callback) : undefined;
    if (this.mode === 'done') return (this.original.end as (...a: unknown[]) => ServerResponse).call(res, chunk, encoding, done);
    if (this.mode === 'settling') {
      if (done) res.once('finish', () => done());
      return res;
    }
    if (chunk !== undefined && chunk !== null) this.append(toBuffer(chunk, encoding), chunk, encoding);
    if (this.mode === 'buffering') this.implicitHead();
    const streamed = this.mode === 'streaming';
    this.mode = 'settling';
    this.endCallback = done;
    void this.settle(streamed);
    return res;
  }

  /** `res.flushHeaders`, while captured. */
  flushHeaders(): void {
    if (this.passingThrough) this.original.flushHeaders.call(this.res);
    else this.implicitHead();
  }

  /**
   * Where Node writes the head implicitly (first write, end, flushHeaders), call `writeHead` as Node
   * does — through the response object, so hooks installed after oncely (on-headers: compression,
   * response-time) run now and their headers are captured.
   */
  private implicitHead(): void {
    if (!this.headWritten) this.res.writeHead(this.res.statusCode);
  }

  private append(bytes: Buffer, chunk: unknown, encoding: unknown): void {
    this.text = this.chunks.length === 0 && typeof chunk === 'string' ? { chunk, encoding: textEncoding(encoding) } : undefined;
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  /** The body outgrew the cap: send what was held, and let the rest through as it comes. */
  private startStreaming(callback: Callback | undefined): boolean {
    this.mode = 'streaming';
    const held = this.chunks;
    this.chunks = [];
    let ok = true;
    held.forEach((chunk, i) => {
      ok = (this.original.write as (...a: unknown[]) => boolean).call(this.res, chunk, i === held.length - 1 ? callback : undefined);
    });
    return ok;
  }

  /** The handler ended its response: write the record, then send (or send the replacement). */
  private async settle(streamed: boolean): Promise<void> {
    const { res } = this;
    const { chunks, text } = this;
    // One chunk (the usual `res.send`/`res.json`) is the body as it is: no copy.
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    this.chunks = [];
    this.text = undefined;
    let replacement: HttpResponse | undefined;
    try {
      if (this.failure) await this.hooks.fail(this.failure.error);
      else replacement = await this.hooks.finish({ status: res.statusCode, headers: headerEntries(res.getHeaders()), body: streamed ? null : body });
    } catch {
      // finish/fail settle the record themselves and report through onEvent; the response still goes out.
    }
    this.mode = 'done';
    const callback = this.endCallback;
    if (!replacement) {
      const end = this.original.end as (...a: unknown[]) => ServerResponse;
      if (text && chunks.length === 1 && !streamed) end.call(res, text.chunk, text.encoding, callback);
      else end.call(res, body.length > 0 || !streamed ? body : undefined, callback);
    } else if (streamed) {
      res.destroy(new Error('oncely: the response was already streaming when its outcome was rolled back.'));
    } else {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      for (const [name, value] of Object.entries(this.headersBefore)) if (value !== undefined) res.setHeader(name, value);
      res.statusMessage = '';
      render(res, replacement, callback);
    }
  }

  /** The connection closed before the handler ended its response. */
  closed(): void {
    if (!this.failure || (this.mode !== 'buffering' && this.mode !== 'streaming')) return;
    this.mode = 'done';
    this.chunks = [];
    void this.hooks.fail(this.failure.error).catch(() => undefined);
  }
}

function textEncoding(encoding: unknown): BufferEncoding {
  return typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
}

/**
 * A chunk's bytes. Buffers and other byte arrays are kept, not copied: Node's own response holds
 * written chunks by reference too, until they are sent.
 */
function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, textEncoding(encoding));
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${chunk === null ? 'null' : typeof chunk}`);
}

function headersSentError(): Error {
  return Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
}
