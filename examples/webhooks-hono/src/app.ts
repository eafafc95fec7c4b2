import { webhookKeys, type IdempotencyEvent, type KeySource, type Store } from '@oncely/core';
import { idempotency } from '@oncely/hono';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { FulfilmentJob } from './fulfilment';
import { githubVerifier, standardVerifier, stripeVerifier, type TimestampOptions, type Verifier } from './verify';

export interface WebhookSecrets {
  /** Stripe endpoint secret (`whsec_...`, used as is). */
  readonly stripe: string;
  /** GitHub webhook secret (any string). */
  readonly github: string;
  /** Standard Webhooks secret: `whsec_` + base64 of the key. */
  readonly standard: string;
}

export interface WebhooksAppOptions {
  readonly store: Store;
  readonly secrets: WebhookSecrets;
  /** Where accepted events go: returns the job id. */
  readonly enqueue: (job: FulfilmentJob) => string;
  /** Signature timestamp tolerance (Stripe, Standard Webhooks) and clock. */
  readonly timestamps?: TimestampOptions;
  readonly onEvent?: (event: IdempotencyEvent) => void;
  /** Serve `GET /_demo/stats` from this function (`send.ts` reads it). Off by default. */
  readonly stats?: () => unknown;
}

interface Provider {
  readonly name: FulfilmentJob['provider'];
  readonly path: string;
  readonly verifier: Verifier;
  /** Where the event id is: oncely's extractor for this provider. */
  readonly key: KeySource;
  /** The job for a verified, parsed delivery, or why it cannot be one. */
  readonly toJob: (event: Record<string, unknown>, headers: Headers) => FulfilmentJob | string;
}

/** A delivery body is at most this big (Stripe's and GitHub's own limits are well below). */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * Webhook receivers for Stripe, GitHub and Standard Webhooks. On each route, in this order:
 *
 * 1. `bodyLimit`: bound what is buffered.
 * 2. `verified(...)`: check the signature over the raw body bytes — an invalid or missing one is a
 *    401 before oncely is involved, so a forged delivery can never claim (or poison) an event id.
 * 3. `idempotency(...)` with the provider's `webhookKeys` extractor and a scope of provider +
 *    endpoint: the first delivery of an event runs the handler, every redelivery gets its stored
 *    202 back (`Idempotent-Replayed: true`), so the provider stops retrying. A delivery racing the
 *    first waits for it (`wait`) and gets the same 202, rather than a 409 the provider would retry.
 * 4. The handler: enqueue the job, answer 202. The real work happens in the queue consumer.
 */
export function createWebhooksApp(options: WebhooksAppOptions): Hono {
  const { secrets, enqueue } = options;
  const providers: Provider[] = [
    {
      name: 'stripe',
      path: '/webhooks/stripe',
      verifier: stripeVerifier(secrets.stripe, options.timestamps),
      key: webhookKeys.stripe(), // the event's `id` in the body
      toJob: (event) => {
        if (typeof event['id'] !== 'string' || typeof event['type'] !== 'string') return 'A Stripe event has a string `id` and `type`.';
        return { provider: 'stripe', eventId: `stripe:${event['id']}`, type: event['type'], reference: stringAt(event, 'data', 'object', 'id') };
      },
    },
    {
      name: 'github',
      path: '/webhooks/github',
      verifier: githubVerifier(secrets.github),
      key: webhookKeys.github(), // X-GitHub-Delivery
      toJob: (event, headers) => {
        const delivery = headers.get('x-github-delivery') ?? '';
        const name = headers.get('x-github-event') ?? 'unknown';
        const action = typeof event['action'] === 'string' ? `.${event['action']}` : '';
        return { provider: 'github', eventId: `github:${delivery}`, type: `${name}${action}`, reference: stringAt(event, 'repository', 'full_name') };
      },
    },
    {
      name: 'standard',
      path: '/webhooks/standard',
      verifier: standardVerifier(secrets.standard, options.timestamps),
      key: webhookKeys.standard(), // webhook-id (or svix-id)
      toJob: (event, headers) => {
        if (typeof event['type'] !== 'string') return 'A Standard Webhooks payload has a string `type`.';
        const id = headers.get('webhook-id') ?? headers.get('svix-id') ?? '';
        return { provider: 'standard', eventId: `standard:${id}`, type: event['type'], reference: stringAt(event, 'data', 'id') };
      },
    },
  ];

  const app = new Hono();
  for (const provider of providers) {
    app.post(
      provider.path,
      bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problem(c, 413, 'payload_too_large', 'Payload too large') }),
      verified(provider.verifier),
      idempotency({
        store: options.store,
        scope: `${provider.name}:${provider.path}`, // provider + endpoint: never shared with another route
        key: provider.key,
        wait: { timeoutMs: 5_000 }, // a concurrent redelivery waits for the first and gets its 202
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      }),
      async (c) => {
        let event: unknown;
        try {
          event = await c.req.json();
        } catch {
          return problem(c, 400, 'invalid_payload', 'The delivery is not JSON');
        }
        if (typeof event !== 'object' || event === null || Array.isArray(event)) return problem(c, 400, 'invalid_payload', 'The delivery is not a JSON object');
        const job = provider.toJob(event as Record<string, unknown>, c.req.raw.headers);
        if (typeof job === 'string') return problem(c, 400, 'invalid_payload', job);
        const jobId = enqueue(job);
        return c.json({ received: true, eventId: job.eventId, jobId }, 202);
      },
    );
  }

  const { stats } = options;
  if (stats) app.get('/_demo/stats', (c) => c.json(stats() as object));
  app.onError((error, c) => {
    console.error('webhooks: unhandled error', error);
    return problem(c, 500, 'internal', 'Internal error');
  });
  return app;
}

/** Signature check on the raw bytes, before idempotency: 401 and nothing recorded when it fails. */
function verified(verifier: Verifier): MiddlewareHandler {
  return async (c, next) => {
    // Hono caches the bytes: oncely's middleware and the handler read the same body afterwards.
    const rawBody = new Uint8Array(await c.req.arrayBuffer());
    const result = await verifier(rawBody, c.req.raw.headers);
    if (!result.ok) return problem(c, 401, 'invalid_signature', 'Invalid webhook signature', result.reason);
    await next();
    return undefined;
  };
}

function problem(c: Context, status: 400 | 401 | 413 | 500, code: string, title: string, detail?: string): Response {
  const body = { type: `urn:oncely-example:webhooks:${code}`, title, status, code, ...(detail ? { detail } : {}) };
  return c.body(JSON.stringify(body), status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store' });
}

function stringAt(value: unknown, ...path: string[]): string {
  let current = value;
  for (const name of path) current = typeof current === 'object' && current !== null ? (current as Record<string, unknown>)[name] : undefined;
  return typeof current === 'string' ? current : '';
}
