export { otelEvents, INSTRUMENTATION_NAME, DURATION_BUCKETS_S } from './otel-events';
export type { OtelEventsOptions, OtelListeners } from './otel-events';
export { combineListeners } from '@oncely/core';
