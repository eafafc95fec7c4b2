/**
 * Atomic mode against real crashes. Each payment runs in a child process (test/crash/child.ts) that
 * reports every step and waits; the parent SIGKILLs it between two steps, then retries the same key
 * with fresh children until one answers (the lease is 500 ms, so a dead owner's claim is taken over
 * quickly). Whatever the crash point, exactly one charge row exists per key, the record is completed
 * with the response of the run that committed, and that is what the client finally gets.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundledChild, bundleChild } from '../../../vitest.child';
import type { ChildMessage, CrashStep } from './crash/child';
import { DATABASE_URL, createTable, testPool, uniqueTable } from './support/db';
import { sleep } from './support/http';

const LEASE_MS = 500;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
let bundle: BundledChild | undefined;

const admin = testPool({ max: 2 });
const table = uniqueTable('crash');
const charges = uniqueTable('crash_charges');
let dropTable: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  // The child runs the current sources: bundled here (pg stays external, resolved from this package).
  bundle = await bundleChild(here('./crash/child.ts'), here('..'), ['pg']);
  dropTable = await createTable(admin, table);
  await admin.query(`CREATE TABLE "${charges}" (id serial PRIMARY KEY, idempotency_key text NOT NULL, charge_id text NOT NULL, pid integer NOT NULL)`);
});

afterAll(async () => {
  await dropTable();
  await admin.query(`DROP TABLE IF EXISTS "${charges}"`);
  await admin.end();
  bundle?.remove();
});

interface ChildAnswer {
  readonly status: number;
  readonly outcome: string;
  readonly body: string;
  readonly pid: number;
}

type RunResult =
  | { readonly killed: true; readonly pid: number; readonly steps: CrashStep[] }
  | { readonly killed: false; readonly pid: number; readonly steps: CrashStep[]; readonly answer: ChildAnswer };

/** Runs one request for `key` in a child; SIGKILLs it right after it reports `crashAt`. */
function runChild(key: string, crashAt?: CrashStep, mode: 'atomic' | 'plain' = 'atomic'): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child: ChildProcess = fork(bundle!.script, [], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, DATABASE_URL, ONCELY_TABLE: table, ONCELY_CHARGES: charges, ONCELY_KEY: key, ONCELY_LEASE_MS: String(LEASE_MS), ONCELY_MODE: mode },
    });
    const pid = child.pid ?? -1;
    const steps: CrashStep[] = [];
    let answer: ChildAnswer | undefined;
    let failure: string | undefined;
    let killed = false;
    child.on('message', (message: ChildMessage) => {
      if ('step' in message) {
        steps.push(message.step);
        if (message.step === crashAt) {
          killed = true;
          child.kill('SIGKILL');
        } else {
          child.send('go');
        }
      } else if ('done' in message) {
        answer = message.done;
      } else {
        failure = message.failed;
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (killed && signal === 'SIGKILL') return resolve({ killed: true, pid, steps });
      if (answer) return resolve({ killed: false, pid, steps, answer });
      reject(new Error(`crash child ${pid} exited (code ${code}, signal ${signal}) without answering: ${failure ?? 'no message'}`));
    });
  });
}

/** Retries `key` with fresh children until one answers something other than 409. */
async function retryUntilAnswered(key: string, mode: 'atomic' | 'plain' = 'atomic'): Promise<{ answer: ChildAnswer; attempts: number; conflicts: number }> {
  for (let attempts = 1, conflicts = 0; attempts <= 100; attempts++) {
    const run = await runChild(key, undefined, mode);
    if (run.killed) throw new Error('unexpected kill');
    if (run.answer.status !== 409) return { answer: run.answer, attempts, conflicts };
    conflicts++;
    await sleep(LEASE_MS / 4);
  }
  throw new Error(`key ${key}: still 409 after 100 attempts`);
}

interface Ledger {
  readonly charges: Array<{ charge_id: string; pid: number }>;
  readonly record: { state: string; response_status: number | null; body: string | null } | undefined;
}

async function ledger(key: string): Promise<Ledger> {
  const rows = await admin.query<{ charge_id: string; pid: number }>(`SELECT charge_id, pid FROM "${charges}" WHERE idempotency_key = $1`, [key]);
  const record = await admin.query<{ state: string; response_status: number | null; body: string | null }>(
    `SELECT state, response_status, convert_from(response_body, 'UTF8') AS body FROM "${table}" WHERE key = $1`,
    [key],
  );
  return { charges: rows.rows, record: record.rows[0] };
}

