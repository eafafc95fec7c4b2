import { describe, expect, it } from 'vitest';
import { CliError } from './errors';
import { parseTarget, redactUrlText, scrub } from './target';

describe('parseTarget', () => {
  it.each([
    ['postgres://app:pw@db.internal:6543/app', 'postgres', 'db.internal:6543', 'postgres://app:***@db.internal:6543/app'],
    ['postgresql://app@db/app', 'postgres', 'db:5432', 'postgresql://app@db/app'],
    ['redis://:pw@cache:6380/2', 'redis', 'cache:6380', 'redis://:***@cache:6380/2'],
    ['rediss://default:pw@cache', 'redis', 'cache:6379', 'rediss://default:***@cache'],
    ['POSTGRES://app@db/app', 'postgres', 'db:5432', 'POSTGRES://app@db/app'],
    ['postgres:///app?host=/var/run/postgresql', 'postgres', '/var/run/postgresql', 'postgres:///app?host=/var/run/postgresql'],
    ['postgres://app@db/app?password=pw&sslmode=require', 'postgres', 'db:5432', 'postgres://app@db/app?password=***&sslmode=require'],
  ])('%s → %s at %s, shown as %s', (url, backend, endpoint, display) => {
    const target = parseTarget(url);
    expect(target).toMatchObject({ backend, endpoint, display, url });
    expect(target.display).not.toMatch(/:pw@|=pw/);
  });

  it('keeps both forms of a percent-encoded password as secrets', () => {
    expect(parseTarget('redis://u:p%40ss@h').secrets).toEqual(['p%40ss', 'p@ss']);
  });

  it.each([undefined, '', '  '])('%j: usage error asking for --url or ONCELY_URL', (url) => {
    expect(() => parseTarget(url)).toThrow(/--url .*ONCELY_URL/);
  });

  it('a malformed URL: invalid_url, exit 2, password redacted', () => {
    const error = (() => {
      try {
        parseTarget('postgres://app:secret@[db/app');
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ code: 'invalid_url', exitCode: 2, message: '--url is not a valid URL: postgres://app:***@[db/app' });
  });

  it('an unknown scheme: unknown_scheme, exit 2, password never in the message', () => {
    expect(() => parseTarget('mysql://app:secret@db/app')).toThrow(expect.objectContaining({ code: 'unknown_scheme', exitCode: 2 }));
    expect(() => parseTarget('mysql://app:secret@db/app')).not.toThrow(/secret/);
  });
});

describe('redaction', () => {
  it('redactUrlText hides user:password@ and ?password= even in text that does not parse', () => {
    expect(redactUrlText('redis://:s3cret@host:6379')).toBe('redis://:***@host:6379');
    expect(redactUrlText('x://u:p@ss@host/db')).toBe('x://u:***@host/db');
    expect(redactUrlText('postgres://host/db?sslmode=x&password=abc')).toBe('postgres://host/db?sslmode=x&password=***');
    expect(redactUrlText('postgres://user@host/db')).toBe('postgres://user@host/db');
  });

  it('scrub replaces every occurrence of every secret', () => {
    expect(scrub('a pw b pw c xyz', ['pw', 'xyz'])).toBe('a *** b *** c ***');
    expect(scrub('nothing', [''])).toBe('nothing');
  });
});
