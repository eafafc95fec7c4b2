import {
  type IdempotencyError,
  InProgressError,
  InvalidKeyError,
  isIdempotencyError,
  MissingKeyError,
  ResponseNotStoredError,
  StoreUnavailableError,
} from './errors';
import { type FingerprintOption, fingerprintNow, type RequestFacts } from './fingerprint';
import { pickHeaders, replayedHeaderFilter } from './headers';
import { headerKey, type KeySource } from './key-source';
import { type ExecutionContext, HandlerContext } from './context';
import { acquire, type Execution } from './lifecycle';
import { type CoreOptions, resolveCoreOptions } from './options';
import { parseKey } from './parse-key';
import { DEFAULT_PROBLEM_TYPE_BASE, type HttpResponse, problemResponse } from './problem';
import type { CompletedRecord, HeaderEntry, StoredResponse } from './record';
import type { Store, TransactionalStore } from './store';
import { resolveTarget } from './target';
import { Trace } from './trace';

/**
 * Options of the HTTP engine, and so of every binding's `idempotency()`. `Tx` is the transaction
 * client type of a transactional store (atomic mode), inferred from `store`.
 */
export interface IdempotencyOptions<Tx = unknown> extends CoreOptions {
  readonly store: Store | TransactionalStore<Tx>;
  /** Methods the engine guards; others pass through untouched. Default `['POST', 'PATCH']`. */
  readonly methods?: readonly string[];
  /** A guarded request without a key gets 400 `missing_key` (default) or, if false, passes through. */
  readonly required?: boolean;
  /** Where the key comes from. Default the `Idempotency-Key` header. */
  readonly key?: KeySource;
  /**
   * Which responses are stored and replayed. Default: status < 500 and not 408, 409, 425, 429.
   * Others release the key, so a retry runs afresh.
   */
  readonly storable?: (status: number) => boolean;
  /** Response headers replayed besides the default allow-list (CONTRACT §6). Never set-cookie. */
  readonly replayHeaders?: readonly string[];
  /** Largest response body stored, in bytes. Larger ones complete without a body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** How requests are fingerprinted (CONTRACT §4); `false` turns the mismatch check off. Default v1. */
  readonly fingerprint?: FingerprintOption;
  /** Base of problem `type` URIs. Default `urn:oncely:problem:`. */
  readonly problemTypeBase?: string;
}

/** A request as a binding hands it to the engine. */
export interface IdempotentRequest extends RequestFacts {
  /** Whose key it is (tenant, account, webhook endpoint). Required: there is no global default. */
  readonly scope: string;
}

/** A response captured from a handler. `body: null`: the binding did not buffer it (over the cap). */
export interface CapturedResponse {
  readonly status: number;
  readonly headers: Iterable<readonly [string, string]>;
  readonly body: Uint8Array | null;
}

/** A claimed request, for a binding that drives the handler itself (e.g. Express's `next()`). */
export interface HttpExecution<Tx = unknown> extends ExecutionContext<Tx> {
  /** The handler's view of this execution: everything but `finish` and `fail`, which are the binding's. */
  readonly context: ExecutionContext<Tx>;
  /**
   * Store the response (if storable) or release the key (if not). Resolves when it is safe to send:
   * with `undefined` to send the captured response, or with a response to send instead (atomic
   * mode, when the handler's transaction was rolled back and its response would be untrue).
   */
  finish(response: CapturedResponse): Promise<HttpResponse | undefined>;
  /** The handler threw: release the key so a retry runs afresh. */
  fail(error: unknown): Promise<void>;
}

/** The engine's decision for one request. */
export type Decision<Tx = unknown> =
  /** Not guarded (method not covered, or key absent and optional): run the handler untouched. */
  | { readonly action: 'pass' }
  /** Answer now: a replay (with `Idempotent-Replayed: true`) or a problem. */
  | { readonly action: 'respond'; readonly response: HttpResponse; readonly replayed: boolean; readonly error?: IdempotencyError }
  /** Run the handler, then `finish()` or `fail()`. */
  | { readonly action: 'execute'; readonly execution: HttpExecution<Tx> };

/** The engine's answer to {@link IdempotencyEngine.handle}. */
export interface HandledResponse {
  readonly response: HttpResponse;
  readonly outcome: 'passed' | 'executed' | 'replayed' | 'rejected';
}

/** The framework-agnostic engine every binding sits on. */
export interface IdempotencyEngine<Tx = unknown> {
  /** Decide what to do with a request (steps 1–3 of CONTRACT §5). */
  begin(request: IdempotentRequest): Promise<Decision<Tx>>;
  /**
   * The whole lifecycle for handlers that return their response: decide, run, store or release,
   * and give back what to send. A handler that throws releases the key and the error propagates.
   */
  handle(request: IdempotentRequest, handler: (context: ExecutionContext<Tx> | null) => Promise<HttpResponse>): Promise<HandledResponse>;
}

const DEFAULT_METHODS = ['POST', 'PATCH'];
const NOT_STORABLE = new Set([408, 409, 425, 429]);
/** Default `maxBodyBytes`: the largest response body stored (and buffered by bindings), 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Default storable statuses (CONTRACT §5.5). */
export function defaultStorable(status: number): boolean {
  return status < 500 && !NOT_STORABLE.has(status);
}

/**
 * Create the HTTP engine. Bindings call this once per middleware; use it directly to support a
 * framework oncely has no binding for.
 *
 * @example
 * ```ts
 * const engine = createIdempotency({ store: memoryStore() });
 * const { response } = await engine.handle(
 *   { scope: tenantId, method: 'POST', url: '/charges', headers, rawBody },
 *   async (ctx) => ({ status: 201, headers: [['content-type', 'application/json']], body }),
 * );
 * ```
 */
