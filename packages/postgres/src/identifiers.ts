/** The default table name, as in `sql/001_oncely_idempotency.sql`. */
export const DEFAULT_TABLE = 'oncely_idempotency';

/** Suffix of the expiry index's name: `<table>_expires_at_idx`. */
const INDEX_SUFFIX = '_expires_at_idx';
/** Suffix of the in-progress index's name: `<table>_created_at_idx` (as long as {@link INDEX_SUFFIX}). */
const IN_PROGRESS_INDEX_SUFFIX = '_created_at_idx';
/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;
/** Lower-case letters, digits and underscores, not starting with a digit: what unquoted SQL folds to. */
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Where the store's table lives, quoted and ready to splice into SQL. */
export interface TableNames {
  /** `"schema"."table"` or `"table"` (resolved through `search_path`). */
  readonly table: string;
  /** The expiry index, `"<table>_expires_at_idx"` (an index lives in its table's schema). */
  readonly expiryIndex: string;
  /** The partial index of in-progress claims by age, `"<table>_created_at_idx"` (migration 002). */
  readonly inProgressIndex: string;
  /** `"schema"`, when one was given. */
  readonly schema: string | undefined;
  /** Unquoted `schema.table`, for messages and the migration lock. */
  readonly display: string;
}

function checkIdentifier(kind: string, name: unknown, maxLength: number): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.length > maxLength) {
    throw new TypeError(
      `@oncely/postgres: ${kind} must be 1-${maxLength} characters of lower-case letters, digits and underscores, ` +
        `not starting with a digit; got ${JSON.stringify(name)}.`,
    );
  }
  return name;
}

/** Double-quotes a validated identifier (a reserved word such as `user` is then fine too). */
function quote(name: string): string {
  return `"${name}"`;
}

/**
 * Validates `table` and `schema` (so nothing from configuration can inject SQL) and quotes them.
 * Names are restricted to what an unquoted identifier folds to, so the same name works in the
 * shipped SQL file, in `psql`, and here.
 */
export function tableNames(options: { readonly table?: string | undefined; readonly schema?: string | undefined } = {}): TableNames {
  const table = checkIdentifier('table', options.table ?? DEFAULT_TABLE, MAX_IDENTIFIER - INDEX_SUFFIX.length);
  const schema = options.schema === undefined ? undefined : checkIdentifier('schema', options.schema, MAX_IDENTIFIER);
  return {
    table: schema === undefined ? quote(table) : `${quote(schema)}.${quote(table)}`,
    expiryIndex: quote(`${table}${INDEX_SUFFIX}`),
    inProgressIndex: quote(`${table}${IN_PROGRESS_INDEX_SUFFIX}`),
    schema: schema === undefined ? undefined : quote(schema),
    display: schema === undefined ? table : `${schema}.${table}`,
  };
}
