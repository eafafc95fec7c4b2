/**
 * The admin commands against one real backend, written once and run for PostgreSQL and Redis
 * (each test file passes how to reach its store). Every test uses its own scope, so tests never
 * see each other's records; `stuck` filters by scope for the same reason.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Store, utf8 } from '@oncely/core';
import { describe, expect, it } from 'vitest';
import type { RecordJson } from '../../src/format';
import { oncely } from './cli';
import { retry, type Seed, seedCompleted, seedInProgress, stored } from './seed';

/** How the scenarios reach one backend. */
export interface Backend {
  readonly name: 'postgres' | 'redis';
  /** `--url ...` plus `--table`/`--prefix`: where the seeded records are. */
  args(): string[];
  /** The same store, for seeding and checking effects. */
  store(): Store;
}

const MINUTE = 60_000;
const JSON_RESPONSE = { status: 201, headers: [['content-type', 'application/json']] as const, body: utf8('{"id":"ch_1","amount":100}') };

function seed(overrides: Partial<Seed> = {}): Seed {
  return { scope: `acct_${randomUUID()}`, key: `order-${randomUUID()}`, ...overrides };
}

const at = (record: Seed): string[] => ['--scope', record.scope, '--key', record.key];

interface OutcomeJson {
  command: string;
  ok: boolean;
  backend: string;
  namespace: string;
  outcome: string;
  reason: string | null;
  before: RecordJson | null;
  after: RecordJson | null;
  record: RecordJson | null;
}

/** The fields every `--json` record has, whatever its state. */
const RECORD_FIELDS = [
  'id', 'key', 'scope', 'state', 'token', 'fingerprint', 'createdAt', 'createdAtMs', 'expiresAt', 'expiresAtMs',
  'leaseUntil', 'leaseUntilMs', 'leaseLeftMs', 'completedAt', 'completedAtMs', 'response', 'result', 'resultBytes',
];

