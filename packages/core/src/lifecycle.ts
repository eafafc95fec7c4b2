import {
  AbandonedError,
  type IdempotencyError,
  InProgressError,
  isIdempotencyError,
  KeyReusedError,
  LeaseLostError,
  StoreUnavailableError,
} from './errors';
import { systemClock } from './clock';
import { fingerprintsDiffer } from './fingerprint';
import { decideExpiredLease, retryAfterSeconds } from './lease';
import type { SettledOutcome } from './events';
import type { CoreSettings } from './options';
import type { StoreTransaction, TransactionalStore } from './store';
import type { CompletedRecord, IdempotencyRecord, InProgressRecord, StoredResponse } from './record';
import type { Trace } from './trace';

/** Where {@link acquire} leaves a request. */
export type Acquisition =
  /** This request owns the key: run the handler, then complete or release. */
  | { readonly kind: 'claimed'; readonly execution: Execution }
  /** The key completed earlier: replay this record. */
  | { readonly kind: 'completed'; readonly record: CompletedRecord }
  /** Answer with this error (conflict, mismatch, abandoned, store unavailable). */
  | { readonly kind: 'rejected'; readonly error: IdempotencyError };

/** What a completion stores: an HTTP response or a function result (or neither, if too large). */
export type CompletionPayload = { readonly response: StoredResponse } | { readonly result: Uint8Array } | { readonly notStored: true };

/**
 * How a completion ended. `rolled_back` (atomic mode only): the handler's transaction was undone —
 * nothing it wrote persists, and the client should retry.
 */
export type CompletionOutcome = 'completed' | 'lease_lost' | 'failed' | 'unprotected' | 'rolled_back';

/** Bound on create/takeover rounds for one request, so a pathological store cannot spin us. */
const MAX_ROUNDS = 16;

type Classified =
  | { readonly action: 'done'; readonly result: Acquisition }
  | { readonly action: 'wait'; readonly record: InProgressRecord }
  | { readonly action: 'expired'; readonly record: InProgressRecord };

/**
 * Steps 2–3 of the lifecycle (CONTRACT §5): claim the key, or decide what a live record means for
 * this request — replay, 422, 409, wait, or apply the lease policy to a dead owner's claim.
 */
export async function acquire(settings: CoreSettings, trace: Trace): Promise<Acquisition> {
  const { store, clock, wait } = settings;
  const { target } = trace;
  const deadline = wait ? clock.now() + wait.timeoutMs : 0;
  let pollDelay = wait ? wait.initialPollMs : 0;

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = clock.now();
    const claim: InProgressRecord = {
      id: target.recordId,
      key: target.key,
      scope: target.scope,
      state: 'in_progress',
      token: settings.generateToken(),
      fingerprint: target.fingerprint,
      leaseUntil: now + settings.leaseMs,
      expiresAt: now + settings.ttlMs,
      createdAt: now,
    };
    let created;
    try {
      created = await trace.store(() => store.create(claim, now));
    } catch (error) {
      return storeFailure(settings, trace, 'create', error);
    }
    if (created.created) return { kind: 'claimed', execution: new Execution(settings, trace, claim) };

    let verdict = classify(created.existing, now, trace);
    let vanished = false;
    while (verdict.action === 'wait' && wait && clock.now() < deadline) {
      await clock.sleep(Math.min(pollDelay, deadline - clock.now()));
      pollDelay = Math.min(pollDelay * 2, wait.maxPollMs);
      const polledAt = clock.now();
      let current;
      try {
        current = await trace.store(() => store.get(target.recordId, polledAt));
      } catch (error) {
        return storeFailure(settings, trace, 'get', error);
      }
      if (current === null) {
        vanished = true;
        break;
      }
      verdict = classify(current, polledAt, trace);
    }
    if (verdict.action === 'done') return verdict.result;
    if (verdict.action === 'wait') {
      // The twin released the key (or it expired) while we waited: it is free, claim it — even
      // when the deadline has just passed, rather than answer 409 for a key nobody holds.
      if (vanished) continue;
      const retryAfter = retryAfterSeconds(verdict.record.leaseUntil, clock.now());
      return conflict(trace, withoutStack(() => new InProgressError(retryAfter, { record: verdict.record })));
    }
    if (verdict.action === 'expired') {
      const taken = await takeOver(settings, trace, verdict.record);
      if (taken) return taken;
    }
    // The record vanished or another request won the takeover: back to step 3.
  }
  return conflict(trace, new InProgressError(1));
}

