import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Length } from '@oncely/core';
import { DYNAMODB_MAX_ITEM_BYTES, dynamoItemSize, numberSize } from './item-size';

describe('dynamoItemSize', () => {
  it('is 400 KB = 409,600 bytes at most', () => {
    expect(DYNAMODB_MAX_ITEM_BYTES).toBe(409_600);
  });

  it('counts names and values in UTF-8 bytes, binaries raw', () => {
    expect(dynamoItemSize({ pk: { S: 'a' }, body: { B: new Uint8Array(10) } })).toBe(2 + 1 + 4 + 10);
    expect(dynamoItemSize({ 'é': { S: '🦄' } })).toBe(2 + 4);
    expect(dynamoItemSize({ b: { BOOL: true }, n: { NULL: true } })).toBe(1 + 1 + 1 + 1);
  });

  it('counts lists and maps as 3 bytes plus one per element plus the elements', () => {
    // headers [['ab', '']]: outer 3 + (1 + inner (3 + (1 + 2) + (1 + 0)))
    expect(dynamoItemSize({ h: { L: [{ L: [{ S: 'ab' }, { S: '' }] }] } })).toBe(1 + 3 + 1 + 3 + 3 + 1);
    expect(dynamoItemSize({ m: { M: { x: { S: 'yz' } } } })).toBe(1 + 3 + 1 + 1 + 2);
    expect(dynamoItemSize({ l: { L: [] } })).toBe(1 + 3);
  });

  it('counts numbers in base-100 pairs plus one byte', () => {
    expect(numberSize('0')).toBe(1);
    expect(numberSize('1')).toBe(2);
    expect(numberSize('99')).toBe(2);
    expect(numberSize('120')).toBe(3); // 01|20
    expect(numberSize('1200')).toBe(2); // 12|00 → 12
    expect(numberSize('1234')).toBe(3);
    expect(numberSize('12345')).toBe(4);
    expect(numberSize('4102444800123')).toBe(8); // 04|10|24|44|80|01|23
    expect(numberSize('-1.5')).toBe(3); // 01|.50
    expect(numberSize('0.05')).toBe(2); // .05
    expect(numberSize('1e3')).toBe(numberSize('1000'));
    expect(numberSize('15e-1')).toBe(numberSize('1.5'));
  });

  it('never counts fewer bytes than the digits need (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (value) => {
        const significant = String(value).replace(/0+$/, '').length;
        const size = numberSize(String(value));
        expect(size).toBeGreaterThanOrEqual(Math.ceil(significant / 2) + 1);
        expect(size).toBeLessThanOrEqual(Math.ceil(significant / 2) + 2);
      }),
    );
  });

  it('counts UTF-8 like TextEncoder (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength);
      }),
    );
  });
});
