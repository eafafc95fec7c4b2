import { readFile } from 'node:fs/promises';
import { DEFAULT_STUCK_LIMIT, type HeaderEntry, type IdempotencyRecord, type StoredResponse } from '@oncely/core';
import type { Backend } from './connect';
import { formatDuration, parseDuration, parseInteger } from './duration';
import { usageError } from './errors';
import { type RecordJson, iso, leaseText, recordJson, recordText, relative, table, visible } from './format';
import { EXIT, type ExitCode } from './io';

/** The parsed options of one command line (`node:util` `parseArgs` values). */
export type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** What a command produced: its exit code, its `--json` document and its text for people. */
export interface CommandResult {
  readonly exitCode: ExitCode;
  readonly json: Readonly<Record<string, unknown>>;
  readonly text: string;
}

/** A command: its options (beyond the common ones), its help, and its two phases. */
export interface Command<Input = unknown> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;
  readonly optionHelp: readonly (readonly [string, string])[];
  readonly example: string;
  /** Checks and converts the options, before anything is contacted. Throws usage errors. */
  parse(values: Values): Promise<Input>;
  /** `now` reads the clock; commands call it after the store answered, so times shown are never in the future. */
  run(backend: Backend, input: Input, now: () => number): Promise<CommandResult>;
}

function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string): string {
  const value = text(values, name);
  if (value === undefined) throw usageError(`--${name} is required.`);
  return value;
}

const quoted = (value: string): string => JSON.stringify(value);
const where = (input: { scope: string; key: string }): string => `key ${visible(quoted(input.key))} in scope ${visible(quoted(input.scope))}`;

interface Target {
  readonly scope: string;
  readonly key: string;
}

function target(values: Values): Target {
  return { scope: required(values, 'scope'), key: required(values, 'key') };
}

/** Admin outcomes as `--json` prints them: every field always present. */
function outcomeJson(
  command: string,
  backend: Backend,
  outcome: {
    outcome: string;
    reason?: string;
    before?: IdempotencyRecord;
    after?: IdempotencyRecord;
    record?: IdempotencyRecord | null;
  },
  now: number,
): Record<string, unknown> {
  const json = (record: IdempotencyRecord | null | undefined): RecordJson | null => (record ? recordJson(record, now) : null);
  return {
    command,
    ok: outcome.outcome === 'released' || outcome.outcome === 'completed',
    backend: backend.kind,
    namespace: backend.admin.namespace,
    outcome: outcome.outcome,
    reason: outcome.reason ?? null,
    before: json(outcome.before),
    after: json(outcome.after),
    record: json(outcome.record),
  };
}

function notFoundText(backend: Backend, input: Target): string {
  return `not found: no live record for ${where(input)} (namespace ${quoted(backend.admin.namespace)}, ${backend.location})\n`;
}

function refusedText(reason: string, record: IdempotencyRecord, command: 'release' | 'complete'): string {
  if (reason === 'token_mismatch') {
    return `refused: the record's token is ${record.token}, not the --token given; it was taken over or finished since it was read (state now ${record.state})\n`;
  }
  return command === 'release'
    ? 'refused: the record is completed (retries replay it); pass --include-completed to delete it anyway\n'
    : 'refused: the record is already completed; release it with --include-completed first if it must be replaced\n';
}

function changedText(record: IdempotencyRecord | null): string {
  return `changed: the record changed while this ran (${record ? `now ${record.state}` : 'now gone'}); inspect it and try again\n`;
}

const inspect: Command<Target> = {
  name: 'inspect',
  summary: 'Show the record of one key',
  usage: 'oncely inspect --scope <scope> --key <key> [common options]',
  options: { scope: { type: 'string' }, key: { type: 'string' } },
  optionHelp: [
    ['--scope <scope>', 'whose key it is (tenant, account, webhook endpoint), as the app passes it'],
    ['--key <key>', 'the Idempotency-Key (or webhook event id)'],
  ],
  example: 'oncely inspect --url postgres://app@db/app --scope acct_42 --key order-7',
  parse: async (values) => target(values),
  async run(backend, input, clock) {
    const record = await backend.admin.inspect(input.scope, input.key);
    const now = clock();
    const json = { command: 'inspect', ok: record !== null, backend: backend.kind, namespace: backend.admin.namespace, found: record !== null, record: record ? recordJson(record, now) : null };
    if (!record) return { exitCode: EXIT.outcome, json, text: notFoundText(backend, input) };
    return { exitCode: EXIT.ok, json, text: recordText(record, now) };
  },
};

interface StuckInput {
  readonly olderThanMs: number;
  readonly limit: number;
}

