/**
 * The payments-style app the crash, outage and clock-skew scenarios run: Express with
 * `@oncely/express`, one route `POST /v1/charges` that
 *
 * 1. records that its handler ran (`<tables>_executions`, autocommit: the measurement),
 * 2. charges a downstream idempotent provider with `childKey('provider-charge')` — a Postgres table
 *    keyed by that key (`<tables>_provider`, autocommit: an external service never joins our
 *    transaction), which charges once per key however often it is called,
 * 3. books the payment (`<tables>_payments`): in atomic mode on oncely's transaction (it commits with
 *    the idempotency record), otherwise autocommitted on the pool — the naive side effect whose
 *    duplicates the crash scenario measures,
 * 4. answers 201 with the charge.
 *
 * Kill points (`hooks.point`) are awaited at the four places the scenarios crash: before the claim,
 * inside the handler, after the side effect (before completion), after completion (before the
 * response reaches the socket — the binding holds it until the record is written).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Clock, IdempotencyEvent, Store, StoreTransaction, TransactionalStore } from '@oncely/core';
import { idempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Pool, PoolClient } from 'pg';

/** Where the scenarios SIGKILL the app (CONTRACT §5 steps around the claim, handler and completion). */
export const KILL_POINTS = ['before-claim', 'in-handler', 'after-side-effect', 'after-completion'] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

export interface CrashAppOptions {
  readonly store: Store;
  /** Pool for the app's own tables (executions, provider, payments). */
  readonly pool: Pool;
  /** Prefix of the app's tables (see {@link createAppTables}). */
  readonly tables: string;
  /** Book the payment on oncely's transaction (Postgres store only). */
  readonly atomic?: boolean;
  readonly leaseMs?: number;
  readonly clock?: Clock;
  /** Which app this is, written with each execution (clock-skew runs two). */
  readonly instance?: string;
  /** Extra handler time after the side effect, in ms (widens races; the skew scenario's lever). */
  readonly handlerMs?: (key: string) => number;
  /** Awaited at each kill point; the crash child asks its parent there whether to die. */
  readonly point?: (point: KillPoint, key: string) => Promise<void>;
  /** oncely's events, with the raw key of the request they belong to (events carry only its hash). */
  readonly onEvent?: (event: IdempotencyEvent, key: string | undefined) => void;
  /** Errors that reached the app's error handler (answered 500). */
  readonly onError?: (error: unknown) => void;
}

interface RequestFacts {
  readonly key: string;
  takeover: boolean;
}

