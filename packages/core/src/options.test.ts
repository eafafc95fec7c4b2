import { describe, expect, it } from 'vitest';
import { idempotent } from './function';
import { createIdempotency, type IdempotencyOptions } from './http';
import { memoryStore } from './memory-store';
import { DEFAULTS, type CoreOptions, resolveCoreOptions } from './options';
import type { Store } from './store';

const store = memoryStore();
const valid: CoreOptions = { store };
const build = (overrides: Record<string, unknown>) => () => createIdempotency({ ...valid, ...overrides } as IdempotencyOptions);

describe('options', () => {
  it('fills in the documented defaults', () => {
    const settings = resolveCoreOptions(valid);
    expect(settings).toMatchObject({
      namespace: 'oncely',
      ttlMs: 24 * 60 * 60 * 1000,
      leaseMs: 30_000,
      heartbeat: true,
      leasePolicy: 'takeover',
      wait: false,
      onStoreError: 'fail',
      logRawKeys: false,
      completionRetries: 3,
      completionRetryDelayMs: 50,
      atomic: false,
    });
    expect(DEFAULTS).toMatchObject({ namespace: 'oncely', leaseMs: 30_000, ttlMs: 86_400_000 });
    expect(resolveCoreOptions({ store, wait: { timeoutMs: 500 } }).wait).toEqual({ timeoutMs: 500, initialPollMs: 25, maxPollMs: 500 });
  });

  it('requires a store implementing the four primitives', () => {
    expect(build({ store: undefined })).toThrow(TypeError);
    expect(build({ store: null })).toThrow(TypeError);
    expect(build({ store: {} })).toThrow(TypeError);
    const { get: _get, ...withoutGet } = { create: store.create, update: store.update, delete: store.delete, get: store.get };
    expect(build({ store: withoutGet as unknown as Store })).toThrow(TypeError);
    expect(() => idempotent({ store: undefined as unknown as Store, scope: 's', key: () => 'k', handler: async () => 1 })).toThrow(TypeError);
  });

  it('rejects a lease longer than the retention', () => {
    expect(build({ leaseMs: 60_000, ttlMs: 30_000 })).toThrow(TypeError);
    expect(build({ leaseMs: 30_000, ttlMs: 30_000 })).not.toThrow();
    expect(build({ leaseMs: DEFAULTS.ttlMs + 1 })).toThrow(TypeError);
  });

  it.each([
    ['ttlMs', 0],
    ['ttlMs', -1],
    ['ttlMs', Number.NaN],
    ['ttlMs', Number.POSITIVE_INFINITY],
    ['leaseMs', 0],
    ['leaseMs', -30_000],
    ['completionRetryDelayMs', -1],
    ['completionRetryDelayMs', 0],
    ['completionRetries', -1],
    ['completionRetries', 1.5],
    ['maxBodyBytes', -1],
    ['maxBodyBytes', 1.5],
  ])('rejects %s = %s at setup', (name, value) => {
    expect(build({ [name]: value })).toThrow(TypeError);
  });

  it('accepts zero completion retries and a zero body cap', () => {
    expect(build({ completionRetries: 0 })).not.toThrow();
    expect(build({ maxBodyBytes: 0 })).not.toThrow();
  });

  it('rejects bad wait settings', () => {
    expect(build({ wait: { timeoutMs: 0 } })).toThrow(TypeError);
    expect(build({ wait: { timeoutMs: -100 } })).toThrow(TypeError);
    expect(build({ wait: { timeoutMs: 100, initialPollMs: -1 } })).toThrow(TypeError);
    expect(build({ wait: { timeoutMs: 100, maxPollMs: 0 } })).toThrow(TypeError);
    expect(build({ wait: false })).not.toThrow();
  });

  it('rejects a namespace that could break record ids', () => {
    for (const namespace of ['', 'has space', 'a:b', 'x'.repeat(65), 'ключ', 'a/b']) {
      expect(build({ namespace }), namespace).toThrow(TypeError);
    }
    expect(build({ namespace: 'my-app_v2.prod' })).not.toThrow();
    expect(build({ namespace: 'x'.repeat(64) })).not.toThrow();
  });

  it('rejects an unknown lease policy (a typo must not silently mean takeover)', () => {
    expect(build({ leasePolicy: 'rejct' })).toThrow(TypeError);
    expect(build({ leasePolicy: 42 })).toThrow(TypeError);
    expect(build({ leasePolicy: 'reject' })).not.toThrow();
    expect(build({ leasePolicy: () => 'takeover' })).not.toThrow();
  });

  it('rejects atomic mode without a transactional store', () => {
    expect(build({ atomic: true })).toThrow(TypeError);
  });
});
