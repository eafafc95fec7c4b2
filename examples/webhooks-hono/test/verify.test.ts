/** The signature verifiers, on their own: what they accept and everything they refuse. */
import { describe, expect, it } from 'vitest';
import { githubVerifier, signGithub, signStandard, signStripe, standardVerifier, stripeVerifier, timingSafeEqual } from '../src/verify';

const body = new TextEncoder().encode('{"id":"evt_1","type":"payment_intent.succeeded"}');
const tampered = new TextEncoder().encode('{"id":"evt_1","type":"payment_intent.succeeded","amount":1}');
const NOW = 1_750_000_000_000;
const now = (): number => NOW;
const t = NOW / 1000;

describe('Stripe-Signature', () => {
  const secret = 'whsec_test_stripe';
  const verify = stripeVerifier(secret, { now });
  const headers = (value: string): Headers => new Headers({ 'stripe-signature': value });

  it('accepts a signature made with the secret, within the tolerance', async () => {
    expect(await verify(body, headers(await signStripe(secret, body, t)))).toEqual({ ok: true });
    expect(await verify(body, headers(await signStripe(secret, body, t - 299)))).toEqual({ ok: true });
  });

  it('accepts any matching v1 of several (secret rotation), and ignores v0', async () => {
    const good = (await signStripe(secret, body, t)).split(',')[1] as string;
    const old = (await signStripe('whsec_old', body, t)).split(',')[1] as string;
    expect(await verify(body, headers(`t=${t},${old},v0=abc,${good}`))).toEqual({ ok: true });
  });

  it('refuses a wrong secret, a tampered body, a stale or future timestamp, and malformed headers', async () => {
    expect(await verify(body, headers(await signStripe('whsec_other', body, t)))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(tampered, headers(await signStripe(secret, body, t)))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(body, headers(await signStripe(secret, body, t - 301)))).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    expect(await verify(body, headers(await signStripe(secret, body, t + 301)))).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    // The timestamp is signed: moving it into the window breaks the signature.
    const stale = (await signStripe(secret, body, t - 1000)).replace(`t=${t - 1000}`, `t=${t}`);
    expect(await verify(body, headers(stale))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(body, new Headers())).toEqual({ ok: false, reason: 'missing_signature' });
    for (const value of ['garbage', `t=${t}`, 'v1=00', `t=abc,v1=${'0'.repeat(64)}`, `t=${t},v1=xyz`]) {
      expect(await verify(body, headers(value))).toEqual({ ok: false, reason: 'malformed_signature' });
    }
  });
});

describe('X-Hub-Signature-256', () => {
  const secret = 'gh-secret';
  const verify = githubVerifier(secret);
  const headers = (value: string): Headers => new Headers({ 'x-hub-signature-256': value });

  it('accepts the HMAC of the raw body, and refuses anything else', async () => {
    expect(await verify(body, headers(await signGithub(secret, body)))).toEqual({ ok: true });
    expect(await verify(body, headers(await signGithub('other', body)))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(tampered, headers(await signGithub(secret, body)))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(body, headers((await signGithub(secret, body)).replace('sha256=', 'sha1=')))).toEqual({ ok: false, reason: 'malformed_signature' });
    expect(await verify(body, new Headers({ 'x-hub-signature': 'sha1=abc' }))).toEqual({ ok: false, reason: 'missing_signature' });
  });
});

describe('Standard Webhooks', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const verify = standardVerifier(secret, { now });
  const headers = (id: string, timestamp: number, signature: string): Headers =>
    new Headers({ 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature });

  it('accepts v1 signatures over "<id>.<timestamp>.<body>", in a list, and the svix-* header names', async () => {
    const signature = await signStandard(secret, 'msg_1', t, body);
    expect(await verify(body, headers('msg_1', t, signature))).toEqual({ ok: true });
    expect(await verify(body, headers('msg_1', t, `v1,${btoa('x'.repeat(32))} v1a,abc ${signature}`))).toEqual({ ok: true });
    const svix = new Headers({ 'svix-id': 'msg_1', 'svix-timestamp': String(t), 'svix-signature': signature });
    expect(await verify(body, svix)).toEqual({ ok: true });
  });

  it('matches the Standard Webhooks reference vector', async () => {
    // From the standard-webhooks spec's test suite (secret, id, timestamp, payload → signature).
    const vector = standardVerifier('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { now: () => 1_614_265_330_000 });
    const payload = new TextEncoder().encode('{"test": 2432232314}');
    const ok = headers('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    expect(await vector(payload, ok)).toEqual({ ok: true });
  });

  it('refuses another id, a tampered body, a stale timestamp, a missing header and bad base64', async () => {
    const signature = await signStandard(secret, 'msg_1', t, body);
    expect(await verify(body, headers('msg_2', t, signature))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(tampered, headers('msg_1', t, signature))).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(await verify(body, headers('msg_1', t - 301, await signStandard(secret, 'msg_1', t - 301, body)))).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    expect(await verify(body, new Headers({ 'webhook-id': 'msg_1', 'webhook-signature': signature }))).toEqual({ ok: false, reason: 'missing_signature' });
    expect(await verify(body, headers('msg_1', t, 'v1,***'))).toEqual({ ok: false, reason: 'malformed_signature' });
    expect(await verify(body, headers('msg_1', t, 'v2,abcd'))).toEqual({ ok: false, reason: 'malformed_signature' });
  });

  it('refuses a secret that is not whsec_ + base64 at construction', () => {
    expect(() => standardVerifier('whsec_***')).toThrow(TypeError);
  });
});

describe('timingSafeEqual', () => {
  it('compares bytes, whatever the lengths', () => {
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2]))).toBe(false);
  });
});
