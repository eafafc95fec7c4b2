import { utf8 } from './bytes';
import { canonicalJson } from './canonical-json';
import { framedSha256HexNow, sha256Hex } from './hash';
import { headerValue, type RequestHeaders } from './headers';

/** What a binding knows about a request, for fingerprinting (CONTRACT §4). */
export interface RequestFacts {
  /** HTTP method, any case. */
  readonly method: string;
  /** Path and optional query, as sent: `/charges?b=2&a=1`. */
  readonly url: string;
  readonly headers?: RequestHeaders | undefined;
  /**
   * The body as it arrived, when the binding has the raw bytes. Preferred: JSON bodies are
   * canonicalized from it, anything else is hashed byte for byte.
   */
  readonly rawBody?: Uint8Array | undefined;
  /**
   * The body after a framework's parser, when the raw bytes are gone (e.g. `express.json()`).
   * Objects and arrays are canonicalized as JSON; strings are hashed as UTF-8.
   */
  readonly parsedBody?: unknown;
}

/** How requests are fingerprinted. */
export type FingerprintOption =
  | false
  | FingerprintSettings
  | ((request: RequestFacts) => string | Uint8Array | Promise<string | Uint8Array>);

/** Settings of the built-in `v1` fingerprint. */
export interface FingerprintSettings {
  /** Request headers that are part of what the request asks for (e.g. `accept-language`). */
  readonly includeHeaders?: readonly string[];
  /**
   * JSON paths left out of the body before hashing, dot-separated (`meta.sentAt`, `items.0.ts`;
   * a leading `$.` is allowed). For fields a client changes on every retry, like a timestamp.
   */
  readonly excludeJsonPaths?: readonly string[];
}

/** Fingerprint algorithm version of the built-in digest. Stored with it: `'v1:' + hex`. */
export const FINGERPRINT_VERSION = 'v1';

/**
 * The fingerprint of a request: `'v1:'` + SHA-256 over method, path with sorted query, the body
 * (canonical JSON for JSON bodies — raw bytes with a JSON content type, or a parsed object —
 * otherwise the raw bytes) and any included headers. A custom function's output is hashed as
 * `'custom:' + hex`; `false` gives `''` (no check).
 *
 * @example
 * ```ts
 * const headers = { 'content-type': 'application/json' };
 * await fingerprint({ method: 'POST', url: '/charges', headers, rawBody: utf8('{"b":1, "a":2}') })
 * // === await fingerprint({ method: 'post', url: '/charges', headers, parsedBody: { a: 2, b: 1 } })
 * ```
 */
export async function fingerprint(request: RequestFacts, option: FingerprintOption = {}): Promise<string> {
  return fingerprintNow(request, option);
}

/**
 * {@link fingerprint}, returned as a string when it can be computed at once (v1 of a body up to
 * 64 KiB: the usual case, no promise or async frame per request), else as a promise. May throw.
 * @internal
 */
export function fingerprintNow(request: RequestFacts, option: FingerprintOption): string | Promise<string> {
  if (option === false) return '';
  if (typeof option === 'function') return customFingerprint(request, option);
  const [kind, body] = bodyForHash(request, option.excludeJsonPaths ?? []);
  const fields: (string | Uint8Array)[] = [FINGERPRINT_VERSION, request.method.toUpperCase(), normalizeUrl(request.url), kind, body];
  for (const name of option.includeHeaders ?? []) {
    fields.push(name.toLowerCase(), headerValue(request.headers, name) ?? '');
  }
  const hashed = framedSha256HexNow(fields);
  return typeof hashed === 'string' ? `${FINGERPRINT_VERSION}:${hashed}` : hashed.then((hex) => `${FINGERPRINT_VERSION}:${hex}`);
}

async function customFingerprint(request: RequestFacts, option: (request: RequestFacts) => string | Uint8Array | Promise<string | Uint8Array>): Promise<string> {
  const custom = await option(request);
  return `custom:${await sha256Hex(typeof custom === 'string' ? utf8(custom) : custom)}`;
}

/**
 * Whether a stored fingerprint and a new one describe different requests. Fingerprints of
 * different algorithms (or one of them off) cannot be compared, so they never count as different:
 * changing the algorithm causes no mass `key_reused`.
 */
export function fingerprintsDiffer(stored: string, incoming: string): boolean {
  if (stored === '' || incoming === '') return false;
  if (algorithmOf(stored) !== algorithmOf(incoming)) return false;
  return stored !== incoming;
}

function algorithmOf(value: string): string {
  const colon = value.indexOf(':');
  return colon === -1 ? '' : value.slice(0, colon);
}

function normalizeUrl(url: string): string {
  const hashAt = url.indexOf('#');
  const withoutFragment = hashAt === -1 ? url : url.slice(0, hashAt);
  const queryAt = withoutFragment.indexOf('?');
  if (queryAt === -1) return withoutFragment;
  const params = [...new URLSearchParams(withoutFragment.slice(queryAt + 1))];
  params.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const query = params.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
  return `${withoutFragment.slice(0, queryAt)}?${query}`;
}

function isJsonContentType(headers: RequestHeaders | undefined): boolean {
  const type = headerValue(headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || (type !== undefined && type.endsWith('+json'));
}

/**
 * The body's kind and what is hashed of it. Text (canonical JSON, a parsed string) stays a string:
 * framed as its UTF-8 bytes, it hashes exactly as `utf8(text)` would, without encoding it here.
 */
function bodyForHash(request: RequestFacts, excluded: readonly string[]): [kind: string, body: string | Uint8Array] {
  const { rawBody, parsedBody } = request;
  if (rawBody !== undefined) {
    if (isJsonContentType(request.headers)) {
      const parsed = tryParseJson(rawBody);
      if (parsed !== NOT_JSON) {
        // Parsed JSON can still be too deeply nested to canonicalise (a few KB of `[[[…]]]` overflow
        // the stack): hash the bytes then, as for invalid JSON — bad input is never a 500.
        try {
          return ['json', canonicalJson(withoutPaths(parsed, excluded))];
        } catch {
          return ['bytes', rawBody];
        }
      }
    }
    return ['bytes', rawBody];
  }
  if (parsedBody === undefined || parsedBody === null) return ['none', ''];
  if (parsedBody instanceof Uint8Array) return ['bytes', parsedBody];
  if (typeof parsedBody === 'string') return ['bytes', parsedBody];
  return ['json', canonicalJson(withoutPaths(parsedBody, excluded))];
}

/** What {@link tryParseJson} returns for bytes that are not UTF-8 JSON. */
const NOT_JSON = Symbol('oncely.notJson');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function tryParseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(strictUtf8.decode(bytes)) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function withoutPaths(value: unknown, paths: readonly string[]): unknown {
  let result = value;
  for (const path of paths) {
    const segments = path.replace(/^\$\.?/, '').split('.').filter((segment) => segment.length > 0);
    result = omitPath(result, segments);
  }
  return result;
}

function omitPath(value: unknown, segments: readonly string[]): unknown {
  const [head, ...rest] = segments;
  if (head === undefined || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const index = Number(head);
    if (!Number.isInteger(index) || index < 0 || index >= value.length) return value;
    const copy = [...value] as unknown[];
    if (rest.length === 0) copy.splice(index, 1, undefined);
    else copy[index] = omitPath(copy[index], rest);
    return copy;
  }
  const object = value as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(object, head)) return value;
  const copy: Record<string, unknown> = { ...object };
  if (rest.length === 0) delete copy[head];
  else copy[head] = omitPath(copy[head], rest);
  return copy;
}
