/**
 * Every way a connection string or a command line can be wrong, against the real servers (and a
 * silent TCP server for the connect timeout): one clear line, the documented exit code, a
 * `--json` error document, and never the URL's password.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { version } from '../package.json';
import { DATABASE_URL, oncely, REDIS_URL, type Run } from './support/cli';

const SECRET = 'hunter2';
const LOOKUP = ['--scope', 'acct', '--key', 'k'];

/** A TCP server that accepts connections and never says a word: the connect timeout's test. */
let silent: Server;
let silentPort = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

function expectNoSecret(run: Run): void {
  expect(run.stdout).not.toContain(SECRET);
  expect(run.stderr).not.toContain(SECRET);
}

/** One line on stderr, no stack trace. */
function expectOneLine(run: Run, pattern: RegExp): void {
  expect(run.stderr).toMatch(/^oncely: [^\n]+\n$/);
  expect(run.stderr).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

async function both(url: string, extra: string[] = []): Promise<{ text: Run; json: Run }> {
  const text = await oncely(['inspect', ...LOOKUP, '--url', url, ...extra]);
  const json = await oncely(['inspect', ...LOOKUP, '--url', url, ...extra, '--json']);
  expectNoSecret(text);
  expectNoSecret(json);
  return { text, json };
}

describe('connection strings', () => {
  it('no URL at all: usage error naming --url and ONCELY_URL', async () => {
    const run = await oncely(['inspect', ...LOOKUP]);
    expect(run.code).toBe(2);
    expectOneLine(run, /No store given: pass --url postgres:\/\/\.\.\. or --url redis:\/\/\.\.\. \(or set ONCELY_URL\)/);
  });

  it('ONCELY_URL is used when --url is absent, and --url wins over it', async () => {
    expect((await oncely(['inspect', ...LOOKUP], { ONCELY_URL: REDIS_URL })).code).toBe(1);
    const overridden = await oncely(['inspect', ...LOOKUP, '--url', REDIS_URL], { ONCELY_URL: 'mysql://nowhere' });
    expect(overridden.code).toBe(1);
  });

  it.each([
    ['not a URL at all', 'not a url', 'not a url'],
    ['unclosed IPv6 host', `postgres://app:${SECRET}@[::1/test`, 'postgres://app:***@[::1/test'],
    ['port out of range', `redis://:${SECRET}@127.0.0.1:99999`, 'redis://:***@127.0.0.1:99999'],
  ])('malformed (%s): exit 2, invalid_url, the URL shown without its password', async (_name, url, shown) => {
    const { text, json } = await both(url);
    expect(text.code).toBe(2);
    expect(text.stderr).toBe(`oncely: --url is not a valid URL: ${shown}\n`);
    expect(json.json()).toEqual({ ok: false, error: { code: 'invalid_url', message: `--url is not a valid URL: ${shown}` }, exitCode: 2 });
  });

  it.each([
    ['mysql', `mysql://app:${SECRET}@db/app`],
    ['http', `http://app:${SECRET}@db/app`],
    ['mongodb', `mongodb://app:${SECRET}@db/app`],
  ])('unknown scheme (%s): exit 2, unknown_scheme, lists the schemes that work', async (scheme, url) => {
    const { text, json } = await both(url);
    expect(text.code).toBe(2);
    expectOneLine(text, new RegExp(`unknown scheme "${scheme}:": use postgres:// or postgresql:// \\(PostgreSQL\\), redis:// or rediss:// \\(Redis\\)`));
    expect(json.json()).toMatchObject({ ok: false, error: { code: 'unknown_scheme' }, exitCode: 2 });
  });

  it.each([
    ['postgres', `postgres://postgres:${SECRET}@127.0.0.1:1/test`, 'PostgreSQL at 127.0.0.1:1'],
    ['postgresql', `postgresql://postgres:${SECRET}@127.0.0.1:1/test`, 'PostgreSQL at 127.0.0.1:1'],
    ['redis', `redis://default:${SECRET}@127.0.0.1:1`, 'Redis at 127.0.0.1:1'],
  ])('nothing listening (%s): exit 3, unreachable, connection refused', async (_name, url, at) => {
    const { text, json } = await both(url);
    expect(text.code).toBe(3);
    expect(text.stderr).toBe(`oncely: Cannot connect to ${at}: connection refused.\n`);
    expect(json.json()).toEqual({ ok: false, error: { code: 'unreachable', message: `Cannot connect to ${at}: connection refused.` }, exitCode: 3 });
  });

  it.each([
    ['postgres', `postgres://postgres:${SECRET}@no-such-host.invalid/test`],
    ['redis', `redis://:${SECRET}@no-such-host.invalid:6379`],
  ])('host name that does not resolve (%s): exit 3, unreachable', async (_name, url) => {
    const { text, json } = await both(url);
    expect(text.code).toBe(3);
    expectOneLine(text, /Cannot connect to (PostgreSQL|Redis) at no-such-host\.invalid:\d+: the host name does not resolve\./);
    expect(json.json()).toMatchObject({ error: { code: 'unreachable' }, exitCode: 3 });
  });

  it.each(['postgres', 'redis'])('a host that accepts but never answers (%s): exit 3 after --connect-timeout, never a hang', async (scheme) => {
    const url = `${scheme}://user:${SECRET}@127.0.0.1:${silentPort}/${scheme === 'postgres' ? 'test' : '0'}`;
    const started = Date.now();
    const { text, json } = await both(url, ['--connect-timeout', '300ms']);
    console.log(`${scheme}: silent server, --connect-timeout 300ms: both runs took ${Date.now() - started} ms`);
    expect(text.code).toBe(3);
    expectOneLine(text, new RegExp(`${scheme === 'postgres' ? 'PostgreSQL' : 'Redis'} at 127\\.0\\.0\\.1:${silentPort} did not answer within 300 ms \\(--connect-timeout\\)`));
    expect(json.json()).toMatchObject({ error: { code: 'timeout' }, exitCode: 3 });
  });

  it('PostgreSQL authentication failure (unknown role): exit 3, auth_failed', async () => {
    const url = DATABASE_URL.replace(/^postgres(ql)?:\/\/[^@/]*@/, `postgres://no_such_role_oncely:${SECRET}@`);
    const { text, json } = await both(url);
    expect(text.code).toBe(3);
    expectOneLine(text, /Authentication failed at PostgreSQL at [^:]+:\d+: role "no_such_role_oncely" does not exist/);
    expect(json.json()).toMatchObject({ error: { code: 'auth_failed' }, exitCode: 3 });
  });

  it('Redis authentication failure (WRONGPASS): exit 3, auth_failed', async () => {
    const url = REDIS_URL.replace(/^redis:\/\//, `redis://no_such_user_oncely:${SECRET}@`);
    const { text, json } = await both(url);
    expect(text.code).toBe(3);
    expectOneLine(text, /Authentication failed at Redis at [^:]+:\d+: WRONGPASS/);
    expect(json.json()).toMatchObject({ error: { code: 'auth_failed' }, exitCode: 3 });
  });

  it('PostgreSQL database that does not exist: exit 3, database_missing', async () => {
    const url = DATABASE_URL.replace(/\/[^/?]*(\?.*)?$/, '/no_such_db_oncely');
    const { text, json } = await both(url);
    expect(text.code).toBe(3);
    expectOneLine(text, /PostgreSQL at [^:]+:\d+: database "no_such_db_oncely" does not exist\./);
    expect(json.json()).toMatchObject({ error: { code: 'database_missing' }, exitCode: 3 });
  });

  it('a percent-encoded password is hidden in both its forms', async () => {
    const run = await oncely(['inspect', ...LOOKUP, '--url', 'mysql://app:p%40ss%3Aword@db/app']);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('p%40ss');
    expect(run.stderr).not.toContain('p@ss');
  });

  it('--prefix with PostgreSQL and --table/--schema with Redis are usage errors', async () => {
    const pg = await oncely(['inspect', ...LOOKUP, '--url', DATABASE_URL, '--prefix', 'x:']);
    expect(pg.code).toBe(2);
    expectOneLine(pg, /--prefix is for Redis; PostgreSQL takes --table and --schema\./);
    const redis = await oncely(['inspect', ...LOOKUP, '--url', REDIS_URL, '--table', 'idem']);
    expect(redis.code).toBe(2);
    expectOneLine(redis, /--table and --schema are for PostgreSQL; Redis takes --prefix\./);
  });

  it('an invalid --table, --schema or --namespace is a usage error (nothing contacted)', async () => {
    const table = await oncely(['inspect', ...LOOKUP, '--url', 'postgres://127.0.0.1:1/test', '--table', 'Robert"; DROP TABLE x;--']);
    expect(table.code).toBe(2);
    expectOneLine(table, /table must be 1-\d+ characters of lower-case letters, digits and underscores/);
    const schema = await oncely(['inspect', ...LOOKUP, '--url', 'postgres://127.0.0.1:1/test', '--schema', 'A-B']);
    expect(schema.code).toBe(2);
    const namespace = await oncely(['inspect', ...LOOKUP, '--url', 'redis://127.0.0.1:1', '--namespace', 'has space']);
    expect(namespace.code).toBe(2);
    expectOneLine(namespace, /namespace must be 1-64 characters/);
  });
});

describe('command lines', () => {
  it.each([
    [['frob'], /Unknown command "frob"\. Commands: inspect, stuck, release, complete, purge, migrate\./],
    [['inspect', '--scope', 's'], /--key is required\./],
    [['inspect', '--key', 'k'], /--scope is required\./],
    [['inspect', ...LOOKUP, '--bogus'], /Unknown option '--bogus'\. See `oncely inspect --help`\./],
    [['inspect', ...LOOKUP, 'stray'], /Unexpected argument 'stray'/],
    [['stuck'], /--older-than is required\./],
    [['stuck', '--older-than', '5 minutes'], /--older-than must be a duration such as 30s, 5m, 2h, 1d or plain milliseconds; got "5 minutes"\./],
    [['stuck', '--older-than=-5m'], /--older-than must be a duration/],
    [['stuck', '--older-than', '5m', '--limit', '0'], /--limit must be a whole number >= 1; got "0"\./],
    [['purge', '--batch-size', 'lots'], /--batch-size must be a whole number >= 1/],
    [['purge', '--max-batches', '1.5'], /--max-batches must be a whole number >= 1/],
    [['complete', ...LOOKUP], /--status is required\./],
    [['complete', ...LOOKUP, '--status', 'ok'], /--status must be a whole number/],
    [['complete', ...LOOKUP, '--status', '200', '--header', 'no colon'], /--header must look like 'name: value'; got "no colon"\./],
    [['complete', ...LOOKUP, '--status', '200', '--body', 'a', '--body-file', 'b'], /Give --body or --body-file, not both\./],
    [['complete', ...LOOKUP, '--status', '200', '--body-file', '/no/such/file'], /Cannot read --body-file "\/no\/such\/file": no such file\./],
    [['inspect', ...LOOKUP, '--connect-timeout', 'soon'], /--connect-timeout must be a duration/],
  ])('%j: exit 2 with one line, before anything is contacted', async (argv, message) => {
    const run = await oncely(argv);
    expect(run.code).toBe(2);
    expectOneLine(run, message);
    expect(run.stdout).toBe('');
    const json = await oncely([...argv, '--json']);
    expect(json.code).toBe(2);
    expect(json.json()).toMatchObject({ ok: false, error: { code: 'usage' }, exitCode: 2 });
  });

  it('no arguments: the help on stderr, exit 2', async () => {
    const run = await oncely([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Usage: oncely <command> [options]');
  });

  it('--help and help: the command list and exit codes on stdout, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const run = await oncely(argv);
      expect(run.code).toBe(0);
      for (const command of ['inspect', 'stuck', 'release', 'complete', 'purge', 'migrate']) expect(run.stdout).toMatch(new RegExp(`^  ${command}\\s`, 'm'));
      expect(run.stdout).toContain('Exit codes: 0 ok; 1 outcome not ok');
    }
  });

  it.each(['inspect', 'stuck', 'release', 'complete', 'purge', 'migrate'])('%s: --help and `oncely help <command>` show usage, options, an example; exit 0', async (command) => {
    const run = await oncely([command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`Usage: oncely ${command}`);
    expect(run.stdout).toContain('--url <url>');
    expect(run.stdout).toContain(`Example:\n  oncely ${command} `);
    expect((await oncely(['help', command])).stdout).toBe(run.stdout);
  });

  it('--version prints the package version', async () => {
    const run = await oncely(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect((await oncely(['--version', '--json'])).json()).toEqual({ version });
  });
});
