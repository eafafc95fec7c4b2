/**
 * The scenarios' client: one `POST /v1/charges` per call over a fresh loopback connection, with a
 * hard timeout (a hang becomes a counted `timeout`, never a stuck run), and a retry loop that
 * keeps sending one key until it gets a 2xx — the client behaviour the crash and outage scenarios
 * assume (retry on 409 `in_progress`, 503 and connection errors, with a pause).
 */
import { send } from '@oncely/http-tests';

/** One attempt as the client saw it. */
export type Attempt =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: Buffer;
      readonly contentType: string;
      /** The problem `code` of a problem+json answer. */
      readonly code: string | undefined;
      /** The server that answered. */
      readonly base: string;
      readonly startedAt: number;
      readonly endedAt: number;
    }
  | { readonly kind: 'error'; readonly error: string; readonly startedAt: number; readonly endedAt: number };

export const CLIENT_TIMEOUT_MS = 20_000;

/** `POST {base}/v1/charges` with `key` and `{ amount }` (the shared client, fresh connection, bounded). Never rejects. */
export async function postCharge(base: string, key: string, amount = 1000, timeoutMs = CLIENT_TIMEOUT_MS): Promise<Attempt> {
  const startedAt = Date.now();
  try {
    const result = await send(base, '/v1/charges', { key, json: { amount }, timeoutMs });
    const contentType = String(result.headers['content-type'] ?? '');
    return { kind: 'answer', status: result.status, body: result.body, contentType, code: problemCode(contentType, result.body), base, startedAt, endedAt: Date.now() };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    const what = failure.message?.startsWith('request timed out') ? 'timeout' : (failure.code ?? failure.message ?? String(error));
    return { kind: 'error', error: what, startedAt, endedAt: Date.now() };
  }
}

function problemCode(contentType: string, body: Buffer): string | undefined {
  if (!contentType.startsWith('application/problem+json')) return undefined;
  try {
    const code = (JSON.parse(body.toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** What {@link retryUntilAnswered} ends with. */
export interface KeyOutcome {
  readonly key: string;
  /** The first 2xx, if any. */
  readonly answer: Extract<Attempt, { kind: 'answer' }> | undefined;
  readonly attempts: readonly Attempt[];
}

export interface KeyRetryOptions {
  /** The server's base URL for each attempt (it may move, e.g. after a restart). */
  readonly base: () => Promise<string>;
  /** Give up after this many attempts (the key then counts as lost). */
  readonly maxAttempts: number;
  /** Pause between attempts, ms. */
  readonly pauseMs: number;
}

/**
 * Send `key` until a 2xx. Retries 409 `in_progress`, 503 and connection errors (what a client of
 * a payments API does); any other answer (4xx, 500) ends the loop and is left to the assertions.
 */
export async function retryUntilAnswered(key: string, options: KeyRetryOptions): Promise<KeyOutcome> {
  const attempts: Attempt[] = [];
  while (attempts.length < options.maxAttempts) {
    let base: string;
    try {
      base = await options.base();
    } catch (error) {
      attempts.push({ kind: 'error', error: `no server: ${String(error)}`, startedAt: Date.now(), endedAt: Date.now() });
      await pause(options.pauseMs);
      continue;
    }
    const attempt = await postCharge(base, key);
    attempts.push(attempt);
    if (attempt.kind === 'answer') {
      if (attempt.status >= 200 && attempt.status < 300) return { key, answer: attempt, attempts };
      if (!(attempt.status === 409 || attempt.status === 503)) return { key, answer: undefined, attempts };
    } else if (attempt.error === 'timeout') {
      return { key, answer: undefined, attempts };
    }
    await pause(options.pauseMs);
  }
  return { key, answer: undefined, attempts };
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One line for an attempt, for assertion messages. */
export function describeAttempt(attempt: Attempt | undefined): string {
  if (!attempt) return 'no attempt';
  if (attempt.kind === 'error') return `error ${attempt.error}`;
  return `${attempt.status} ${attempt.code ?? ''} ${attempt.body.toString('utf8').slice(0, 200)}`;
}