function classify(existing: IdempotencyRecord, now: number, trace: Trace): Classified {
  if (fingerprintsDiffer(existing.fingerprint, trace.target.fingerprint)) {
    trace.emit('mismatch');
    return { action: 'done', result: { kind: 'rejected', error: new KeyReusedError({ record: existing }) } };
  }
  if (existing.state === 'completed') return { action: 'done', result: { kind: 'completed', record: existing } };
  return existing.leaseUntil > now ? { action: 'wait', record: existing } : { action: 'expired', record: existing };
}

async function takeOver(settings: CoreSettings, trace: Trace, stale: InProgressRecord): Promise<Acquisition | null> {
  if ((await decideExpiredLease(settings.leasePolicy, stale)) === 'reject') {
    return conflict(trace, new AbandonedError({ record: stale }), 'abandoned');
  }
  const now = settings.clock.now();
  const next: InProgressRecord = {
    ...stale,
    token: settings.generateToken(),
    leaseUntil: now + settings.leaseMs,
    expiresAt: Math.max(stale.expiresAt, now + settings.ttlMs),
  };
  let replaced;
  try {
    replaced = await trace.store(() => settings.store.update(stale.id, stale.token, next));
  } catch (error) {
    return storeFailure(settings, trace, 'update', error);
  }
  if (!replaced) return null;
  trace.emit('takeover');
  return { kind: 'claimed', execution: new Execution(settings, trace, next, 'takeover') };
}

/**
 * Build a 409's error without capturing a stack trace: a conflict is an answer to the client, not a
 * fault in the program, and the stack was a large part of the conflict path's CPU. (`Error.stackTraceLimit`
 * is honoured by V8 and JavaScriptCore; elsewhere setting it changes nothing.)
 */
function withoutStack<T>(build: () => T): T {
  const errorClass = Error as { stackTraceLimit?: number | undefined };
  const limit = errorClass.stackTraceLimit;
  errorClass.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    errorClass.stackTraceLimit = limit;
  }
}

function conflict(trace: Trace, error: IdempotencyError, detail = 'in_progress'): Acquisition {
  trace.emit('conflict', { detail });
  return { kind: 'rejected', error };
}

function storeFailure(settings: CoreSettings, trace: Trace, operation: string, error: unknown): Acquisition {
  trace.emit('store_error', { detail: operation, error });
  if (settings.onStoreError === 'proceed') {
    return { kind: 'claimed', execution: new Execution(settings, trace, null) };
  }
  // A fixed message: the problem `detail` reaches clients, and a driver's error text must not.
  // The store's own error stays available as `cause` (and in the store_error event).
  const hint = isIdempotencyError(error, 'store_unavailable') ? error.retryAfterSeconds : undefined;
  return { kind: 'rejected', error: new StoreUnavailableError(undefined, { cause: error, ...(hint === undefined ? {} : { retryAfterSeconds: hint }) }) };
}

/** The system clock's renewal timer callback (one function for every execution: no closure per request). */
function renewalDue(execution: Execution): void {
  execution.renewalDue();
}

/** Reason given when the heartbeat stops: a plain value, so no DOMException (and stack) per request. */
const SETTLED = Symbol('oncely.settled');

/**
 * A claimed key while its handler runs (steps 4–5 of CONTRACT §5): renews the lease, then either
 * completes (stores the outcome under the claim's token) or releases (deletes the claim so a retry
 * runs afresh). Never both, never twice. An execution without a record is unprotected (the store
 * was down and `onStoreError` is `'proceed'`): it completes and releases as no-ops.
 *
 * A protected execution emits `claimed` when it is created and exactly one `settled` when
 * `complete` or `release` returns — the lifecycle markers spans and in-flight gauges are built on.
 */
