import { gunzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IdempotencyOptions } from '@oncely/core';
import { expect } from 'vitest';
import { requestParts, sendRaw, until, type HttpResult, type SendOptions } from './client';
import { fixtures } from './fixtures';
import type { ChargeAnswer, Harness, RouteName } from './harness';
import { unreachableStore, type CountingStore } from './stores';

/** What a scenario gets: the running app's URL, the shared harness and store, and a client. */
export interface ScenarioContext {
  readonly url: string;
  readonly harness: Harness;
  readonly store: CountingStore;
  /** A fresh random key. */
  key(): string;
  post(path: string, options?: SendOptions): Promise<HttpResult>;
  get(path: string, options?: SendOptions): Promise<HttpResult>;
}

/** One behaviour every binding must show over real HTTP. */
export interface HttpScenario {
  readonly name: string;
  /** Engine options this scenario needs on top of the suite's (store, `maxBodyBytes`, `onEvent`). */
  readonly options?: Partial<IdempotencyOptions>;
  run(t: ScenarioContext): Promise<void>;
}

type Charge = ChargeAnswer['json'];
type Problem = { type: string; title: string; status: number; detail: string; code: string };

const charge = { amount: 1500, currency: 'usd' };

function expectProblem(res: HttpResult, status: number, code: string): Problem {
  expect(res.status, `status of a ${code} problem`).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(Number(res.headers['content-length'])).toBe(res.body.length);
  const problem = res.json<Problem>();
  expect(problem).toMatchObject({ type: `urn:oncely:problem:${code}`, status, code });
  expect(typeof problem.title).toBe('string');
  return problem;
}

function expectReplayOf(replay: HttpResult, original: HttpResult): void {
  expect(original.headers['idempotent-replayed'], 'the first answer is not marked replayed').toBeUndefined();
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(replay.status).toBe(original.status);
  expect(replay.body.equals(original.body), 'replayed body bytes equal the original').toBe(true);
  expect(replay.headers['content-type']).toBe(original.headers['content-type']);
  expect(Number(replay.headers['content-length'])).toBe(replay.body.length);
}

