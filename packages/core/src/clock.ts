/**
 * Time as the core sees it. Inject one in tests to move time by hand (see {@link manualClock});
 * every timer the core uses (lease heartbeats, wait polling, completion backoff) goes through it.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolve after `ms` milliseconds, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A clock that only moves when told to. */
export interface ManualClock extends Clock {
  /** Move time forward by `ms`, waking every sleeper whose deadline has come, in deadline order. */
  advance(ms: number): void;
  /** Set the time (forward or backward). Sleepers whose deadline has come wake. */
  set(epochMs: number): void;
  /** How many sleepers are waiting. */
  readonly pending: number;
}

/**
 * A clock for tests: time stands still until `advance()` or `set()`.
 *
 * @example
 * ```ts
 * const clock = manualClock(Date.UTC(2030, 0, 1));
 * const engine = createIdempotency({ store: memoryStore(), clock });
 * clock.advance(31_000); // past the default lease
 * ```
 */
export function manualClock(start = 0): ManualClock {
  let now = start;
  let sequence = 0;
  const sleepers = new Map<number, { at: number; wake: () => void }>();
  const wakeDue = (): void => {
    const due = [...sleepers.entries()].filter(([, sleeper]) => sleeper.at <= now).sort(([a, x], [b, y]) => x.at - y.at || a - b);
    for (const [id, sleeper] of due) {
      sleepers.delete(id);
      sleeper.wake();
    }
  };
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const id = sequence++;
        const wake = (): void => {
          sleepers.delete(id);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        sleepers.set(id, { at: now + Math.max(0, ms), wake });
        signal?.addEventListener('abort', wake, { once: true });
      });
    },
    advance(ms) {
      now += ms;
      wakeDue();
    },
    set(epochMs) {
      now = epochMs;
      wakeDue();
    },
    get pending() {
      return sleepers.size;
    },
  };
}
