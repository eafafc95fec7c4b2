import { InvalidKeyError } from './errors';

/** Longest key accepted, in characters (CONTRACT §5). */
export const MAX_KEY_LENGTH = 255;
/** Longest raw header value even looked at: a quoted 255-character key with every char escaped. */
const MAX_RAW_LENGTH = MAX_KEY_LENGTH * 2 + 2;

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Parse an `Idempotency-Key` header value: a bare token, or an RFC 8941 sf-string (`"abc"`, with
 * `\"` and `\\` escapes) which is unquoted first. The key must then be 1–255 characters of visible
 * ASCII (0x21–0x7E). Surrounding spaces and tabs are ignored.
 *
 * @throws {InvalidKeyError} with a reason a client can act on.
 * @example
 * ```ts
 * parseKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"') // '8e03978e-40d5-43e8-bc93-6894a57f9324'
 * ```
 */
export function parseKey(raw: string): string {
  if (raw.length > MAX_RAW_LENGTH) {
    throw new InvalidKeyError(`The idempotency key is longer than ${MAX_KEY_LENGTH} characters.`);
  }
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  const key = value.startsWith('"') ? unquote(value) : value;
  if (key.length === 0) throw new InvalidKeyError('The idempotency key is empty.');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(`The idempotency key is longer than ${MAX_KEY_LENGTH} characters.`);
  }
  if (!VISIBLE_ASCII.test(key)) {
    throw new InvalidKeyError('The idempotency key may only contain visible ASCII characters (0x21-0x7E), without spaces.');
  }
  return key;
}

function unquote(value: string): string {
  let out = '';
  for (let i = 1; i < value.length; i++) {
    const char = value[i] as string;
    if (char === '\\') {
      const next = value[i + 1];
      if (next !== '"' && next !== '\\') {
        throw new InvalidKeyError('The quoted idempotency key has an invalid escape (only \\" and \\\\ are allowed).');
      }
      out += next;
      i++;
    } else if (char === '"') {
      if (i !== value.length - 1) {
        throw new InvalidKeyError('The quoted idempotency key has characters after its closing quote.');
      }
      return out;
    } else {
      const code = char.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) {
        throw new InvalidKeyError('The quoted idempotency key may only contain printable ASCII characters.');
      }
      out += char;
    }
  }
  throw new InvalidKeyError('The quoted idempotency key has no closing quote.');
}
