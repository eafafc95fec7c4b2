/**
 * An in-process job queue with the delivery semantics of real brokers (SQS, Pub/Sub, RabbitMQ with
 * manual acks): **at least once**. A job stays in the queue until a delivery of it is acked; a
 * nack (or a consumer that throws) redelivers it after a delay; and the queue may deliver a job
 * again on its own, as real brokers do:
 *
 * - `redeliveryRate`: the ack is lost (think: the visibility timeout ran out just before the ack
 *   arrived) and the job is delivered again after `visibilityTimeoutMs`.
 * - `duplicateRate`: a delivery is handed to a second consumer at the same time (two receivers of
 *   one message), so two copies of a job run concurrently.
 *
 * Both are probabilities (0..1): 1 forces them, for tests. Simulated redeliveries stop once a job
 * has been delivered `maxDeliveries` times, so every job eventually settles. A job whose deliveries
 * failed (nack or throw) `maxAttempts` times goes to `deadLetters`.
 *
 * The consumer is what makes this exactly-once: see `fulfilment.ts`.
 */

export interface QueueOptions {
  /** Probability that an ack is lost and the job redelivered. Default 0. */
  readonly redeliveryRate?: number;
  /** Probability that a delivery is also handed to a second consumer at the same time. Default 0. */
  readonly duplicateRate?: number;
  /** Simulated redeliveries and duplicates stop once a job was delivered this many times. Default 5. */
  readonly maxDeliveries?: number;
  /** Failed deliveries (nack or throw) before a job is dead-lettered. Default 5. */
  readonly maxAttempts?: number;
  /** Delay before a job whose ack was lost is delivered again. Default 50 ms. */
  readonly visibilityTimeoutMs?: number;
  /** Backoff after a failure without an explicit delay: this, doubling per failure, up to 1 s. Default 20 ms. */
  readonly retryDelayMs?: number;
  /** Random source, injectable. Default `Math.random`. */
  readonly random?: () => number;
}

/** One delivery of a job to the consumer. Settle it with `ack()` or `nack()`. */
export interface Delivery<T> {
  readonly jobId: string;
  readonly payload: T;
  /** 1 on the first delivery of the job, then 2, 3, ... (counting concurrent duplicates). */
  readonly attempt: number;
  /** Done: the job leaves the queue (unless the broker "loses" the ack: `redeliveryRate`). */
  ack(): void;
  /** Not done: deliver the job again after `delayMs` (default: the queue's backoff). */
  nack(options?: { readonly delayMs?: number }): void;
}

/** What happened to a job that failed `maxAttempts` times. */
export interface DeadLetter<T> {
  readonly jobId: string;
  readonly payload: T;
  readonly error: unknown;
}

export interface QueueStats {
  enqueued: number;
  deliveries: number;
  /** Deliveries beyond each job's first (redeliveries after nacks or lost acks, and duplicates). */
  redeliveries: number;
  duplicates: number;
  lostAcks: number;
  acks: number;
  nacks: number;
  deadLettered: number;
}

interface Job<T> {
  readonly id: string;
  readonly payload: T;
  deliveries: number;
  failures: number;
  done: boolean;
  scheduled: boolean;
  lastError: unknown;
}

export type Consumer<T> = (delivery: Delivery<T>) => Promise<void>;

export class InProcessQueue<T> {
  readonly deadLetters: DeadLetter<T>[] = [];
  readonly stats: QueueStats = { enqueued: 0, deliveries: 0, redeliveries: 0, duplicates: 0, lostAcks: 0, acks: 0, nacks: 0, deadLettered: 0 };

  readonly #options: Required<QueueOptions>;
  readonly #backlog: Job<T>[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #consumer: Consumer<T> | undefined;
  #busy = 0; // deliveries running + redeliveries scheduled + backlog
  #idle: (() => void)[] = [];
  #nextId = 0;
  #closed = false;

