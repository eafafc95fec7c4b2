import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { utf8Length } from '@oncely/core';

/** DynamoDB's largest item: 400 KB = 409,600 bytes, attribute names included. */
export const DYNAMODB_MAX_ITEM_BYTES = 400 * 1024;

/**
 * The size of an item as DynamoDB counts it against its 400 KB limit ("DynamoDB item sizes and
 * formats" in the developer guide): for every attribute, the UTF-8 bytes of its name plus its value —
 * strings in UTF-8 bytes, binaries in raw bytes (not base64), numbers one byte per pair of
 * significant decimal digits plus one, booleans and nulls one byte, lists and maps 3 bytes plus
 * each element's size plus one byte per element. Checked to the byte against DynamoDB Local.
 *
 * @example
 * ```ts
 * dynamoItemSize({ pk: { S: 'a' }, body: { B: new Uint8Array(10) } }); // 2 + 1 + 4 + 10 = 17
 * ```
 */
export function dynamoItemSize(item: Readonly<Record<string, AttributeValue>>): number {
  let size = 0;
  for (const name of Object.keys(item)) size += utf8Length(name) + valueSize(item[name] as AttributeValue);
  return size;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8Length(value.S);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.N !== undefined) return numberSize(value.N);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) {
    let size = 3;
    for (const element of value.L) size += 1 + valueSize(element);
    return size;
  }
  if (value.M !== undefined) {
    let size = 3;
    for (const name of Object.keys(value.M)) size += 1 + utf8Length(name) + valueSize(value.M[name] as AttributeValue);
    return size;
  }
  if (value.SS !== undefined) return value.SS.reduce((sum, text) => sum + utf8Length(text), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, number) => sum + numberSize(number), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, bytes) => sum + bytes.byteLength, 0);
  throw new TypeError('dynamoItemSize: unknown attribute value type.');
}

/**
 * Bytes of a DynamoDB number: it is stored in base 100 (one byte per pair of decimal digits,
 * pairs aligned on the decimal point), leading and trailing zero pairs dropped, plus one byte of
 * exponent. So 120 takes 3 bytes (`01|20`) and 1200 takes 2 (`12|00` → `12`).
 */
export function numberSize(text: string): number {
  const match = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match) throw new TypeError(`dynamoItemSize: ${JSON.stringify(text)} is not a number.`);
  let integer = match[1] ?? '';
  let fraction = match[2] ?? '';
  const exponent = Number(match[3] ?? '0');
  if (exponent > 0) {
    const moved = fraction.slice(0, exponent).padEnd(exponent, '0');
    integer += moved;
    fraction = fraction.slice(exponent);
  } else if (exponent < 0) {
    const shift = -exponent;
    const padded = integer.padStart(shift, '0');
    fraction = padded.slice(padded.length - shift) + fraction;
    integer = padded.slice(0, padded.length - shift);
  }
  if (integer.length % 2 === 1) integer = `0${integer}`;
  if (fraction.length % 2 === 1) fraction = `${fraction}0`;
  const pairs = (integer + fraction).match(/\d\d/g) ?? [];
  let first = 0;
  let last = pairs.length;
  while (first < last && pairs[first] === '00') first++;
  while (last > first && pairs[last - 1] === '00') last--;
  return last - first + 1;
}

