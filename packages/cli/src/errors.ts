import { EXIT, type ExitCode } from './io';

/** What went wrong, as a stable word for `--json` consumers. */
export type CliErrorCode =
  | 'usage'
  | 'invalid_url'
  | 'unknown_scheme'
  | 'unreachable'
  | 'timeout'
  | 'auth_failed'
  | 'database_missing'
  | 'table_missing'
  | 'unsupported'
  | 'store_error';

/** An error `oncely` reports as one line (no stack trace) and an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: CliErrorCode,
    message: string,
    readonly exitCode: ExitCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A usage error (exit 2): a bad option or value, found before anything is contacted. */
export function usageError(message: string): CliError {
  return new CliError('usage', message, EXIT.usage);
}

/** `error` and its `cause`s (and an `AggregateError`'s members), outermost first, cycles cut. */
export function causeChain(error: unknown): unknown[] {
  const seen = new Set<unknown>();
  const chain: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const next = queue.shift();
    if (next === undefined || next === null || seen.has(next)) continue;
    seen.add(next);
    chain.push(next);
    if (typeof next === 'object') {
      const { cause, errors } = next as { cause?: unknown; errors?: unknown };
      if (cause !== undefined) queue.push(cause);
      if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
    }
  }
  return chain;
}

/** The `code` properties along the cause chain (`'ECONNREFUSED'`, a SQLSTATE such as `'42P01'`, ...). */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (const item of causeChain(error)) {
    const code = typeof item === 'object' && item !== null ? (item as { code?: unknown }).code : undefined;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/** The messages along the cause chain, outermost first. */
export function errorMessages(error: unknown): string[] {
  return causeChain(error)
    .map((item) => (item instanceof Error ? item.message : typeof item === 'string' ? item : ''))
    .filter((message) => message !== '');
}

/** The first line of `text`, trimmed. */
export function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0]?.trim() ?? '';
}
