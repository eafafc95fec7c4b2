import { randomUUID } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import { canonicalJson, sha256Hex, utf8, type IdempotencyEvent, type Store } from '@oncely/core';
import { idempotency, type IdempotencyState } from '@oncely/koa';
import Koa, { type Middleware, type ParameterizedContext } from 'koa';
import type { Order, OrderItem, OrderRepository } from './orders';

export interface OrdersAppOptions {
  readonly store: Store;
  readonly orders: OrderRepository;
  readonly onEvent?: (event: IdempotencyEvent) => void;
  /** Simulated work per order (an inventory check), so concurrent retries overlap. Default 0. */
  readonly latencyMs?: number;
  /** oncely's lease (how long a claim's owner is presumed alive). Default 30 s; the tests shorten it. */
  readonly leaseMs?: number;
}

/** `ctx.state` of this app: the authenticated customer, and oncely's execution. */
export interface OrdersState extends IdempotencyState {
  customerId?: string;
}

type Ctx = ParameterizedContext<OrdersState>;

const CUSTOMER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * An orders API. The customer (the idempotency scope) comes from `X-Customer-Id` — in a real API,
 * from the authenticated session or API key.
 *
 * - `POST /orders` creates an order: guarded, `Idempotency-Key` required.
 * - `PATCH /orders/:id` with `{ "status": "cancelled" }` cancels a pending order: guarded too
 *   (PATCH is in oncely's default methods).
 * - `GET /orders/:id` reads one: not guarded (GET is not in the default methods), always fresh.
 *
 * Middleware order: problems → body parser (keeps the raw body oncely fingerprints) → customer
 * (the scope must be known before idempotency) → idempotency (on /orders only) → routes.
 */
export function createOrdersApp(options: OrdersAppOptions): Koa<OrdersState> {
  const { orders } = options;
  const latencyMs = options.latencyMs ?? 0;
  const app = new Koa<OrdersState>();
  app.silent = true; // errors are rendered (and 5xx logged) by `problems` below

  app.use(problems); // thrown errors → RFC 9457 problems
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' })); // keeps ctx.request.rawBody: oncely fingerprints it
  app.use(requireCustomer); // ctx.state.customerId from X-Customer-Id, else 401
  const guard = idempotency({
    store: options.store,
    scope: (ctx) => `customer:${String(ctx.state['customerId'])}`, // whose key it is
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
  });
  app.use((ctx, next) => (isOrdersPath(ctx.path) ? guard(ctx, next) : next()));
  app.use(routes);
  return app;

  async function routes(ctx: Ctx): Promise<void> {
    const customer = ctx.state.customerId as string;
    const id = /^\/orders\/([A-Za-z0-9_-]{1,64})$/.exec(ctx.path)?.[1];

    if (ctx.path === '/orders' && ctx.method === 'POST') {
      const input = parseOrder(ctx.request.body);
      if (typeof input === 'string') return problem(ctx, 400, 'invalid_order', 'Invalid order', input);
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      // The order id is derived from the idempotency record (`childKey`), so a re-execution —
      // the process died after writing the order but before oncely recorded the response, and a
      // retry took the claim over — finds the order its first attempt wrote instead of adding one.
      const idem = ctx.state.idempotency;
      const orderId = `ord_${idem ? (await sha256Hex(utf8(idem.childKey('order')))).slice(0, 24) : randomUUID().replaceAll('-', '').slice(0, 24)}`;
      const order: Order = {
        id: orderId,
        customer,
        status: 'pending',
        currency: input.currency,
        items: input.items,
        total: input.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0),
        createdAt: new Date().toISOString(),
        cancelledAt: null,
      };
      const { created, order: stored } = await orders.createIfAbsent(order);
      if (!created && canonicalJson({ c: stored.currency, i: stored.items }) !== canonicalJson({ c: order.currency, i: order.items })) {
        // Only possible when a key is reused for another order after its record expired (24 h).
        return problem(ctx, 422, 'key_reused', 'Idempotency key reused with a different request', 'This Idempotency-Key already created a different order.');
      }
      ctx.status = 201;
      ctx.set('Location', `/orders/${stored.id}`);
      ctx.body = stored;
      return;
    }

    if (id && ctx.method === 'GET') {
      const order = await orders.get(customer, id);
      if (!order) return problem(ctx, 404, 'order_not_found', 'Order not found');
      ctx.body = order;
      return;
    }

    if (id && ctx.method === 'PATCH') {
      const { status } = (ctx.request.body ?? {}) as { status?: unknown };
      if (status !== 'cancelled') return problem(ctx, 400, 'invalid_update', 'Invalid update', 'The only update is {"status":"cancelled"}.');
      const result = await orders.cancel(customer, id, new Date().toISOString());
      if (!result.ok && result.reason === 'not_found') return problem(ctx, 404, 'order_not_found', 'Order not found');
      if (!result.ok) return problem(ctx, 409, 'order_not_pending', 'Only a pending order can be cancelled');
      ctx.body = result.order;
      return;
    }

    if (ctx.path === '/orders' || id) return problem(ctx, 405, 'method_not_allowed', 'Method not allowed');
    return problem(ctx, 404, 'not_found', 'Not found');
  }
}

/** The customer — the idempotency scope — from `X-Customer-Id`: a stand-in for authentication. */
const requireCustomer: Middleware<OrdersState> = async (ctx, next) => {
  if (!isOrdersPath(ctx.path)) return next();
  const customer = ctx.get('x-customer-id');
  if (!CUSTOMER_ID.test(customer)) return problem(ctx, 401, 'unauthenticated', 'Customer required', 'Send X-Customer-Id (letters, digits, _ and -).');
  ctx.state.customerId = customer;
  return next();
};

const isOrdersPath = (path: string): boolean => path === '/orders' || path.startsWith('/orders/');

/** Thrown errors (invalid JSON from the body parser, a failing Redis...) as RFC 9457 problems. */
const problems: Middleware<OrdersState> = async (ctx, next) => {
  try {
    await next();
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      problem(ctx, status, 'bad_request', (error as Error).message);
      return;
    }
    console.error('orders: unhandled error', error);
    problem(ctx, 500, 'internal', 'Internal error');
  }
};

function problem(ctx: Ctx, status: number, code: string, title: string, detail?: string): void {
  ctx.status = status;
  ctx.type = 'application/problem+json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify({ type: `urn:oncely-example:orders:${code}`, title, status, code, ...(detail ? { detail } : {}) });
}

function parseOrder(body: unknown): { currency: string; items: OrderItem[] } | string {
  const { currency, items } = (body ?? {}) as Record<string, unknown>;
  if (typeof currency !== 'string' || !/^[a-z]{3}$/.test(currency)) return 'currency must be a lower-case ISO 4217 code.';
  if (!Array.isArray(items) || items.length === 0 || items.length > 50) return 'items must be a list of 1 to 50 items.';
  const parsed: OrderItem[] = [];
  for (const item of items as unknown[]) {
    const { sku, quantity, unitPrice } = (item ?? {}) as Record<string, unknown>;
    if (typeof sku !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(sku)) return 'each item has a sku.';
    if (!Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 1000) return 'quantity is a whole number from 1 to 1000.';
    if (!Number.isInteger(unitPrice) || (unitPrice as number) < 0 || (unitPrice as number) > 10_000_000) return 'unitPrice is a whole number of cents.';
    parsed.push({ sku, quantity: quantity as number, unitPrice: unitPrice as number });
  }
  return { currency, items: parsed };
}
