import { createAdmin, type IdempotencyAdmin, type Store } from '@oncely/core';
import { migrate, postgresStore } from '@oncely/postgres';
import { redisStore } from '@oncely/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { CliError, errorCodes, errorMessages, firstLine, usageError } from './errors';
import { EXIT } from './io';
import { type BackendKind, scrub, type Target } from './target';

/** Default of `--connect-timeout`: how long connecting (and authenticating) may take. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Where records live and how to reach them, from the common options. */
export interface ConnectOptions {
  readonly namespace?: string | undefined;
  readonly table?: string | undefined;
  readonly schema?: string | undefined;
  readonly prefix?: string | undefined;
  readonly connectTimeoutMs: number;
}

/** An open store with its admin, ready for one command. */
export interface Backend {
  readonly kind: BackendKind;
  readonly store: Store;
  readonly admin: IdempotencyAdmin;
  /** Where records live, for messages: `table "oncely_idempotency"` or `prefix "app:"`. */
  readonly location: string;
  /** Creates the table (PostgreSQL); `false` when the backend has nothing to migrate (Redis). */
  migrate(): Promise<boolean>;
  /** Closes every connection the CLI opened. Never throws. */
  close(): Promise<void>;
  /** Turns a failure of an operation into a one-line {@link CliError}. */
  failure(error: unknown): CliError;
}

const LABEL: Readonly<Record<BackendKind, string>> = { postgres: 'PostgreSQL', redis: 'Redis' };

class ConnectTimeout extends Error {
  override readonly name = 'ConnectTimeout';
}

/** `work`, or a {@link ConnectTimeout} after `ms`: a safety net over the drivers' own timeouts. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ConnectTimeout(`no answer within ${ms} ms`)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * The one-line error for a failure reaching or using the store (exit 3), classified from the
 * driver's error codes: refused, unresolvable or unreachable host, connect timeout, authentication,
 * missing database, missing table. The message never contains the URL's password.
 */
export function classify(error: unknown, target: Target, context: { connectTimeoutMs: number; table?: string | undefined; tableFlags?: string }): CliError {
  const codes = errorCodes(error);
  const messages = errorMessages(error);
  const label = LABEL[target.backend];
  const at = `${label} at ${target.endpoint}`;
  const all = messages.join(' | ');
  const innermost = firstLine(messages[messages.length - 1] ?? String(error));
  const has = (...wanted: string[]): boolean => wanted.some((code) => codes.includes(code));
  const make = (code: CliError['code'], message: string): CliError =>
    new CliError(code, scrub(firstLine(message), target.secrets), EXIT.store, { cause: error });

  if (error instanceof CliError) return error;
  if (error instanceof ConnectTimeout || /timeout expired|connection timeout|connect ETIMEDOUT/i.test(all) || has('ETIMEDOUT')) {
    return make('timeout', `${at} did not answer within ${context.connectTimeoutMs} ms (--connect-timeout); is the host reachable?`);
  }
  if (has('28P01', '28000') || /WRONGPASS|NOAUTH|invalid password|invalid username-password|authentication failed/i.test(all)) {
    return make('auth_failed', `Authentication failed at ${at}: ${innermost}`);
  }
  if (has('3D000')) return make('database_missing', `${at}: ${innermost}.`);
  if (has('42P01', '3F000')) {
    return make('table_missing', `The table ${context.table ?? ''} does not exist in ${at}: run \`oncely migrate\` with the same --url${context.tableFlags ?? ''}.`);
  }
  if (has('ECONNREFUSED')) return make('unreachable', `Cannot connect to ${at}: connection refused.`);
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME')) return make('unreachable', `Cannot connect to ${at}: the host name does not resolve.`);
  if (has('EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE')) return make('unreachable', `Cannot connect to ${at}: ${innermost}.`);
  const outer = firstLine(messages[0] ?? '');
  return make('store_error', outer !== '' && outer !== innermost ? `${at}: ${outer} (${innermost})` : `${at}: ${innermost}`);
}

/** Construction-time validation (table, schema, prefix, namespace) is a usage error: nothing was contacted. */
function construct<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TypeError) throw usageError(error.message.replace(/^@oncely\/\w+: /, ''));
    throw error;
  }
}

function adminOf(store: Store, options: ConnectOptions): IdempotencyAdmin {
  return construct(() => createAdmin(options.namespace === undefined ? { store } : { store, namespace: options.namespace }));
}

async function openPostgres(target: Target, options: ConnectOptions): Promise<Backend> {
  if (options.prefix !== undefined) throw usageError('--prefix is for Redis; PostgreSQL takes --table and --schema.');
  const tableOptions = { ...(options.table === undefined ? {} : { table: options.table }), ...(options.schema === undefined ? {} : { schema: options.schema }) };
  const pool = new pg.Pool({ connectionString: target.url, connectionTimeoutMillis: options.connectTimeoutMs, max: 2, application_name: 'oncely-cli' });
  pool.on('error', () => undefined);
  const close = async (): Promise<void> => {
    await pool.end().catch(() => undefined);
  };
  let store: ReturnType<typeof postgresStore>;
  let admin: IdempotencyAdmin;
  try {
    store = construct(() => postgresStore({ pool, ...tableOptions }));
    admin = adminOf(store, options);
  } catch (error) {
    await close();
    throw error;
  }
  const tableFlags = `${options.table === undefined ? '' : ` --table ${options.table}`}${options.schema === undefined ? '' : ` --schema ${options.schema}`}`;
  const failure = (error: unknown): CliError => classify(error, target, { connectTimeoutMs: options.connectTimeoutMs, table: store.table, tableFlags });
  try {
    const client = await within(options.connectTimeoutMs + 1_000, pool.connect());
    client.release();
  } catch (error) {
    await close();
    throw failure(error);
  }
  return {
    kind: 'postgres',
    store,
    admin,
    location: `table ${store.table}`,
    async migrate() {
      await migrate(pool, tableOptions);
      return true;
    },
    close,
    failure,
  };
}

async function openRedis(target: Target, options: ConnectOptions): Promise<Backend> {
  if (options.table !== undefined || options.schema !== undefined) throw usageError('--table and --schema are for PostgreSQL; Redis takes --prefix.');
  const client = new Redis(target.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: unknown;
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  const close = async (): Promise<void> => {
    client.disconnect();
  };
  let store: ReturnType<typeof redisStore>;
  let admin: IdempotencyAdmin;
  try {
    store = construct(() => redisStore(options.prefix === undefined ? { client } : { client, prefix: options.prefix }));
    admin = adminOf(store, options);
  } catch (error) {
    await close();
    throw error;
  }
  const failure = (error: unknown): CliError => classify(error, target, { connectTimeoutMs: options.connectTimeoutMs });
  try {
    // ioredis' connectTimeout ends at the TCP connect; this bounds the handshake (AUTH, ready check) too.
    await within(options.connectTimeoutMs, client.connect());
  } catch (error) {
    await close();
    // ioredis rejects `connect()` with "Connection is closed." and emits the real reason as an event.
    throw failure(error instanceof ConnectTimeout || lastError === undefined ? error : lastError);
  }
  return {
    kind: 'redis',
    store,
    admin,
    location: `prefix ${JSON.stringify(store.prefix)}`,
    async migrate() {
      return false;
    },
    close,
    failure,
  };
}

/** Opens the store `target` names, checks that it answers, and wraps it in core's admin. */
export function openBackend(target: Target, options: ConnectOptions): Promise<Backend> {
  return target.backend === 'postgres' ? openPostgres(target, options) : openRedis(target, options);
}
