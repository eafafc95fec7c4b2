/**
 * Property tests of the lifecycle under arbitrary interleavings (CONTRACT §5), with fast-check's
 * scheduler deciding the order of every store operation and handler step, a manual clock that
 * jumps past leases (and retention), and app processes that crash between any two steps.
 *
 * Each request runs in its own simulated process: its own engine and its own view of the shared
 * store. A crashed process stops dead: nothing it started ever resolves, including its heartbeat.
 *
 * Runs per property: ONCELY_PROPERTY_RUNS (default 1000).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createIdempotency,
  fingerprint,
  idempotent,
  isIdempotencyError,
  manualClock,
  memoryStore,
  utf8,
  type HttpResponse,
  type IdempotencyEvent,
  type ManualClock,
  type Store,
} from '../src/index';
import { auditedStore, type Audit } from './support/audited-store';
import { eventLog } from './support/event-log';

const RUNS = Number(process.env.ONCELY_PROPERTY_RUNS ?? 1000);
const LEASE = 3_000;
const TTL = 30_000;
const SCOPE = 'tenant-1';
const KEY = 'order-42';

type CrashPoint = 'before-claim' | 'after-claim' | 'in-handler' | 'after-effect' | 'after-complete';
type Outcome = 'ok' | 'throw' | 'status-500';
type Variant = 'A' | 'B';

interface RequestPlan {
  readonly variant: Variant;
  readonly crashAt: CrashPoint | null;
  readonly outcome: Outcome;
  readonly handlerSteps: number;
  /** Scheduler steps before the request is sent: later arrivals meet jumped clocks and takeovers. */
  readonly arrivesAfter: number;
}

interface Scenario {
  readonly requests: readonly RequestPlan[];
  readonly clockJumps: readonly number[];
  readonly wait: boolean;
  readonly heartbeat: boolean;
}

interface Process {
  readonly name: string;
  readonly plan: RequestPlan;
  readonly fingerprint: string;
  dead: boolean;
}

interface HandlerRun {
  readonly process: string;
  readonly variant: Variant;
  readonly body: string;
}

type Answer =
  | { readonly kind: 'response'; readonly process: Process; readonly response: HttpResponse; readonly outcome: string }
  | { readonly kind: 'threw'; readonly process: Process; readonly error: unknown };

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const exercised = new Set<string>();

const requestPlan: fc.Arbitrary<RequestPlan> = fc.record({
  variant: fc.constantFrom<Variant>('A', 'A', 'A', 'B'),
  crashAt: fc.option(fc.constantFrom<CrashPoint>('before-claim', 'after-claim', 'in-handler', 'after-effect', 'after-complete'), {
    freq: 3,
  }),
  outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'throw', 'status-500'),
  handlerSteps: fc.integer({ min: 0, max: 4 }),
  arrivesAfter: fc.integer({ min: 0, max: 6 }),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  requests: fc.array(requestPlan, { minLength: 1, maxLength: 20 }),
  clockJumps: fc.array(fc.oneof(fc.integer({ min: 0, max: 2 * LEASE }), fc.integer({ min: TTL - LEASE, max: TTL + LEASE })), {
    maxLength: 3,
  }),
  wait: fc.boolean(),
  heartbeat: fc.boolean(),
});

/**
 * A process's view of the shared store: every operation waits for the scheduler, and once the
 * process is dead, nothing resolves any more. A crash point that falls "after" an operation lets
 * that operation reach the store and then kills the process before it sees the answer.
 */
function processStore(shared: Store, s: fc.Scheduler, process: Process, claims: Map<string, string>): Store {
  const step = async <T>(label: string, apply: () => Promise<T>, crashAfter: (result: T) => boolean): Promise<T> => {
    await s.schedule(Promise.resolve(), `${process.name} ${label}`);
    if (process.dead) return never();
    const result = await apply();
    if (crashAfter(result)) process.dead = true;
    if (process.dead) return never();
    return result;
  };
  const crashAt = process.plan.crashAt;
  return {
    create: (record, now) =>
      crashAt === 'before-claim'
        ? ((process.dead = true), never())
        : step(
            'create',
            () => shared.create(record, now),
            (result) => {
              if (result.created) claims.set(process.name, record.fingerprint);
              return crashAt === 'after-claim' && result.created;
            },
          ),
    update: (id, token, next) =>
      step(
        'update',
        () => shared.update(id, token, next),
        (written) => {
          if (written && next.state === 'in_progress' && next.token !== token) claims.set(process.name, next.fingerprint);
          return written && crashAt === 'after-complete' && next.state === 'completed';
        },
      ),
    delete: (id, token) => step('delete', () => shared.delete(id, token), () => false),
    get: (id, now) => step('get', () => shared.get(id, now), () => false),
  };
}