const stuck: Command<StuckInput> = {
  name: 'stuck',
  summary: 'List in-progress claims older than a duration, oldest first',
  usage: 'oncely stuck --older-than <duration> [--limit <n>] [common options]',
  options: { 'older-than': { type: 'string' }, limit: { type: 'string' } },
  optionHelp: [
    ['--older-than <duration>', 'claims first made at least this long ago: 30s, 5m, 2h, 1d or ms'],
    ['--limit <n>', `at most this many records (default ${DEFAULT_STUCK_LIMIT})`],
  ],
  example: 'oncely stuck --url redis://cache:6379 --older-than 5m --limit 20',
  async parse(values) {
    const olderThanMs = parseDuration('older-than', required(values, 'older-than'));
    const limit = parseInteger('limit', text(values, 'limit') ?? String(DEFAULT_STUCK_LIMIT), 1);
    return { olderThanMs, limit };
  },
  async run(backend, input, clock) {
    const records = await backend.admin.stuck({ olderThanMs: input.olderThanMs, limit: input.limit });
    const now = clock();
    const truncated = records.length >= input.limit;
    const json = {
      command: 'stuck',
      ok: true,
      backend: backend.kind,
      namespace: backend.admin.namespace,
      olderThanMs: input.olderThanMs,
      limit: input.limit,
      count: records.length,
      truncated,
      records: records.map((record) => recordJson(record, now)),
    };
    const age = formatDuration(input.olderThanMs);
    if (records.length === 0) return { exitCode: EXIT.ok, json, text: `No in-progress claims older than ${age}.\n` };
    const rows = records.map((record) => [
      visible(record.key),
      visible(record.scope),
      iso(record.createdAt),
      formatDuration(now - record.createdAt),
      leaseText(record.leaseUntil, now),
      relative(record.expiresAt, now),
    ]);
    const noun = records.length === 1 ? 'claim' : 'claims';
    const footer = `${records.length} in-progress ${noun} older than ${age}${truncated ? ` (--limit ${input.limit} reached: there may be more)` : ''}.\n`;
    return { exitCode: EXIT.ok, json, text: table(['KEY', 'SCOPE', 'CREATED', 'AGE', 'LEASE', 'EXPIRES'], rows) + footer };
  },
};

interface ReleaseInput extends Target {
  readonly includeCompleted: boolean;
  readonly token: string | undefined;
}

const release: Command<ReleaseInput> = {
  name: 'release',
  summary: 'Delete a key\'s record so the next request runs afresh',
  usage: 'oncely release --scope <scope> --key <key> [--include-completed] [--token <token>] [common options]',
  options: { scope: { type: 'string' }, key: { type: 'string' }, 'include-completed': { type: 'boolean' }, token: { type: 'string' } },
  optionHelp: [
    ['--scope <scope>', 'whose key it is'],
    ['--key <key>', 'the Idempotency-Key'],
    ['--include-completed', 'also delete a completed record (its retries will run the handler again)'],
    ['--token <token>', 'only if the record still has this token (as shown by inspect or stuck)'],
  ],
  example: 'oncely release --url postgres://app@db/app --scope acct_42 --key order-7 --token 5f0c...',
  async parse(values) {
    return { ...target(values), includeCompleted: values['include-completed'] === true, token: text(values, 'token') };
  },
  async run(backend, input, clock) {
    const options = { includeCompleted: input.includeCompleted, ...(input.token === undefined ? {} : { expectedToken: input.token }) };
    const outcome = await backend.admin.release(input.scope, input.key, options);
    const now = clock();
    const json = outcomeJson('release', backend, outcome, now);
    switch (outcome.outcome) {
      case 'released':
        return {
          exitCode: EXIT.ok,
          json,
          text: `released: ${where(input)} (it was ${outcome.before.state}, created ${iso(outcome.before.createdAt)}); the next request with this key runs afresh\n`,
        };
      case 'not_found':
        return { exitCode: EXIT.outcome, json, text: notFoundText(backend, input) };
      case 'refused':
        return { exitCode: EXIT.outcome, json, text: refusedText(outcome.reason, outcome.record, 'release') };
      case 'changed':
        return { exitCode: EXIT.outcome, json, text: changedText(outcome.record) };
      default:
        return { exitCode: EXIT.outcome, json, text: `unexpected outcome ${quoted(outcome.outcome)}\n` };
    }
  },
};

interface CompleteInput extends Target {
  readonly response: StoredResponse;
  readonly token: string | undefined;
}

/**
 * `'Name: value'` → `['Name', 'value']`, split at the first colon and trimmed. Whether the name and
 * value are valid (and the name's case) is core's decision (`createAdmin().complete`).
 */
