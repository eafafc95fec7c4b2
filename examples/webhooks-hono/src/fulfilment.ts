import { idempotent, isIdempotencyError, type IdempotencyEvent, type Store } from '@oncely/core';
import type { EmailSender } from './email';
import type { Ledger } from './ledger';
import type { Delivery } from './queue';

/**
 * What the webhook routes enqueue for one event. Deterministic: built only from the delivery (no
 * receive time, no job id), so a second job for the same event — the HTTP layer ran twice because
 * its completion could not be recorded — fingerprints the same and is deduplicated, not refused.
 */
export interface FulfilmentJob {
  readonly provider: 'stripe' | 'github' | 'standard';
  /** The provider's event id, qualified by provider (`stripe:evt_...`) so providers never collide. */
  readonly eventId: string;
  readonly type: string;
  /** What the event is about: a payment intent, a repository, ... */
  readonly reference: string;
}

/** What the consumer returns (and oncely stores): the same for every redelivery of an event. */
export interface FulfilmentResult {
  readonly eventId: string;
  readonly entry: number;
  readonly emailId: string;
}

export interface FulfilmentOptions {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly email: EmailSender;
  readonly onEvent?: (event: IdempotencyEvent) => void;
  /** Called when the handler's work is done (before oncely records it), e.g. to log it. Replays don't call it. */
  readonly onFulfilled?: (result: FulfilmentResult, job: FulfilmentJob) => void;
}

export interface Fulfilment {
  /** The idempotent work itself: one execution per event id, whatever the queue does. */
  readonly fulfil: (job: FulfilmentJob) => Promise<FulfilmentResult>;
  /** The queue consumer: runs `fulfil` and acks, or nacks what should be retried. */
  readonly consume: (delivery: Delivery<FulfilmentJob>) => Promise<void>;
  /** How many times the handler body started (a failed attempt counts: it is released and re-run). */
  readonly executions: () => number;
}

/**
 * The queue consumer, wrapped by core's `idempotent()` under the scope `consumer:fulfilment` and
 * keyed by the event id: the second half of exactly-once. The HTTP layer dedupes deliveries from the
 * provider; this dedupes deliveries from the queue (lost acks, duplicates, redeliveries after a
 * failure) — and the job a webhook route enqueues twice, should that ever happen.
 *
 * Order inside the handler: the downstream call that dedupes by key (the email, keyed by
 * `ctx.childKey('email')`) first, the local write that cannot be deduplicated (the ledger entry)
 * last. A failure anywhere before the end releases the key and the redelivery runs the handler
 * again: the email provider answers the same email, and the ledger is written once.
 */
export function createFulfilment(options: FulfilmentOptions): Fulfilment {
  const { ledger, email } = options;
  let executions = 0;

  const fulfil = idempotent({
    store: options.store,
    scope: 'consumer:fulfilment',
    key: (job: FulfilmentJob) => job.eventId,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    handler: async (job, ctx): Promise<FulfilmentResult> => {
      executions++;
      const message = await email.send(
        { to: 'ops@example.com', subject: `[${job.provider}] ${job.type} ${job.reference}` },
        { idempotencyKey: ctx.childKey('email') }, // the same key on every re-execution of this event
      );
      const entry = await ledger.record({ eventId: job.eventId, provider: job.provider, type: job.type, reference: job.reference, emailId: message.id });
      const result = { eventId: job.eventId, entry: entry.seq, emailId: message.id };
      options.onFulfilled?.(result, job);
      return result;
    },
  });

  async function consume(delivery: Delivery<FulfilmentJob>): Promise<void> {
    try {
      await fulfil(delivery.payload); // a redelivery of a fulfilled event gets the stored result
      delivery.ack();
    } catch (error) {
      if (isIdempotencyError(error, 'in_progress')) {
        // A twin delivery is running it right now: come back shortly (never later than its lease).
        delivery.nack({ delayMs: Math.min((error.retryAfterSeconds ?? 1) * 1000, 25 * 2 ** Math.min(delivery.attempt, 5)) });
        return;
      }
      // The handler failed (the key was released: the redelivery runs afresh), or the store is
      // down (nothing ran): let the queue redeliver with its backoff, and dead-letter in the end.
      delivery.nack();
    }
  }

  return { fulfil, consume, executions: () => executions };
}
