/** A charge as the (simulated) payment provider records it. */
export interface ProviderCharge {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
}

/**
 * A stand-in for a payment provider's API (think Stripe): it takes its own `Idempotency-Key` and
 * charges once per key, however often it is called. Latency is simulated so requests overlap.
 */
export interface PaymentProvider {
  charge(input: { amount: number; currency: string; customer: string }, options: { idempotencyKey: string }): Promise<ProviderCharge>;
  /** Calls received, and distinct charges made: more calls than charges means the key saved a double charge. */
  stats(): { calls: number; charges: number };
}

export function simulatedProvider(options: { latencyMs?: readonly [min: number, max: number] } = {}): PaymentProvider {
  const [min, max] = options.latencyMs ?? [2, 12];
  const charges = new Map<string, ProviderCharge>();
  let calls = 0;
  return {
    async charge(input, { idempotencyKey }) {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, min + Math.random() * (max - min)));
      let charge = charges.get(idempotencyKey);
      if (!charge) {
        charge = { id: `py_${charges.size + 1}`, amount: input.amount, currency: input.currency };
        charges.set(idempotencyKey, charge);
      }
      return charge;
    },
    stats: () => ({ calls, charges: charges.size }),
  };
}