/** The end state every crash must leave: one charge, a completed record, and the client told about that charge. */
async function expectExactlyOnce(key: string, answer: ChildAnswer): Promise<{ chargeId: string; pid: number }> {
  expect(answer.status, `final answer for ${key}`).toBe(201);
  const { charges: rows, record } = await ledger(key);
  expect(rows, `charge rows for ${key}`).toHaveLength(1);
  const charge = rows[0] as { charge_id: string; pid: number };
  expect(record?.state, 'idempotency record state').toBe('completed');
  expect(record?.response_status).toBe(201);
  const stored = JSON.parse(record?.body ?? 'null') as { chargeId: string; pid: number };
  expect(stored, 'stored response = the run that committed the charge').toEqual({ chargeId: charge.charge_id, pid: charge.pid });
  expect(JSON.parse(answer.body), 'what the client finally got').toEqual(stored);
  return stored;
}

const newKey = (what: string): string => `pay-${what}-${randomBytes(6).toString('hex')}`;

describe('postgres atomic mode: SIGKILL at every step of a payment', () => {
  it('a run without crash: steps in order, one charge, committed response', async () => {
    const key = newKey('control');
    const run = await runChild(key);
    expect(run.killed).toBe(false);
    expect(run.steps).toEqual(['start', 'claimed', 'begun', 'charged', 'completion-written', 'committed']);
    if (!run.killed) {
      expect(run.answer.outcome).toBe('executed');
      await expectExactlyOnce(key, run.answer);
    }
  });

  const beforeCommit: CrashStep[] = ['start', 'claimed', 'begun', 'charged', 'completion-written'];
  for (const crashAt of beforeCommit) {
    it(`killed after "${crashAt}" (before COMMIT): nothing of that run persists; a retry executes once`, async () => {
      const key = newKey(crashAt);
      const crashed = await runChild(key, crashAt);
      expect(crashed.killed).toBe(true);
      expect(crashed.steps.at(-1)).toBe(crashAt);
      expect((await ledger(key)).charges, 'charges right after the crash').toHaveLength(0);

      const { answer, conflicts } = await retryUntilAnswered(key);
      expect(answer.outcome).toBe('executed');
      const committed = await expectExactlyOnce(key, answer);
      expect(committed.pid).not.toBe(crashed.pid);
      // Before the claim nothing is held; after it, retries wait out the dead owner's lease (409s).
      if (crashAt === 'start') expect(conflicts).toBe(0);
    });
  }

  it('killed after "committed" (before the response reached the client): the retry replays the committed response', async () => {
    const key = newKey('committed');
    const crashed = await runChild(key, 'committed');
    expect(crashed.killed).toBe(true);
    const { answer, conflicts } = await retryUntilAnswered(key);
    expect(conflicts).toBe(0);
    expect(answer.outcome).toBe('replayed');
    const committed = await expectExactlyOnce(key, answer);
    expect(committed.pid, 'the response is the crashed run\'s').toBe(crashed.pid);
  });

  it('crash after crash on one key (after charge, after completion, after commit): still exactly one charge', async () => {
    const key = newKey('chain');
    const points: CrashStep[] = ['charged', 'completion-written', 'committed'];
    let last: RunResult | undefined;
    for (const crashAt of points) {
      // Each run must get past the previous owner's lease before it reaches its crash point.
      for (;;) {
        last = await runChild(key, crashAt);
        if (last.killed) break;
        expect(last.answer.status, `while waiting to crash at ${crashAt}`).toBe(409);
        await sleep(LEASE_MS / 4);
      }
      expect(last.steps.at(-1)).toBe(crashAt);
    }
    const { answer } = await retryUntilAnswered(key);
    expect(answer.outcome).toBe('replayed');
    const committed = await expectExactlyOnce(key, answer);
    expect(committed.pid).toBe(last?.pid);
  });

  it('control: without atomic mode (charge autocommitted on the pool), the same crash after "charged" charges twice', async () => {
    const key = newKey('plain');
    const crashed = await runChild(key, 'charged', 'plain');
    expect(crashed.killed).toBe(true);
    const { answer } = await retryUntilAnswered(key, 'plain');
    expect(answer.outcome).toBe('executed');
    expect((await ledger(key)).charges, 'the crashed run\'s charge survived and the retry charged again').toHaveLength(2);
  });
});
