import type { Clock, IdempotencyRecord, Store } from '../../src/index';

/** What an {@link auditedStore} saw: contract violations, and counts of record lifetimes and takeovers. */
export interface Audit {
  readonly violations: string[];
  readonly clock: Clock;
  /** Successful creates: each starts a record lifetime. */
  lifetimes?: number;
  /** Updates that put a new token on an in-progress record. */
  takeovers?: number;
  /** Creates that replaced an expired in-progress claim (its owner's lease is gone with it). */
  replacedClaims?: number;
}

/**
 * Wraps a store and checks, at the moment each operation lands, what the core must never do
 * and what the store must never allow:
 * - fencing: a successful update/delete carried the current token;
 * - takeover (a new token on an in-progress record) only of a claim whose lease had lapsed;
 * - a completion is final for its lifetime: never updated, never deleted;
 * - create and get never report an expired record as live; create never succeeds over a live one.
 */
export function auditedStore(inner: Store, audit: Audit): Store {
  audit.lifetimes = 0;
  audit.takeovers = 0;
  audit.replacedClaims = 0;
  // The true state, independent of the store under audit: what the last successful write left.
  const truth = new Map<string, IdempotencyRecord>();
  // Tokens whose lease was seen lapsed at some moment: their owner may be presumed dead from then on,
  // even if a late renewal (same token, CONTRACT §5.4) lands before the takeover does.
  const lapsed = new Set<string>();
  const observe = (id: string): void => {
    const record = truth.get(id);
    if (record?.state === 'in_progress' && record.leaseUntil <= audit.clock.now()) lapsed.add(record.token);
  };
  const live = (id: string, now: number): IdempotencyRecord | undefined => {
    const record = truth.get(id);
    return record && record.expiresAt > now ? record : undefined;
  };
  return {
    async create(record, now) {
      observe(record.id);
      const result = await inner.create(record, now);
      const before = live(record.id, now);
      if (result.created) {
        if (before) audit.violations.push(`create succeeded over a live record (token ${before.token})`);
        if (truth.get(record.id)?.state === 'in_progress') audit.replacedClaims = (audit.replacedClaims ?? 0) + 1;
        truth.set(record.id, record);
        audit.lifetimes = (audit.lifetimes ?? 0) + 1;
      } else if (result.existing.expiresAt <= now) {
        audit.violations.push('create answered with an expired record as if it were live');
      }
      return result;
    },
    async update(id, expectedToken, next) {
      observe(id);
      const before = truth.get(id);
      const written = await inner.update(id, expectedToken, next);
      if (!written) return false;
      if (!before || before.token !== expectedToken) {
        audit.violations.push(`update with a stale token ${expectedToken} overwrote ${before?.token ?? 'nothing'}`);
      } else if (before.state === 'completed') {
        audit.violations.push(`a completed record (token ${before.token}) was overwritten`);
      } else if (next.state === 'in_progress' && next.token !== before.token) {
        audit.takeovers = (audit.takeovers ?? 0) + 1;
        if (!lapsed.has(before.token)) {
          audit.violations.push(`takeover of a lease that never lapsed (${before.leaseUntil - audit.clock.now()} ms left)`);
        }
        if (next.fingerprint !== before.fingerprint) audit.violations.push('takeover changed the fingerprint');
      }
      truth.set(id, next);
      return true;
    },
    async delete(id, expectedToken) {
      observe(id);
      const before = truth.get(id);
      const deleted = await inner.delete(id, expectedToken);
      if (!deleted) return false;
      if (!before || before.token !== expectedToken) audit.violations.push(`delete with a stale token ${expectedToken}`);
      else if (before.state === 'completed') audit.violations.push('a completed record was deleted');
      truth.delete(id);
      return true;
    },
    async get(id, now) {
      observe(id);
      const record = await inner.get(id, now);
      if (record && record.expiresAt <= now) audit.violations.push('get returned an expired record');
      return record;
    },
  };
}
