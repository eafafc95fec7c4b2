/**
 * The webhooks example over real loopback HTTP, on the memory store and on the real Redis
 * (`REDIS_URL`, default redis://127.0.0.1:6379, under a key prefix of this run's own, deleted
 * afterwards): signatures checked before the idempotency step, one fulfilment per event however
 * often the providers redeliver and however often the queue redelivers the job.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { recordId, type IdempotencyEvent } from '@oncely/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhooksApp, type WebhookSecrets } from '../src/app';
import { githubDelivery, sampleEvents, standardDelivery, stripeDelivery, type SignedDelivery } from '../src/deliveries';
import { simulatedEmailSender, type EmailSenderOptions } from '../src/email';
import { createFulfilment, type FulfilmentJob } from '../src/fulfilment';
import { memoryLedger } from '../src/ledger';
import { InProcessQueue, type QueueOptions } from '../src/queue';
import { openBackend, type Backend, type StoreKind } from '../src/stores';
import { signStripe } from '../src/verify';

const secrets: WebhookSecrets = {
  stripe: 'whsec_test_stripe_secret',
  github: 'test-github-secret',
  standard: `whsec_${btoa('test-standard-webhooks-secret')}`,
};
const SCOPES = { stripe: 'stripe:/webhooks/stripe', github: 'github:/webhooks/github', standard: 'standard:/webhooks/standard' } as const;
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** The whole system of the example — routes, queue, consumer, side effects — on one store, served on a free port. */
async function startSystem(backend: Backend, options: { queue?: QueueOptions; email?: EmailSenderOptions; ledgerFailures?: number } = {}) {
  const queue = new InProcessQueue<FulfilmentJob>({ visibilityTimeoutMs: 20, retryDelayMs: 10, ...options.queue });
  const ledger = memoryLedger({ failures: options.ledgerFailures ?? 0 });
  const email = simulatedEmailSender(options.email ?? {});
  const events: IdempotencyEvent[] = [];
  const fulfilment = createFulfilment({ store: backend.store, ledger, email, onEvent: (event) => events.push(event) });
  queue.consume(fulfilment.consume);
  const app = createWebhooksApp({ store: backend.store, secrets, enqueue: (job) => queue.enqueue(job), onEvent: (event) => events.push(event) });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (delivery: SignedDelivery) => {
    const response = await fetch(base + delivery.path, { method: 'POST', headers: delivery.headers, body: delivery.body });
    return { status: response.status, replayed: response.headers.get('idempotent-replayed'), type: response.headers.get('content-type'), body: await response.text() };
  };
  const close = async () => {
    queue.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { queue, ledger, email, events, fulfilment, post, close };
}

type System = Awaited<ReturnType<typeof startSystem>>;

/** One fresh event per provider, and a signer for (re)deliveries of each. */
function freshEvents() {
  const events = sampleEvents(randomUUID().slice(0, 12));
  return {
    events,
    eventIds: [`stripe:${events.stripe.id}`, `github:${events.github.id}`, `standard:${events.standard.id}`],
    sign: {
      stripe: (options: { secret?: string; timestamp?: number } = {}) => stripeDelivery(options.secret ?? secrets.stripe, events.stripe, options),
      github: (options: { secret?: string } = {}) => githubDelivery(options.secret ?? secrets.github, events.github),
      standard: (options: { secret?: string; timestamp?: number } = {}) => standardDelivery(options.secret ?? secrets.standard, events.standard, options),
    },
  };
}

const providers = ['stripe', 'github', 'standard'] as const;

for (const kind of ['memory', 'redis'] as const satisfies readonly StoreKind[]) {
  describe(`webhooks example on ${kind}`, () => {
    const prefix = `oncely-test:example-webhooks:${randomUUID()}:`;
    let backend: Backend;
    let system: System;

    beforeAll(async () => {
      backend = await openBackend(kind, { prefix, redisUrl: REDIS_URL });
      system = await startSystem(backend);
    });
    afterAll(async () => {
      await system?.close();
      await backend?.close();
      if (kind === 'redis') {
        const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
        for await (const keys of client.scanStream({ match: `${prefix}*`, count: 500 })) if ((keys as string[]).length) await client.del(...(keys as string[]));
        client.disconnect();
      }
    });

    it('processes a valid delivery from each provider once: 202, one job, one fulfilment', async () => {
      const { sign, eventIds } = freshEvents();
      const before = { enqueued: system.queue.stats.enqueued, sent: system.email.stats().sent };
      for (const provider of providers) {
        const reply = await system.post(await sign[provider]());
        expect(reply.status).toBe(202);
        expect(reply.replayed).toBeNull();
        expect(JSON.parse(reply.body)).toMatchObject({ received: true, eventId: expect.stringMatching(new RegExp(`^${provider}:`)) });
      }
      await system.queue.drain();
      expect(system.queue.stats.enqueued - before.enqueued).toBe(3);
      for (const eventId of eventIds) expect(system.ledger.countFor(eventId)).toBe(1);
      expect(system.email.stats().sent - before.sent).toBe(3);
      expect(system.ledger.entries().find((entry) => entry.eventId === eventIds[0])).toMatchObject({ provider: 'stripe', type: 'payment_intent.succeeded', reference: expect.stringMatching(/^pi_/) });
    });

    it('answers sequential redeliveries with the stored 202, byte for byte, and fulfils once', async () => {
      const { sign, eventIds } = freshEvents();
      const enqueuedBefore = system.queue.stats.enqueued;
      for (const provider of providers) {
        const replies = [];
        // Each redelivery is signed afresh (Stripe and Standard Webhooks sign a timestamp), as providers do.
        for (let i = 0; i < 5; i++) replies.push(await system.post(await sign[provider]({ timestamp: Math.floor(Date.now() / 1000) - i })));
        const [first, ...again] = replies;
        expect(first?.status).toBe(202);
        expect(first?.replayed).toBeNull();
        for (const reply of again) {
          expect(reply.status).toBe(202);
          expect(reply.replayed).toBe('true');
          expect(reply.type).toBe(first?.type);
          expect(reply.body).toBe(first?.body);
        }
      }
      await system.queue.drain();
      expect(system.queue.stats.enqueued - enqueuedBefore).toBe(3);
      for (const eventId of eventIds) expect(system.ledger.countFor(eventId)).toBe(1);
    });

    it('answers 8 concurrent deliveries of one event identically: one executes, the rest wait and replay', async () => {
      const { sign, eventIds } = freshEvents();
      const enqueuedBefore = system.queue.stats.enqueued;
      for (const provider of providers) {
        const deliveries = await Promise.all(Array.from({ length: 8 }, () => sign[provider]()));
        const replies = await Promise.all(deliveries.map((delivery) => system.post(delivery)));
        expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(202));
        expect(new Set(replies.map((reply) => reply.body)).size).toBe(1);
        expect(replies.filter((reply) => reply.replayed === null)).toHaveLength(1);
        expect(replies.filter((reply) => reply.replayed === 'true')).toHaveLength(7);
      }
      await system.queue.drain();
      expect(system.queue.stats.enqueued - enqueuedBefore).toBe(3);
      for (const eventId of eventIds) expect(system.ledger.countFor(eventId)).toBe(1);
    });

    it('refuses bad and missing signatures with 401 before any record is made', async () => {
      const { sign, events, eventIds } = freshEvents();
      const eventsBefore = system.events.length;
      const stale = Math.floor(Date.now() / 1000) - 3600;
      const forged: Record<(typeof providers)[number], SignedDelivery[]> = {
        stripe: [await sign.stripe({ secret: 'whsec_wrong' }), await sign.stripe({ timestamp: stale })],
        github: [await sign.github({ secret: 'wrong' })],
        standard: [await sign.standard({ secret: `whsec_${btoa('wrong')}` }), await sign.standard({ timestamp: stale })],
      };
      for (const provider of providers) {
        const valid = await sign[provider]();
        const unsigned = { ...valid, headers: { 'content-type': 'application/json', ...(provider === 'github' ? { 'x-github-delivery': events.github.id } : {}), ...(provider === 'standard' ? { 'webhook-id': events.standard.id } : {}) } };
        const tampered = { ...valid, body: valid.body.replace('"', '"tampered":true,"') };
        for (const delivery of [...forged[provider], unsigned, tampered]) {
          const reply = await system.post(delivery);
          expect(reply.status).toBe(401);
          expect(reply.type).toBe('application/problem+json');
          expect(JSON.parse(reply.body)).toMatchObject({ status: 401, code: 'invalid_signature' });
        }
      }
      // Nothing reached oncely: no event, no record under any of the event ids.
      expect(system.events.length).toBe(eventsBefore);
      const keys = { stripe: events.stripe.id, github: events.github.id, standard: events.standard.id };
      for (const provider of providers) expect(await backend.store.get(recordId('oncely', SCOPES[provider], keys[provider]), Date.now())).toBeNull();
      // So the genuine deliveries afterwards execute (not replay a forgery's answer).
      for (const provider of providers) {
        const reply = await system.post(await sign[provider]());
        expect(reply.status).toBe(202);
        expect(reply.replayed).toBeNull();
      }
      await system.queue.drain();
      for (const eventId of eventIds) expect(system.ledger.countFor(eventId)).toBe(1);
      expect(await backend.store.get(recordId('oncely', SCOPES.stripe, events.stripe.id), Date.now())).toMatchObject({ state: 'completed' });
    });

    it('answers a signed Stripe delivery without an event id with 400 missing_key, enqueuing nothing', async () => {
      const enqueuedBefore = system.queue.stats.enqueued;
      const { sign } = freshEvents();
      const delivery = await sign.stripe();
      const body = JSON.stringify({ object: 'event', type: 'ping' });
      const reply = await system.post({ ...delivery, body, headers: { ...delivery.headers, 'stripe-signature': await signStripe(secrets.stripe, new TextEncoder().encode(body), Math.floor(Date.now() / 1000)) } });
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.body)).toMatchObject({ code: 'missing_key' });
      expect(system.queue.stats.enqueued).toBe(enqueuedBefore);
    });

    it('keeps providers apart: the same id at two providers is two events', async () => {
      const id = `shared_${randomUUID().slice(0, 8)}`;
      const a = await system.post(await stripeDelivery(secrets.stripe, { id, type: 'charge.succeeded', data: { object: { id: 'ch_1' } } }));
      const b = await system.post(await standardDelivery(secrets.standard, { id, payload: { type: 'charge.succeeded', data: { id: 'ch_1' } } }));
      expect([a.status, b.status, a.replayed, b.replayed]).toEqual([202, 202, null, null]);
      await system.queue.drain();
      expect(system.ledger.countFor(`stripe:${id}`)).toBe(1);
      expect(system.ledger.countFor(`standard:${id}`)).toBe(1);
    });

    it('fulfils once when the queue redelivers every job (lost acks and concurrent duplicates forced)', async () => {
      const noisy = await startSystem(backend, { queue: { redeliveryRate: 1, duplicateRate: 1, maxDeliveries: 4 } });
      try {
        const { sign, eventIds } = freshEvents();
        for (const provider of providers) {
          expect((await noisy.post(await sign[provider]())).status).toBe(202);
          expect((await noisy.post(await sign[provider]())).replayed).toBe('true');
        }
        await noisy.queue.drain();
        expect(noisy.queue.stats.enqueued).toBe(3);
        expect(noisy.queue.stats.deliveries).toBeGreaterThanOrEqual(12); // every job delivered at least 4 times
        expect(noisy.queue.stats.lostAcks).toBeGreaterThan(0);
        expect(noisy.queue.stats.duplicates).toBeGreaterThan(0);
        expect(noisy.queue.deadLetters).toEqual([]);
        for (const eventId of eventIds) expect(noisy.ledger.countFor(eventId)).toBe(1);
        expect(noisy.fulfilment.executions()).toBe(3);
        expect(noisy.email.stats()).toEqual({ calls: 3, sent: 3 });
        const consumer = noisy.events.filter((event) => event.scope === 'consumer:fulfilment').map((event) => event.type);
        expect(consumer.filter((type) => type === 'executed')).toHaveLength(3);
        expect(consumer.filter((type) => type === 'replayed').length).toBeGreaterThan(0);
      } finally {
        await noisy.close();
      }
    });

    it('fulfils once when the same event is enqueued twice (the HTTP layer ran twice)', async () => {
      const { eventIds } = freshEvents();
      const job: FulfilmentJob = { provider: 'github', eventId: eventIds[1] as string, type: 'push', reference: 'acme/shop' };
      system.queue.enqueue(job);
      system.queue.enqueue({ ...job });
      await system.queue.drain();
      expect(system.ledger.countFor(job.eventId)).toBe(1);
    });

    it('a consumer failing once (the ledger write) succeeds on redelivery with exactly one effect', async () => {
      const flaky = await startSystem(backend, { ledgerFailures: 1 });
      try {
        const { sign, eventIds } = freshEvents();
        expect((await flaky.post(await sign.stripe())).status).toBe(202);
        await flaky.queue.drain();
        expect(flaky.queue.stats).toMatchObject({ deliveries: 2, nacks: 1, acks: 1 });
        expect(flaky.fulfilment.executions()).toBe(2); // the failed attempt released the key: the redelivery ran afresh
        expect(flaky.ledger.countFor(eventIds[0] as string)).toBe(1);
        expect(flaky.email.stats()).toEqual({ calls: 2, sent: 1 }); // the second call reused ctx.childKey('email')
        expect(flaky.events.filter((event) => event.scope === 'consumer:fulfilment').map((event) => event.type)).toEqual(['released', 'executed']);
      } finally {
        await flaky.close();
      }
    });

    it('a consumer failing once after the email went out (a timeout) emails once on redelivery', async () => {
      const flaky = await startSystem(backend, { email: { timeoutAfterSend: (call) => call === 1 } });
      try {
        const { sign, eventIds } = freshEvents();
        expect((await flaky.post(await sign.standard())).status).toBe(202);
        await flaky.queue.drain();
        expect(flaky.fulfilment.executions()).toBe(2);
        expect(flaky.email.stats()).toEqual({ calls: 2, sent: 1 });
        expect(flaky.ledger.countFor(eventIds[2] as string)).toBe(1);
        expect(flaky.ledger.entries()[0]?.emailId).toBe('em_1');
      } finally {
        await flaky.close();
      }
    });
  });
}
