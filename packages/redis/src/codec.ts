import type { CompletedRecord, HeaderEntry, IdempotencyRecord, InProgressRecord, StoredResponse } from '@oncely/core';

/**
 * The record format, version 1: one binary Redis string per record.
 *
 * ```
 * offset  size  field
 * 0       1     format version (1)
 * 1       8     expiresAt, float64 big-endian       ← read by the create script (liveness)
 * 9       2+n   token: u16 length + bytes           ← compared by the update/delete scripts
 * ...     1     flags: completed, has response, has body, has result
 * ...     8     createdAt (float64)
 * ...     8     leaseUntil (in progress) or completedAt (completed) (float64)
 * ...           key, scope, fingerprint: u32 length + bytes each
 * ...           response: status (float64), u32 header count, name/value strings, u32 body length + bytes
 * ...           result: u32 length + bytes
 * ...     2+n   replaced token: u16 length + bytes — the token an `update` replaced ('' if created)
 * ```
 *
 * Strings are UTF-8, except one that is not well-formed UTF-16 (a lone surrogate): it is stored as
 * UTF-16LE with the top bit of its length set, so every JavaScript string round-trips exactly.
 * Numbers are float64: every JavaScript number round-trips exactly. Bodies are raw bytes.
 * The header (version, expiresAt, token) keeps its offsets in every future version, so the
 * scripts never need to know which version a record is. The replaced token makes every write's
 * bytes unique to it, so a resent command can recognise its own earlier write (scripts.ts).
 */
export const FORMAT_VERSION = 1;

/** Byte offset of the token field (its u16 length, then its bytes): what the scripts compare. */
export const TOKEN_OFFSET = 9;

const EXPIRES_AT_OFFSET = 1;
const FLAG_COMPLETED = 1;
const FLAG_RESPONSE = 2;
const FLAG_BODY = 4;
const FLAG_RESULT = 8;
const UTF16_U32 = 0x8000_0000;
const UTF16_U16 = 0x8000;
const MAX_U16_BYTES = 0x7fff;

const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isWellFormed(text: string): boolean {
  return hasIsWellFormed ? (text as string & { isWellFormed(): boolean }).isWellFormed() : !LONE_SURROGATE.test(text);
}

/** A string measured for writing: its encoding decided once. */
interface Measured {
  readonly text: string;
  readonly utf16: boolean;
  readonly bytes: number;
}

function measure(text: string): Measured {
  if (typeof text !== 'string') throw new TypeError(`@oncely/redis: expected a string in the record, got ${typeof text}.`);
  // ASCII-only strings (ids, tokens, fingerprints, most headers) skip the well-formedness scan.
  const utf16 = text.length > 0 && !isWellFormed(text);
  return { text, utf16, bytes: utf16 ? text.length * 2 : Buffer.byteLength(text, 'utf8') };
}

/** The token field exactly as stored (u16 length + bytes): what `update` and `delete` compare. */
export function tokenField(token: string): Buffer {
  const measured = measure(token);
  checkTokenSize(measured);
  const field = Buffer.allocUnsafe(2 + measured.bytes);
  writeShort(field, 0, measured);
  return field;
}

function checkTokenSize(measured: Measured): void {
  if (measured.bytes > MAX_U16_BYTES) throw new TypeError(`@oncely/redis: a token is at most ${MAX_U16_BYTES} bytes.`);
}

function writeShort(target: Buffer, offset: number, value: Measured): number {
  target.writeUInt16BE(value.bytes | (value.utf16 ? UTF16_U16 : 0), offset);
  return writeText(target, offset + 2, value);
}

function writeLong(target: Buffer, offset: number, value: Measured): number {
  target.writeUInt32BE((value.bytes | (value.utf16 ? UTF16_U32 : 0)) >>> 0, offset);
  return writeText(target, offset + 4, value);
}

function writeText(target: Buffer, offset: number, value: Measured): number {
  if (value.bytes === 0) return offset;
  return offset + target.write(value.text, offset, value.bytes, value.utf16 ? 'utf16le' : 'utf8');
}

function writeBytes(target: Buffer, offset: number, bytes: Uint8Array): number {
  target.writeUInt32BE(bytes.byteLength, offset);
  target.set(bytes, offset + 4);
  return offset + 4 + bytes.byteLength;
}

function checkNumber(name: string, value: number): void {
  if (typeof value !== 'number') throw new TypeError(`@oncely/redis: record.${name} must be a number, got ${typeof value}.`);
}

function checkBytes(name: string, value: Uint8Array): void {
  if (!ArrayBuffer.isView(value) || value.BYTES_PER_ELEMENT !== 1) throw new TypeError(`@oncely/redis: ${name} must be a Uint8Array.`);
}

/**
 * Encode a record into the stored format (see {@link FORMAT_VERSION}). The id is not stored: it is
 * the Redis key. `replacedToken` is the token an `update` expects (`''` for a `create`). Throws
 * `TypeError` on a malformed record (never writes a partial one).
 *
 * @example
 * ```ts
 * const value = encodeRecord(record); // Buffer, what `redis-cli GET <key>` shows
 * ```
 */
