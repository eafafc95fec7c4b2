/** The decisions oncely reports (CONTRACT §9): exactly one event per decision. */
export type IdempotencyDecision =
  | 'executed'
  | 'replayed'
  | 'conflict'
  | 'mismatch'
  | 'takeover'
  | 'released'
  | 'lease_lost'
  | 'store_error'
  | 'complete_failed';

/**
 * Lifecycle markers, not decisions, delivered to the `onLifecycle` option (never to `onEvent`):
 * `claimed` (this request won the claim — created the record or took it over — and its handler is
 * about to run) and `settled` (that claimed execution is over: its outcome is recorded, or could
 * not be). Every `claimed` is followed by exactly one `settled` with the same `requestId`, whatever
 * happens in between, so a consumer can keep an in-flight gauge and draw claim / handler / complete
 * spans. An unprotected execution (`onStoreError: 'proceed'` with the store down) holds no claim
 * and emits neither.
 */
export type IdempotencyLifecycle = 'claimed' | 'settled';

/** Every event type: the decisions, then the two lifecycle markers. */
export type IdempotencyEventType = IdempotencyDecision | IdempotencyLifecycle;

/** How a claimed execution ended, on `settled`. */
export type SettledOutcome =
  /** The outcome was recorded: retries replay it. */
  | 'completed'
  /** The claim was deleted (handler threw, or a non-storable response): a retry runs afresh. */
  | 'released'
  /** Another request took the key over: this execution's outcome was refused. */
  | 'lease_lost'
  /** The completion (or the release) could not be written after retries. */
  | 'failed'
  /** Atomic mode: the handler's transaction was rolled back. */
  | 'rolled_back';

/** The decision event types, in a fixed order (e.g. to pre-create a counter per outcome). */
export const DECISIONS: readonly IdempotencyDecision[] = [
  'executed',
  'replayed',
  'conflict',
  'mismatch',
  'takeover',
  'released',
  'lease_lost',
  'store_error',
  'complete_failed',
];

/**
 * One decision, or a lifecycle marker (`claimed`, `settled`; see {@link IdempotencyLifecycle}).
 * Raw keys never appear unless the `logRawKeys` option is on; `keyHash` (the hash part of the
 * record id) correlates the events of one key without revealing it, and `requestId` the events of
 * one request.
 */
export interface IdempotencyEvent {
  readonly type: IdempotencyEventType;
  readonly scope: string;
  /** Hex SHA-256 of (scope, key): the record id without its namespace. */
  readonly keyHash: string;
  /** The raw key, only with `logRawKeys: true`. */
  readonly key?: string;
  /**
   * Random id of the request (128 bits, hex), the same on all its events. Not the fencing token,
   * and not derived from the key: it correlates events and log lines, nothing else.
   */
  readonly requestId: string;
  /** Epoch ms when the event was emitted. */
  readonly at: number;
  /** Milliseconds since the request reached the core. */
  readonly durationMs: number;
  /** Milliseconds this request has spent waiting on the store so far. */
  readonly storeLatencyMs: number;
  /** For `executed`, `complete_failed` and `settled`: milliseconds the handler ran. */
  readonly handlerMs?: number;
  /** For `claimed` and `settled`: milliseconds from the request reaching the core to winning the claim. */
  readonly claimMs?: number;
  /** For `settled`: milliseconds spent recording the outcome (completion or release) after the handler. */
  readonly completeMs?: number;
  /** For `settled`: how the execution ended. */
  readonly outcome?: SettledOutcome;
  /** Response status, where there is one (executed, replayed, released, complete_failed, settled). */
  readonly status?: number;
  /**
   * For `conflict`: `in_progress` or `abandoned`. For `store_error`: the operation that failed.
   * For `claimed`: `created` (a new record) or `takeover` (an expired claim taken over).
   */
  readonly detail?: string;
  /** The underlying error, for `store_error`, `complete_failed`, `released` after a throw, `settled`. */
  readonly error?: unknown;
}

/**
 * A plain callback, for `onEvent` (decisions) or `onLifecycle` (markers); errors it throws are
 * swallowed so observability can never break a request.
 */
export type EventListener = (event: IdempotencyEvent) => void;

/** Whether an event is one of the decisions (not a `claimed`/`settled` lifecycle marker). */
export function isDecisionEvent(event: IdempotencyEvent): event is IdempotencyEvent & { readonly type: IdempotencyDecision } {
  return event.type !== 'claimed' && event.type !== 'settled';
}

/**
 * One listener that calls each given listener in turn (`undefined` entries are skipped). A listener
 * that throws does not stop the others.
 *
 * @example
 * ```ts
 * const otel = otelEvents(); // @oncely/otel: { onEvent, onLifecycle }
 * createIdempotency({ store, ...otel, onEvent: combineListeners(otel.onEvent, (event) => audit.push(event)) });
 * ```
 */
export function combineListeners(...listeners: readonly (EventListener | undefined)[]): EventListener {
  const present = listeners.filter((listener): listener is EventListener => typeof listener === 'function');
  if (present.length === 1) return present[0] as EventListener;
  return (event) => {
    for (const listener of present) {
      try {
        listener(event);
      } catch {
        // Observability must never break a request, nor another listener.
      }
    }
  };
}
