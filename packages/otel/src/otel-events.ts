import { type EventListener, type IdempotencyEvent, isDecisionEvent } from '@oncely/core';
import {
  type Attributes,
  context,
  metrics,
  type MeterProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

/** Options of {@link otelEvents}. */
export interface OtelEventsOptions {
  /** Where metrics go. Default the global provider (`metrics.getMeterProvider()`). */
  readonly meterProvider?: MeterProvider;
  /** Where spans go. Default the global provider (`trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider;
  /** First part of every metric and span name. Default `'oncely'`: `oncely.requests`, `oncely.claim`. */
  readonly prefix?: string;
  /**
   * Put `oncely.scope` on metrics. Default true. Scopes are tenants or accounts: with many of them
   * every metric gets one time series per scope, so turn this off above a few hundred. Spans always
   * carry the scope (span attributes are not time series).
   */
  readonly recordScope?: boolean;
}

/**
 * The two listeners {@link otelEvents} returns: spread them into the options of
 * `createIdempotency`, `idempotent` or a binding's `idempotency()`.
 */
export interface OtelListeners {
  /** For the `onEvent` option: counts each decision, and draws the claim span of requests that never claim. */
  readonly onEvent: EventListener;
  /** For the `onLifecycle` option: the in-flight gauge, and the claim / handler / complete spans of executions. */
  readonly onLifecycle: EventListener;
}

/** The instrumentation scope name of the meter and the tracer. */
export const INSTRUMENTATION_NAME = '@oncely/otel';

/** Histogram boundaries in seconds: OpenTelemetry's advice for HTTP server durations. */
export const DURATION_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Store errors at claim time end the request's claim phase; later ones (heartbeat, begin, delete) do not. */
const CLAIM_STORE_OPERATIONS = new Set(['create', 'get', 'update']);

/** Settled outcomes that mean the outcome was not recorded as it should be. */
const FAILED_OUTCOMES = new Set(['lease_lost', 'failed', 'rolled_back']);

const PREFIX = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;

/**
 * OpenTelemetry metrics and spans from oncely's events (CONTRACT §9), on `@opentelemetry/api`.
 *
 * Metrics: `oncely.requests` (counter, one per decision; attributes `oncely.outcome` and
 * `oncely.scope`), `oncely.store.duration` and `oncely.handler.duration` (histograms, seconds),
 * `oncely.in_flight` (up-down counter of claimed executions). Spans: `oncely.claim`,
 * `oncely.handler`, `oncely.complete`, children of the span active when the event is emitted
 * (the request's server span, with a context manager installed), with status ERROR on a store
 * error, a failed completion or a lost lease.
 *
 * @example
 * ```ts
 * import { otelEvents } from '@oncely/otel';
 * app.use(idempotency({ store, scope: 'payments', ...otelEvents() }));
 * ```
 */
export function otelEvents(options: OtelEventsOptions = {}): OtelListeners {
  const prefix = options.prefix ?? 'oncely';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new TypeError('@oncely/otel: prefix must start with a letter and be 1-63 characters of [A-Za-z0-9_.-].');
  }
  const recordScope = options.recordScope ?? true;
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME);
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_NAME);
  const advice = { explicitBucketBoundaries: [...DURATION_BUCKETS_S] };

  const requests = meter.createCounter(`${prefix}.requests`, {
    description: 'Idempotency decisions, by outcome (executed, replayed, conflict, mismatch, takeover, released, lease_lost, store_error, complete_failed).',
    unit: '{decision}',
  });
  const storeDuration = meter.createHistogram(`${prefix}.store.duration`, {
    description: 'Time one request spent waiting on the idempotency store, in total.',
    unit: 's',
    advice,
  });
  const handlerDuration = meter.createHistogram(`${prefix}.handler.duration`, {
    description: 'Time the handler of a claimed execution ran.',
    unit: 's',
    advice,
  });
  const inFlight = meter.createUpDownCounter(`${prefix}.in_flight`, {
    description: 'Claimed executions whose handler is running or whose outcome is being recorded.',
    unit: '{execution}',
  });

  const metricAttributes = (event: IdempotencyEvent, outcome?: string): Attributes => ({
    ...(outcome === undefined ? {} : { 'oncely.outcome': outcome }),
    ...(recordScope ? { 'oncely.scope': event.scope } : {}),
  });

  return {
    onEvent(event) {
      if (!isDecisionEvent(event)) return; // markers are onLifecycle's, even if one function gets both
      requests.add(1, metricAttributes(event, event.type));
      const endsClaimPhase =
        event.type === 'replayed' || event.type === 'conflict' || event.type === 'mismatch' || (event.type === 'store_error' && CLAIM_STORE_OPERATIONS.has(event.detail ?? ''));
      if (!endsClaimPhase) return;
      storeDuration.record(event.storeLatencyMs / 1000, metricAttributes(event, event.type));
      const span = phaseSpan(tracer, `${prefix}.claim`, event, event.type, event.at - event.durationMs);
      if (event.type === 'store_error') failSpan(span, event.error, `store ${event.detail ?? 'operation'} failed`);
      span.end(new Date(event.at));
    },
    onLifecycle(event) {
      if (event.type === 'claimed') {
        inFlight.add(1, metricAttributes(event));
        const span = phaseSpan(tracer, `${prefix}.claim`, event, event.detail === 'takeover' ? 'takeover' : 'claimed', event.at - (event.claimMs ?? event.durationMs));
        span.end(new Date(event.at));
        return;
      }
      if (event.type !== 'settled') return;
      const outcome = event.outcome ?? 'completed';
      inFlight.add(-1, metricAttributes(event));
      storeDuration.record(event.storeLatencyMs / 1000, metricAttributes(event, outcome));
      const handlerMs = event.handlerMs ?? 0;
      const completeMs = event.completeMs ?? 0;
      handlerDuration.record(handlerMs / 1000, metricAttributes(event, outcome));

      const completeStart = event.at - completeMs;
      const handler = phaseSpan(tracer, `${prefix}.handler`, event, outcome, completeStart - handlerMs);
      if (outcome === 'released' && event.error !== undefined) failSpan(handler, event.error, 'handler threw');
      handler.end(new Date(completeStart));
      const complete = phaseSpan(tracer, `${prefix}.complete`, event, outcome, completeStart);
      if (FAILED_OUTCOMES.has(outcome)) failSpan(complete, event.error, outcome === 'lease_lost' ? 'lease lost: another request took the key over' : `outcome not recorded (${outcome})`);
      complete.end(new Date(event.at));
    },
  };
}

/** A span of one phase, started at `startMs`, child of the active span. */
function phaseSpan(tracer: Tracer, name: string, event: IdempotencyEvent, outcome: string, startMs: number): Span {
  const attributes: Attributes = {
    'oncely.scope': event.scope,
    'oncely.key_hash': event.keyHash,
    'oncely.request_id': event.requestId,
    'oncely.outcome': outcome,
  };
  if (event.key !== undefined) attributes['oncely.key'] = event.key;
  if (event.status !== undefined) attributes['oncely.status'] = event.status;
  if (event.detail !== undefined) attributes['oncely.detail'] = event.detail;
  return tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: new Date(startMs), attributes }, context.active());
}

function failSpan(span: Span, error: unknown, message: string): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : message });
}