export class Execution {
  /** Created on first use: most executions never need a signal. */
  private lostController: AbortController | null = null;
  private leaseLost = false;
  /** Set when the heartbeat must stop (the execution settled). */
  private stopped = false;
  /** Wakes an injected clock's sleep when the heartbeat stops; created only for injected clocks. */
  private stopRenewing: AbortController | null = null;
  /** The system clock's next renewal: a bare timer (no promise, closure or AbortSignal per request). */
  private renewalTimer: ReturnType<typeof setTimeout> | null = null;
  /** An injected clock's renewal loop, or the system clock's renewal in flight: what `settle` waits for. */
  private renewing: Promise<void> | null = null;
  private settled = false;
  private handlerStartedAt: number;
  private transaction: StoreTransaction | null = null;
  private readonly claimMs: number;
  /** The error that ended the execution, for `settled` (a failed completion or release). */
  private failure: unknown = undefined;

  constructor(
    private readonly settings: CoreSettings,
    private readonly trace: Trace,
    private record: InProgressRecord | null,
    origin: 'created' | 'takeover' = 'created',
  ) {
    this.handlerStartedAt = settings.clock.now();
    this.claimMs = this.handlerStartedAt - trace.startedAt;
    if (record && trace.hears('claimed')) trace.emit('claimed', { detail: origin, claimMs: this.claimMs });
  }

  /** The parsed key. */
  get key(): string {
    return this.trace.target.key;
  }
  /** The scope the key lives in. */
  get scope(): string {
    return this.trace.target.scope;
  }
  /** The record id (`namespace:keyHash`). */
  get recordId(): string {
    return this.trace.target.recordId;
  }
  /** Whether the store guards this execution (false only under `onStoreError: 'proceed'`). */
  get isProtected(): boolean {
    return this.record !== null;
  }
  /** The current fencing token (changes only by takeover, which ends this execution's ownership). */
  get token(): string | undefined {
    return this.record?.token;
  }
  /** Aborts (reason: `LeaseLostError`) when another request took the key over. */
  get signal(): AbortSignal {
    if (!this.lostController) {
      this.lostController = new AbortController();
      if (this.leaseLost) this.lostController.abort(new LeaseLostError());
    }
    return this.lostController.signal;
  }

  /** Whether the claim was taken over (the completion will be, or was, refused). */
  get isLeaseLost(): boolean {
    return this.leaseLost;
  }

  /**
   * A deterministic key for a downstream call made by this execution (CONTRACT §8), the same on
   * every re-execution of the same (scope, key): pass it to a payment provider so that a re-run
   * after a crash is deduplicated there too.
   *
   * @example
   * ```ts
   * await stripe.charges.create(params, { idempotencyKey: ctx.childKey('stripe-charge') });
   * ```
   */
  childKey(name: string): string {
    return childKey(this.trace.target.keyHash, name);
  }

  /** The open store transaction's client in atomic mode (e.g. a `pg` `PoolClient`), else undefined. */
  get transactionClient(): unknown {
    return this.transaction?.client;
  }

  /**
   * Step 4 begins: in atomic mode open the handler's transaction (if that fails, the claim is
   * released and `StoreUnavailableError` thrown), then renew the lease every `leaseMs / 3`.
   */
  async start(): Promise<void> {
    if (this.record && this.settings.atomic) {
      const store = this.settings.store as TransactionalStore;
      try {
        this.transaction = await this.trace.store(() => store.beginTransaction());
      } catch (error) {
        this.trace.emit('store_error', { detail: 'begin', error });
        this.handlerStartedAt = this.settings.clock.now();
        await this.release({ error });
        throw new StoreUnavailableError(undefined, { cause: error });
      }
    }
    this.handlerStartedAt = this.settings.clock.now();
    if (this.record && this.settings.heartbeat) {
      if (this.settings.clock === systemClock) this.scheduleRenewal();
      else this.renewing = this.renew();
    }
  }