  constructor(options: QueueOptions = {}) {
    this.#options = {
      redeliveryRate: options.redeliveryRate ?? 0,
      duplicateRate: options.duplicateRate ?? 0,
      maxDeliveries: options.maxDeliveries ?? 5,
      maxAttempts: options.maxAttempts ?? 5,
      visibilityTimeoutMs: options.visibilityTimeoutMs ?? 50,
      retryDelayMs: options.retryDelayMs ?? 20,
      random: options.random ?? Math.random,
    };
  }

  /** Adds a job; returns its id. Delivered as soon as a consumer is attached. */
  enqueue(payload: T): string {
    if (this.#closed) throw new Error('The queue is closed.');
    const job: Job<T> = { id: `job_${++this.#nextId}`, payload, deliveries: 0, failures: 0, done: false, scheduled: false, lastError: undefined };
    this.stats.enqueued++;
    this.#busy++;
    if (this.#consumer) {
      setImmediate(() => {
        this.#deliver(job, false);
        this.#settleBusy();
      });
    } else this.#backlog.push(job);
    return job.id;
  }

  /** Attaches the consumer (one per queue) and starts delivering. */
  consume(consumer: Consumer<T>): void {
    if (this.#consumer) throw new Error('This queue already has a consumer.');
    this.#consumer = consumer;
    for (const job of this.#backlog.splice(0)) {
      this.#deliver(job, false);
      this.#settleBusy();
    }
  }

  /** Resolves once every job is settled: acked or dead-lettered, nothing running, nothing scheduled. */
  drain(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops delivering: scheduled redeliveries are dropped (for shutdown and tests); `drain()` resolves. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  #deliver(job: Job<T>, duplicate: boolean): void {
    const consumer = this.#consumer;
    if (!consumer || this.#closed) return;
    const { duplicateRate, maxDeliveries, random } = this.#options;
    job.deliveries++;
    this.stats.deliveries++;
    if (job.deliveries > 1) this.stats.redeliveries++;
    this.#busy++;
    let outcome: { kind: 'ack' } | { kind: 'nack'; delayMs: number | undefined; error: unknown } | undefined;
    const delivery: Delivery<T> = {
      jobId: job.id,
      payload: job.payload,
      attempt: job.deliveries,
      ack: () => void (outcome ??= { kind: 'ack' }),
      nack: (options) => void (outcome ??= { kind: 'nack', delayMs: options?.delayMs, error: new Error('nacked by the consumer') }),
    };
    if (!duplicate && job.deliveries < maxDeliveries && random() < duplicateRate) {
      this.stats.duplicates++;
      this.#busy++;
      setImmediate(() => {
        this.#deliver(job, true);
        this.#settleBusy();
      });
    }
    Promise.resolve()
      .then(() => consumer(delivery))
      .then(
        () => void (outcome ??= { kind: 'ack' }), // resolved without settling: done
        (error: unknown) => void (outcome ??= { kind: 'nack', delayMs: undefined, error }),
      )
      .then(() => {
        if (outcome) this.#settle(job, outcome);
        this.#settleBusy();
      });
  }

  #settle(job: Job<T>, outcome: { kind: 'ack' } | { kind: 'nack'; delayMs: number | undefined; error: unknown }): void {
    if (job.done) return; // acked or dead-lettered by another delivery: this receipt is stale
    const { redeliveryRate, maxDeliveries, maxAttempts, visibilityTimeoutMs, retryDelayMs, random } = this.#options;
    if (outcome.kind === 'ack') {
      if (job.deliveries < maxDeliveries && random() < redeliveryRate) {
        this.stats.lostAcks++;
        this.#schedule(job, visibilityTimeoutMs);
        return;
      }
      this.stats.acks++;
      job.done = true;
      return;
    }
    this.stats.nacks++;
    job.failures++;
    job.lastError = outcome.error;
    if (job.failures >= maxAttempts) {
      job.done = true;
      this.stats.deadLettered++;
      this.deadLetters.push({ jobId: job.id, payload: job.payload, error: job.lastError });
      return;
    }
    this.#schedule(job, outcome.delayMs ?? Math.min(1_000, retryDelayMs * 2 ** (job.failures - 1)));
  }

  /** At most one pending redelivery per job; a job acked meanwhile is not redelivered. */
  #schedule(job: Job<T>, delayMs: number): void {
    if (job.scheduled || this.#closed) return;
    job.scheduled = true;
    this.#busy++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      job.scheduled = false;
      if (!job.done) this.#deliver(job, false);
      this.#settleBusy();
    }, delayMs);
    this.#timers.add(timer);
  }

  #settleBusy(): void {
    this.#busy--;
    if (this.#busy === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
