/**
 * Hostile input (issue #7; CONTRACT §10 "bad input gets a 4xx problem, never a 500, a hang or a
 * stuck key"): fast-check generates raw HTTP requests — keys (empty, 256+ characters, control
 * characters, Unicode, quoted, header-injection attempts, duplicated headers), methods, content
 * types, bodies (huge, truncated, non-JSON, binary, chunked) and framing (wrong or invalid
 * Content-Length) — written byte for byte on a raw socket (`sendBytes`: fetch and `http.request`
 * refuse most of them) to every binding, on memory and on two real stores (PostgreSQL, Redis).
 * Several requests of a run go out at once, reusing a few keys, so they also race each other.
 *
 * Asserted: every answer comes within the client timeout, and its status is documented — 2xx from
 * the handler, or 400 / 409 / 413 / 415 / 422 (CONTRACT §7, the bindings' READMEs, the body
 * parsers' own 4xx) — never 5xx (the store is up); no status at all only for a request the client
 * itself left incomplete (truncated body, declared length larger than what was sent: a server
 * cannot answer what it has not finished reading). Afterwards no key is stuck: the record of every
 * (scope, key) the engine accepts leaves `in_progress`, and a plain retry (fresh body) answers a
 * fresh execution or 422 — never 409 forever; nothing that completed runs again. And the apps'
 * error handling saw nothing. A control run shows the stuck-key check fails on a store that never
 * releases a claim.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULTS, memoryStore, parseKey, recordId, type Store } from '@oncely/core';
import { sendBytes } from '@oncely/http-tests';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINDING_NAMES, MAX_REQUEST_BYTES, openStore, scaled, sendUntilSettled, startApp, writeResult, type ReliabilityApp, type StoreHandle, type StoreName } from '../src/index';

const STORES: readonly StoreName[] = ['memory', 'postgres', 'redis'];
const RUNS = 40;
/** Client timeout of every raw request: a hang is a failure, not a stuck CI. */
const TIMEOUT_MS = 15_000;
/** Statuses an answer may have: the handler's 2xx and the documented 4xx. */
const DOCUMENTED = new Set([200, 201, 400, 409, 413, 415, 422]);

/** One generated request. */
interface Hostile {
  readonly method: string;
  /** `Idempotency-Key` header values (none, one, or duplicated), raw. */
  readonly keys: readonly string[];
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly framing: 'exact' | 'truncated' | 'longer-than-declared' | 'invalid-length' | 'chunked' | 'broken-chunked' | 'none';
  readonly extraHeaders: readonly string[];
}

const visible = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });

/**
 * Placeholders of a run's key pool: each run replaces `{{pool0}}`… by keys of its own, so the
 * requests of a run collide with each other and never with another run's.
 */
const POOL = ['{{pool0}}', '{{pool1}}', '{{pool2}}'] as const;

/** Keys: valid ones from a small shared pool (so requests collide), and every kind of bad one. */
function keyArb(pool: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pool) },
    { weight: 2, arbitrary: visible },
    fc.constant(''),
    fc.constant('   '),
    fc.string({ minLength: 256, maxLength: 600, unit: fc.constantFrom('a', 'Z', '9', '-') }),
    fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 5 }).map((s) => `k${s}k`),
    fc.constantFrom('\x7f', 'a\x00b', 'tab\there', 'sp ace'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    fc.constantFrom('clé', '鍵', '🔑🔑', '\u00a0nbsp', 'ﬀ'),
    fc.constantFrom(...pool).map((k) => `"${k}"`),
    fc.constantFrom('"', '""', '"open', 'close"', '"a\\"b"', '"a\\\\b"', '"\\x"', '"a"b"'),
    fc.constantFrom(...pool).map((k) => `${k}\r\nX-Injected: 1`),
    fc.constantFrom('a\r\nIdempotency-Key: b', 'x\nTransfer-Encoding: chunked', 'x\r\n\r\nGET / HTTP/1.1', 'x\rcarriage'),
  );
}

