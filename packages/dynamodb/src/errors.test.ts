import { isIdempotencyError, StoreUnavailableError } from '@oncely/core';
import { describe, expect, it } from 'vitest';
import { isConditionalCheckFailed, isItemTooLarge, storeError } from './errors';

const named = (name: string, message: string): Error => Object.assign(new Error(message), { name });

describe('storeError', () => {
  it('maps DynamoDB item size refusals (PutItem and UpdateItem wording) to RecordTooLargeError', () => {
    for (const message of ['Item size has exceeded the maximum allowed size', 'Item size to update has exceeded the maximum allowed size']) {
      const cause = named('ValidationException', message);
      expect(isItemTooLarge(cause)).toBe(true);
      const mapped = storeError('update', 'id-1', cause);
      expect(isIdempotencyError(mapped, 'record_too_large')).toBe(true);
      expect(mapped.cause).toBe(cause);
    }
  });

  it('maps throttling, network and other failures to StoreUnavailableError with the cause', () => {
    for (const cause of [
      named('ProvisionedThroughputExceededException', 'The level of configured provisioned throughput for the table was exceeded.'),
      named('ThrottlingException', 'Rate of requests exceeds the allowed throughput.'),
      named('RequestLimitExceeded', 'Throughput exceeds the current throughput limit for your account.'),
      named('ResourceNotFoundException', 'Requested resource not found'),
      named('ValidationException', 'One or more parameter values were invalid'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      named('TimeoutError', 'Connection timed out after 1000 ms'),
      'a string',
    ]) {
      const mapped = storeError('create', 'id-1', cause);
      expect(isIdempotencyError(mapped, 'store_unavailable')).toBe(true);
      expect(mapped.cause).toBe(cause);
      expect(mapped.message).toContain('dynamoStore: create of record id-1 failed');
    }
  });

  it('names a table-wide operation without a record', () => {
    const mapped = storeError('purgeExpired', undefined, named('ResourceNotFoundException', 'Requested resource not found'));
    expect(isIdempotencyError(mapped, 'store_unavailable')).toBe(true);
    expect(mapped.message).toBe('dynamoStore: purgeExpired failed (ResourceNotFoundException: Requested resource not found).');
  });

  it('passes oncely errors through and recognises failed conditions by name', () => {
    const own = new StoreUnavailableError('already typed');
    expect(storeError('get', 'x', own)).toBe(own);
    expect(isConditionalCheckFailed(named('ConditionalCheckFailedException', 'The conditional request failed'))).toBe(true);
    expect(isConditionalCheckFailed(named('ValidationException', 'x'))).toBe(false);
    expect(isConditionalCheckFailed(null)).toBe(false);
  });
});