export function createIdempotency<Tx = unknown>(options: IdempotencyOptions<Tx>): IdempotencyEngine<Tx> {
  const settings = resolveCoreOptions(options);
  const methods = new Set((options.methods ?? DEFAULT_METHODS).map((method) => method.toUpperCase()));
  const required = options.required ?? true;
  const keySource = options.key ?? headerKey();
  const storable = options.storable ?? defaultStorable;
  const keepHeader = replayedHeaderFilter(options.replayHeaders);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const typeBase = options.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE;
  const fingerprintOption: FingerprintOption = options.fingerprint ?? {};
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new TypeError('oncely: maxBodyBytes must be a whole number >= 0.');

  const reject = (error: IdempotencyError): Decision<Tx> => ({ action: 'respond', response: problemResponse(error, typeBase), replayed: false, error });

  async function begin(request: IdempotentRequest): Promise<Decision<Tx>> {
    if (!methods.has(request.method.toUpperCase())) return { action: 'pass' };
    // A key and a fingerprint computed at once are not awaited: each await is a promise and a suspended frame.
    const keyed = keySource(request);
    const raw = typeof keyed === 'string' || keyed === undefined ? keyed : await keyed;
    if (raw === undefined || raw === '') return required ? reject(new MissingKeyError()) : { action: 'pass' };
    let key: string;
    try {
      key = parseKey(raw);
    } catch (error) {
      return reject(isIdempotencyError(error) ? error : new InvalidKeyError('The idempotency key is invalid.', { cause: error }));
    }
    const scope = request.scope;
    const computed = fingerprintNow(request, fingerprintOption);
    const target = resolveTarget(settings, scope, key, typeof computed === 'string' ? computed : await computed);
    const trace = new Trace(settings, target);
    const acquired = await acquire(settings, trace);
    switch (acquired.kind) {
      case 'rejected':
        return reject(acquired.error);
      case 'completed': {
        const response = replay(acquired.record, typeBase);
        trace.emit('replayed', { status: response.status });
        return { action: 'respond', response, replayed: true };
      }
      case 'claimed':
        try {
          await acquired.execution.start();
        } catch (error) {
          return reject(isIdempotencyError(error) ? error : new StoreUnavailableError(undefined, { cause: error }));
        }
        return { action: 'execute', execution: httpExecution(acquired.execution) };
    }
  }

  async function finish(execution: Execution, response: CapturedResponse): Promise<HttpResponse | undefined> {
    if (!storable(response.status)) {
      await execution.release({ status: response.status });
      return undefined;
    }
    const body = response.body !== null && response.body.byteLength <= maxBodyBytes ? response.body : null;
    const stored: StoredResponse = { status: response.status, headers: pickHeaders(response.headers, keepHeader), body };
    if ((await execution.complete({ response: stored }, response.status)) !== 'rolled_back') return undefined;
    const undone = execution.isLeaseLost
      ? new InProgressError(1)
      : new StoreUnavailableError('The request was rolled back because its outcome could not be recorded; retry it.');
    return problemResponse(undone, typeBase);
  }

  /** The binding's handle on a claimed request: the handler's context, plus `finish` and `fail`. */
  class EngineExecution extends HandlerContext<Tx> implements HttpExecution<Tx> {
    readonly context: ExecutionContext<Tx>;
    readonly #execution: Execution;

    constructor(execution: Execution) {
      super(execution);
      this.#execution = execution;
      this.context = new HandlerContext<Tx>(execution);
    }

    finish(response: CapturedResponse): Promise<HttpResponse | undefined> {
      return finish(this.#execution, response);
    }

    fail(error: unknown): Promise<void> {
      return this.#execution.release({ error });
    }
  }

  const httpExecution = (execution: Execution): HttpExecution<Tx> => new EngineExecution(execution);

  async function handle(
    request: IdempotentRequest,
    handler: (context: ExecutionContext<Tx> | null) => Promise<HttpResponse>,
  ): Promise<HandledResponse> {
    const decision = await begin(request);
    if (decision.action === 'pass') return { response: await handler(null), outcome: 'passed' };
    if (decision.action === 'respond') return { response: decision.response, outcome: decision.replayed ? 'replayed' : 'rejected' };
    const { execution } = decision;
    let response: HttpResponse;
    try {
      response = await handler(execution);
    } catch (error) {
      await execution.fail(error);
      throw error;
    }
    const replacement = await execution.finish(response);
    return replacement ? { response: replacement, outcome: 'rejected' } : { response, outcome: 'executed' };
  }

  return { begin, handle };
}

/**
 * The replay of a completed record (CONTRACT §6): same status and body bytes, the stored
 * (allow-listed) headers, and `Idempotent-Replayed: true`. A response stored without its body
 * replays its status with a `response_not_stored` problem body, never re-executing.
 */
export function replay(record: CompletedRecord, typeBase: string = DEFAULT_PROBLEM_TYPE_BASE): HttpResponse {
  const stored = record.response;
  const marker: HeaderEntry = ['idempotent-replayed', 'true'];
  if (stored && stored.body !== null) {
    return { status: stored.status, headers: [...stored.headers, marker], body: stored.body };
  }
  const status = stored?.status ?? 200;
  const problem = problemResponse(new ResponseNotStoredError(status), typeBase);
  const kept = (stored?.headers ?? []).filter(([name]) => !name.startsWith('content-'));
  return { status, headers: [...kept, ...problem.headers, marker], body: problem.body };
}
