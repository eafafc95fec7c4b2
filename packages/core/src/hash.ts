import { concatBytes, toHex, utf8, utf8Length } from './bytes';
import { sha256 } from './sha256';

/** Inputs up to this size are hashed synchronously (native or pure JS); larger ones by Web Crypto (async). */
const SYNC_HASH_LIMIT = 64 * 1024;

function subtle(): SubtleCrypto {
  const webCrypto = (globalThis as { crypto?: Crypto }).crypto;
  if (!webCrypto?.subtle) {
    throw new Error('oncely needs the Web Crypto API (globalThis.crypto.subtle): Node >= 20, Bun, Deno or an edge runtime.');
  }
  return webCrypto.subtle;
}

/** An incremental hash of the runtime's `crypto` module. */
interface NativeHash {
  update(data: string | Uint8Array, encoding?: 'utf8'): unknown;
  digest(encoding: 'hex'): string;
}

/**
 * The part of a runtime's built-in `crypto` module oncely uses, when there is one: `createHash`
 * always, the one-shot `hash` where it exists (Node >= 20.12). Strings are hashed as UTF-8.
 */
export interface NativeCrypto {
  readonly createHash: (algorithm: 'sha256') => NativeHash;
  readonly hash?: (algorithm: 'sha256', data: string | Uint8Array, outputEncoding: 'hex') => string;
}

/** Fields hashed framed (see {@link frame}), with each field's byte length. */
type Fields = readonly (string | Uint8Array)[];

/** Computes the hex SHA-256 of framed fields, given the byte length of each. */
type FramedHasher = (fields: Fields, lengths: readonly number[]) => string;

/** Pure JS, any runtime: frame into one byte array, hash it. */
const pureFramedHex: FramedHasher = (fields) => sha256HexSync(frame(fields));

// A check vector with non-ASCII text, a lone surrogate (UTF-8 encoders must write U+FFFD for it, as
// TextEncoder does) and bytes: a built-in that disagrees with the pure-JS digest is not used.
const CHECK_FIELDS: Fields = ['oncely \u00e9\u{1f511} \ud800', Uint8Array.of(0, 255, 58), 'end'];

/**
 * The framed hasher on a runtime's native SHA-256 (no encoding, framing or copying in JS: strings go
 * to the hash as they are), or the pure-JS one when `native` is absent or disagrees with it on the
 * check vector. Digests are identical either way: record ids and fingerprints are persisted.
 */
export function framedHasher(native: NativeCrypto | undefined): FramedHasher {
  if (!native || typeof native.createHash !== 'function') return pureFramedHex;
  const { createHash } = native;
  const hashText =
    typeof native.hash === 'function'
      ? native.hash
      : (_algorithm: 'sha256', text: string | Uint8Array): string => {
          const hash = createHash('sha256');
          hash.update(text, 'utf8');
          return hash.digest('hex');
        };
  const nativeFramedHex: FramedHasher = (fields, lengths) => {
    let text = '';
    let hash: NativeHash | undefined;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as string | Uint8Array;
      text += `${lengths[i] as number}:`;
      if (typeof field === 'string') {
        text += field;
      } else {
        hash ??= createHash('sha256');
        hash.update(text, 'utf8');
        hash.update(field);
        text = '';
      }
    }
    if (!hash) return hashText('sha256', text, 'hex');
    if (text !== '') hash.update(text, 'utf8');
    return hash.digest('hex');
  };
  try {
    if (nativeFramedHex(CHECK_FIELDS, byteLengths(CHECK_FIELDS)) === pureFramedHex(CHECK_FIELDS, [])) return nativeFramedHex;
  } catch {
    // A built-in that throws is as good as none.
  }
  return pureFramedHex;
}

/** The runtime's built-in `crypto` module, without importing it (the core imports no `node:` module). */
export function builtinCrypto(): NativeCrypto | undefined {
  try {
    const runtime = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const crypto = runtime?.getBuiltinModule?.('crypto') as Partial<NativeCrypto> | undefined;
    return typeof crypto?.createHash === 'function' ? (crypto as NativeCrypto) : undefined;
  } catch {
    return undefined;
  }
}

/** Detected once: native SHA-256 on Node >= 20.16, Bun and Deno; pure JS elsewhere. */
const framedHex: FramedHasher = framedHasher(builtinCrypto());

function byteLengths(fields: Fields): number[] {
  return fields.map((field) => (typeof field === 'string' ? utf8Length(field) : field.byteLength));
}

/** SHA-256 of bytes, as lower-case hex. No Node imports: native where the runtime has it, else pure JS; Web Crypto for large inputs. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  if (data.byteLength <= SYNC_HASH_LIMIT) return sha256HexSync(data);
  return toHex(new Uint8Array(await subtle().digest('SHA-256', data as Uint8Array<ArrayBuffer>)));
}

/** SHA-256 of bytes, as lower-case hex, computed synchronously in JS. */
export function sha256HexSync(data: Uint8Array): string {
  return toHex(sha256(data));
}

/**
 * Hex SHA-256 of `fields`, framed (see {@link frame}): the same digest as hashing `frame(fields)`,
 * without building it when the runtime has a native SHA-256. Large inputs go to Web Crypto.
 */
export async function framedSha256Hex(fields: Fields): Promise<string> {
  return framedSha256HexNow(fields);
}

/**
 * {@link framedSha256Hex}, returned as a string when the fields are small enough to hash at once
 * (the usual case: no promise, no async frame), else as a promise.
 */
export function framedSha256HexNow(fields: Fields): string | Promise<string> {
  const lengths = byteLengths(fields);
  let total = 0;
  for (const length of lengths) total += length;
  if (total <= SYNC_HASH_LIMIT) return framedHex(fields, lengths);
  return largeFramedSha256Hex(fields);
}

async function largeFramedSha256Hex(fields: Fields): Promise<string> {
  return toHex(new Uint8Array(await subtle().digest('SHA-256', frame(fields) as Uint8Array<ArrayBuffer>)));
}

/**
 * Unambiguous framing of several fields for hashing: each field is its byte length in decimal,
 * a colon, then the bytes. `("ab","c")` and `("a","bc")` therefore never collide.
 */
export function frame(fields: Fields): Uint8Array {
  const parts: Uint8Array[] = [];
  let text = '';
  for (const field of fields) {
    if (typeof field === 'string') {
      text += `${utf8Length(field)}:${field}`;
    } else {
      text += `${field.byteLength}:`;
      parts.push(utf8(text), field);
      text = '';
    }
  }
  if (parts.length === 0) return utf8(text);
  if (text !== '') parts.push(utf8(text));
  return concatBytes(parts);
}

/**
 * The record id of `(scope, key)`: `namespace:` + hex SHA-256 of both, framed (CONTRACT §1).
 * Fixed length whatever the key holds, so no key character can reach the store's syntax.
 */
export function recordId(namespace: string, scope: string, key: string): string {
  return `${namespace}:${framedHex([scope, key], [utf8Length(scope), utf8Length(key)])}`;
}

const TOKEN_BYTES = 16;
const POOL_BYTES = TOKEN_BYTES * 256;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

/**
 * A random 128-bit fencing token, hex, from Web Crypto's CSPRNG. Random bytes are drawn 4 KiB at a
 * time (one system call per 256 tokens instead of one per token); each byte is used once.
 */
export function randomToken(): string {
  if (poolOffset === POOL_BYTES) {
    (globalThis as { crypto: Crypto }).crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const token = toHex(pool.subarray(poolOffset, poolOffset + TOKEN_BYTES));
  poolOffset += TOKEN_BYTES;
  return token;
}
