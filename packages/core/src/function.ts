import { utf8 } from './bytes';
import { canonicalJson } from './canonical-json';
import { InProgressError, InvalidKeyError, ResponseNotStoredError, StoreUnavailableError } from './errors';
import { sha256Hex } from './hash';
import { acquire } from './lifecycle';
import { type CoreOptions, resolveCoreOptions } from './options';
import { resolveTarget } from './target';
import { Trace } from './trace';
import { type ExecutionContext, executionContext } from './context';
import type { Store, TransactionalStore } from './store';

/** Turns a return value into bytes and back. Default: JSON. */
export interface Serializer<R> {
  serialize(value: R): Uint8Array;
  deserialize(bytes: Uint8Array): R;
}

/** Options of {@link idempotent}: the core's, plus where key and scope come from. */
export interface IdempotentOptions<I, R, Tx = unknown> extends CoreOptions {
  readonly store: Store | TransactionalStore<Tx>;
  /** The work to do once per key. In atomic mode, write through `context.transaction`. */
  readonly handler: (input: I, context: ExecutionContext<Tx>) => Promise<R>;
  /** The idempotency key of an input: a message id, an event id, `${orderId}:${step}`. */
  readonly key: (input: I) => string;
  /** Whose key it is: a constant or a function of the input (e.g. tenant, queue name). */
  readonly scope: string | ((input: I) => string);
  /**
   * What makes two inputs "the same request". Default: the canonical JSON of the input, so a
   * redelivery with a different payload under the same key throws `KeyReusedError`. `false`: off.
   */
  readonly fingerprint?: false | ((input: I) => unknown);
  /** How results are stored. Default JSON (`undefined` stored as `null`). */
  readonly serializer?: Serializer<R>;
  /** Largest serialized result stored, in bytes; larger ones complete without it. Default 1 MiB. */
  readonly maxResultBytes?: number;
}

/** Longest key of a function execution (message ids, event ids), in characters. */
export const MAX_FUNCTION_KEY = 1024;

/** JSON, the default {@link Serializer}. */
export function jsonSerializer<R>(): Serializer<R> {
  const decoder = new TextDecoder();
  return {
    serialize: (value) => utf8(JSON.stringify(value === undefined ? null : value)),
    deserialize: (bytes) => JSON.parse(decoder.decode(bytes)) as R,
  };
}

/**
 * Give any async function the guarantees of CONTRACT §8 — for queue consumers, cron jobs and
 * webhook workers. The first call for a key runs `handler`; later calls get its stored result;
 * a concurrent duplicate throws `InProgressError` (or waits, with `wait`); the same key with a
 * different input throws `KeyReusedError`; a store outage throws `StoreUnavailableError`. A handler
 * that throws releases the key, so a redelivery runs afresh.
 *
 * @example
 * ```ts
 * const fulfil = idempotent({
 *   store, scope: 'fulfilment', key: (msg: OrderPaid) => msg.eventId,
 *   handler: async (msg, ctx) => shipping.create(msg.orderId, { idempotencyKey: ctx.childKey('ship') }),
 * });
 * queue.on('message', (msg) => fulfil(msg));
 * ```
 */
export function idempotent<I, R, Tx = unknown>(options: IdempotentOptions<I, R, Tx>): (input: I) => Promise<R> {
  const settings = resolveCoreOptions(options);
  const serializer = options.serializer ?? jsonSerializer<R>();
  const maxResultBytes = options.maxResultBytes ?? 1024 * 1024;
  const fingerprintOf = options.fingerprint;

  return async (input: I): Promise<R> => {
    const key = options.key(input);
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_FUNCTION_KEY) {
      throw new InvalidKeyError(`An idempotency key must be a string of 1-${MAX_FUNCTION_KEY} characters.`);
    }
    const scope = typeof options.scope === 'function' ? options.scope(input) : options.scope;
    const digest = fingerprintOf === false ? '' : `v1:${await sha256Hex(utf8(canonicalJson(fingerprintOf ? fingerprintOf(input) : input)))}`;
    const trace = new Trace(settings, resolveTarget(settings, scope, key, digest));
    const acquired = await acquire(settings, trace);
    if (acquired.kind === 'rejected') throw acquired.error;
    if (acquired.kind === 'completed') {
      trace.emit('replayed');
      if (acquired.record.result === undefined) throw new ResponseNotStoredError(200);
      return serializer.deserialize(acquired.record.result);
    }
    const { execution } = acquired;
    await execution.start();
    const context = executionContext<Tx>(execution);
    let result: R;
    try {
      result = await options.handler(input, context);
    } catch (error) {
      await execution.release({ error });
      throw error;
    }
    const bytes = serializer.serialize(result);
    // A lost lease or a failed completion is reported as an event; the work is done either way,
    // so its result is returned (throwing would make a queue redeliver and run it again) — unless
    // atomic mode rolled the work back, in which case a redelivery is exactly what is needed.
    const outcome = await execution.complete(bytes.byteLength <= maxResultBytes ? { result: bytes } : { notStored: true });
    if (outcome === 'rolled_back') {
      throw execution.isLeaseLost ? new InProgressError(1) : new StoreUnavailableError('The work was rolled back because its outcome could not be recorded.');
    }
    return result;
  };
}
