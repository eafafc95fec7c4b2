import { randomUUID } from 'node:crypto';
import type { IdempotencyEvent, Store } from '@oncely/core';
import { idempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { PoolClient } from 'pg';
import type { Ledger } from './ledger';
import type { PaymentProvider } from './provider';

export interface PaymentsAppOptions {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly provider: PaymentProvider;
  /** Book the charge and the idempotency record in one transaction (Postgres store). */
  readonly atomic?: boolean;
  readonly onEvent?: (event: IdempotencyEvent) => void;
  /** Serve `GET /_demo/stats` from this function (the demo reads its counters there). Off by default. */
  readonly stats?: () => Promise<unknown>;
}

/**
 * A charges API: `POST /v1/charges` with an `Idempotency-Key` charges a customer exactly once,
 * however often the client retries. The account (the idempotency scope) comes from `X-Account-Id`
 * — in a real API, from the authenticated API key.
 */
export function createPaymentsApp(options: PaymentsAppOptions): Express {
  const { ledger, provider } = options;
  const app = express();
  app.disable('x-powered-by');
  // Keep the raw bytes: oncely fingerprints exactly what the client sent.
  app.use(express.json({ limit: '100kb', verify: keepRawBody }));

  app.post(
    '/v1/charges',
    requireAccount,
    idempotency({
      store: options.store,
      scope: (req) => `acct:${String(req.header('x-account-id'))}`,
      ...(options.atomic ? { atomic: true } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    }),
    async (req: Request, res: Response) => {
      const input = parseCharge(req.body);
      if (typeof input === 'string') {
        res.status(400).type('application/problem+json').json({ type: 'urn:payments:invalid_charge', title: 'Invalid charge', status: 400, detail: input });
        return;
      }
      const context = req.idempotency;
      // The provider gets a key derived from ours: if this handler ever re-ran (a crash after the
      // provider call), the provider would return the same charge instead of charging again.
      const providerCharge = await provider.charge(input, { idempotencyKey: context?.childKey('provider-charge') ?? randomUUID() });
      const charge = {
        id: `ch_${randomUUID().replaceAll('-', '')}`,
        account: String(req.header('x-account-id')),
        ...input,
        providerCharge: providerCharge.id,
        createdAt: new Date().toISOString(),
      };
      await ledger.book(charge, context?.transaction as PoolClient | undefined);
      res.status(201).json(charge);
    },
  );

  // A handler that fails releases its key, so the client's retry runs afresh.
  app.use(idempotencyErrors());
  app.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).type('application/problem+json').json({ type: 'urn:payments:internal', title: 'Internal error', status: 500 });
  });

  const { stats } = options;
  if (stats) app.get('/_demo/stats', async (_req, res) => void res.json(await stats()));
  return app;
}

function requireAccount(req: Request, res: Response, next: NextFunction): void {
  if (/^[A-Za-z0-9_-]{1,64}$/.test(req.header('x-account-id') ?? '')) return next();
  res.status(401).type('application/problem+json').json({ type: 'urn:payments:unauthenticated', title: 'Account required', status: 401 });
}

function parseCharge(body: unknown): { amount: number; currency: string; customer: string } | string {
  const { amount, currency, customer } = (body ?? {}) as Record<string, unknown>;
  if (!Number.isInteger(amount) || (amount as number) <= 0 || (amount as number) > 100_000_000) return 'amount must be a positive whole number of cents.';
  if (typeof currency !== 'string' || !/^[a-z]{3}$/.test(currency)) return 'currency must be a lower-case ISO 4217 code.';
  if (typeof customer !== 'string' || customer.length === 0 || customer.length > 64) return 'customer is required.';
  return { amount: amount as number, currency, customer };
}
