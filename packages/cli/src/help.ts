import type { Command } from './commands';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './connect';

/** Options every command takes. */
export const COMMON_OPTIONS = {
  url: { type: 'string' },
  namespace: { type: 'string' },
  table: { type: 'string' },
  schema: { type: 'string' },
  prefix: { type: 'string' },
  'connect-timeout': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_HELP: readonly (readonly [string, string])[] = [
  ['--url <url>', 'the store: postgres://, postgresql://, redis:// or rediss:// (default: $ONCELY_URL)'],
  ['--namespace <ns>', "the application's namespace option (default oncely)"],
  ['--table <name>', 'PostgreSQL table (default oncely_idempotency)'],
  ['--schema <name>', 'PostgreSQL schema (default: the search_path)'],
  ['--prefix <prefix>', "Redis key prefix, as given to redisStore (default '')"],
  ['--connect-timeout <d>', `give up connecting after this long (default ${DEFAULT_CONNECT_TIMEOUT_MS / 1000}s)`],
  ['--json', 'print one JSON document on stdout (bodies base64, times ISO and epoch ms)'],
  ['-h, --help', 'show help'],
];

const EXIT_HELP = `Exit codes: 0 ok; 1 outcome not ok (not found, refused, changed); 2 usage error;
3 store unreachable, timed out, authentication failed, table missing or store error.`;

function options(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`).join('\n');
}

/** `oncely --help`. */
export function generalHelp(commands: readonly Command[], version: string): string {
  const list = commands.map((command) => [command.name, command.summary] as const);
  return `oncely ${version}: operate on oncely idempotency records in PostgreSQL or Redis.

Usage: oncely <command> [options]

Commands:
${options(list)}

Common options:
${options([...COMMON_HELP, ['--version', 'print the version']])}

${EXIT_HELP}
Run \`oncely <command> --help\` for a command's options.
`;
}

/** `oncely <command> --help`. */
export function commandHelp(command: Command): string {
  const own = command.optionHelp.length > 0 ? `Options:\n${options(command.optionHelp)}\n\n` : '';
  return `${command.summary}.

Usage: ${command.usage}

${own}Common options:
${options(COMMON_HELP)}

Example:
  ${command.example}

${EXIT_HELP}
`;
}