export function parseHeader(text: string): HeaderEntry {
  const colon = text.indexOf(':');
  if (colon <= 0) throw usageError(`--header must look like 'name: value'; got ${JSON.stringify(text)}.`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

async function bodyOf(values: Values): Promise<Uint8Array> {
  const body = text(values, 'body');
  const file = text(values, 'body-file');
  if (body !== undefined && file !== undefined) throw usageError('Give --body or --body-file, not both.');
  if (body !== undefined) return new TextEncoder().encode(body);
  if (file === undefined) return new Uint8Array(0);
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw usageError(`Cannot read --body-file ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(error))}.`);
  }
}

const complete: Command<CompleteInput> = {
  name: 'complete',
  summary: 'Force-complete an in-progress claim with a response that retries will replay',
  usage: "oncely complete --scope <scope> --key <key> --status <code> [--header 'name: value']... [--body <text> | --body-file <file>] [--token <token>] [common options]",
  options: {
    scope: { type: 'string' },
    key: { type: 'string' },
    status: { type: 'string' },
    header: { type: 'string', multiple: true },
    body: { type: 'string' },
    'body-file': { type: 'string' },
    token: { type: 'string' },
  },
  optionHelp: [
    ['--scope <scope>', 'whose key it is'],
    ['--key <key>', 'the Idempotency-Key'],
    ['--status <code>', 'HTTP status to replay, 100-599'],
    ["--header 'name: value'", 'a response header to replay (repeat for several; order kept)'],
    ['--body <text>', 'response body, as UTF-8 text'],
    ['--body-file <file>', 'response body, the file\'s bytes exactly (binary is fine)'],
    ['--token <token>', 'only if the claim still has this token'],
  ],
  example: `oncely complete --url postgres://app@db/app --scope acct_42 --key order-7 --status 201 --header 'content-type: application/json' --body '{"id":"ord_7"}'`,
  async parse(values) {
    const status = parseInteger('status', required(values, 'status'), 0);
    const headerValues = values['header'];
    const headers = (Array.isArray(headerValues) ? headerValues : []).map(parseHeader);
    const body = await bodyOf(values);
    return { ...target(values), response: { status, headers, body }, token: text(values, 'token') };
  },
  async run(backend, input, clock) {
    const outcome = await backend.admin.complete(input.scope, input.key, input.response, input.token === undefined ? {} : { expectedToken: input.token });
    const now = clock();
    const json = outcomeJson('complete', backend, outcome, now);
    switch (outcome.outcome) {
      case 'completed':
        return {
          exitCode: EXIT.ok,
          json,
          text: `completed: ${where(input)}; retries now replay status ${input.response.status}\n${recordText(outcome.after, now)}`,
        };
      case 'not_found':
        return { exitCode: EXIT.outcome, json, text: notFoundText(backend, input) };
      case 'refused':
        return { exitCode: EXIT.outcome, json, text: refusedText(outcome.reason, outcome.record, 'complete') };
      case 'changed':
        return { exitCode: EXIT.outcome, json, text: changedText(outcome.record) };
      default:
        return { exitCode: EXIT.outcome, json, text: `unexpected outcome ${quoted(outcome.outcome)}\n` };
    }
  },
};

interface PurgeInput {
  readonly batchSize: number | undefined;
  readonly maxBatches: number | undefined;
}

const purge: Command<PurgeInput> = {
  name: 'purge',
  summary: 'Delete expired records in batches (reclaims space; expired records are already invisible)',
  usage: 'oncely purge [--batch-size <n>] [--max-batches <n>] [common options]',
  options: { 'batch-size': { type: 'string' }, 'max-batches': { type: 'string' } },
  optionHelp: [
    ['--batch-size <n>', 'records deleted per statement (default 1000)'],
    ['--max-batches <n>', 'stop after this many batches (default: until none are left)'],
  ],
  example: 'oncely purge --url postgres://app@db/app --batch-size 5000',
  async parse(values) {
    const batchSize = text(values, 'batch-size');
    const maxBatches = text(values, 'max-batches');
    return {
      batchSize: batchSize === undefined ? undefined : parseInteger('batch-size', batchSize, 1),
      maxBatches: maxBatches === undefined ? undefined : parseInteger('max-batches', maxBatches, 1),
    };
  },
  async run(backend, input) {
    const deleted = await backend.admin.purge({
      ...(input.batchSize === undefined ? {} : { batchSize: input.batchSize }),
      ...(input.maxBatches === undefined ? {} : { maxBatches: input.maxBatches }),
    });
    const json = { command: 'purge', ok: true, backend: backend.kind, namespace: backend.admin.namespace, deleted };
    const noun = deleted === 1 ? 'record' : 'records';
    const note = backend.kind === 'redis' ? ': Redis deletes expired records by itself (native expiry), nothing to purge' : ` from ${backend.location}`;
    return { exitCode: EXIT.ok, json, text: `purged ${deleted} expired ${noun}${note}\n` };
  },
};

const migrate: Command<null> = {
  name: 'migrate',
  summary: 'Create the PostgreSQL table and its index if missing (Redis: nothing to do)',
  usage: 'oncely migrate [--table <name>] [--schema <name>] [common options]',
  options: {},
  optionHelp: [],
  example: 'oncely migrate --url postgres://admin@db/app --schema ops',
  parse: async () => null,
  async run(backend) {
    const migrated = await backend.migrate();
    const json = { command: 'migrate', ok: true, backend: backend.kind, migrated, location: backend.location };
    const message = migrated
      ? `migrated: ${backend.location} is ready (created if it was missing)\n`
      : `nothing to migrate: Redis needs no schema (records are keys under ${backend.location})\n`;
    return { exitCode: EXIT.ok, json, text: message };
  },
};

/** Every command, by name, in help order. */
export const COMMANDS: Readonly<Record<string, Command>> = { inspect, stuck, release, complete, purge, migrate };
