import type { HeaderEntry } from './record';

/**
 * Request headers in whatever shape a framework has them: a Fetch `Headers`, a Node-style object
 * (lower-case names, string or string[] values), or `[name, value]` pairs.
 */
export type RequestHeaders =
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | Iterable<readonly [string, string]>;

/** The value of header `name` (case-insensitive), repeated values joined with `, `. */
export function headerValue(headers: RequestHeaders | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const wanted = name.toLowerCase();
  // A Map of pairs also has get/has, but is case-sensitive: read it as pairs below.
  if (!(headers instanceof Map) && typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    return (headers as Headers).get(wanted) ?? undefined;
  }
  if (Symbol.iterator in headers) {
    const found: string[] = [];
    for (const [key, value] of headers as Iterable<readonly [string, string]>) {
      if (key.toLowerCase() === wanted) found.push(value);
    }
    return found.length > 0 ? found.join(', ') : undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const value = record[wanted] ?? findCaseInsensitive(record, wanted);
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

function findCaseInsensitive(
  record: Readonly<Record<string, string | readonly string[] | undefined>>,
  wanted: string,
): string | readonly string[] | undefined {
  for (const key of Object.keys(record)) if (key.toLowerCase() === wanted) return record[key];
  return undefined;
}

/** Response headers replayed by default (CONTRACT §6). */
export const DEFAULT_REPLAYED_HEADERS: readonly string[] = [
  'content-type',
  'content-encoding',
  'content-language',
  'location',
  'etag',
  'last-modified',
  'link',
  'cache-control',
];

/** Headers never stored nor replayed, whatever the allow-list says. */
const NEVER_STORED: ReadonlySet<string> = new Set([
  'set-cookie',
  'set-cookie2',
  'content-length',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'idempotent-replayed',
]);

/** Build the predicate that picks the response headers worth storing for replay. */
export function replayedHeaderFilter(extra: readonly string[] = []): (name: string) => boolean {
  const allowed = new Set([...DEFAULT_REPLAYED_HEADERS, ...extra.map((name) => name.toLowerCase())]);
  return (name) => {
    const lower = name.toLowerCase();
    return allowed.has(lower) && !NEVER_STORED.has(lower);
  };
}

/** A header map as frameworks keep it (Node's `getHeaders()`, Koa's `ctx.response.headers`). */
export type HeaderMap = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** A header map as `[name, value]` pairs; a repeated header becomes one pair per value. */
export function headerEntries(headers: HeaderMap): HeaderEntry[] {
  const entries: HeaderEntry[] = [];
  // Keys, not Object.entries: no [name, value] array per header to throw away.
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'object') for (const item of value) entries.push([name, String(item)]);
    else entries.push([name, String(value)]);
  }
  return entries;
}

/** `[name, value]` pairs grouped by lower-case name, for setters that replace and take arrays. */
export function groupHeaders(entries: readonly HeaderEntry[]): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    const values = grouped.get(lower);
    if (values) values.push(value);
    else grouped.set(lower, [value]);
  }
  return grouped;
}

/** The headers of `entries` that `keep` accepts, names lower-cased, order kept. */
export function pickHeaders(entries: Iterable<readonly [string, string]>, keep: (name: string) => boolean): HeaderEntry[] {
  const out: HeaderEntry[] = [];
  for (const [name, value] of entries) if (keep(name)) out.push([name.toLowerCase(), value]);
  return out;
}