  /**
   * The system clock's heartbeat: a timer every `leaseMs / 3`, cleared when the execution settles;
   * only a renewal actually in flight is a promise (which `settle` waits for). An async loop sleeping
   * on a promise per renewal cost a suspended frame, a promise and a closure per request, and a few
   * microtask hops at settle time.
   */
  private scheduleRenewal(): void {
    this.renewalTimer = setTimeout(renewalDue, Math.max(0, this.settings.leaseMs / 3), this);
  }

  /** @internal The renewal timer fired. */
  renewalDue(): void {
    this.renewalTimer = null;
    if (this.stopped || !this.record) return;
    this.renewing = this.renewOnce(this.record);
  }

  private async renewOnce(current: InProgressRecord): Promise<void> {
    if ((await this.renewLease(current)) && !this.stopped) this.scheduleRenewal();
  }

  /** An injected clock's heartbeat: sleeps on `clock.sleep` with an abort signal, as such clocks expect. */
  private async renew(): Promise<void> {
    const { clock, leaseMs } = this.settings;
    while (!this.stopped && this.record) {
      await this.untilNextRenewal(clock, leaseMs / 3);
      if (this.stopped) return;
      if (!(await this.renewLease(this.record))) return;
    }
  }

  /** One renewal of the claim's lease. False once the lease is lost (a store error is reported, and renewing goes on). */
  private async renewLease(current: InProgressRecord): Promise<boolean> {
    const { clock, leaseMs, store } = this.settings;
    const now = clock.now();
    const next: InProgressRecord = { ...current, leaseUntil: now + leaseMs, expiresAt: Math.max(current.expiresAt, now + leaseMs) };
    let renewed: boolean;
    try {
      renewed = await store.update(current.id, current.token, next);
    } catch (error) {
      this.trace.emit('store_error', { detail: 'heartbeat', error });
      return true;
    }
    if (!renewed) {
      this.markLost();
      return false;
    }
    this.record = next;
    return true;
  }

  /**
   * Sleep until the next renewal, or until the heartbeat stops (injected clocks only; the system
   * clock's heartbeat is {@link scheduleRenewal}'s timer).
   */
  private untilNextRenewal(clock: CoreSettings['clock'], ms: number): Promise<void> {
    this.stopRenewing ??= new AbortController();
    return clock.sleep(ms, this.stopRenewing.signal);
  }

  /**
   * Stop the heartbeat and wait for a renewal in flight, so it can never land after the outcome.
   * Whether the execution still owns its claim: at once when no renewal is in flight (the usual
   * case), else once it has landed.
   */
  private settle(): boolean | Promise<boolean> {
    if (this.settled) throw new Error('oncely: an execution completes or releases exactly once.');
    this.settled = true;
    this.stopped = true;
    if (this.renewalTimer !== null) {
      clearTimeout(this.renewalTimer);
      this.renewalTimer = null;
    }
    this.stopRenewing?.abort(SETTLED);
    if (this.renewing) return this.renewing.then(() => this.owns());
    return this.owns();
  }

  private owns(): boolean {
    return this.record !== null && !this.leaseLost;
  }

  private markLost(): void {
    if (this.leaseLost) return;
    this.leaseLost = true;
    this.lostController?.abort(new LeaseLostError());
    this.trace.emit('lease_lost');
  }

  /**
   * Step 5, success: replace the claim with the completion, compare-and-set on the claim's token.
   * The completion gets a token of its own, so a takeover still in flight against the claim's
   * token can never overwrite it. Store errors are retried with doubling backoff (a retry that
   * finds its own completion already written succeeds); a payload the store refuses as too large
   * is stored without it (CONTRACT §6).
   */
  complete(payload: CompletionPayload, status?: number): Promise<CompletionOutcome> {
    const handlerMs = this.settings.clock.now() - this.handlerStartedAt;
    const completing = this.completeOnce(payload, status, handlerMs);
    // Without an `onLifecycle` listener there is no `settled` marker to emit: no extra async layer.
    if (!this.trace.hears('settled')) return completing;
    return completing.then((outcome) => {
      if (outcome !== 'unprotected') {
        this.emitSettled(outcome === 'rolled_back' && this.leaseLost ? 'lease_lost' : outcome, handlerMs, status, this.failure);
      }
      return outcome;
    });
  }

