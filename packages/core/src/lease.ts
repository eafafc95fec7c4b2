import type { LeaseDecision, LeasePolicy } from './options';
import type { InProgressRecord } from './record';

/** Seconds for `Retry-After` until `leaseUntil`: rounded up, at least 1 (CONTRACT §5.3). */
export function retryAfterSeconds(leaseUntil: number, now: number): number {
  return Math.max(1, Math.ceil((leaseUntil - now) / 1000));
}

/**
 * Apply the lease policy to a record whose lease expired. A `reconcile` function that throws
 * counts as `reject`: when unsure, never run twice.
 */
export async function decideExpiredLease(policy: LeasePolicy, record: InProgressRecord): Promise<LeaseDecision> {
  if (typeof policy === 'string') return policy;
  try {
    return (await policy(record)) === 'takeover' ? 'takeover' : 'reject';
  } catch {
    return 'reject';
  }
}