function expectRetryAfter(res: HttpResult): void {
  expect(res.headers['retry-after']).toMatch(/^\d+$/);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

function expectExecutions(harness: Harness, route: RouteName, count: number): void {
  expect(harness.executions(route), `executions of ${route}`).toBe(count);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The scenarios, by id. The app under test implements these routes (see the package README):
 * `POST /charges` (JSON in, 201 + Location + {@link ChargeAnswer} out), `GET /charges`,
 * `POST /binary`, `/gzip`, `/slow` (waits on the harness gate), `/fail` (throws), `/error500`,
 * `/cookie`, `/large`, `/large-stream` and `/stream`. Every scope comes from `x-tenant` (default
 * `public`); `x-scope-fail: throw | empty` makes the scope function fail.
 */
export const httpScenarios = {
  missingKey: {
    name: 'a guarded request without a key → 400 missing_key (problem+json), nothing runs',
    async run({ post, harness }) {
      const res = await post('/charges', { json: charge });
      expectProblem(res, 400, 'missing_key');
      expectExecutions(harness, 'charges', 0);
    },
  },

  invalidKeys: {
    name: 'invalid keys (too long, spaces, control characters, non-ASCII, bad quoting) → 400 invalid_key; never a 500',
    async run({ post, harness, url }) {
      const invalid = ['k'.repeat(256), 'has space', 'tab\there', 'caf\u00e9', '"unterminated', '""', '"bad\\qescape"', '"a"b'];
      for (const key of invalid) {
        const res = await post('/charges', { key, json: charge });
        expectProblem(res, 400, 'invalid_key');
      }
      expectExecutions(harness, 'charges', 0);
      // Bytes Node's parser refuses (C0 controls, DEL) never reach the app: still a 400, not a 500.
      expect(await sendRaw(url, 'POST /charges HTTP/1.1\r\nIdempotency-Key: a\x01b')).toBe(400);
      expect(await sendRaw(url, 'POST /charges HTTP/1.1\r\nIdempotency-Key: a\x7fb')).toBe(400);
      const longest = await post('/charges', { key: 'k'.repeat(255), json: charge });
      expect(longest.status).toBe(201);
    },
  },

  quotedKey: {
    name: 'an RFC 8941 quoted key "abc" is the same key as bare abc',
    async run({ post, key, harness }) {
      const k = key();
      const quoted = await post('/charges', { key: `"${k}"`, json: charge });
      expect(quoted.status).toBe(201);
      expect(quoted.json<Charge>().key).toBe(k);
      const bare = await post('/charges', { key: k, json: charge });
      expectReplayOf(bare, quoted);
      expectExecutions(harness, 'charges', 1);
    },
  },

  replayJson: {
    name: 'a retry replays the JSON answer byte for byte, with Location, and Idempotent-Replayed: true only on the replay',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/charges', { key: k, json: charge });
      expect(first.status).toBe(201);
      const body = first.json<Charge>();
      expect(body).toMatchObject({ id: 'ch_1', n: 1, amount: 1500, key: k, scope: 'public', protected: true });
      expect(body.childKey).toMatch(/^[0-9a-f]{32}\.psp$/);
      const replay = await post('/charges', { key: k, json: charge });
      expectReplayOf(replay, first);
      expect(replay.headers.location).toBe('/charges/ch_1');
      expectExecutions(harness, 'charges', 1);
    },
  },

  replayBinary: {
    name: 'binary bodies replay byte for byte',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/binary', { key: k });
      expect(first.status).toBe(200);
      expect(first.body.equals(Buffer.from(fixtures.binary))).toBe(true);
      const replay = await post('/binary', { key: k });
      expectReplayOf(replay, first);
      expectExecutions(harness, 'binary', 1);
    },
  },

  replayGzip: {
    name: 'gzip bodies replay byte for byte with Content-Encoding, never re-encoded',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/gzip', { key: k });
      expect(first.headers['content-encoding']).toBe('gzip');
      expect(first.body.equals(Buffer.from(fixtures.gzip))).toBe(true);
      const replay = await post('/gzip', { key: k });
      expectReplayOf(replay, first);
      expect(replay.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(replay.body).toString('utf8')).toBe(fixtures.gzipJson);
      expectExecutions(harness, 'gzip', 1);
    },
  },

  replayStream: {
    name: 'streamed bodies are captured whole and replay byte for byte',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/stream', { key: k });
      expect(first.status).toBe(200);
      expect(first.body.equals(Buffer.from(fixtures.streamBody))).toBe(true);
      const replay = await post('/stream', { key: k });
      expectReplayOf(replay, first);
      expectExecutions(harness, 'stream', 1);
    },
  },

  inProgress: {
    name: 'a retry while the first is in flight → 409 in_progress with Retry-After; afterwards it replays',
    async run({ post, key, harness }) {
      const k = key();
      const first = post('/slow', { key: k });
      await until(() => harness.executions('slow') === 1, 'the first request to start');
      const conflict = await post('/slow', { key: k });
      expectProblem(conflict, 409, 'in_progress');
      expectRetryAfter(conflict);
      expect(conflict.headers['idempotent-replayed']).toBeUndefined();
      harness.open();
      const original = await first;
      expect(original.status).toBe(200);
      expectReplayOf(await post('/slow', { key: k }), original);
      expectExecutions(harness, 'slow', 1);
    },
  },

  waitMode: {
    name: 'wait mode: a retry during the first waits, then gets the replay',
    options: { wait: { timeoutMs: 10_000, initialPollMs: 5, maxPollMs: 20 } },
    async run({ post, key, harness, store }) {
      const k = key();
      const first = post('/slow', { key: k });
      await until(() => harness.executions('slow') === 1, 'the first request to start');
      const polls = store.calls.get;
      const second = post('/slow', { key: k });
      await until(() => store.calls.get > polls, 'the second request to wait');
      harness.open();
      const [original, replay] = await Promise.all([first, second]);
      expect(original.status).toBe(200);
      expectReplayOf(replay, original);
      expectExecutions(harness, 'slow', 1);
    },
  },

  concurrent: {
    name: 'N concurrent identical requests → exactly one execution; the others get 409 in_progress',
    async run({ post, key, harness }) {
      const k = key();
      const n = 10;
      let answered = 0;
      const all = Array.from({ length: n }, () =>
        post('/slow', { key: k, json: charge }).then((res) => {
          answered++;
          return res;
        }),
      );
      await until(() => harness.executions('slow') === 1 && answered === n - 1, 'one execution and n-1 answers');
      harness.open();
      const answers = await Promise.all(all);
      expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
      for (const res of answers.filter((res) => res.status !== 200)) expectProblem(res, 409, 'in_progress');
      expectExecutions(harness, 'slow', 1);
    },
  },

  concurrentWaiting: {
    name: 'N concurrent identical requests in wait mode → one execution, N identical answers',
    options: { wait: { timeoutMs: 10_000, initialPollMs: 5, maxPollMs: 20 } },
    async run({ post, key, harness }) {
      const k = key();
      const all = Array.from({ length: 10 }, () => post('/slow', { key: k }));
      await until(() => harness.executions('slow') === 1, 'one execution');
      harness.open();
      const answers = await Promise.all(all);
      const original = answers.find((res) => res.headers['idempotent-replayed'] === undefined);
      expect(original?.status).toBe(200);
      expect(answers.filter((res) => res.headers['idempotent-replayed'] === 'true')).toHaveLength(9);
      for (const res of answers) expect(res.body.equals(original!.body)).toBe(true);
      expectExecutions(harness, 'slow', 1);
    },
  },

  keyReused: {
    name: 'the same key with a different body or path → 422 key_reused; the same JSON reformatted replays',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/charges', { key: k, json: charge });
      expect(first.status).toBe(201);
      expectProblem(await post('/charges', { key: k, json: { ...charge, amount: 9900 } }), 422, 'key_reused');
      expectProblem(await post('/cookie', { key: k, json: charge }), 422, 'key_reused');
      const reformatted = await post('/charges', {
        key: k,
        body: '{\n  "currency": "usd",\n  "amount": 1500\n}',
        headers: { 'content-type': 'application/json' },
      });
      expectReplayOf(reformatted, first);
      expectExecutions(harness, 'charges', 1);
      expectExecutions(harness, 'cookie', 0);
    },
  },

  serverErrorReleases: {
    name: 'a 5xx answer is not stored: the key is released and a retry executes again',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/error500', { key: k });
      expect(first.status).toBe(500);
      const retry = await post('/error500', { key: k });
      expect(retry.status).toBe(500);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(retry.json<{ n: number }>().n).toBe(2);
      expectExecutions(harness, 'error500', 2);
    },
  },

  thrownErrorReleases: {
    name: "a thrown error reaches the framework's error handling and releases the key: a retry executes again",
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/fail', { key: k });
      expect(first.status).toBe(500);
      expect(first.headers['content-type'] ?? '').not.toMatch(/problem\+json/);
      expect(harness.errors).toHaveLength(1);
      expect((harness.errors[0] as Error).message).toBe('boom');
      const retry = await post('/fail', { key: k });
      expect(retry.status).toBe(500);
      expectExecutions(harness, 'fail', 2);
    },
  },

  tenantIsolation: {
    name: 'scopes isolate keys: the same key from two tenants executes twice, each replays its own',
    async run({ post, key, harness }) {
      const k = key();
      const a = await post('/charges', { key: k, json: charge, headers: { 'x-tenant': 'tenant-a' } });
      const b = await post('/charges', { key: k, json: charge, headers: { 'x-tenant': 'tenant-b' } });
      expect(a.json<Charge>()).toMatchObject({ n: 1, tenant: 'tenant-a', scope: 'tenant-a' });
      expect(b.json<Charge>()).toMatchObject({ n: 2, tenant: 'tenant-b', scope: 'tenant-b' });
      expect(b.headers['idempotent-replayed']).toBeUndefined();
      expectReplayOf(await post('/charges', { key: k, json: charge, headers: { 'x-tenant': 'tenant-a' } }), a);
      expectReplayOf(await post('/charges', { key: k, json: charge, headers: { 'x-tenant': 'tenant-b' } }), b);
      expectExecutions(harness, 'charges', 2);
    },
  },

  setCookieNotReplayed: {
    name: 'Set-Cookie reaches the first client only; it is never stored nor replayed',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/cookie', { key: k });
      expect(first.headers['set-cookie']?.map((cookie) => cookie.toLowerCase())).toEqual(['session=s1; path=/; httponly']);
      const replay = await post('/cookie', { key: k });
      expectReplayOf(replay, first);
      expect(replay.headers['set-cookie']).toBeUndefined();
      expectExecutions(harness, 'cookie', 1);
    },
  },

  storeDown: {
    name: 'store down → 503 store_unavailable with Retry-After; nothing runs (fail closed)',
    options: { store: unreachableStore() },
    async run({ post, key, harness }) {
      const res = await post('/charges', { key: key(), json: charge });
      expectProblem(res, 503, 'store_unavailable');
      expectRetryAfter(res);
      expectExecutions(harness, 'charges', 0);
    },
  },

  storeDownProceed: {
    name: "store down with onStoreError: 'proceed' → the handler runs unprotected (isProtected false)",
    options: { store: unreachableStore(), onStoreError: 'proceed' },
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/charges', { key: k, json: charge });
      expect(first.status).toBe(201);
      expect(first.json<Charge>()).toMatchObject({ key: k, protected: false });
      expect((await post('/charges', { key: k, json: charge })).status).toBe(201);
      expectExecutions(harness, 'charges', 2);
    },
  },

  largeBody: {
    name: 'a body over maxBodyBytes reaches the client whole; its replay keeps the status with response_not_stored, never re-executing',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/large', { key: k });
      expect(first.status).toBe(200);
      expect(first.body.equals(Buffer.from(fixtures.large)), 'the client got every byte').toBe(true);
      const replay = await post('/large', { key: k });
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expectProblem(replay, 200, 'response_not_stored');
      expectExecutions(harness, 'large', 1);
    },
  },

  largeStream: {
    name: 'a streamed body over maxBodyBytes reaches the client whole; its replay is response_not_stored',
    async run({ post, key, harness }) {
      const k = key();
      const first = await post('/large-stream', { key: k });
      expect(first.status).toBe(200);
      expect(first.body.equals(Buffer.from(fixtures.large)), 'the client got every byte').toBe(true);
      const replay = await post('/large-stream', { key: k });
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expectProblem(replay, 200, 'response_not_stored');
      expectExecutions(harness, 'large-stream', 1);
    },
  },

  getPassesThrough: {
    name: 'GET passes through untouched: no key needed, never replayed, scope never computed',
    async run({ get, key, harness }) {
      const k = key();
      const plain = await get('/charges');
      const keyed = await get('/charges', { key: k });
      const again = await get('/charges', { key: k });
      const scopeWouldFail = await get('/charges', { headers: { 'x-scope-fail': 'throw' } });
      for (const res of [plain, keyed, again, scopeWouldFail]) {
        expect(res.status).toBe(200);
        expect(res.headers['idempotent-replayed']).toBeUndefined();
      }
      expect(scopeWouldFail.json<{ n: number }>().n).toBe(4);
      expect(harness.errors).toHaveLength(0);
      expectExecutions(harness, 'list', 4);
    },
  },

  optionalKey: {
    name: 'required: false → a keyless POST passes through and runs every time',
    options: { required: false },
    async run({ post, harness }) {
      expect((await post('/charges', { json: charge })).status).toBe(201);
      const second = await post('/charges', { json: charge });
      expect(second.status).toBe(201);
      expect(second.json<Charge>()).toMatchObject({ n: 2, key: null });
      expectExecutions(harness, 'charges', 2);
    },
  },

  scopeErrors: {
    name: "a scope function that throws or returns '' is a programmer error: it goes to the framework's error handling",
    async run({ post, key, harness }) {
      const thrown = await post('/charges', { key: key(), json: charge, headers: { 'x-scope-fail': 'throw' } });
      expect(thrown.status).toBe(500);
      expect(thrown.headers['content-type'] ?? '').not.toMatch(/problem\+json/);
      const empty = await post('/charges', { key: key(), json: charge, headers: { 'x-scope-fail': 'empty' } });
      expect(empty.status).toBe(500);
      expect(harness.errors).toHaveLength(2);
      expect((harness.errors[0] as Error).message).toBe('scope: no tenant');
      expect(harness.errors[1]).toBeInstanceOf(TypeError);
      expectExecutions(harness, 'charges', 0);
    },
  },

  clientDisconnects: {
    name: 'a client that drops the connection mid-request gets the completed work replayed on retry',
    async run({ url, post, key, harness }) {
      const k = key();
      const parts = requestParts(url, '/slow', { key: k });
      const dropped = httpRequest(parts.options);
      dropped.on('error', () => undefined);
      dropped.end();
      await until(() => harness.executions('slow') === 1, 'the first request to start');
      dropped.destroy();
      await sleep(20);
      harness.open();
      await until(() => harness.events.some((event) => event.type === 'executed'), 'the dropped request to complete');
      const retry = await post('/slow', { key: k });
      expect(retry.status).toBe(200);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.json<{ n: number }>().n).toBe(1);
      expectExecutions(harness, 'slow', 1);
    },
  },

  sendsAfterRecord: {
    name: 'the answer is held until its record is written, so a retry right after it replays',
    async run({ post, key, harness, store }) {
      const k = key();
      const release = store.holdCompletions();
      let arrived = false;
      const first = post('/charges', { key: k, json: charge }).then((res) => {
        arrived = true;
        return res;
      });
      await until(() => store.calls.update === 1, 'the completion write to start');
      await sleep(30);
      expect(arrived, 'no answer before the record is written').toBe(false);
      release();
      const original = await first;
      expectReplayOf(await post('/charges', { key: k, json: charge }), original);
      expectExecutions(harness, 'charges', 1);
    },
  },
} satisfies Record<string, HttpScenario>;

/** Id of a scenario in {@link httpScenarios}. */
export type HttpScenarioId = keyof typeof httpScenarios;

/** A fresh random key. */
export const randomKey = (): string => randomUUID();

