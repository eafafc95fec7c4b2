import type { IdempotencyEvent, IdempotencyEventType } from './events';
import { randomToken } from './hash';
import type { CoreSettings } from './options';

/** Who a request is about: the parsed key, its scope, and what the store calls them. */
export interface Target {
  readonly scope: string;
  readonly key: string;
  /** `namespace:keyHash`. */
  readonly recordId: string;
  /** Hex SHA-256 of (scope, key). */
  readonly keyHash: string;
  readonly fingerprint: string;
}

type EventExtra = Partial<Pick<IdempotencyEvent, 'handlerMs' | 'claimMs' | 'completeMs' | 'outcome' | 'status' | 'detail' | 'error'>>;

/**
 * Per-request bookkeeping: store latency, elapsed time, and the events of CONTRACT §9. Every
 * consumer of events (the `onEvent` listener and the `logger`, combined in `resolveCoreOptions`;
 * `onLifecycle` for the `claimed` / `settled` markers) is fed from {@link Trace.emit}, the one
 * place events are built.
 */
export class Trace {
  readonly startedAt: number;
  storeMs = 0;
  /** Drawn on the first event only: requests nobody listens to pay nothing for it. */
  private id: string | undefined;
  /** Whether anyone receives events: if not, store latency (only ever reported in events) is not timed. */
  private readonly observed: boolean;

  constructor(
    private readonly settings: CoreSettings,
    readonly target: Target,
  ) {
    this.startedAt = settings.clock.now();
    this.observed = settings.onEvent !== undefined || settings.onLifecycle !== undefined;
  }

  /** Whether an event of this type has a listener: callers skip building the event's extras if not. */
  hears(type: IdempotencyEventType): boolean {
    return (type === 'claimed' || type === 'settled' ? this.settings.onLifecycle : this.settings.onEvent) !== undefined;
  }

  /** Run one store operation, adding its latency to the request's store time (when anyone listens). */
  store<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.observed) {
      try {
        return operation();
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.timed(operation);
  }

  private async timed<T>(operation: () => Promise<T>): Promise<T> {
    const started = this.settings.clock.now();
    try {
      return await operation();
    } finally {
      this.storeMs += this.settings.clock.now() - started;
    }
  }

  emit(type: IdempotencyEventType, extra: EventExtra = {}): void {
    const listener = type === 'claimed' || type === 'settled' ? this.settings.onLifecycle : this.settings.onEvent;
    if (!listener) return;
    const now = this.settings.clock.now();
    const event: IdempotencyEvent = {
      type,
      scope: this.target.scope,
      keyHash: this.target.keyHash,
      ...(this.settings.logRawKeys ? { key: this.target.key } : {}),
      requestId: (this.id ??= randomToken()),
      at: now,
      durationMs: now - this.startedAt,
      storeLatencyMs: this.storeMs,
      ...extra,
    };
    try {
      listener(event);
    } catch {
      // Observability must never break a request.
    }
  }
}
