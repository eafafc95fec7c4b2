import type { ExecutionContext, IdempotencyEvent } from '@oncely/core';

/** Routes of the scenario app whose executions the suite counts. */
export type RouteName =
  | 'charges'
  | 'list'
  | 'binary'
  | 'gzip'
  | 'slow'
  | 'fail'
  | 'error500'
  | 'cookie'
  | 'large'
  | 'large-stream'
  | 'stream';

/** What `POST /charges` answers: `201`, a `Location` header, and this JSON. */
export interface ChargeAnswer {
  readonly location: string;
  readonly json: {
    readonly id: string;
    /** The execution number of this route: a replay shows the original's. */
    readonly n: number;
    readonly amount: unknown;
    readonly tenant: string | null;
    /** What the handler saw of its execution (`req.idempotency`, `ctx.state.idempotency`, `c.get('idempotency')`). */
    readonly key: string | null;
    readonly scope: string | null;
    readonly protected: boolean | null;
    readonly childKey: string | null;
  };
}

/**
 * Shared state between a scenario and the app under test (they run in one process): execution
 * counters, the gate `POST /slow` waits on, the errors the app's error handling saw, and events.
 */
export class Harness {
  readonly errors: unknown[] = [];
  readonly events: IdempotencyEvent[] = [];
  private readonly counts = new Map<RouteName, number>();
  private openGate!: () => void;
  private readonly gatePromise = new Promise<void>((resolve) => (this.openGate = resolve));

  /** Count one execution of `route`; returns its number (1 for the first). */
  execute(route: RouteName): number {
    const n = (this.counts.get(route) ?? 0) + 1;
    this.counts.set(route, n);
    return n;
  }

  /** How many times `route` executed. */
  executions(route: RouteName): number {
    return this.counts.get(route) ?? 0;
  }

  /** Resolves once the scenario opens the gate (`POST /slow` waits on it). */
  gate(): Promise<void> {
    return this.gatePromise;
  }

  /** Let every `POST /slow` waiting on the gate (and every later one) finish. */
  open(): void {
    this.openGate();
  }

  /** The app's error handling saw `error` (call it from the framework's error handler). */
  recordError(error: unknown): void {
    this.errors.push(error);
  }

  /** Execute `POST /charges`: count it and build its answer from the parsed body and the context. */
  charge(body: unknown, tenant: string | undefined, context: ExecutionContext | undefined): ChargeAnswer {
    const n = this.execute('charges');
    const amount = typeof body === 'object' && body !== null ? ((body as { amount?: unknown }).amount ?? null) : null;
    return {
      location: `/charges/ch_${n}`,
      json: {
        id: `ch_${n}`,
        n,
        amount,
        tenant: tenant ?? null,
        key: context?.key ?? null,
        scope: context?.scope ?? null,
        protected: context ? context.isProtected : null,
        childKey: context ? context.childKey('psp') : null,
      },
    };
  }
}
