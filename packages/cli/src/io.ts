/** Where {@link main} writes and what it reads: the process's streams and environment, or a test's. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Environment variables; `ONCELY_URL` is read from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * The exit codes of `oncely`: 0 done; 1 the operation ran but its outcome is not ok (`not_found`,
 * `refused`, `changed`); 2 usage error (bad option, malformed `--url`, unknown scheme); 3 the store
 * could not be used (unreachable, timed out, authentication failed, table missing, store failure).
 */
export const EXIT = {
  ok: 0,
  outcome: 1,
  usage: 2,
  store: 3,
} as const;

/** One of {@link EXIT}'s values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