/** The app's tables under `prefix`: executions (measurement), provider (dedups by key), payments. */
export async function createAppTables(pool: Pool, prefix: string): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS "${prefix}_executions" (
    idempotency_key text NOT NULL, instance text NOT NULL, pid integer NOT NULL, takeover boolean NOT NULL, at_ms bigint NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS "${prefix}_provider" (
    provider_key text PRIMARY KEY, charge_id text NOT NULL, calls integer NOT NULL)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS "${prefix}_payments" (
    idempotency_key text NOT NULL, charge_id text NOT NULL, provider_charge text NOT NULL, pid integer NOT NULL)`);
}

export async function dropAppTables(pool: Pool, prefix: string): Promise<void> {
  for (const table of ['executions', 'provider', 'payments']) await pool.query(`DROP TABLE IF EXISTS "${prefix}_${table}"`);
}

export function createCrashApp(options: CrashAppOptions): Express {
  const { pool, tables } = options;
  const point = options.point ?? (async () => undefined);
  const facts = new AsyncLocalStorage<RequestFacts>();
  const instance = options.instance ?? 'app';

  // After-completion: the record is written (non-atomic `update` to completed, or the atomic COMMIT)
  // and the response not yet released to the socket.
  const store = withCompletionPoint(options.store, async () => {
    const current = facts.getStore();
    if (current) await point('after-completion', current.key);
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb', verify: keepRawBody }));
  app.post(
    '/v1/charges',
    (req: Request, _res: Response, next: NextFunction) => {
      const key = req.header('idempotency-key') ?? '';
      facts.run({ key, takeover: false }, () => {
        point('before-claim', key).then(() => next(), next);
      });
    },
    idempotency({
      store,
      scope: 'acct_reliability',
      ...(options.atomic ? { atomic: true } : {}),
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      onEvent: (event) => {
        const current = facts.getStore();
        if (event.type === 'takeover' && current) current.takeover = true;
        options.onEvent?.(event, current?.key);
      },
    }),
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const current = facts.getStore();
        const context = req.idempotency;
        if (!current || !context) throw new Error('crash app: the route runs only under oncely');
        const key = context.key;
        await point('in-handler', key);
        await pool.query(`INSERT INTO "${tables}_executions" (idempotency_key, instance, pid, takeover, at_ms) VALUES ($1, $2, $3, $4, $5)`, [
          key,
          instance,
          process.pid,
          current.takeover,
          Date.now(),
        ]);
        const providerKey = context.childKey('provider-charge');
        const provider = await pool.query<{ charge_id: string }>(
          `INSERT INTO "${tables}_provider" (provider_key, charge_id, calls) VALUES ($1, $2, 1)
           ON CONFLICT (provider_key) DO UPDATE SET calls = "${tables}_provider".calls + 1 RETURNING charge_id`,
          [providerKey, `py_${randomUUID()}`],
        );
        const providerCharge = provider.rows[0]?.charge_id ?? '';
        const chargeId = `ch_${randomUUID()}`;
        const booking = options.atomic ? (context.transaction as PoolClient | undefined) : pool;
        if (!booking) throw new Error('crash app: atomic mode without a transaction');
        await booking.query(`INSERT INTO "${tables}_payments" (idempotency_key, charge_id, provider_charge, pid) VALUES ($1, $2, $3, $4)`, [
          key,
          chargeId,
          providerCharge,
          process.pid,
        ]);
        await point('after-side-effect', key);
        const extra = options.handlerMs?.(key) ?? 0;
        if (extra > 0) await new Promise((resolve) => setTimeout(resolve, extra));
        res.status(201).json({ chargeId, providerCharge, pid: process.pid, instance, amount: (req.body as { amount?: unknown }).amount ?? null });
      } catch (error) {
        next(error);
      }
    },
  );
  app.use(idempotencyErrors());
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    options.onError?.(error);
    // The handler's own database connection died (a Postgres outage caught it mid-transaction):
    // retryable, and oncely has released the key (or will let its lease run out).
    if (isConnectionFailure(error)) {
      res.status(503).type('application/problem+json').json({ type: 'urn:reliability:database_unavailable', title: 'Database unavailable', status: 503, code: 'database_unavailable' });
      return;
    }
    res.status(500).type('application/problem+json').json({ type: 'urn:reliability:internal', title: 'Internal error', status: 500 });
  });
  return app;
}

/** A lost or refused database connection (SQLSTATE class 08 / 57P, or the driver's own words). */
function isConnectionFailure(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (/^08/.test(code) || /^57P/.test(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET')) return true;
  return typeof message === 'string' && /Connection terminated|Client has encountered a connection error/.test(message);
}

/** `store` with `after` awaited once a completion is durable (before the binding sends the response). */
function withCompletionPoint(store: Store, after: () => Promise<void>): Store {
  const wrapped: Store = {
    create: (record, now) => store.create(record, now),
    async update(id, token, next) {
      const written = await store.update(id, token, next);
      if (written && next.state === 'completed') await after();
      return written;
    },
    delete: (id, token) => store.delete(id, token),
    get: (id, now) => store.get(id, now),
  };
  const transactional = store as Partial<TransactionalStore>;
  if (typeof transactional.beginTransaction !== 'function') return wrapped;
  const begin = transactional.beginTransaction.bind(store);
  return Object.assign(wrapped, {
    async beginTransaction(): Promise<StoreTransaction> {
      const tx = await begin();
      return {
        client: tx.client,
        update: (id, token, next) => tx.update(id, token, next),
        async commit() {
          await tx.commit();
          await after();
        },
        rollback: () => tx.rollback(),
      };
    },
  } satisfies Pick<TransactionalStore, 'beginTransaction'>);
}
