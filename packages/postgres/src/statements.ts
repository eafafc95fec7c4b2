import { COLUMNS } from './codec';
import type { TableNames } from './identifiers';

/** Every statement the store sends, built once per store for its table. */
export interface Statements {
  readonly create: string;
  readonly update: string;
  readonly delete: string;
  readonly get: string;
  readonly purge: string;
  /** $1 claimedBefore, $2 now, $3 limit. An index scan of `<table>_created_at_idx` (migration 002). */
  readonly listInProgress: string;
}

/** SQL types of {@link COLUMNS}, for the parameter casts of `INSERT ... SELECT`. */
const TYPES: Record<(typeof COLUMNS)[number], string> = {
  id: 'text',
  key: 'text',
  scope: 'text',
  state: 'text',
  token: 'text',
  fingerprint: 'text',
  lease_until: 'bigint',
  expires_at: 'bigint',
  created_at: 'bigint',
  completed_at: 'bigint',
  response_status: 'integer',
  response_headers: 'jsonb',
  response_body: 'bytea',
  result: 'bytea',
};
const typedParams = COLUMNS.map((column, i) => `$${i + 1}::${TYPES[column]}`).join(', ');
/** `$15` in `create`: the caller's `now`. */
const NOW = `$${COLUMNS.length + 1}::bigint`;
/** The columns a live record returned by `create` carries in full; an inserted one sends them as NULL. */
const HEAVY = new Set<string>(['response_headers', 'response_body', 'result']);

/**
 * The statements of a store on `names.table`.
 *
 * `create` is ONE statement that always answers with exactly one row, under any concurrency, at
 * READ COMMITTED:
 *
 * - `live` reads the record through the statement's snapshot. If it is there and live, that is the
 *   answer (a replay or a conflict): a plain index read, no write, no lock, no WAL.
 * - Otherwise (absent, expired, or committed by a concurrent transaction after the snapshot was
 *   taken, hence invisible), `ins` runs `INSERT ... ON CONFLICT (id) DO UPDATE`, which either
 *   inserts or locks the conflicting row in its latest committed version — visible or not — and
 *   updates it: to the new record if that version has expired (`expires_at <= now`), else to
 *   itself. `RETURNING` then yields ours (our token: created) or the live winner, whole.
 *
 * Exactly one of the two produces a row. The usual `INSERT ... ON CONFLICT DO NOTHING` (or
 * `DO UPDATE ... WHERE`) followed by a `SELECT` reads the winner through the snapshot and comes back
 * empty when the winner committed after it began; here that case goes through `ins`, which never
 * comes back empty. The price of the no-op update is paid only in that race.
 */
export function statements(names: TableNames): Statements {
  const { table } = names;
  const assignments = COLUMNS.filter((column) => column !== 'id')
    .map((column) => `${column} = CASE WHEN t.expires_at <= ${NOW} THEN EXCLUDED.${column} ELSE t.${column} END`)
    .join(',\n    ');
  const returning = COLUMNS.map((column) => (HEAVY.has(column) ? `CASE WHEN t.token = $5 THEN NULL ELSE t.${column} END AS ${column}` : `t.${column}`)).join(', ');
  const columnList = COLUMNS.join(', ');
  const updates = COLUMNS.slice(1)
    .map((column, i) => `${column} = $${i + 3}`)
    .join(', ');
  return {
    create:
      `WITH live AS (\n` +
      `  SELECT false AS created, ${columnList} FROM ${table} WHERE id = $1 AND expires_at > ${NOW}\n` +
      `), ins AS (\n` +
      `  INSERT INTO ${table} AS t (${columnList})\n` +
      `  SELECT ${typedParams} WHERE NOT EXISTS (SELECT 1 FROM live)\n` +
      `  ON CONFLICT (id) DO UPDATE SET\n    ${assignments}\n` +
      `  RETURNING t.token = $5 AS created, ${returning}\n` +
      `)\n` +
      `SELECT * FROM ins UNION ALL SELECT * FROM live`,
    // $1 id, $2 expected token, $3.. every column but id (COLUMNS order).
    update: `UPDATE ${table} SET ${updates} WHERE id = $1 AND token = $2`,
    delete: `DELETE FROM ${table} WHERE id = $1 AND token = $2`,
    get: `SELECT ${columnList} FROM ${table} WHERE id = $1 AND expires_at > $2`,
    listInProgress:
      `SELECT ${columnList} FROM ${table}\n` +
      `WHERE state = 'in_progress' AND created_at <= $1 AND expires_at > $2\n` +
      `ORDER BY created_at LIMIT $3`,
    purge:
      `DELETE FROM ${table} WHERE id IN (\n` +
      `  SELECT id FROM ${table} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED\n` +
      `) AND expires_at <= $1`,
  };
}
