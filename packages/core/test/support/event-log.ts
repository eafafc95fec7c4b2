import { expect } from 'vitest';
import type { IdempotencyEvent } from '../../src/index';
import { isDecisionEvent } from '../../src/index';

/** What {@link eventLog} collects: every event, and the decisions alone (the "one event per decision" view). */
export interface EventLog {
  readonly listener: (event: IdempotencyEvent) => void;
  /** Every event, lifecycle markers included, in order. */
  readonly all: IdempotencyEvent[];
  /** Decision events only (no `claimed` / `settled`), in order. */
  readonly decisions: IdempotencyEvent[];
  /**
   * Check the lifecycle markers: every event has a 128-bit hex `requestId`; each request has at most
   * one `claimed`, and a `claimed` is followed by exactly one `settled` (after all its other events)
   * with timings that add up; no `settled` without a `claimed`. With `open`, requests named there
   * may still be running (claimed, not yet settled).
   */
  assertLifecycle(open?: { readonly open?: number }): void;
}

/** A recording `onEvent` listener for tests. */
export function eventLog(): EventLog {
  const all: IdempotencyEvent[] = [];
  const decisions: IdempotencyEvent[] = [];
  return {
    all,
    decisions,
    listener: (event) => {
      all.push(event);
      if (isDecisionEvent(event)) decisions.push(event);
    },
    assertLifecycle({ open = 0 } = {}) {
      const byRequest = new Map<string, IdempotencyEvent[]>();
      for (const event of all) {
        expect(event.requestId).toMatch(/^[0-9a-f]{32}$/);
        const list = byRequest.get(event.requestId) ?? [];
        list.push(event);
        byRequest.set(event.requestId, list);
      }
      let unsettled = 0;
      for (const [requestId, events] of byRequest) {
        const claimed = events.filter((event) => event.type === 'claimed');
        const settled = events.filter((event) => event.type === 'settled');
        expect(claimed.length, `claimed events of ${requestId}`).toBeLessThanOrEqual(1);
        expect(settled.length, `settled events of ${requestId}`).toBeLessThanOrEqual(claimed.length);
        if (claimed.length === 1 && settled.length === 0) {
          unsettled++;
          continue;
        }
        for (const event of events) expect(event.keyHash).toBe(events[0]?.keyHash);
        const [claim] = claimed;
        const [settle] = settled;
        if (!claim || !settle) continue;
        expect(['created', 'takeover']).toContain(claim.detail);
        expect(claim.claimMs).toBe(claim.durationMs);
        expect(events.indexOf(settle)).toBe(events.length - 1);
        expect(events.indexOf(claim)).toBeLessThan(events.indexOf(settle));
        expect(['completed', 'released', 'lease_lost', 'failed', 'rolled_back']).toContain(settle.outcome);
        expect(settle.claimMs).toBe(claim.claimMs);
        expect((settle.claimMs ?? NaN) + (settle.handlerMs ?? NaN) + (settle.completeMs ?? NaN)).toBeLessThanOrEqual(settle.durationMs);
        expect(settle.completeMs).toBeGreaterThanOrEqual(0);
      }
      expect(unsettled, 'claimed executions never settled').toBe(open);
    },
  };
}
