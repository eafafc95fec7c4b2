import type { IdempotencyRecord, StoredResponse } from '@oncely/core';
import { formatDuration } from './duration';

/** A record as `--json` prints it: every field always present (null where it does not apply). */
export interface RecordJson {
  readonly id: string;
  readonly key: string;
  readonly scope: string;
  readonly state: IdempotencyRecord['state'];
  readonly token: string;
  readonly fingerprint: string;
  readonly createdAt: string;
  readonly createdAtMs: number;
  readonly expiresAt: string;
  readonly expiresAtMs: number;
  readonly leaseUntil: string | null;
  readonly leaseUntilMs: number | null;
  /** `leaseUntil - now` (negative: the lease ran out that long ago); null when completed. */
  readonly leaseLeftMs: number | null;
  readonly completedAt: string | null;
  readonly completedAtMs: number | null;
  readonly response: ResponseJson | null;
  /** A function wrapper's serialized result, base64; null for HTTP records. */
  readonly result: string | null;
  readonly resultBytes: number | null;
}

/** A stored response as `--json` prints it. */
export interface ResponseJson {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  /** Base64 of the body bytes; null when the body was not stored (too large). */
  readonly body: string | null;
  readonly bodyBytes: number | null;
}

/** ISO 8601 of epoch ms; out-of-range values as their number. */
export function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function responseJson(response: StoredResponse): ResponseJson {
  return {
    status: response.status,
    headers: response.headers.map(([name, value]) => [name, value] as const),
    body: response.body === null ? null : base64(response.body),
    bodyBytes: response.body === null ? null : response.body.byteLength,
  };
}

/** The `--json` form of a record, at `now`. */
export function recordJson(record: IdempotencyRecord, now: number): RecordJson {
  const inProgress = record.state === 'in_progress';
  const completed = record.state === 'completed' ? record : undefined;
  return {
    id: record.id,
    key: record.key,
    scope: record.scope,
    state: record.state,
    token: record.token,
    fingerprint: record.fingerprint,
    createdAt: iso(record.createdAt),
    createdAtMs: record.createdAt,
    expiresAt: iso(record.expiresAt),
    expiresAtMs: record.expiresAt,
    leaseUntil: inProgress ? iso(record.leaseUntil) : null,
    leaseUntilMs: inProgress ? record.leaseUntil : null,
    leaseLeftMs: inProgress ? record.leaseUntil - now : null,
    completedAt: completed ? iso(completed.completedAt) : null,
    completedAtMs: completed ? completed.completedAt : null,
    response: completed?.response ? responseJson(completed.response) : null,
    result: completed?.result ? base64(completed.result) : null,
    resultBytes: completed?.result ? completed.result.byteLength : null,
  };
}

/** Control characters (and other invisible separators) escaped, so a key cannot break a line or a terminal. */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const PREVIEW_CHARS = 120;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A UTF-8 preview of `bytes` if they are printable text (tabs and newlines allowed), else undefined. */
export function printablePreview(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text)) return undefined;
  const oneLine = text.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
  return oneLine.length > PREVIEW_CHARS ? `${oneLine.slice(0, PREVIEW_CHARS)}…` : oneLine;
}

/** `27 bytes: {"ok":true}`, `1024 bytes (binary, not shown)`, `0 bytes`. */
export function describeBytes(bytes: Uint8Array): string {
  const size = `${bytes.byteLength} ${bytes.byteLength === 1 ? 'byte' : 'bytes'}`;
  if (bytes.byteLength === 0) return size;
  const preview = printablePreview(bytes);
  return preview === undefined ? `${size} (binary, not shown)` : `${size}: ${preview}`;
}

/** `in 23h 59m` / `4m 2s ago`. */
export function relative(ms: number, now: number): string {
  return ms >= now ? `in ${formatDuration(ms - now)}` : `${formatDuration(now - ms)} ago`;
}

/** Lease column: `25s left` or `ran out 4m ago`. */
export function leaseText(leaseUntil: number, now: number): string {
  return leaseUntil > now ? `${formatDuration(leaseUntil - now)} left` : `ran out ${formatDuration(now - leaseUntil)} ago`;
}

/** Aligned `name  value` lines; a value with several lines continues under the first. */
export function keyValues(rows: readonly (readonly [string, string | readonly string[]])[]): string {
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const lines: string[] = [];
  for (const [name, value] of rows) {
    const values = typeof value === 'string' ? [value] : value.length === 0 ? ['(none)'] : value;
    values.forEach((line, index) => lines.push(`${(index === 0 ? name : '').padEnd(width)}${line}`));
  }
  return `${lines.join('\n')}\n`;
}

/** A record for people: state, key, scope, times, lease or response. */
export function recordText(record: IdempotencyRecord, now: number): string {
  const rows: [string, string | string[]][] = [
    ['state', record.state],
    ['key', visible(record.key)],
    ['scope', visible(record.scope)],
    ['created', `${iso(record.createdAt)} (${relative(record.createdAt, now)})`],
  ];
  if (record.state === 'in_progress') {
    rows.push(['lease', `${leaseText(record.leaseUntil, now)} (until ${iso(record.leaseUntil)})`]);
  } else {
    rows.push(['completed', `${iso(record.completedAt)} (${relative(record.completedAt, now)})`]);
  }
  rows.push(['expires', `${iso(record.expiresAt)} (${relative(record.expiresAt, now)})`]);
  if (record.state === 'completed' && record.response) {
    const { response } = record;
    rows.push(['status', String(response.status)]);
    rows.push(['headers', response.headers.map(([name, value]) => `${visible(name)}: ${visible(value)}`)]);
    rows.push(['body', response.body === null ? 'not stored (the response was over the size limit)' : describeBytes(response.body)]);
  }
  if (record.state === 'completed' && record.result) rows.push(['result', describeBytes(record.result)]);
  rows.push(['id', record.id], ['token', record.token], ['fingerprint', record.fingerprint === '' ? '(none)' : record.fingerprint]);
  return keyValues(rows);
}

/** A table with a header row; columns padded to their widest cell, the last one not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
