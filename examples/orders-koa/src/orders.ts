import type { Redis } from 'ioredis';

export interface OrderItem {
  readonly sku: string;
  readonly quantity: number;
  /** Minor units (cents). */
  readonly unitPrice: number;
}

export interface Order {
  readonly id: string;
  readonly customer: string;
  readonly status: 'pending' | 'cancelled';
  readonly currency: string;
  readonly items: readonly OrderItem[];
  readonly total: number;
  readonly createdAt: string;
  readonly cancelledAt: string | null;
}

export type CancelResult = { readonly ok: true; readonly order: Order } | { readonly ok: false; readonly reason: 'not_found' | 'not_pending' };

/**
 * Where orders live: Redis, next to the idempotency records, so every process serving the API sees
 * the same orders (an in-memory map would not survive a second instance or a restart).
 *
 * One Redis hash per order, `<prefix>customer:{<customer>}:order:<id>`, and a set of the customer's
 * order ids, `<prefix>customer:{<customer>}:orders`. The customer is part of the key: an order can
 * only be found through its owner, and both keys share the hash tag `{<customer>}`, so the scripts
 * that touch both stay on one Redis Cluster slot.
 */
export interface OrderRepository {
  /**
   * Insert `order` unless an order with its id exists; returns the order now stored (the existing
   * one, if any) and whether this call created it. Atomic (one Lua script).
   */
  createIfAbsent(order: Order): Promise<{ created: boolean; order: Order }>;
  get(customer: string, id: string): Promise<Order | null>;
  /** pending → cancelled, atomically; anything else is refused. */
  cancel(customer: string, id: string, at: string): Promise<CancelResult>;
  /** Order ids of a customer (the tests count them). */
  ids(customer: string): Promise<string[]>;
}

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGETALL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('SADD', KEYS[2], ARGV[2])
return false`;

const CANCEL = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'pending' then return 'not_pending' end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelledAt', ARGV[1])
return 'cancelled'`;

export function redisOrders(client: Redis, prefix: string): OrderRepository {
  const orderKey = (customer: string, id: string): string => `${prefix}customer:{${customer}}:order:${id}`;
  const indexKey = (customer: string): string => `${prefix}customer:{${customer}}:orders`;

  return {
    async createIfAbsent(order) {
      const fields = ['id', order.id, 'customer', order.customer, 'status', order.status, 'currency', order.currency, 'items', JSON.stringify(order.items), 'total', String(order.total), 'createdAt', order.createdAt, 'cancelledAt', ''];
      const existing = (await client.eval(CREATE, 2, orderKey(order.customer, order.id), indexKey(order.customer), ...fields)) as string[] | null;
      return existing ? { created: false, order: fromHash(pairs(existing)) } : { created: true, order };
    },
    async get(customer, id) {
      const hash = await client.hgetall(orderKey(customer, id));
      return hash['id'] ? fromHash(hash) : null;
    },
    async cancel(customer, id, at) {
      const result = (await client.eval(CANCEL, 1, orderKey(customer, id), at)) as string;
      if (result !== 'cancelled') return { ok: false, reason: result as 'not_found' | 'not_pending' };
      return { ok: true, order: fromHash(await client.hgetall(orderKey(customer, id))) };
    },
    ids: (customer) => client.smembers(indexKey(customer)),
  };
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

function fromHash(hash: Record<string, string>): Order {
  return {
    id: hash['id'] ?? '',
    customer: hash['customer'] ?? '',
    status: hash['status'] === 'cancelled' ? 'cancelled' : 'pending',
    currency: hash['currency'] ?? '',
    items: JSON.parse(hash['items'] ?? '[]') as OrderItem[],
    total: Number(hash['total']),
    createdAt: hash['createdAt'] ?? '',
    cancelledAt: hash['cancelledAt'] || null,
  };
}