async function runScenario(s: fc.Scheduler, plan: Scenario): Promise<void> {
  const clock: ManualClock = manualClock(Date.UTC(2030, 0, 1));
  const audit: Audit = { violations: [], clock };
  const shared = auditedStore(memoryStore(), audit);
  const runs: HandlerRun[] = [];
  const claims = new Map<string, string>();
  const events: IdempotencyEvent[] = [];
  const log = eventLog();
  let tokens = 0;
  const fingerprints: Record<Variant, string> = {
    A: await fingerprint({ method: 'POST', url: '/orders', parsedBody: { amount: 100 } }),
    B: await fingerprint({ method: 'POST', url: '/orders', parsedBody: { amount: 999 } }),
  };

  const processes = plan.requests.map<Process>((request, index) => ({
    name: `p${index}`,
    plan: request,
    fingerprint: fingerprints[request.variant],
    dead: false,
  }));

  const answers = processes.map(async (process): Promise<Answer> => {
    const engine = createIdempotency({
      store: processStore(shared, s, process, claims),
      clock,
      leaseMs: LEASE,
      ttlMs: TTL,
      heartbeat: plan.heartbeat,
      wait: plan.wait ? { timeoutMs: 2 * LEASE, initialPollMs: 100, maxPollMs: 800 } : false,
      generateToken: () => `token-${tokens++}`,
      onEvent: (event) => {
        events.push(event);
        log.listener(event);
      },
      onLifecycle: log.listener,
    });
    const request = {
      scope: SCOPE,
      method: 'POST',
      url: '/orders',
      headers: { 'idempotency-key': KEY },
      parsedBody: { amount: process.plan.variant === 'A' ? 100 : 999 },
    };
    for (let i = 0; i < process.plan.arrivesAfter; i++) await s.schedule(Promise.resolve(), `${process.name} not yet sent`);
    try {
      const handled = await engine.handle(request, async () => {
        await s.schedule(Promise.resolve(), `${process.name} handler start`);
        if (process.plan.crashAt === 'in-handler') {
          process.dead = true;
          return never();
        }
        const body = JSON.stringify({ run: runs.length, by: process.name, variant: process.plan.variant });
        runs.push({ process: process.name, variant: process.plan.variant, body });
        for (let i = 0; i < process.plan.handlerSteps; i++) await s.schedule(Promise.resolve(), `${process.name} handler step`);
        if (process.plan.crashAt === 'after-effect') {
          process.dead = true;
          return never();
        }
        if (process.plan.outcome === 'throw') throw new Error('handler failed');
        return {
          status: process.plan.outcome === 'status-500' ? 500 : 201,
          headers: [
            ['content-type', 'application/json'],
            ['set-cookie', 'session=secret'],
          ],
          body: utf8(body),
        };
      });
      return { kind: 'response', process, response: handled.response, outcome: handled.outcome };
    } catch (error) {
      return { kind: 'threw', process, error };
    }
  });

  for (const jump of plan.clockJumps) {
    void s.schedule(Promise.resolve(), `clock +${jump}`).then(() => clock.advance(jump));
  }

  // Drive: let the scheduler run everything reachable, then let time pass (wait polls, backoff,
  // leases of dead owners) until every live process has answered. A bound proves nobody hangs.
  const live = answers.filter((_, index) => processes[index]?.plan.crashAt === null);
  let settled = false;
  const allLive = Promise.all(live).then(() => {
    settled = true;
  });
  for (let round = 0; round < 400 && !settled; round++) {
    await s.waitIdle();
    if (settled) break;
    clock.advance(LEASE / 3);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  expect(settled, 'every process that did not crash answered (nobody hangs)').toBe(true);
  await allLive;

  const results = await Promise.all(live);
  for (const event of events) exercised.add(event.type);
  const variantOf = (body: Uint8Array): Variant => (JSON.parse(new TextDecoder().decode(body)) as { variant: Variant }).variant;

  // The store saw no fencing violation, no unjustified takeover, no overwrite of a completion.
  expect(audit.violations).toEqual([]);

  // Every claimed execution settled exactly once, except those of processes that died between
  // winning the claim and seeing their outcome recorded (claimed, never settled: an in-flight gauge
  // shows them until the process is gone). Dying before or right after the claim's create is
  // answered means the process never learnt it had claimed: no marker at all.
  const diedWhileClaimed = new Set<CrashPoint | null>(['in-handler', 'after-effect', 'after-complete']);
  log.assertLifecycle({ open: processes.filter((process) => process.dead && diedWhileClaimed.has(process.plan.crashAt)).length });

  // A handler runs at most once per claim: once per record lifetime, plus once per takeover —
  // and the audit proved every takeover found an expired lease and every completion stayed final.
  expect(runs.length).toBeLessThanOrEqual((audit.lifetimes ?? 0) + (audit.takeovers ?? 0));
  expect(events.filter((event) => event.type === 'executed').length).toBeLessThanOrEqual(audit.lifetimes ?? 0);
  // lease_lost is never a false alarm: each one answers a claim that really was superseded.
  expect(events.filter((event) => event.type === 'lease_lost').length).toBeLessThanOrEqual(
    (audit.takeovers ?? 0) + (audit.replacedClaims ?? 0),
  );

  for (const result of results) {
    if (result.kind === 'threw') {
      expect(result.process.plan.outcome).toBe('throw');
      continue;
    }
    const { response, process, outcome } = result;
    expect(response.headers.some(([name]) => name === 'set-cookie') && outcome === 'replayed').toBe(false);
    if (outcome === 'executed') {
      // The process's own handler produced this response.
      const body = new TextDecoder().decode(response.body);
      expect(runs.some((run) => run.process === process.name && run.body === body)).toBe(true);
    } else if (outcome === 'replayed') {
      // Every replay is byte-identical to a response some handler of the same request produced,
      // and a request never receives the replay of a different request.
      const body = new TextDecoder().decode(response.body);
      const producer = runs.find((run) => run.body === body);
      expect(producer, 'a replay reproduces a stored handler response byte for byte').toBeDefined();
      expect(variantOf(response.body)).toBe(process.plan.variant);
      expect(response.headers).toContainEqual(['idempotent-replayed', 'true']);
      expect(response.status).toBe(201);
    } else {
      const problem = JSON.parse(new TextDecoder().decode(response.body)) as { code: string };
      expect(['in_progress', 'key_reused']).toContain(problem.code);
      if (problem.code === 'key_reused') expect(response.status).toBe(422);
      if (problem.code === 'in_progress') {
        expect(response.status).toBe(409);
        expect(Number(response.headers.find(([name]) => name === 'retry-after')?.[1])).toBeGreaterThanOrEqual(1);
      }
    }
  }

  // A different fingerprint never executes: each run's request matched the record it claimed.
  for (const run of runs) expect(claims.get(run.process)).toBe(fingerprints[run.variant]);
}

describe('lifecycle under concurrency, crashes and clock jumps', () => {
  it(`holds every invariant for up to 20 concurrent requests per key (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, plan) => {
        await runScenario(s, plan);
      }),
      { numRuns: RUNS },
    );
    // The generator must keep reaching every path, or this property could pass without testing them.
    if (RUNS >= 200) {
      for (const path of ['takeover', 'lease_lost', 'replayed', 'conflict', 'mismatch', 'released', 'executed'] as const) {
        expect(exercised, `path ${path} exercised`).toContain(path);
      }
    }
  }, 600_000);

  it(`without crashes or lease expiry, runs the handler exactly once and every answer agrees (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 20 }), fc.boolean(), async (s, n, wait) => {
        const clock = manualClock(Date.UTC(2030, 0, 1));
        const store = memoryStore();
        let runs = 0;
        const engine = createIdempotency({
          store,
          clock,
          leaseMs: LEASE,
          wait: wait ? { timeoutMs: LEASE, initialPollMs: 50 } : false,
        });
        const send = (): Promise<HttpResponse> =>
          engine
            .handle(
              { scope: SCOPE, method: 'POST', url: '/pay', headers: { 'idempotency-key': '"k-1"' }, parsedBody: { cents: 5 } },
              async () => {
                runs++;
                await s.schedule(Promise.resolve(), 'handler');
                return { status: 200, headers: [['content-type', 'application/octet-stream']], body: new Uint8Array([0, 255, runs]) };
              },
            )
            .then((handled) => handled.response);
        const all = Promise.all(Array.from({ length: n }, () => s.schedule(Promise.resolve(), 'send').then(send)));
        let done = false;
        void all.then(() => (done = true));
        for (let round = 0; round < 100 && !done; round++) {
          await s.waitIdle();
          if (!done) clock.advance(50);
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        const responses = await all;
        expect(runs).toBe(1);
        for (const response of responses) {
          if (response.status === 409) {
            expect(wait).toBe(false);
            continue;
          }
          expect(response.status).toBe(200);
          expect([...response.body]).toEqual([0, 255, 1]);
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  it(`the function wrapper runs a consumer once per message under concurrent redelivery (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.record({ message: fc.constantFrom('m1', 'm2'), fails: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        async (s, deliveries) => {
          const store = memoryStore();
          const effects = new Map<string, number>();
          const consume = idempotent({
            store,
            scope: 'queue:orders',
            key: (delivery: { message: string; attempt: number; fails: boolean }) => delivery.message,
            fingerprint: (delivery) => delivery.message,
            handler: async (delivery) => {
              await s.schedule(Promise.resolve(), `consume ${delivery.message}`);
              if (delivery.fails) throw new Error('transient');
              effects.set(delivery.message, (effects.get(delivery.message) ?? 0) + 1);
              return { processed: delivery.message, attempt: delivery.attempt };
            },
          });
          const outcomes = await s.waitFor(
            Promise.allSettled(
              deliveries.map((delivery, attempt) =>
                s.schedule(Promise.resolve(), `deliver ${attempt}`).then(() => consume({ ...delivery, attempt })),
              ),
            ),
          );
          for (const count of effects.values()) expect(count).toBe(1);
          const firstResult = new Map<string, unknown>();
          for (const outcome of outcomes) {
            if (outcome.status === 'rejected') {
              const error: unknown = outcome.reason;
              expect(isIdempotencyError(error, 'in_progress') || (error instanceof Error && error.message === 'transient')).toBe(true);
              continue;
            }
            const value = outcome.value;
            const seen = firstResult.get(value.processed);
            if (seen === undefined) firstResult.set(value.processed, value);
            else expect(value).toEqual(seen);
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, 600_000);
});