  /** The `settled` marker of a protected execution (see {@link IdempotencyLifecycle}). */
  private emitSettled(outcome: SettledOutcome, handlerMs: number, status: number | undefined, error: unknown): void {
    if (!this.trace.hears('settled')) return;
    this.trace.emit('settled', {
      outcome,
      claimMs: this.claimMs,
      handlerMs,
      completeMs: this.settings.clock.now() - this.handlerStartedAt - handlerMs,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
    });
  }

  private async completeOnce(payload: CompletionPayload, status: number | undefined, handlerMs: number): Promise<CompletionOutcome> {
    const owned = this.settle();
    if (!(typeof owned === 'boolean' ? owned : await owned)) {
      await this.transaction?.rollback();
      if (!this.record) return 'unprotected';
      return this.transaction ? 'rolled_back' : 'lease_lost';
    }
    const claim = this.record as InProgressRecord;
    const { clock, store, completionRetries } = this.settings;
    const token = this.settings.generateToken();
    const statusField = status === undefined ? {} : { status };
    if (this.transaction) return this.completeAtomically(this.transaction, completedRecord(claim, token, payload, clock.now(), this.settings.ttlMs), handlerMs, statusField);
    let body = payload;
    let ambiguous = false;
    for (let attempt = 0; ; ) {
      const completed = completedRecord(claim, token, body, clock.now(), this.settings.ttlMs);
      let written: boolean;
      try {
        written = await this.trace.store(() => store.update(claim.id, claim.token, completed));
        if (!written && ambiguous) written = (await this.trace.store(() => store.get(claim.id, clock.now())))?.token === token;
      } catch (error) {
        if (isIdempotencyError(error, 'record_too_large') && !('notStored' in body)) {
          body = withoutContent(body);
          continue;
        }
        if (attempt >= completionRetries) {
          this.failure = error;
          this.trace.emit('complete_failed', { error, handlerMs, ...statusField });
          return 'failed';
        }
        ambiguous = true;
        await clock.sleep(this.settings.completionRetryDelayMs * 2 ** attempt);
        attempt++;
        continue;
      }
      if (!written) {
        this.markLost();
        return 'lease_lost';
      }
      if (this.trace.hears('executed')) this.trace.emit('executed', { handlerMs, ...statusField });
      return 'completed';
    }
  }

  /**
   * Atomic mode: write the completion on the handler's transaction and commit both together. A lost
   * lease or a failed write rolls the handler's writes back (`rolled_back`): nothing ran, as far as
   * the database knows, and the client retries. A failed COMMIT has an unknown outcome: the claim is
   * left in place (a retry replays if it committed, or takes over after the lease if not).
   */
  private async completeAtomically(
    transaction: StoreTransaction,
    completed: CompletedRecord,
    handlerMs: number,
    statusField: { status?: number },
  ): Promise<CompletionOutcome> {
    const claim = this.record as InProgressRecord;
    let written: boolean;
    try {
      written = await this.trace.store(() => transaction.update(claim.id, claim.token, completed));
    } catch (error) {
      // Too large for the store: the transaction is still good, so complete it without the body
      // (CONTRACT §6) rather than roll the handler's work back.
      if (isIdempotencyError(error, 'record_too_large') && (completed.response?.body || completed.result)) {
        const { result: _dropped, ...withoutResult } = completed;
        const smaller: CompletedRecord = completed.response ? { ...completed, response: { ...completed.response, body: null } } : withoutResult;
        return this.completeAtomically(transaction, smaller, handlerMs, statusField);
      }
      await transaction.rollback();
      this.failure = error;
      this.trace.emit('complete_failed', { error, handlerMs, ...statusField });
      await this.deleteClaim(claim, { error });
      return 'rolled_back';
    }
    if (!written) {
      await transaction.rollback();
      this.markLost();
      return 'rolled_back';
    }
    try {
      await this.trace.store(() => transaction.commit());
    } catch (error) {
      this.failure = error;
      this.trace.emit('complete_failed', { error, handlerMs, detail: 'commit', ...statusField });
      return 'rolled_back';
    }
    this.trace.emit('executed', { handlerMs, ...statusField });
    return 'completed';
  }

