/** Declaring the transaction type once through `Register` types `req.idempotency.transaction`. */
import type { LedgerClient } from '@oncely/http-tests';
import type { Request } from 'express';
import { expectTypeOf, it } from 'vitest';

declare module '@oncely/express' {
  interface Register {
    transaction: LedgerClient;
  }
}

it('types req.idempotency.transaction with the registered client', () => {
  expectTypeOf<NonNullable<Request['idempotency']>['transaction']>().toEqualTypeOf<LedgerClient | undefined>();
});
