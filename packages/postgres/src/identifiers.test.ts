import { describe, expect, it } from 'vitest';
import { tableNames } from './identifiers';

describe('tableNames', () => {
  it('quotes the defaults and valid names', () => {
    expect(tableNames()).toEqual({ table: '"oncely_idempotency"', expiryIndex: '"oncely_idempotency_expires_at_idx"', inProgressIndex: '"oncely_idempotency_created_at_idx"', schema: undefined, display: 'oncely_idempotency' });
    expect(tableNames({ table: 'user', schema: 'ops_2' })).toEqual({ table: '"ops_2"."user"', expiryIndex: '"user_expires_at_idx"', inProgressIndex: '"user_created_at_idx"', schema: '"ops_2"', display: 'ops_2.user' });
  });

  it('refuses anything that is not a plain lower-case identifier (no injection, no case surprises, no truncation)', () => {
    for (const table of ['', 'Upper', '1abc', 'a-b', 'a"b', 'x; DROP TABLE users; --', 'ümlaut', 'a'.repeat(49), ' a']) {
      expect(() => tableNames({ table }), table).toThrow(TypeError);
    }
    expect(() => tableNames({ schema: 'public.x' })).toThrow(TypeError);
    expect(() => tableNames({ schema: 'a'.repeat(64) })).toThrow(TypeError);
    expect(tableNames({ table: 'a'.repeat(48), schema: 'b'.repeat(63) }).table).toBe(`"${'b'.repeat(63)}"."${'a'.repeat(48)}"`);
  });
});
