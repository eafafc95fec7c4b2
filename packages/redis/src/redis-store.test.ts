import { isIdempotencyError, type InProgressRecord } from '@oncely/core';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisTimeoutError } from './bounded';
import { redisStore } from './redis-store';
import type { BufferCommands } from './scripts';

/** A stand-in client: every command is answered (or not) by `answer`; commands are recorded. */
function fakeClient(answer: (command: string) => Promise<unknown>): { client: Redis; sent: string[] } {
  const sent: string[] = [];
  const commands: BufferCommands = {
    evalshaBuffer: (sha) => {
      sent.push(`evalsha ${sha.slice(0, 8)}`);
      return answer('evalsha');
    },
    evalBuffer: () => {
      sent.push('eval');
      return answer('eval');
    },
    getBuffer: async () => {
      sent.push('get');
      return (await answer('get')) as Buffer | null;
    },
  };
  return { client: commands as unknown as Redis, sent };
}

const claim = (): InProgressRecord => {
  const now = Date.now();
  return { id: 'oncely:1', key: 'k', scope: 's', state: 'in_progress', token: 't1', fingerprint: 'v1:f', leaseUntil: now + 30_000, expiresAt: now + 60_000, createdAt: now };
};

describe('redisStore: failures are typed and bounded', () => {
  it('a server that never answers: StoreUnavailableError after operationTimeoutMs, cause RedisTimeoutError', async () => {
    const { client } = fakeClient(() => new Promise(() => {}));
    const store = redisStore({ client, operationTimeoutMs: 20 });
    for (const operation of [
      () => store.create(claim(), Date.now()),
      () => store.update('oncely:1', 't1', claim()),
      () => store.delete('oncely:1', 't1'),
      () => store.get('oncely:1', Date.now()),
    ]) {
      const error = await operation().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
      expect((error as Error).cause).toBeInstanceOf(RedisTimeoutError);
    }
  });

  it('a driver error (refused connection, MaxRetriesPerRequestError, OOM...) becomes StoreUnavailableError with it as cause', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    const { client } = fakeClient(() => Promise.reject(refused));
    const error = await redisStore({ client }).create(claim(), Date.now()).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'store_unavailable')).toBe(true);
    expect((error as Error).cause).toBe(refused);
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('NOSCRIPT: EVALSHA, then EVAL with the source', async () => {
    const { client, sent } = fakeClient((command) =>
      command === 'evalsha' ? Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')) : Promise.resolve(1),
    );
    expect(await redisStore({ client }).create(claim(), Date.now())).toEqual({ created: true });
    expect(sent.map((command) => command.split(' ')[0])).toEqual(['evalsha', 'eval']);
  });

  it('a record over maxRecordBytes: RecordTooLargeError with sizes, and nothing sent', async () => {
    const { client, sent } = fakeClient(() => Promise.resolve(1));
    const store = redisStore({ client, maxRecordBytes: 1024 });
    const big = { ...claim(), key: 'k'.repeat(2000) };
    const error = await store.create(big, Date.now()).catch((caught: unknown) => caught);
    expect(isIdempotencyError(error, 'record_too_large')).toBe(true);
    expect(error).toMatchObject({ limitBytes: 1024 });
    expect((error as { sizeBytes: number }).sizeBytes).toBeGreaterThan(2000);
    await expect(store.update(big.id, big.token, big)).rejects.toMatchObject({ code: 'record_too_large' });
    expect(sent).toEqual([]);
  });

  it('a malformed record is a TypeError (a bug), not a store outage, and nothing is sent', async () => {
    const { client, sent } = fakeClient(() => Promise.resolve(1));
    const store = redisStore({ client });
    await expect(store.create({ ...claim(), expiresAt: Number.POSITIVE_INFINITY }, Date.now())).rejects.toThrow(TypeError);
    await expect(store.update('oncely:1', 't1', { ...claim(), scope: undefined } as unknown as InProgressRecord)).rejects.toThrow(TypeError);
    expect(sent).toEqual([]);
  });

  it('refuses bad options at setup', () => {
    const { client } = fakeClient(() => Promise.resolve(1));
    expect(() => redisStore({ client: {} as Redis })).toThrow(/ioredis/);
    expect(() => redisStore({ client, operationTimeoutMs: 0 })).toThrow(/operationTimeoutMs/);
    expect(() => redisStore({ client, maxRecordBytes: 1.5 })).toThrow(/maxRecordBytes/);
    expect(() => redisStore({ client, maxRecordBytes: 2 ** 30 })).toThrow(/maxRecordBytes/);
    expect(redisStore({ client, prefix: 'app:' }).key('oncely:abc')).toBe('app:oncely:abc');
  });
});
