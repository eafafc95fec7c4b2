/**
 * Runs the CLI in-process (`main(argv, io)`) with captured output, and the servers' settings.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { main } from '../../src/main';

/** PostgreSQL for these tests: `DATABASE_URL`, default the CI service (trust auth, database `test`). */
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Redis for these tests: `REDIS_URL`, default the local one. */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A table name no other test file (or concurrent run) uses. */
export function uniqueTable(what: string): string {
  return `oncely_cli_${what}_${randomBytes(5).toString('hex')}`;
}

/** A Redis key prefix no other run shares. */
export function uniquePrefix(): string {
  return `oncely-cli-test:${randomUUID()}:`;
}

/** What one run of `oncely` did. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as the one JSON document `--json` promises (throws if it is not exactly one). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `oncely ...argv` in-process; `env` replaces the environment (default: none at all). */
export async function oncely(argv: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}
