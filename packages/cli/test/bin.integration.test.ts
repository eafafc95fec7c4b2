/**
 * The built executable (`dist/bin.js`, what `npm i -g @oncely/cli` puts on PATH), run as a child
 * process: the shebang, the exit code, stdout and stderr. Needs `pnpm build` first (CI builds
 * before it tests).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import pkg from '../package.json';
import { REDIS_URL } from './support/cli';

const bin = fileURLToPath(new URL(`../${pkg.bin.oncely}`, import.meta.url));

function exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...argv], { timeout: 30_000, env: { PATH: process.env['PATH'] ?? '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('the oncely executable', () => {
  it('starts with a node shebang and is executable', () => {
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
  });

  it('--version: prints the version, exit 0', async () => {
    expect(await exec(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('a lookup on the real Redis: exit 1 (not found) with --json on stdout', async () => {
    const run = await exec(['inspect', '--url', REDIS_URL, '--prefix', `oncely-cli-bin:${process.pid}:`, '--scope', 'acct', '--key', 'absent', '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ command: 'inspect', ok: false, found: false });
  });

  it('a store error: exit 3, one line on stderr, no stack trace, no password', async () => {
    const run = await exec(['stuck', '--older-than', '5m', '--url', 'postgres://app:hunter2@127.0.0.1:1/test']);
    expect(run).toEqual({ code: 3, stdout: '', stderr: 'oncely: Cannot connect to PostgreSQL at 127.0.0.1:1: connection refused.\n' });
  });

  it('a usage error: exit 2', async () => {
    const run = await exec(['inspect']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('oncely: --scope is required.\n');
  });
});
