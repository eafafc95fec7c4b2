/**
 * Signs and sends sample webhook deliveries to a running server, the way the providers do — and
 * redelivers each one, as they do when they are unsure you got it:
 *
 *   node dist/send.js [--url http://127.0.0.1:3000] [--times 4]
 *
 * For each provider (Stripe, GitHub, Standard Webhooks): one delivery, then `--times - 1`
 * redeliveries of it at once (freshly signed where the provider signs a timestamp), then one
 * forged delivery (wrong secret) that must get 401. If the server runs with `--stats`, prints its
 * counters once the queue has settled. Uses the development secrets unless the same
 * `*_WEBHOOK_SECRET` variables as the server are set.
 */
import { parseArgs } from 'node:util';
import { githubDelivery, sampleEvents, standardDelivery, stripeDelivery, type SignedDelivery } from './deliveries';
import { secretsFromEnv } from './secrets';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env['WEBHOOKS_URL'] ?? 'http://127.0.0.1:3000' },
    times: { type: 'string', default: '4' },
  },
});
const base = new URL(values.url ?? 'http://127.0.0.1:3000');
const times = Math.max(1, Number(values.times));
const secrets = secretsFromEnv();

async function post(delivery: SignedDelivery): Promise<{ status: number; replayed: boolean; body: string }> {
  const response = await fetch(new URL(delivery.path, base), { method: 'POST', headers: delivery.headers, body: delivery.body });
  return { status: response.status, replayed: response.headers.get('idempotent-replayed') === 'true', body: await response.text() };
}

const show = (label: string, reply: { status: number; replayed: boolean; body: string }): void =>
  console.log(`  ${label.padEnd(22)} ${reply.status}${reply.replayed ? ' Idempotent-Replayed: true' : ''}  ${reply.body}`);

const events = sampleEvents(`${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`);
const providers: [name: string, sign: (secret?: string) => Promise<SignedDelivery>][] = [
  ['stripe', (secret = secrets.stripe) => stripeDelivery(secret, events.stripe)],
  ['github', (secret = secrets.github) => githubDelivery(secret, events.github)],
  ['standard', (secret = secrets.standard) => standardDelivery(secret, events.standard)],
];

let unexpected = 0;
for (const [name, sign] of providers) {
  console.log(`${name}:`);
  const first = await post(await sign());
  show('delivery', first);
  const again = await Promise.all(Array.from({ length: times - 1 }, async () => post(await sign())));
  again.forEach((reply, index) => show(`redelivery ${index + 1}`, reply));
  if (first.status !== 202 || again.some((reply) => reply.status !== 202 || !reply.replayed || reply.body !== first.body)) unexpected++;
  const forged = await post(await sign(name === 'standard' ? 'whsec_Zm9yZ2VkLXNlY3JldA==' : 'forged-secret'));
  show('forged signature', forged);
  if (forged.status !== 401) unexpected++;
}

const stats = await fetch(new URL('/_demo/stats', base)).catch(() => undefined);
if (stats?.ok) {
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // let the queue's redeliveries settle
  console.log('server stats:', JSON.stringify(await (await fetch(new URL('/_demo/stats', base))).json(), null, 2));
}
console.log(unexpected === 0 ? 'every redelivery got the first 202 back; every forgery a 401' : `${unexpected} unexpected answers`);
process.exitCode = unexpected === 0 ? 0 : 1;
