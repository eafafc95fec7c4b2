/**
 * The retrying client of the scenarios: send a request until it gets an answer that is not 409
 * (`in_progress`) — honouring `Retry-After`, but capped short so a run stays fast — with a client
 * timeout on every attempt and a bound on attempts, so neither a hang nor a key stuck in 409
 * can stall a run: both end as a thrown error.
 */
import { send, type HttpResult, type SendOptions } from '@oncely/http-tests';

/** Settings of {@link sendUntilSettled}. */
export interface RetryOptions {
  /** Client timeout of each attempt. Default 30 s (a bound, not an expectation). */
  readonly timeoutMs?: number;
  /** Give up (throw) after this many 409s. Default 2000. */
  readonly maxAttempts?: number;
  /** Longest pause between attempts, whatever `Retry-After` says. Default 100 ms. */
  readonly capMs?: number;
  /**
   * Resend after this many connection resets (`ECONNRESET`, "socket hang up": a keep-alive
   * connection the server closed as it was reused) — what any client does with an idempotent
   * request. Default 3; counted in {@link Settled.resets}.
   */
  readonly maxResets?: number;
}

/** The settled answer of a request, and what it took. */
export interface Settled {
  readonly result: HttpResult;
  /** Attempts sent, the settling one included. */
  readonly attempts: number;
  /** 409s answered before it settled. */
  readonly conflicts: number;
  /** Connection resets resent. */
  readonly resets: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send until the answer is not a 409; every 409 waits `min(Retry-After, capMs)` plus jitter first. */
export async function sendUntilSettled(base: string, path: string, options: SendOptions, retry: RetryOptions = {}): Promise<Settled> {
  const timeoutMs = retry.timeoutMs ?? 30_000;
  const maxAttempts = retry.maxAttempts ?? 2_000;
  const capMs = retry.capMs ?? 100;
  const maxResets = retry.maxResets ?? 3;
  let resets = 0;
  for (let attempt = 1; ; attempt++) {
    let result: HttpResult;
    try {
      result = await send(base, path, { timeoutMs, ...options });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ECONNRESET' && code !== 'EPIPE') || resets >= maxResets) throw error;
      resets++;
      continue;
    }
    if (result.status !== 409) return { result, attempts: attempt, conflicts: attempt - 1 - resets, resets };
    if (attempt >= maxAttempts) {
      throw new Error(`${options.method ?? 'POST'} ${path} (key ${JSON.stringify(options.key)}) still answered 409 after ${attempt} attempts: ${result.text()}`);
    }
    const retryAfterMs = Number(result.headers['retry-after'] ?? 0) * 1000;
    await sleep(Math.min(Number.isFinite(retryAfterMs) ? retryAfterMs : capMs, capMs) * (0.5 + Math.random()));
  }
}

/** Run `task` over `items` with at most `limit` running at once; answers the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
