import { describe, expect, it } from 'vitest';
import { resolveScope, scopeOption } from './scope';
import { MAX_SCOPE_LENGTH } from './target';

describe('scope options', () => {
  it('accepts a constant of 1-1024 characters or a function, and refuses anything else at setup', () => {
    expect(scopeOption('tenant-a')).toBe('tenant-a');
    expect(scopeOption('x'.repeat(MAX_SCOPE_LENGTH))).toHaveLength(MAX_SCOPE_LENGTH);
    const fn = (req: { tenant: string }) => req.tenant;
    expect(scopeOption(fn)).toBe(fn);
    for (const bad of [undefined, '', 'x'.repeat(MAX_SCOPE_LENGTH + 1), 42 as unknown as string]) {
      expect(() => scopeOption(bad)).toThrow(TypeError);
    }
  });

  it('resolves per request, and refuses a scope function that answers with a promise', () => {
    expect(resolveScope('fixed', {})).toBe('fixed');
    expect(resolveScope((req: { tenant: string }) => `t:${req.tenant}`, { tenant: 'b' })).toBe('t:b');
    const promised = (async () => 'late') as unknown as () => string;
    expect(() => resolveScope(promised, {})).toThrow(/synchronously/);
  });
});
