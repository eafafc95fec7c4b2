import { describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import type { RequestFacts } from './fingerprint';
import { sha256Hex } from './hash';
import { headerKey } from './key-source';
import { webhookKeys } from './webhooks';

const post = (facts: Partial<RequestFacts>): RequestFacts => ({ method: 'POST', url: '/webhooks', ...facts });

describe('webhookKeys.stripe', () => {
  const key = webhookKeys.stripe();

  it("reads the event id from the raw JSON body", async () => {
    expect(await key(post({ rawBody: utf8('{"id":"evt_1NG8Du2eZvKYlo2C","type":"charge.succeeded","data":{"id":"ch_1"}}') }))).toBe(
      'evt_1NG8Du2eZvKYlo2C',
    );
  });

  it('reads the event id from a parsed body', async () => {
    expect(await key(post({ parsedBody: { id: 'evt_2', type: 'invoice.paid' } }))).toBe('evt_2');
  });

  it('prefers the raw body over the parsed one', async () => {
    expect(await key(post({ rawBody: utf8('{"id":"evt_raw"}'), parsedBody: { id: 'evt_parsed' } }))).toBe('evt_raw');
  });

  it('gives undefined, without throwing, for non-JSON or id-less bodies', async () => {
    expect(await key(post({ rawBody: utf8('id=evt_1&type=x') }))).toBeUndefined();
    expect(await key(post({ rawBody: Uint8Array.of(0xff, 0xfe, 0x00) }))).toBeUndefined();
    expect(await key(post({ rawBody: utf8('{"type":"x"}') }))).toBeUndefined();
    expect(await key(post({ rawBody: utf8('{"id":12345}') }))).toBeUndefined();
    expect(await key(post({ rawBody: utf8('null') }))).toBeUndefined();
    expect(await key(post({ rawBody: utf8('["evt_1"]') }))).toBeUndefined();
    expect(await key(post({ parsedBody: 'evt_1' }))).toBeUndefined();
    expect(await key(post({}))).toBeUndefined();
  });
});

describe('header-based webhook keys', () => {
  it('github: X-GitHub-Delivery', async () => {
    expect(await webhookKeys.github()(post({ headers: { 'X-GitHub-Delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' } }))).toBe(
      '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    );
    expect(await webhookKeys.github()(post({ headers: { 'x-github-event': 'push' } }))).toBeUndefined();
  });

  it('shopify: the webhook id by default, the event id with { by: "event" }', async () => {
    const headers = { 'x-shopify-webhook-id': 'wh-1', 'x-shopify-event-id': 'ev-1' };
    expect(await webhookKeys.shopify()(post({ headers }))).toBe('wh-1');
    expect(await webhookKeys.shopify({ by: 'webhook' })(post({ headers }))).toBe('wh-1');
    expect(await webhookKeys.shopify({ by: 'event' })(post({ headers }))).toBe('ev-1');
    expect(await webhookKeys.shopify({ by: 'event' })(post({ headers: { 'x-shopify-webhook-id': 'wh-1' } }))).toBeUndefined();
  });

  it('standard: webhook-id, falling back to svix-id', async () => {
    expect(await webhookKeys.standard()(post({ headers: { 'webhook-id': 'msg_1', 'svix-id': 'msg_2' } }))).toBe('msg_1');
    expect(await webhookKeys.standard()(post({ headers: new Headers({ 'Svix-Id': 'msg_2' }) }))).toBe('msg_2');
    expect(await webhookKeys.standard()(post({ headers: {} }))).toBeUndefined();
  });
});

describe('webhookKeys.payloadHash', () => {
  it('is sha256- + the hex digest of the raw body: byte-identical redeliveries collapse', async () => {
    const body = utf8('{"event":"paid","n":1}');
    const key = webhookKeys.payloadHash();
    expect(await key(post({ rawBody: body }))).toBe(`sha256-${await sha256Hex(body)}`);
    expect(await key(post({ rawBody: body.slice() }))).toBe(await key(post({ rawBody: body })));
    expect(await key(post({ rawBody: utf8('{"event":"paid","n":2}') }))).not.toBe(await key(post({ rawBody: body })));
    expect(await key(post({ rawBody: body }))).toMatch(/^sha256-[0-9a-f]{64}$/);
  });

  it('gives undefined without a raw body', async () => {
    expect(await webhookKeys.payloadHash()(post({ parsedBody: { a: 1 } }))).toBeUndefined();
  });
});

describe('headerKey', () => {
  it('reads Idempotency-Key by default, in any case and header shape', async () => {
    expect(await headerKey()(post({ headers: { 'idempotency-key': 'k1' } }))).toBe('k1');
    expect(await headerKey()(post({ headers: new Headers({ 'Idempotency-Key': 'k2' }) }))).toBe('k2');
    expect(await headerKey()(post({ headers: [['IDEMPOTENCY-KEY', 'k3']] }))).toBe('k3');
    expect(await headerKey()(post({ headers: { 'x-request-id': 'r' } }))).toBeUndefined();
    expect(await headerKey()(post({}))).toBeUndefined();
  });

  it('reads a custom header name', async () => {
    const key = headerKey('X-Idempotency-Token');
    expect(await key(post({ headers: { 'x-idempotency-token': 't1', 'idempotency-key': 'k1' } }))).toBe('t1');
    expect(await key(post({ headers: { 'idempotency-key': 'k1' } }))).toBeUndefined();
  });
});