export function encodeRecord(record: IdempotencyRecord, replacedToken = ''): Buffer {
  checkNumber('expiresAt', record.expiresAt);
  checkNumber('createdAt', record.createdAt);
  const completed = record.state === 'completed';
  if (!completed && record.state !== 'in_progress') throw new TypeError(`@oncely/redis: unknown record state ${String((record as { state: unknown }).state)}.`);
  const second = completed ? record.completedAt : record.leaseUntil;
  checkNumber(completed ? 'completedAt' : 'leaseUntil', second);

  const token = measure(record.token);
  checkTokenSize(token);
  const replaced = measure(replacedToken);
  checkTokenSize(replaced);
  const key = measure(record.key);
  const scope = measure(record.scope);
  const fingerprint = measure(record.fingerprint);
  let size = 1 + 8 + 2 + token.bytes + 1 + 8 + 8 + 12 + key.bytes + scope.bytes + fingerprint.bytes + 2 + replaced.bytes;
  let flags = completed ? FLAG_COMPLETED : 0;

  const response = completed ? record.response : undefined;
  const result = completed ? record.result : undefined;
  let headers: Measured[] = [];
  if (response) {
    flags |= FLAG_RESPONSE;
    checkNumber('response.status', response.status);
    headers = new Array<Measured>(response.headers.length * 2);
    size += 8 + 4;
    let i = 0;
    for (const [name, value] of response.headers) {
      const n = measure(name);
      const v = measure(value);
      headers[i++] = n;
      headers[i++] = v;
      size += 8 + n.bytes + v.bytes;
    }
    if (response.body !== null) {
      checkBytes('response.body', response.body);
      flags |= FLAG_BODY;
      size += 4 + response.body.byteLength;
    }
  }
  if (result !== undefined) {
    checkBytes('result', result);
    flags |= FLAG_RESULT;
    size += 4 + result.byteLength;
  }

  const out = Buffer.allocUnsafe(size);
  out[0] = FORMAT_VERSION;
  out.writeDoubleBE(record.expiresAt, EXPIRES_AT_OFFSET);
  let at = writeShort(out, TOKEN_OFFSET, token);
  out[at++] = flags;
  at = out.writeDoubleBE(record.createdAt, at);
  at = out.writeDoubleBE(second, at);
  at = writeLong(out, at, key);
  at = writeLong(out, at, scope);
  at = writeLong(out, at, fingerprint);
  if (response) {
    at = out.writeDoubleBE(response.status, at);
    at = out.writeUInt32BE(headers.length / 2, at);
    for (const text of headers) at = writeLong(out, at, text);
    if (response.body !== null) at = writeBytes(out, at, response.body);
  }
  if (result !== undefined) at = writeBytes(out, at, result);
  at = writeShort(out, at, replaced);
  if (at !== size) throw new Error(`@oncely/redis: encoded ${at} bytes, expected ${size} (a bug).`);
  return out;
}

/** `expiresAt` of an encoded record, without decoding the rest. */
export function encodedExpiresAt(value: Uint8Array): number {
  return asBuffer(value).readDoubleBE(EXPIRES_AT_OFFSET);
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Reads a stored record back, field by field. */
class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}

  private need(bytes: number): void {
    if (this.at + bytes > this.buf.length) throw new RangeError(`@oncely/redis: truncated record (needs ${this.at + bytes} bytes, has ${this.buf.length}).`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++] as number;
  }
  u32(): number {
    this.need(4);
    const value = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }
  f64(): number {
    this.need(8);
    const value = this.buf.readDoubleBE(this.at);
    this.at += 8;
    return value;
  }
  text(lengthWord: number, utf16Bit: number): string {
    const bytes = lengthWord & ~utf16Bit;
    this.need(bytes);
    const start = this.at;
    this.at += bytes;
    if (bytes === 0) return '';
    return this.buf.toString(lengthWord & utf16Bit ? 'utf16le' : 'utf8', start, this.at);
  }
  shortText(): string {
    this.need(2);
    const word = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return this.text(word, UTF16_U16);
  }
  longText(): string {
    const word = this.u32();
    return this.text(word, UTF16_U32);
  }
  /** A fresh copy: what a caller mutates never aliases the driver's reply buffers. */
  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const copy = new Uint8Array(this.buf.subarray(this.at, this.at + length));
    this.at += length;
    return copy;
  }
}

/**
 * Decode a stored value into a fresh record (bodies copied out of the reply). `id` is the record id
 * (the Redis key without the store's prefix). Throws on a value that is not a version-1 record.
 *
 * @example
 * ```ts
 * const raw = await client.getBuffer(`${prefix}${id}`);
 * const record = raw && decodeRecord(id, raw);
 * ```
 */
export function decodeRecord(id: string, value: Uint8Array): IdempotencyRecord {
  const buf = asBuffer(value);
  const read = new Reader(buf);
  const version = read.u8();
  if (version !== FORMAT_VERSION) {
    throw new TypeError(`@oncely/redis: the value under ${JSON.stringify(id)} is not an oncely record of format ${FORMAT_VERSION} (first byte ${version}).`);
  }
  const expiresAt = read.f64();
  const token = read.shortText();
  const flags = read.u8();
  const createdAt = read.f64();
  const second = read.f64();
  const key = read.longText();
  const scope = read.longText();
  const fingerprint = read.longText();
  if (!(flags & FLAG_COMPLETED)) {
    read.shortText(); // the replaced token: bookkeeping, not part of the record
    const record: InProgressRecord = { id, key, scope, state: 'in_progress', token, fingerprint, leaseUntil: second, expiresAt, createdAt };
    return record;
  }
  let response: StoredResponse | undefined;
  if (flags & FLAG_RESPONSE) {
    const status = read.f64();
    const count = read.u32();
    const headers = new Array<HeaderEntry>(count);
    for (let i = 0; i < count; i++) headers[i] = [read.longText(), read.longText()];
    const body = flags & FLAG_BODY ? read.bytes() : null;
    response = { status, headers, body };
  }
  const result = flags & FLAG_RESULT ? read.bytes() : undefined;
  read.shortText(); // the replaced token
  const record: CompletedRecord = {
    id,
    key,
    scope,
    state: 'completed',
    token,
    fingerprint,
    expiresAt,
    createdAt,
    completedAt: second,
    ...(response ? { response } : {}),
    ...(result ? { result } : {}),
  };
  return record;
}
