import { type PurgeOptions, resolvePurgeOptions } from '@oncely/core';

/**
 * Options of `store.purgeExpired()`: core's `PurgeOptions` (`batchSize` rows per statement, each
 * its own short transaction; `now`; `maxBatches`), re-exported here for compatibility.
 */
export type { PurgeOptions };

/** What {@link schedulePurge} needs: anything with `purgeExpired`, such as a `postgresStore()`. */
export interface Purgeable {
  purgeExpired(options?: PurgeOptions): Promise<number>;
}

/** Options of {@link schedulePurge}. */
export interface SchedulePurgeOptions {
  /** Pause between the end of one purge and the start of the next, in ms. Default 60 000. */
  readonly intervalMs?: number | undefined;
  /** See {@link PurgeOptions.batchSize}. Default 1000. */
  readonly batchSize?: number | undefined;
  /** See {@link PurgeOptions.maxBatches}. Default unbounded. */
  readonly maxBatches?: number | undefined;
  /** Called with the number of rows each run deleted. */
  readonly onPurged?: ((deleted: number) => void) | undefined;
  /** Called when a run fails (the next run is still scheduled). Default: ignore. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** Stops a {@link schedulePurge} loop; resolves once a purge in progress has finished. */
export type StopPurge = () => Promise<void>;


/**
 * Purges expired records every `intervalMs` in this process, on a timer that never keeps the
 * process alive (`unref`). Runs never overlap; a failed run is reported to `onError` and retried at
 * the next interval. Several processes may run it at once: batches skip rows another purge holds.
 * Returns `stop`.
 *
 * @example
 * ```ts
 * const stopPurge = schedulePurge(store, { intervalMs: 60_000, batchSize: 1000, onError: (e) => log.warn(e) });
 * process.on('SIGTERM', async () => { await stopPurge(); await pool.end(); });
 * ```
 */
export function schedulePurge(store: Purgeable, options: SchedulePurgeOptions = {}): StopPurge {
  const intervalMs = options.intervalMs ?? 60_000;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new TypeError(`@oncely/postgres: intervalMs must be a positive number, got ${intervalMs}.`);
  const { batchSize, maxBatches } = resolvePurgeOptions({ batchSize: options.batchSize, maxBatches: options.maxBatches });
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();

  const tick = (): void => {
    running = store
      .purgeExpired({ batchSize, ...(maxBatches === Number.POSITIVE_INFINITY ? {} : { maxBatches }) })
      .then(
        (deleted) => options.onPurged?.(deleted),
        (error: unknown) => options.onError?.(error),
      )
      .catch(() => undefined)
      .finally(schedule);
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(tick, intervalMs);
    timer.unref?.();
  };

  schedule();
  return async () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    await running;
  };
}
