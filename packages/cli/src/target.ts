import { CliError, usageError } from './errors';
import { EXIT } from './io';

/** Which backend a connection string names. */
export type BackendKind = 'postgres' | 'redis';

/** A parsed `--url`: its backend, what may be shown of it, and the secrets that must never be. */
export interface Target {
  readonly backend: BackendKind;
  /** The connection string as given (with its password): only ever handed to the driver. */
  readonly url: string;
  /** The connection string with any password replaced by `***`: safe to print. */
  readonly display: string;
  /** `host:port` (or the socket path), for messages. */
  readonly endpoint: string;
  /** Every secret in the URL (the password, raw and decoded): scrubbed from every message printed. */
  readonly secrets: readonly string[];
}

const SCHEMES: Readonly<Record<string, BackendKind>> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'redis:': 'redis',
  'rediss:': 'redis',
};

const DEFAULT_PORTS: Readonly<Record<BackendKind, string>> = { postgres: '5432', redis: '6379' };

/** Replaces `user:password@` in a string that may not even parse as a URL. Over-redacting is fine. */
export function redactUrlText(text: string): string {
  return text.replace(/^([^:/?#]*:\/\/[^:/?#@]*:)[^/?#]*@/, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** `text` with every secret replaced by `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Parses the connection string from `--url` or `ONCELY_URL`: `postgres://` or `postgresql://` for
 * PostgreSQL, `redis://` or `rediss://` (TLS) for Redis. A missing, malformed or unknown one is a
 * usage error (exit 2) whose message never contains the password.
 */
export function parseTarget(raw: string | undefined): Target {
  if (raw === undefined || raw.trim() === '') {
    throw usageError('No store given: pass --url postgres://... or --url redis://... (or set ONCELY_URL).');
  }
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError('invalid_url', `--url is not a valid URL: ${redactUrlText(text)}`, EXIT.usage);
  }
  const secrets = [url.password, decode(url.password), url.searchParams.get('password') ?? ''].filter((secret) => secret !== '');
  const backend = SCHEMES[url.protocol.toLowerCase()];
  if (backend === undefined) {
    throw new CliError(
      'unknown_scheme',
      scrub(`--url has the unknown scheme "${url.protocol}": use postgres:// or postgresql:// (PostgreSQL), redis:// or rediss:// (Redis).`, secrets),
      EXIT.usage,
    );
  }
  const port = url.port === '' ? DEFAULT_PORTS[backend] : url.port;
  const host = url.hostname === '' ? (url.searchParams.get('host') ?? 'localhost') : url.hostname;
  return { backend, url: text, display: scrub(redactUrlText(text), secrets), endpoint: host.startsWith('/') ? host : `${host}:${port}`, secrets };
}
