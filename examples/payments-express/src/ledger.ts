import type { PoolClient, Pool } from 'pg';

/** A charge as this API records it. */
export interface Charge {
  readonly id: string;
  readonly account: string;
  readonly amount: number;
  readonly currency: string;
  readonly customer: string;
  readonly providerCharge: string;
  readonly createdAt: string;
}

/** Where charges are booked. `transaction` is oncely's atomic-mode client, when there is one. */
export interface Ledger {
  book(charge: Charge, transaction?: PoolClient): Promise<void>;
  count(): Promise<number>;
}

/** Charges kept in this process. */
export function memoryLedger(): Ledger {
  const charges: Charge[] = [];
  return {
    async book(charge) {
      charges.push(charge);
    },
    count: async () => charges.length,
  };
}

/**
 * Charges in PostgreSQL. Booked through oncely's transaction client in atomic mode, so the charge
 * row and the idempotency record commit together: a crash leaves both or neither.
 */
export function postgresLedger(pool: Pool, table = 'example_charges'): Ledger & { migrate(): Promise<void>; reset(): Promise<void> } {
  return {
    async migrate() {
      await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
        id text PRIMARY KEY, account text NOT NULL, amount integer NOT NULL, currency text NOT NULL,
        customer text NOT NULL, provider_charge text NOT NULL, created_at timestamptz NOT NULL)`);
    },
    async reset() {
      await pool.query(`TRUNCATE ${table}`);
    },
    async book(charge, transaction) {
      if (!transaction) throw new Error('postgresLedger books charges inside oncely atomic mode only.');
      await transaction.query(
        `INSERT INTO ${table} (id, account, amount, currency, customer, provider_charge, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [charge.id, charge.account, charge.amount, charge.currency, charge.customer, charge.providerCharge, charge.createdAt],
      );
    },
    async count() {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      return Number(rows[0]?.n ?? 0);
    },
  };
}