function hostileArb(pool: readonly string[]): fc.Arbitrary<Hostile> {
  const json = fc.jsonValue({ maxDepth: 3 }).map((value) => new TextEncoder().encode(JSON.stringify(value) ?? 'null'));
  return fc.record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constant('POST') }, fc.constantFrom('PATCH', 'PUT', 'GET', 'DELETE', 'OPTIONS', 'post', 'BREW', 'P\x00ST')),
    keys: fc.oneof({ weight: 6, arbitrary: keyArb(pool).map((k) => [k]) }, fc.constant([]), fc.array(keyArb(pool), { minLength: 2, maxLength: 3 })),
    contentType: fc.oneof(
      { weight: 4, arbitrary: fc.constant('application/json') },
      fc.constantFrom(
        undefined,
        'text/plain',
        'application/octet-stream',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/json; charset=bogus',
        'text/plain; charset=latin1',
        ';;;',
        'application/json\r\nX-Injected: 1',
      ),
    ),
    body: fc.oneof(
      { weight: 4, arbitrary: json },
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
      fc.constantFrom('{', '{"amount":', 'not json', '[1,2', 'null', '""', '{"__proto__":{"polluted":1}}').map((s) => new TextEncoder().encode(s)),
      fc.constant(new Uint8Array(0)),
      fc.integer({ min: MAX_REQUEST_BYTES + 1, max: MAX_REQUEST_BYTES * 3 }).map((n) => new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(n) }))),
    ),
    framing: fc.oneof(
      { weight: 6, arbitrary: fc.constant('exact' as const) },
      fc.constantFrom('truncated' as const, 'longer-than-declared' as const, 'invalid-length' as const, 'chunked' as const, 'broken-chunked' as const, 'none' as const),
    ),
    extraHeaders: fc.oneof(
      { weight: 4, arbitrary: fc.constant([]) },
      fc.subarray(['X-Tenant: t1', 'X-Tenant: \u00e9\u00e8', 'Content-Encoding: gzip', 'Transfer-Encoding: gzip', 'Content-Length: 5', 'Expect: 100-continue-not'], { maxLength: 2 }),
    ),
  });
}

