/**
 * The payments example over real loopback HTTP: exactly one charge per key whatever the clients do,
 * on the memory store and on PostgreSQL in atomic mode (charge row and idempotency record in one
 * transaction).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentsApp } from '../src/app';
import { simulatedProvider, type PaymentProvider } from '../src/provider';
import { openBackend, type Backend, type StoreKind } from '../src/stores';

for (const kind of ['memory', 'postgres'] as const satisfies readonly StoreKind[]) {
  describe(`payments example on ${kind}`, () => {
    let backend: Backend;
    let provider: PaymentProvider;
    let server: Server;
    let url: string;

    beforeAll(async () => {
      backend = await openBackend(kind);
      provider = simulatedProvider({ latencyMs: [5, 20] });
      server = createPaymentsApp({ store: backend.store, ledger: backend.ledger, provider, atomic: backend.atomic }).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/charges`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      await backend.close();
    });

    const charge = (key: string | undefined, body: unknown, account = 'acct_test') =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-account-id': account, ...(key ? { 'idempotency-key': key } : {}) },
        body: JSON.stringify(body),
      });

    it('charges once and replays the same bytes to every retry', async () => {
      const key = crypto.randomUUID();
      const before = await backend.ledger.count();
      const first = await charge(key, { amount: 2500, currency: 'eur', customer: 'cus_1' });
      const retry = await charge(key, { amount: 2500, currency: 'eur', customer: 'cus_1' });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await retry.text()).toBe(await first.text());
      expect((await backend.ledger.count()) - before).toBe(1);
    });

    it('runs one charge for 8 concurrent identical requests', async () => {
      const key = crypto.randomUUID();
      const before = await backend.ledger.count();
      const providerBefore = provider.stats().charges;
      const answers = await Promise.all(Array.from({ length: 8 }, () => charge(key, { amount: 900, currency: 'usd', customer: 'cus_2' })));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 201).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
      expect((await backend.ledger.count()) - before).toBe(1);
      expect(provider.stats().charges - providerBefore).toBe(1);
    });

    it('refuses the same key for a different payment with 422, charging nothing', async () => {
      const key = crypto.randomUUID();
      await charge(key, { amount: 100, currency: 'eur', customer: 'cus_3' });
      const before = await backend.ledger.count();
      const reused = await charge(key, { amount: 999_999, currency: 'eur', customer: 'cus_3' });
      expect(reused.status).toBe(422);
      expect(reused.headers.get('content-type')).toContain('application/problem+json');
      expect(((await reused.json()) as { code: string }).code).toBe('key_reused');
      expect(await backend.ledger.count()).toBe(before);
    });

    it('keeps accounts apart: the same key in two accounts charges twice', async () => {
      const key = crypto.randomUUID();
      const before = await backend.ledger.count();
      const a = await charge(key, { amount: 100, currency: 'eur', customer: 'cus_4' }, 'acct_a');
      const b = await charge(key, { amount: 100, currency: 'eur', customer: 'cus_4' }, 'acct_b');
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(b.headers.get('idempotent-replayed')).toBeNull();
      expect((await backend.ledger.count()) - before).toBe(2);
    });

    it('answers 400 missing_key without a key, and stores validation errors like any 4xx', async () => {
      const missing = await charge(undefined, { amount: 100, currency: 'eur', customer: 'cus_5' });
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as { code: string }).code).toBe('missing_key');
      const key = crypto.randomUUID();
      const invalid = await charge(key, { amount: -5, currency: 'eur', customer: 'cus_5' });
      const again = await charge(key, { amount: -5, currency: 'eur', customer: 'cus_5' });
      expect(invalid.status).toBe(400);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    });
  });
}
