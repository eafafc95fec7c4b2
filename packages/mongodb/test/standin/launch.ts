/**
 * Starts and stops oncely's MongoDB wire-protocol STAND-IN (standin.py: mockupdb + mongomock, not
 * MongoDB) for the test run, installing its Debian packages first when they are missing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How the stand-in is named in every log line, test name and doc. */
export const STAND_IN_LABEL = 'mongodb (wire-protocol stand-in: mockupdb + mongomock, not MongoDB)';

/** Debian's interpreter: a pyenv `python3` earlier on PATH cannot import Debian's modules. */
export const STAND_IN_PYTHON = '/usr/bin/python3';

/** What CI must have (apt pulls python3-pymongo, python3-bson and python3-sentinels with them). */
export const STAND_IN_APT_PACKAGES = ['python3-mockupdb', 'python3-mongomock'] as const;

const SCRIPT = fileURLToPath(new URL('./standin.py', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

/** A running stand-in. */
export interface StandIn {
  /** `mongodb://127.0.0.1:<port>/?directConnection=true` */
  readonly url: string;
  /** Stop it and wait until it has exited. */
  stop(): Promise<void>;
}

function log(message: string): void {
  process.stderr.write(`${STAND_IN_LABEL}: ${message}\n`);
}

function modulesImportable(): boolean {
  if (!existsSync(STAND_IN_PYTHON)) return false;
  return spawnSync(STAND_IN_PYTHON, ['-c', 'import mockupdb, mongomock'], { stdio: 'ignore' }).status === 0;
}

function apt(args: readonly string[]): { ok: boolean; output: string } {
  const root = process.getuid?.() === 0;
  const [command, ...rest] = root ? ['apt-get', ...args] : ['sudo', '-n', 'apt-get', ...args];
  const result = spawnSync(command as string, rest, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 600_000,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { ok: result.status === 0, output };
}

/**
 * Make sure `/usr/bin/python3` can import mockupdb and mongomock: nothing to do if it can
 * (apt is not touched), otherwise `apt-get install` (after `apt-get update` if needed), as root or
 * with `sudo -n`. Throws — failing the run, never skipping it — if that is impossible.
 */
export function ensureStandInPackages(): void {
  if (modulesImportable()) return;
  const packages = STAND_IN_APT_PACKAGES.join(' ');
  log(`${STAND_IN_PYTHON} cannot import mockupdb and mongomock; installing ${packages} with apt-get`);
  const install = ['install', '-y', '--no-install-recommends', ...STAND_IN_APT_PACKAGES];
  let attempt = apt(install);
  if (!attempt.ok) {
    const update = apt(['update']);
    attempt = update.ok ? apt(install) : update;
  }
  if (!attempt.ok || !modulesImportable()) {
    throw new Error(
      `${STAND_IN_LABEL} cannot run: ${STAND_IN_PYTHON} cannot import mockupdb and mongomock, and installing ` +
        `${packages} failed. Install them (as root: apt-get update && apt-get install -y ${packages}) or set ` +
        `MONGODB_URL to a real MongoDB. The MongoDB tests are not skipped: they fail until one of the two is available.\n` +
        `apt-get said:\n${attempt.output.trim().split('\n').slice(-15).join('\n')}`,
    );
  }
  log(`installed ${packages}`);
}

/** Start the stand-in on a free loopback port (chosen by the OS) and wait until it listens. */
export async function startStandIn(): Promise<StandIn> {
  const child = spawn(STAND_IN_PYTHON, [SCRIPT, '--port', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    process.stderr.write(chunk);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => fail(new Error(`${STAND_IN_LABEL} did not report READY within ${READY_TIMEOUT_MS} ms.`)), READY_TIMEOUT_MS);
    function fail(error: Error): void {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      const ready = /^READY (\S+)$/m.exec(stdout);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1] as string);
      }
    });
    child.once('error', (error) => fail(new Error(`${STAND_IN_LABEL} could not start: ${error.message}`)));
    child.once('exit', (code, signal) => fail(new Error(`${STAND_IN_LABEL} exited (${signal ?? code}) before listening:\n${stderr}`)));
  });
  return { url: `mongodb://${address}/?directConnection=true`, stop: () => stop(child, exited) };
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  const timeout = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
  if ((await Promise.race([exited, timeout(5_000)])) !== 'timeout') return;
  child.kill('SIGTERM');
  if ((await Promise.race([exited, timeout(5_000)])) !== 'timeout') return;
  child.kill('SIGKILL');
  await exited;
}
