import { context, type Attributes, type Span, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** One exported metric point, flattened for assertions. */
export interface Point {
  readonly name: string;
  readonly unit: string;
  readonly attributes: Attributes;
  /** Counter / up-down counter value, or the histogram's count. */
  readonly value: number;
  /** Histograms only. */
  readonly sum?: number | undefined;
  readonly buckets?: readonly number[];
}

/**
 * Real OpenTelemetry SDK providers wired to in-memory exporters, and an async-local-storage
 * context manager so that spans nest under the active span as they would in an app.
 */
export function telemetry() {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);

  /** Collect now and return every point of every metric. */
  async function points(): Promise<Point[]> {
    await reader.forceFlush();
    const latest = metricExporter.getMetrics().at(-1);
    const out: Point[] = [];
    for (const scope of latest?.scopeMetrics ?? []) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
          const value = point.value;
          out.push(
            typeof value === 'number'
              ? { name: metric.descriptor.name, unit: metric.descriptor.unit, attributes: point.attributes, value }
              : {
                  name: metric.descriptor.name,
                  unit: metric.descriptor.unit,
                  attributes: point.attributes,
                  value: value.count,
                  sum: value.sum,
                  buckets: value.buckets.boundaries,
                },
          );
        }
      }
    }
    return out;
  }

  /** The value of the point of `name` whose attributes include `match` (0 if there is none, fails if several). */
  async function value(name: string, match: Attributes = {}): Promise<number> {
    const found = (await points()).filter(
      (point) => point.name === name && Object.entries(match).every(([key, expected]) => point.attributes[key] === expected),
    );
    if (found.length > 1) throw new Error(`${found.length} points of ${name} match ${JSON.stringify(match)}`);
    return found[0]?.value ?? 0;
  }

  const tracer = tracerProvider.getTracer('test');

  /** Run `work` inside an active parent span (like an HTTP server span) and end it after. */
  async function withParent<T>(name: string, work: (parent: Span) => Promise<T>): Promise<{ result: T; parent: ReadableSpan }> {
    const parent = tracer.startSpan(name);
    const result = await context.with(trace.setSpan(context.active(), parent), () => work(parent));
    parent.end();
    return { result, parent: parent as unknown as ReadableSpan };
  }

  return {
    meterProvider,
    tracerProvider,
    spans: (): ReadableSpan[] => spanExporter.getFinishedSpans(),
    points,
    value,
    withParent,
    async close(): Promise<void> {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      context.disable();
    },
  };
}
