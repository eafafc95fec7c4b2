import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseInteger } from './duration';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['250ms', 250],
    ['1500', 1_500],
    ['0', 0],
    ['1.5h', 5_400_000],
    [' 10m ', 600_000],
  ])('%j is %i ms', (text, ms) => {
    expect(parseDuration('older-than', text)).toBe(ms);
  });

  it.each(['', '5x', '5 m', 'm', '-5m', '5mm', '1e3', 'Infinity', '99999999999999999999d'])('%j is a usage error naming the option', (text) => {
    expect(() => parseDuration('older-than', text)).toThrow(/^--older-than must be a duration such as 30s, 5m, 2h, 1d or plain milliseconds/);
  });
});

describe('parseInteger', () => {
  it('accepts whole numbers in range and refuses the rest', () => {
    expect(parseInteger('limit', '100', 1)).toBe(100);
    expect(() => parseInteger('limit', '0', 1)).toThrow('--limit must be a whole number >= 1; got "0".');
    expect(() => parseInteger('limit', '2.5', 1)).toThrow(/--limit/);
    expect(() => parseInteger('limit', '-1', 1)).toThrow(/--limit/);
    expect(() => parseInteger('status', '700', 100, 599)).toThrow('--status must be a whole number from 100 to 599; got "700".');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [42_000, '42s'],
    [300_000, '5m'],
    [303_000, '5m 3s'],
    [7_800_000, '2h 10m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [273_600_000, '3d 4h'],
    [-303_000, '5m 3s'],
  ])('%i ms reads %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