export function adminScenarios(backend: Backend): void {
  const run = (...argv: string[]) => oncely([...argv, ...backend.args()]);

  describe(`inspect (${backend.name})`, () => {
    it('shows a completed record: state, key, scope, times, status, headers, body preview', async () => {
      const record = seed();
      await seedCompleted(backend.store(), record, JSON_RESPONSE);
      const result = await run('inspect', ...at(record));
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^state\s+completed$/m);
      expect(result.stdout).toMatch(new RegExp(`^key\\s+${record.key}$`, 'm'));
      expect(result.stdout).toMatch(new RegExp(`^scope\\s+${record.scope}$`, 'm'));
      expect(result.stdout).toMatch(/^created\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(/m);
      expect(result.stdout).toMatch(/^status\s+201$/m);
      expect(result.stdout).toMatch(/^headers\s+content-type: application\/json$/m);
      expect(result.stdout).toContain('26 bytes: {"id":"ch_1","amount":100}');
    });

    it('--json: one document, every field named and present, body base64, times ISO and epoch ms', async () => {
      const record = seed();
      await seedCompleted(backend.store(), record, JSON_RESPONSE);
      const result = await run('inspect', ...at(record), '--json');
      expect(result.code).toBe(0);
      const doc = result.json<{ command: string; ok: boolean; found: boolean; backend: string; namespace: string; record: RecordJson }>();
      expect(doc).toMatchObject({ command: 'inspect', ok: true, found: true, backend: backend.name, namespace: 'oncely' });
      expect(Object.keys(doc.record).sort()).toEqual([...RECORD_FIELDS].sort());
      const fromStore = await stored(backend.store(), record);
      expect(fromStore?.state).toBe('completed');
      expect(doc.record).toMatchObject({ key: record.key, scope: record.scope, state: 'completed', token: fromStore?.token, id: fromStore?.id, leaseUntil: null, leaseLeftMs: null });
      expect(doc.record.createdAt).toBe(new Date(doc.record.createdAtMs).toISOString());
      expect(doc.record.expiresAt).toBe(new Date(doc.record.expiresAtMs).toISOString());
      expect(doc.record.completedAt).toBe(new Date(doc.record.completedAtMs as number).toISOString());
      expect(doc.record.createdAtMs).toBe(fromStore?.createdAt);
      expect(doc.record.response).toEqual({
        status: 201,
        headers: [['content-type', 'application/json']],
        body: Buffer.from('{"id":"ch_1","amount":100}').toString('base64'),
        bodyBytes: 26,
      });
    });

    it('a binary body is not printed, and comes back byte-exact in --json', async () => {
      const record = seed();
      const body = new Uint8Array([0x00, 0x01, 0xfe, 0xff, 0x00, 0x1b]);
      await seedCompleted(backend.store(), record, { status: 200, headers: [['content-type', 'application/octet-stream']], body });
      const text = await run('inspect', ...at(record));
      expect(text.stdout).toMatch(/^body\s+6 bytes \(binary, not shown\)$/m);
      const json = await run('inspect', ...at(record), '--json');
      expect(Buffer.from(json.json<{ record: RecordJson }>().record.response?.body ?? '', 'base64')).toEqual(Buffer.from(body));
    });

    it('an in-progress claim shows its lease (run out for a claim made 10 minutes ago)', async () => {
      const record = seed({ at: Date.now() - 10 * MINUTE });
      await seedInProgress(backend.store(), record);
      const result = await run('inspect', ...at(record));
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^state\s+in_progress$/m);
      expect(result.stdout).toMatch(/^lease\s+ran out \d+m( \d+s)? ago \(until /m);
      const doc = (await run('inspect', ...at(record), '--json')).json<{ record: RecordJson }>();
      expect(doc.record.leaseLeftMs).toBeLessThan(0);
      expect(doc.record.response).toBeNull();
      expect(doc.record.completedAt).toBeNull();
    });

    it('not found: exit 1, and ok false / found false in --json', async () => {
      const record = seed();
      const text = await run('inspect', ...at(record));
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`not found: no live record for key "${record.key}" in scope "${record.scope}"`);
      const json = await run('inspect', ...at(record), '--json');
      expect(json.code).toBe(1);
      expect(json.json()).toMatchObject({ command: 'inspect', ok: false, found: false, record: null });
    });

    it('--namespace: records live in the namespace the application used', async () => {
      const record = seed({ namespace: 'shop' });
      await seedCompleted(backend.store(), record, JSON_RESPONSE);
      expect((await run('inspect', ...at(record))).code).toBe(1);
      const found = await run('inspect', ...at(record), '--namespace', 'shop', '--json');
      expect(found.code).toBe(0);
      expect(found.json()).toMatchObject({ namespace: 'shop', found: true });
    });
  });

  describe(`stuck (${backend.name})`, () => {
    it('lists in-progress claims older than --older-than, not newer ones nor completed ones', async () => {
      const scope = `acct_${randomUUID()}`;
      const old = seed({ scope, key: 'old-claim', at: Date.now() - 10 * MINUTE });
      const fresh = seed({ scope, key: 'fresh-claim' });
      const done = seed({ scope, key: 'old-done', at: Date.now() - 10 * MINUTE });
      await seedInProgress(backend.store(), old);
      await seedInProgress(backend.store(), fresh);
      await seedCompleted(backend.store(), done, JSON_RESPONSE);

      const json = await run('stuck', '--older-than', '5m', '--json');
      expect(json.code).toBe(0);
      const doc = json.json<{ command: string; ok: boolean; olderThanMs: number; limit: number; count: number; truncated: boolean; records: RecordJson[] }>();
      expect(doc).toMatchObject({ command: 'stuck', ok: true, olderThanMs: 5 * MINUTE, limit: 100 });
      expect(doc.count).toBe(doc.records.length);
      const mine = doc.records.filter((record) => record.scope === scope);
      expect(mine.map((record) => record.key)).toEqual(['old-claim']);
      expect(mine[0]?.state).toBe('in_progress');

      const text = await run('stuck', '--older-than', '300000');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^KEY\s+SCOPE\s+CREATED\s+AGE\s+LEASE\s+EXPIRES$/m);
      expect(text.stdout).toMatch(new RegExp(`^old-claim\\s+${scope}\\s+\\S+Z\\s+10m`, 'm'));
      expect(text.stdout).not.toContain('fresh-claim');
      expect(text.stdout).not.toContain('old-done');
      expect(text.stdout).toMatch(/in-progress claims? older than 5m/);
    });

    it('--limit: oldest first, and says when the limit was reached', async () => {
      const scope = `acct_${randomUUID()}`;
      // Older than anything else the tests make, so it is first in the whole store.
      await seedInProgress(backend.store(), seed({ scope, key: 'oldest', at: Date.now() - 20 * 60 * MINUTE }));
      await seedInProgress(backend.store(), seed({ scope, key: 'older', at: Date.now() - 19 * 60 * MINUTE }));
      const json = await run('stuck', '--older-than', '1h', '--limit', '1', '--json');
      const doc = json.json<{ count: number; truncated: boolean; records: RecordJson[] }>();
      expect(doc.count).toBe(1);
      expect(doc.truncated).toBe(true);
      expect(doc.records[0]).toMatchObject({ scope, key: 'oldest' });
      const text = await run('stuck', '--older-than', '1h', '--limit', '1');
      expect(text.stdout).toContain('--limit 1 reached: there may be more');
    });
  });

  describe(`release (${backend.name})`, () => {
    it('releases an in-progress claim: the record is gone and a retry executes afresh', async () => {
      const record = seed({ at: Date.now() - 10 * MINUTE });
      await seedInProgress(backend.store(), record);
      const result = await run('release', ...at(record));
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^released: key ".*" in scope ".*" \(it was in_progress/);
      expect(await stored(backend.store(), record)).toBeNull();
      expect(await retry(backend.store(), record)).toMatchObject({ outcome: 'executed', status: 299 });
    });

    it('refuses a completed record unless --include-completed (exit 1, record kept)', async () => {
      const record = seed();
      await seedCompleted(backend.store(), record, JSON_RESPONSE);
      const refused = await run('release', ...at(record), '--json');
      expect(refused.code).toBe(1);
      const doc = refused.json<OutcomeJson>();
      expect(doc).toMatchObject({ command: 'release', ok: false, outcome: 'refused', reason: 'completed', before: null, after: null });
      expect(doc.record?.state).toBe('completed');
      expect((await stored(backend.store(), record))?.state).toBe('completed');
      expect((await run('release', ...at(record))).stdout).toContain('pass --include-completed');

      const released = await run('release', ...at(record), '--include-completed', '--json');
      expect(released.code).toBe(0);
      expect(released.json<OutcomeJson>()).toMatchObject({ ok: true, outcome: 'released', reason: null, record: null });
      expect(released.json<OutcomeJson>().before?.state).toBe('completed');
      expect(await stored(backend.store(), record)).toBeNull();
    });

    it('--token: refused when the record has another token, released with the one inspect showed', async () => {
      const record = seed();
      await seedInProgress(backend.store(), record);
      const wrong = await run('release', ...at(record), '--token', 'not-the-token');
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toMatch(/^refused: the record's token is [0-9a-f]+, not the --token given/);
      expect((await stored(backend.store(), record))?.state).toBe('in_progress');
      const token = (await run('inspect', ...at(record), '--json')).json<{ record: RecordJson }>().record.token;
      const right = await run('release', ...at(record), '--token', token);
      expect(right.code).toBe(0);
      expect(await stored(backend.store(), record)).toBeNull();
    });

    it('not found: exit 1', async () => {
      const result = await run('release', ...at(seed()), '--json');
      expect(result.code).toBe(1);
      expect(result.json()).toMatchObject({ ok: false, outcome: 'not_found', before: null, record: null });
    });
  });

  describe(`complete (${backend.name})`, () => {
    it('force-completes a claim with status, headers and a binary --body-file; retries replay it byte for byte', async () => {
      const record = seed({ at: Date.now() - 10 * MINUTE });
      await seedInProgress(backend.store(), record);
      const dir = await mkdtemp(join(tmpdir(), 'oncely-cli-'));
      const body = new Uint8Array([0x7b, 0x00, 0xff, 0x7d]);
      await writeFile(join(dir, 'body.bin'), body);
      const result = await run('complete', ...at(record), '--status', '202', '--header', 'Content-Type: application/octet-stream', '--header', 'x-note:  manual ', '--body-file', join(dir, 'body.bin'), '--json');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const doc = result.json<OutcomeJson>();
      expect(doc).toMatchObject({ command: 'complete', ok: true, outcome: 'completed', reason: null, record: null });
      expect(doc.before?.state).toBe('in_progress');
      expect(doc.after?.response).toEqual({
        status: 202,
        headers: [['content-type', 'application/octet-stream'], ['x-note', 'manual']],
        body: Buffer.from(body).toString('base64'),
        bodyBytes: 4,
      });
      const after = await stored(backend.store(), record);
      expect(after?.state === 'completed' ? after.response : undefined).toEqual({ status: 202, headers: [['content-type', 'application/octet-stream'], ['x-note', 'manual']], body });
      const replay = await retry(backend.store(), record);
      expect(replay.outcome).toBe('replayed');
      expect(replay.status).toBe(202);
      expect(replay.headers).toContainEqual(['content-type', 'application/octet-stream']);
    });

    it('--body text, human output shows the new record', async () => {
      const record = seed();
      await seedInProgress(backend.store(), record);
      const result = await run('complete', ...at(record), '--status', '200', '--body', 'done by hand');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^completed: key ".*" in scope ".*"; retries now replay status 200$/m);
      expect(result.stdout).toMatch(/^body\s+12 bytes: done by hand$/m);
      expect(await retry(backend.store(), record)).toMatchObject({ outcome: 'replayed', status: 200, body: 'done by hand' });
    });

    it('refuses a completed record, and not found is exit 1', async () => {
      const record = seed();
      await seedCompleted(backend.store(), record, JSON_RESPONSE);
      const refused = await run('complete', ...at(record), '--status', '200', '--json');
      expect(refused.code).toBe(1);
      expect(refused.json()).toMatchObject({ outcome: 'refused', reason: 'completed' });
      expect(await retry(backend.store(), record)).toMatchObject({ outcome: 'replayed', status: 201 });
      expect((await run('complete', ...at(seed()), '--status', '200')).code).toBe(1);
    });

    it('a status or header core refuses is a usage error (exit 2) and writes nothing', async () => {
      const record = seed();
      await seedInProgress(backend.store(), record);
      const status = await run('complete', ...at(record), '--status', '700');
      expect(status.code).toBe(2);
      expect(status.stderr).toMatch(/^oncely: response\.status must be a whole number 100-599, got 700\.\n$/);
      const header = await run('complete', ...at(record), '--status', '200', '--header', 'bad name: x');
      expect(header.code).toBe(2);
      expect(header.stderr).toContain('invalid header name');
      expect((await stored(backend.store(), record))?.state).toBe('in_progress');
    });
  });

  describe(`migrate and purge (${backend.name})`, () => {
    it(backend.name === 'postgres' ? 'migrate is idempotent' : 'migrate: nothing to migrate, exit 0', async () => {
      const result = await run('migrate', '--json');
      expect(result.code).toBe(0);
      expect(result.json()).toMatchObject({ command: 'migrate', ok: true, backend: backend.name, migrated: backend.name === 'postgres' });
      const text = await run('migrate');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(backend.name === 'postgres' ? /^migrated: table ".*" is ready/ : /^nothing to migrate: Redis needs no schema/);
    });
  });
}