  /**
   * Step 5, failure: delete the claim so a retry executes afresh. If the delete fails, the claim
   * stays until its lease expires (retries meanwhile get 409), and a `store_error` is emitted.
   */
  async release(reason: { readonly error?: unknown; readonly status?: number } = {}): Promise<void> {
    const handlerMs = this.settings.clock.now() - this.handlerStartedAt;
    const owned = this.settle();
    if (!(typeof owned === 'boolean' ? owned : await owned)) {
      await this.transaction?.rollback();
      if (this.record) this.emitSettled('lease_lost', handlerMs, reason.status, reason.error);
      return;
    }
    await this.transaction?.rollback();
    const outcome = await this.deleteClaim(this.record as InProgressRecord, reason);
    this.emitSettled(outcome, handlerMs, reason.status, outcome === 'failed' ? this.failure : reason.error);
  }

  /**
   * Delete the claim, retrying store errors. `released` when the fenced delete removed it;
   * `lease_lost` when the claim was no longer ours (taken over, force-released, or expired and
   * claimed again): nothing was released; `failed` (after a `store_error`) if the store kept failing.
   */
  private async deleteClaim(
    claim: InProgressRecord,
    reason: { readonly error?: unknown; readonly status?: number },
  ): Promise<'released' | 'lease_lost' | 'failed'> {
    const { clock, store, completionRetries } = this.settings;
    for (let attempt = 0; ; attempt++) {
      try {
        const deleted = await this.trace.store(() => store.delete(claim.id, claim.token));
        if (!deleted) {
          this.trace.emit('lease_lost', { ...reason, detail: 'release' });
          return 'lease_lost';
        }
        this.trace.emit('released', reason);
        return 'released';
      } catch (error) {
        if (attempt >= completionRetries) {
          this.failure = error;
          this.trace.emit('store_error', { detail: 'delete', error });
          return 'failed';
        }
        await clock.sleep(this.settings.completionRetryDelayMs * 2 ** attempt);
      }
    }
  }
}

/**
 * The completed record that replaces `claim`: a new `token`, `completedAt: now`, retained until
 * `now + ttlMs`. The one place a completion is built (executions and `createAdmin().complete`).
 */
export function completedRecord(claim: InProgressRecord, token: string, payload: CompletionPayload, now: number, ttlMs: number): CompletedRecord {
  const record: { -readonly [K in keyof CompletedRecord]: CompletedRecord[K] } = {
    id: claim.id,
    key: claim.key,
    scope: claim.scope,
    token,
    fingerprint: claim.fingerprint,
    createdAt: claim.createdAt,
    state: 'completed',
    completedAt: now,
    expiresAt: now + ttlMs,
  };
  // Assigned, not spread from a temporary object.
  if ('response' in payload) record.response = payload.response;
  else if ('result' in payload) record.result = payload.result;
  return record;
}

function withoutContent(payload: CompletionPayload): CompletionPayload {
  if ('response' in payload) return { response: { ...payload.response, body: null } };
  return { notStored: true };
}

const CHILD_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * `childKey` of CONTRACT §8: the first 128 bits of the key hash and the name, e.g.
 * `3f9a…c1.stripe-charge`. Stable across re-executions, distinct per name, 97 characters at most.
 */
export function childKey(keyHash: string, name: string): string {
  if (!CHILD_NAME.test(name)) {
    throw new TypeError('oncely: a childKey name is 1-64 characters of [A-Za-z0-9_.:-].');
  }
  return `${keyHash.slice(0, 32)}.${name}`;
}
