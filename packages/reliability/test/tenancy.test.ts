/**
 * Tenancy (issue #7; CONTRACT §10 "a key from tenant A can never replay tenant B's response"): the
 * same keys in two scopes (the `x-tenant` header is the scope), sent concurrently by several clients
 * per scope. Each scope executes once per key, and every answer carries the scope and tenant it was
 * executed for (the handler embeds them in the body), so a response that crossed scopes is seen.
 */
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BINDING_NAMES, mapLimit, openStore, scaled, sendUntilSettled, STORE_NAMES, startApp, writeResult, type StoreHandle } from '../src/index';

const KEYS = 300;
const CLIENTS_PER_SCOPE = 4;
const KEYS_IN_FLIGHT = 32;
const SCOPES = ['tenant-acme', 'tenant-globex'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface PayBody {
  readonly id: string;
  readonly key: string;
  readonly scope: string;
  readonly tenant: string | null;
}

for (const storeName of STORE_NAMES) {
  describe(`tenancy: ${storeName}`, () => {
    // A fresh table / prefix / collection per binding: the stand-in's scans grow with its collection.
    let handle: StoreHandle;
    beforeEach(async () => {
      handle = await openStore(storeName);
    });
    afterEach(async () => {
      await handle?.close();
    });

    for (const binding of BINDING_NAMES) {
      it(`${storeName} × ${binding}: the same key runs once per scope and never replays across scopes`, async () => {
        const keyCount = scaled(KEYS);
        const run = randomUUID().slice(0, 8);
        const keys = Array.from({ length: keyCount }, (_, i) => `tenancy-${run}-${i}`);
        const executions = new Map<string, number>();
        const app = await startApp(binding, {
          options: { store: handle.store },
          async handle({ context, tenant }) {
            if (!context) return { status: 400, json: { error: 'not guarded' } };
            const id = `${context.scope}:${context.key}`;
            executions.set(id, (executions.get(id) ?? 0) + 1);
            await sleep(5 + Math.random() * 25);
            return { status: 201, json: { id: `pay_${randomUUID()}`, key: context.key, scope: context.scope, tenant: tenant ?? null } satisfies PayBody };
          },
        });
        const agent = new Agent({ keepAlive: true, maxSockets: KEYS_IN_FLIGHT * CLIENTS_PER_SCOPE * SCOPES.length });
        const crossed: string[] = [];
        const differing: string[] = [];
        const statuses = new Map<number, number>();
        const bodies = new Map<string, Set<string>>();
        try {
          await mapLimit(keys, KEYS_IN_FLIGHT, async (key) => {
            const sends = SCOPES.flatMap((scope) =>
              Array.from({ length: CLIENTS_PER_SCOPE }, async () => {
                const { result } = await sendUntilSettled(app.url, '/pay', { key, json: { amount: 42 }, headers: { 'x-tenant': scope }, agent });
                statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
                if (result.status !== 201) return;
                const body = result.json<PayBody>();
                if (body.scope !== scope || body.tenant !== scope || body.key !== key) crossed.push(`${scope}/${key} got ${result.text()}`);
                const id = `${scope}:${key}`;
                bodies.set(id, (bodies.get(id) ?? new Set()).add(result.body.toString('base64')));
              }),
            );
            await Promise.all(sends);
          });
        } finally {
          agent.destroy();
          await app.close();
        }
        for (const [id, set] of bodies) if (set.size !== 1) differing.push(id);
        const expected = keyCount * SCOPES.length;
        const executed = [...executions.values()].reduce((a, b) => a + b, 0);
        const duplicates = [...executions.values()].reduce((a, n) => a + Math.max(0, n - 1), 0);
        const lost = keys.flatMap((key) => SCOPES.map((scope) => `${scope}:${key}`)).filter((id) => !executions.has(id)).length;
        const fiveXX = [...statuses].filter(([status]) => status >= 500).reduce((a, [, n]) => a + n, 0);
        writeResult({
          scenario: 'tenancy',
          store: handle.label,
          binding,
          load: `${keyCount} keys × ${SCOPES.length} scopes × ${CLIENTS_PER_SCOPE} concurrent clients per scope`,
          faults: 'same keys in two tenants at once',
          executions: executed,
          distinctKeys: expected,
          duplicates,
          lost,
          fiveXXOutsideOutages: fiveXX,
          notes: `${crossed.length} answers crossed scopes; ${differing.length} (scope, key) pairs with differing 2xx bodies`,
        });

        expect(app.errors).toEqual([]);
        expect([...statuses.keys()]).toEqual([201]);
        expect(crossed.slice(0, 5)).toEqual([]);
        expect(differing.slice(0, 5)).toEqual([]);
        expect(executed).toBe(expected);
        expect(duplicates).toBe(0);
        expect(lost).toBe(0);
        // Two scopes, two executions, two different answers for every key.
        for (const key of keys.slice(0, 20)) expect(bodies.get(`${SCOPES[0]}:${key}`)).not.toEqual(bodies.get(`${SCOPES[1]}:${key}`));
      });
    }
  });
}
