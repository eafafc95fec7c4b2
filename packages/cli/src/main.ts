import { parseArgs } from 'node:util';
import { AdminUnsupportedError } from '@oncely/core';
import { version } from '../package.json';
import { type Command, COMMANDS, type Values } from './commands';
import { type Backend, DEFAULT_CONNECT_TIMEOUT_MS, openBackend } from './connect';
import { parseDuration } from './duration';
import { CliError, firstLine, usageError } from './errors';
import { COMMON_OPTIONS, commandHelp, generalHelp } from './help';
import { type CliIo, EXIT } from './io';
import { parseTarget, redactUrlText } from './target';

/** The package version `oncely --version` prints. */
export const VERSION: string = version;

function parse(command: Command, args: readonly string[]): Values {
  try {
    return parseArgs({ args: [...args], options: { ...COMMON_OPTIONS, ...command.options }, strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    const message = error instanceof Error ? firstLine(error.message).replace(/\. To specify a positional argument.*$/, '').replace(/\.?$/, '.') : String(error);
    throw usageError(`${message} See \`oncely ${command.name} --help\`.`);
  }
}

function optional(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** An error from the admin API or a driver, as a one-line {@link CliError}. */
function runFailure(error: unknown, backend: Backend): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof AdminUnsupportedError) return new CliError('unsupported', `${error.operation} is not supported by this store: ${error.message.replace(/^oncely: /, '')}`, EXIT.store);
  // core rejects a bad key, status, header or token with a TypeError before touching the store.
  if (error instanceof TypeError && error.message.startsWith('oncely: ')) return usageError(error.message.slice('oncely: '.length));
  return backend.failure(error);
}

async function run(argv: readonly string[], io: CliIo, json: boolean): Promise<number> {
  const [name, ...args] = argv;
  const commands = Object.values(COMMANDS);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined;
    const command = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && command === undefined) throw usageError(`Unknown command ${JSON.stringify(topic)}. Commands: ${Object.keys(COMMANDS).join(', ')}.`);
    io[name === undefined ? 'stderr' : 'stdout'].write(command ? commandHelp(command) : generalHelp(commands, VERSION));
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.stdout.write(json ? `${JSON.stringify({ version: VERSION })}\n` : `${VERSION}\n`);
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    throw usageError(`Unknown command ${JSON.stringify(redactUrlText(name))}. Commands: ${Object.keys(COMMANDS).join(', ')}. See \`oncely --help\`.`);
  }
  const values = parse(command, args);
  if (values['help'] === true) {
    io.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  const input = await command.parse(values);
  const connectTimeout = optional(values, 'connect-timeout');
  const connectTimeoutMs = connectTimeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : parseDuration('connect-timeout', connectTimeout);
  if (connectTimeoutMs < 1) throw usageError('--connect-timeout must be at least 1 ms.');
  const target = parseTarget(optional(values, 'url') ?? io.env['ONCELY_URL']);
  const backend = await openBackend(target, {
    namespace: optional(values, 'namespace'),
    table: optional(values, 'table'),
    schema: optional(values, 'schema'),
    prefix: optional(values, 'prefix'),
    connectTimeoutMs,
  });
  try {
    const result = await command.run(backend, input, Date.now).catch((error: unknown) => {
      throw runFailure(error, backend);
    });
    io.stdout.write(json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text);
    return result.exitCode;
  } finally {
    await backend.close();
  }
}

/**
 * Runs the `oncely` command line `argv` (without `node` and the script: `process.argv.slice(2)`)
 * and resolves with its exit code; never throws and never calls `process.exit`. Failures are one
 * line on `io.stderr` (with `--json`, also a JSON document on `io.stdout`); set `ONCELY_DEBUG=1` in
 * `io.env` for stack traces.
 *
 * @example
 * ```ts
 * import { main } from '@oncely/cli';
 *
 * process.exitCode = await main(['stuck', '--older-than', '5m', '--json'], { stdout: process.stdout, stderr: process.stderr, env: process.env });
 * ```
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    return await run(argv, io, json);
  } catch (thrown) {
    const error =
      thrown instanceof CliError
        ? thrown
        : new CliError('store_error', `unexpected error: ${thrown instanceof Error ? firstLine(thrown.message) : String(thrown)}`, EXIT.store, { cause: thrown });
    io.stderr.write(`oncely: ${error.message}\n`);
    if (io.env['ONCELY_DEBUG'] && error.cause instanceof Error && error.cause.stack) io.stderr.write(`${error.cause.stack}\n`);
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: { code: error.code, message: error.message }, exitCode: error.exitCode }, null, 2)}\n`);
    return error.exitCode;
  }
}