/** The request's bytes, framed as generated. */
function encode(request: Hostile): Buffer {
  const head = [`${request.method} /pay HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const key of request.keys) head.push(`Idempotency-Key: ${key}`);
  if (request.contentType !== undefined) head.push(`Content-Type: ${request.contentType}`);
  head.push(...request.extraHeaders);
  const body = Buffer.from(request.body);
  let payload = body;
  switch (request.framing) {
    case 'exact':
      head.push(`Content-Length: ${body.length}`);
      break;
    case 'truncated':
      head.push(`Content-Length: ${body.length + 10}`);
      break;
    case 'longer-than-declared':
      head.push(`Content-Length: ${Math.floor(body.length / 2)}`);
      break;
    case 'invalid-length':
      head.push(`Content-Length: ${['abc', '-1', '1e3', `${body.length}, ${body.length + 1}`, '0x10'][body.length % 5]}`);
      break;
    case 'chunked':
      head.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from(body.length > 0 ? '\r\n0\r\n\r\n' : '\r\n')]);
      break;
    case 'broken-chunked':
      head.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from('zz\r\n'), body]);
      break;
    case 'none':
      break;
  }
  // Header bytes as UTF-8 (the Unicode keys arrive as raw non-ASCII bytes, as a careless client sends them).
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), payload]);
}

/** A readable one-line description of a generated request (bodies by size). */
function summary(request: Hostile): string {
  return `${JSON.stringify(request.method)} keys=${JSON.stringify(request.keys.map((key) => (key.length > 40 ? `${key.slice(0, 40)}…(${key.length})` : key)))} type=${JSON.stringify(request.contentType)} body=${request.body.length}B framing=${request.framing} extra=${JSON.stringify(request.extraHeaders)}`;
}

/** Whether the client left the request incomplete (the server may close without an answer). */
function incomplete(request: Hostile): boolean {
  if (request.framing === 'truncated' || request.framing === 'broken-chunked' || (request.framing === 'chunked' && request.body.length === 0)) return true;
  // Without framing of its own, an extra `Content-Length: 5` is the only length the server sees:
  // fewer bytes than that leave the body unfinished, and the server rightly waits for the rest.
  return request.framing === 'none' && request.extraHeaders.includes('Content-Length: 5') && request.body.length < 5;
}

/** The key the engine sees (Node joins repeated headers with ", "), if it accepts it. */
function serverKey(request: Hostile): string | undefined {
  if (request.keys.length === 0) return undefined;
  try {
    return parseKey(request.keys.join(', '));
  } catch {
    return undefined;
  }
}

/** The `x-tenant` header as the server reads it (UTF-8 bytes seen as latin1; repeats joined). */
function serverTenant(request: Hostile): string | undefined {
  const values = request.extraHeaders.filter((line) => line.startsWith('X-Tenant: ')).map((line) => Buffer.from(line.slice('X-Tenant: '.length), 'utf8').toString('latin1'));
  return values.length === 0 ? undefined : values.join(', ');
}

/**
 * The app's scope of a request: the binding, then the tenant (else `public`). The three bindings
 * of a store share it, and a short generated key with a common body (`{}`, `null`) can come up in
 * two of them: without the binding in the scope, the second would replay the first's record and
 * its 201 would look like an answer without an execution.
 */
function scopeOf(binding: string, tenant: string | undefined): string {
  return `${binding}/${tenant || 'public'}`;
}

/** One idempotent operation: the app's scope and the key (as the handler's context has them). */
function operation(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}

/**
 * Whether `key` (as `tenant`) is stuck, once every request of a case has its answer. A fresh
 * payload answers 422 for an in-flight record as for a completed one (the fingerprint is checked
 * first), so the record itself is read from the store: it must leave `in_progress` within ~5 s (a
 * handler whose client went away may still be finishing; the default lease is 30 s). Then a plain
 * retry with a fresh body must answer 201 (a fresh execution: nothing completed) or 422 (completed
 * for another payload) within 50 attempts — never 409 forever. Answers that status, or why the key
 * is stuck.
 */
async function probe(url: string, store: Store, key: string, tenant: string | undefined, scope: string): Promise<number | string> {
  const id = recordId(DEFAULTS.namespace, scope, key);
  for (let attempt = 0; (await store.get(id, Date.now()))?.state === 'in_progress'; attempt++) {
    if (attempt >= 50) return 'its record is still in_progress after every request was answered';
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    const headers = tenant === undefined ? {} : { 'x-tenant': tenant };
    const { result } = await sendUntilSettled(url, '/pay', { key, headers, json: { probe: randomUUID() }, timeoutMs: TIMEOUT_MS }, { maxAttempts: 50, capMs: 100 });
    return result.status === 201 || result.status === 422 ? result.status : `${result.status} ${result.text()}`;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('hostile input: control', () => {
  it('a claim that is never released is reported stuck (the probe can fail)', async () => {
    // A store that "releases" nothing: after a failed handler the key stays in_progress for the lease.
    const inner = memoryStore();
    const store: Store = { ...inner, delete: async () => true };
    const app = await startApp('express', { options: { store }, handle: async () => Promise.reject(new Error('handler failed')) });
    try {
      const key = `h-${randomUUID().slice(0, 12)}`;
      const request: Hostile = { method: 'POST', keys: [key], contentType: 'application/json', body: new TextEncoder().encode('{}'), framing: 'exact', extraHeaders: [] };
      expect((await sendBytes(app.url, encode(request), { timeoutMs: TIMEOUT_MS })).status).toBe(500);
      expect(await probe(app.url, store, key, undefined, 'public')).toMatch(/still in_progress/);
    } finally {
      await app.close();
    }
  });
});

for (const storeName of STORES) {
  describe(`hostile input: ${storeName}`, () => {
    let handle: StoreHandle;
    beforeAll(async () => {
      handle = await openStore(storeName);
    });
    afterAll(async () => {
      await handle?.close();
    });

    for (const binding of BINDING_NAMES) {
      it(`${storeName} × ${binding}: documented statuses only, no 5xx, no hang, no stuck key`, async () => {
        const executions = new Map<string, number>();
        const app: ReliabilityApp = await startApp(binding, {
          options: { store: handle.store },
          scope: (tenant) => scopeOf(binding, tenant),
          async handle({ context }) {
            if (!context) return { status: 200, json: { guarded: false } };
            const id = `${context.scope}\u0000${context.key}`;
            executions.set(id, (executions.get(id) ?? 0) + 1);
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
            return { status: 201, json: { guarded: true, key: context.key } };
          },
        });
        const statuses = new Map<number, number>();
        const undocumented: string[] = [];
        const probed = new Set<string>();
        const probes = new Map<number, number>();
        const stuck: string[] = [];
        let requests = 0;
        let duplicates = 0;
        const duplicateDetails: string[] = [];
        let lost = 0;
        const numRuns = scaled(RUNS);
        try {
          await fc.assert(
            fc.asyncProperty(
              fc.array(hostileArb(POOL), { minLength: 1, maxLength: 6 }),
              async (generated) => {
                const pool = POOL.map(() => `h-${randomUUID().slice(0, 12)}`);
                const batch = generated.map((request) => ({ ...request, keys: request.keys.map((key) => key.replace(/\{\{pool(\d)\}\}/g, (_, i: string) => pool[Number(i)]!)) }));
                const answers = await Promise.all(
                  batch.map((request) =>
                    sendBytes(app.url, encode(request), { timeoutMs: TIMEOUT_MS, ...(incomplete(request) ? { endAfterMs: 300 } : {}) }).catch((error: Error) => {
                      throw new Error(`${error.message}: ${summary(request)} (batch: ${batch.map(summary).join(' | ')})`);
                    }),
                  ),
                );
                requests += batch.length;
                answers.forEach((answer, i) => {
                  const request = batch[i]!;
                  statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
                  const fine = DOCUMENTED.has(answer.status) || (answer.status === 0 && incomplete(request));
                  if (!fine) undocumented.push(`${answer.status} for ${JSON.stringify(encode(request).subarray(0, 300).toString('latin1'))}: ${answer.raw.subarray(0, 300).toString('latin1')}`);
                });
                // No stuck key: every (scope, key) the engine would accept answers a plain retry
                // (fresh body, same tenant header) with a fresh execution (it never completed) or
                // 422 (it completed for another payload) — within a bound, never 409 forever.
                const executedBefore = new Set(executions.keys());
                const targets = new Map<string, { key: string; tenant: string | undefined }>();
                answers.forEach((answer, i) => {
                  const request = batch[i]!;
                  const key = serverKey(request);
                  if (key === undefined) return;
                  const tenant = serverTenant(request);
                  const id = operation(scopeOf(binding, tenant), key);
                  targets.set(id, { key, tenant });
                  // A 201 comes only from the handler (or its replay): its operation must have executed.
                  if (answer.status === 201 && !executedBefore.has(id)) lost++;
                });
                for (const [id, { key, tenant }] of targets) {
                  probed.add(id);
                  const verdict = await probe(app.url, handle.store, key, tenant, scopeOf(binding, tenant));
                  if (typeof verdict === 'string') {
                    stuck.push(`${JSON.stringify(id)}: ${verdict}`);
                    continue;
                  }
                  probes.set(verdict, (probes.get(verdict) ?? 0) + 1);
                  // An operation that already ran to completion must not run again for the probe (422).
                  if (verdict === 201 && executedBefore.has(id)) {
                    duplicates++;
                    duplicateDetails.push(`${JSON.stringify(id)}: ${batch.filter((request) => serverKey(request) === key).map(summary).join(' | ')}`);
                  }
                }
                return true;
              },
            ),
            { numRuns, endOnFailure: true },
          );
        } finally {
          await app.close();
        }
        const fiveXX = [...statuses].filter(([status]) => status >= 500).reduce((a, [, n]) => a + n, 0);
        const text = (map: Map<number, number>) => [...map].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
        writeResult({
          scenario: 'hostile',
          store: handle.label,
          binding,
          load: `${numRuns} fast-check runs, ${requests} raw requests (up to 6 at once)`,
          faults: 'malformed keys, methods, content types, bodies, framing',
          executions: [...executions.values()].reduce((a, b) => a + b, 0),
          distinctKeys: executions.size,
          duplicates,
          lost,
          fiveXXOutsideOutages: fiveXX,
          notes: `statuses ${text(statuses)}; ${probed.size} keys probed afterwards: ${text(probes)}; ${stuck.length} stuck; ${undocumented.length} undocumented answers`,
        });
        expect(app.errors).toEqual([]);
        expect(undocumented.slice(0, 5)).toEqual([]);
        expect(fiveXX).toBe(0);
        expect(stuck.slice(0, 5)).toEqual([]);
        expect(duplicateDetails.slice(0, 5)).toEqual([]);
        expect(duplicates).toBe(0);
        expect(lost).toBe(0);
      });
    }
  });
}
