/**
 * Webhook signature verification (and signing, for `send.ts` and the tests) for three providers,
 * with Web Crypto only — `crypto.subtle` HMAC-SHA256 and a constant-time comparison — so it runs
 * on every runtime Hono runs on. No provider SDKs.
 *
 * - Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<raw body>">` (several `v1`
 *   during a secret rotation). The key is the endpoint secret string itself (`whsec_...`, as is).
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`. No timestamp.
 * - Standard Webhooks (Svix): `webhook-id`, `webhook-timestamp`, `webhook-signature:
 *   v1,<base64 HMAC of "<id>.<timestamp>.<raw body>">` (space-separated list). The key is the
 *   base64 after `whsec_`. `svix-*` header names are accepted too.
 *
 * Every verifier answers `{ ok: false, reason }` for anything wrong (missing or malformed header,
 * timestamp outside the tolerance window, no matching signature) and never throws on input.
 */

export type Verification = { readonly ok: true } | { readonly ok: false; readonly reason: VerificationFailure };

export type VerificationFailure = 'missing_signature' | 'malformed_signature' | 'timestamp_outside_tolerance' | 'signature_mismatch';

/** Checks one delivery: the raw body bytes exactly as received, and the request headers. */
export type Verifier = (rawBody: Uint8Array, headers: Headers) => Promise<Verification>;

export interface TimestampOptions {
  /** Largest accepted distance between the signed timestamp and now, in seconds. Default 300 (both providers' own default). */
  readonly toleranceSeconds?: number;
  /** Current time in epoch ms, injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const encoder = new TextEncoder();

const fail = (reason: VerificationFailure): Verification => ({ ok: false, reason });
const OK: Verification = { ok: true };

export function stripeVerifier(secret: string, options: TimestampOptions = {}): Verifier {
  const key = hmacKey(encoder.encode(secret));
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now ?? Date.now;
  return async (rawBody, headers) => {
    const header = headers.get('stripe-signature');
    if (!header) return fail('missing_signature');
    let timestamp: string | undefined;
    const candidates: Uint8Array[] = [];
    for (const part of header.split(',')) {
      const eq = part.indexOf('=');
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (name === 't') timestamp = value;
      else if (name === 'v1') {
        const bytes = fromHex(value);
        if (bytes) candidates.push(bytes);
      }
    }
    if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || candidates.length === 0) return fail('malformed_signature');
    if (!withinTolerance(Number(timestamp), now(), tolerance)) return fail('timestamp_outside_tolerance');
    const expected = await hmac(await key, concat(encoder.encode(`${timestamp}.`), rawBody));
    return anyEqual(expected, candidates) ? OK : fail('signature_mismatch');
  };
}

export function githubVerifier(secret: string): Verifier {
  const key = hmacKey(encoder.encode(secret));
  return async (rawBody, headers) => {
    const header = headers.get('x-hub-signature-256');
    if (!header) return fail('missing_signature');
    const signature = header.startsWith('sha256=') ? fromHex(header.slice('sha256='.length)) : undefined;
    if (!signature) return fail('malformed_signature');
    const expected = await hmac(await key, rawBody);
    return anyEqual(expected, [signature]) ? OK : fail('signature_mismatch');
  };
}

export function standardVerifier(secret: string, options: TimestampOptions = {}): Verifier {
  const key = hmacKey(standardSecretBytes(secret));
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now ?? Date.now;
  return async (rawBody, headers) => {
    const id = headers.get('webhook-id') ?? headers.get('svix-id');
    const timestamp = headers.get('webhook-timestamp') ?? headers.get('svix-timestamp');
    const header = headers.get('webhook-signature') ?? headers.get('svix-signature');
    if (!id || !timestamp || !header) return fail('missing_signature');
    if (!/^\d{1,12}$/.test(timestamp)) return fail('malformed_signature');
    const candidates: Uint8Array[] = [];
    for (const entry of header.split(' ')) {
      const comma = entry.indexOf(',');
      if (entry.slice(0, comma) !== 'v1') continue; // other versions (v1a: asymmetric) are not ours
      const bytes = fromBase64(entry.slice(comma + 1));
      if (bytes) candidates.push(bytes);
    }
    if (candidates.length === 0) return fail('malformed_signature');
    if (!withinTolerance(Number(timestamp), now(), tolerance)) return fail('timestamp_outside_tolerance');
    const expected = await hmac(await key, concat(encoder.encode(`${id}.${timestamp}.`), rawBody));
    return anyEqual(expected, candidates) ? OK : fail('signature_mismatch');
  };
}

// ---- signing: what the providers do, for send.ts and the tests ---------------------------------

/** The `Stripe-Signature` header value for `rawBody` signed at `timestamp` (unix seconds). */
export async function signStripe(secret: string, rawBody: Uint8Array, timestamp: number): Promise<string> {
  const signature = await hmac(await hmacKey(encoder.encode(secret)), concat(encoder.encode(`${timestamp}.`), rawBody));
  return `t=${timestamp},v1=${toHex(signature)}`;
}

/** The `X-Hub-Signature-256` header value for `rawBody`. */
export async function signGithub(secret: string, rawBody: Uint8Array): Promise<string> {
  return `sha256=${toHex(await hmac(await hmacKey(encoder.encode(secret)), rawBody))}`;
}

/** The `webhook-signature` header value for message `id` at `timestamp` (unix seconds). */
export async function signStandard(secret: string, id: string, timestamp: number, rawBody: Uint8Array): Promise<string> {
  const signature = await hmac(await hmacKey(standardSecretBytes(secret)), concat(encoder.encode(`${id}.${timestamp}.`), rawBody));
  return `v1,${toBase64(signature)}`;
}

// ---- helpers -------------------------------------------------------------------------------

function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

async function hmac(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, data as Uint8Array<ArrayBuffer>));
}

/** Standard Webhooks secrets are `whsec_` + base64 of the key bytes. */
function standardSecretBytes(secret: string): Uint8Array {
  const bytes = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  if (!bytes || bytes.byteLength === 0) throw new TypeError('A Standard Webhooks secret is "whsec_" followed by base64.');
  return bytes;
}

function withinTolerance(timestampSeconds: number, nowMs: number, toleranceSeconds: number): boolean {
  return Math.abs(nowMs / 1000 - timestampSeconds) <= toleranceSeconds;
}

/**
 * Constant-time comparison against every candidate: the time taken depends only on the number of
 * candidates and the (public) signature length, never on where the bytes first differ.
 */
function anyEqual(expected: Uint8Array, candidates: readonly Uint8Array[]): boolean {
  let found = false;
  for (const candidate of candidates) found = timingSafeEqual(expected, candidate) || found;
  return found;
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false; // lengths are public (32 bytes for SHA-256)
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

function fromHex(hex: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined; // an HMAC-SHA256 is 32 bytes
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  try {
    const binary = atob(text);
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
