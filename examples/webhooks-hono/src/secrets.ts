import type { WebhookSecrets } from './app';

/**
 * Development secrets, shared by `server.js` and `send.js` so the two agree out of the box.
 * In production, set the real ones: `STRIPE_WEBHOOK_SECRET`, `GITHUB_WEBHOOK_SECRET`,
 * `STANDARD_WEBHOOK_SECRET` (the server refuses to start on the dev ones with `NODE_ENV=production`).
 */
export const DEV_SECRETS: WebhookSecrets = {
  stripe: 'whsec_dev_stripe_endpoint_secret',
  github: 'dev-github-webhook-secret',
  standard: 'whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldA==', // base64("dev-standard-webhooks-secret")
};

export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): WebhookSecrets & { readonly dev: boolean } {
  const secrets = {
    stripe: env['STRIPE_WEBHOOK_SECRET'] ?? DEV_SECRETS.stripe,
    github: env['GITHUB_WEBHOOK_SECRET'] ?? DEV_SECRETS.github,
    standard: env['STANDARD_WEBHOOK_SECRET'] ?? DEV_SECRETS.standard,
  };
  const dev = secrets.stripe === DEV_SECRETS.stripe || secrets.github === DEV_SECRETS.github || secrets.standard === DEV_SECRETS.standard;
  return { ...secrets, dev };
}
