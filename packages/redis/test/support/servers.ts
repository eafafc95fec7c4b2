/**
 * Private redis-server processes for the tests that count commands, stop a server or need a
 * cluster: never the shared instance on 6379. Each runs in the foreground (`--daemonize no`) as a
 * child of the test process, on a free loopback port, without persistence, in a temp dir. Every
 * child is killed by `stop()`, by a process `exit` hook, and — should the test process be killed
 * outright — by a tiny shell watchdog that polls the test process (and removes the temp dir).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REDIS_SERVER = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
const REDIS_CLI = process.env['REDIS_CLI_BIN'] ?? 'redis-cli';
const HOST = '127.0.0.1';

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** A port nothing listens on now (and, with `busOffset`, whose cluster bus port is free too). */
export async function freePort(busOffset = 0): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (busOffset === 0) return port;
    if (port + busOffset <= 65_535 && (await isFree(port + busOffset))) return port;
  }
  throw new Error('no free loopback port found');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no address'))));
    });
  });
}

async function isFree(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `PING` on `port` answers `+PONG` (a loading or starting server answers errors). */
async function waitForPong(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
    if ((await ping(port)) === '+PONG') return;
    await sleep(25);
  }
  throw new Error(`redis-server on ${port} did not answer PING`);
}

function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let answer = '';
    const done = (value: string): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(''));
    socket.once('error', () => done(''));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.split('\r\n')[0] ?? '');
    });
    socket.connect(port, HOST, () => socket.write('PING\r\n'));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One private redis-server. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private watchdog: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'oncely-redis-'));

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
  ) {}

  /** Start a server on a free port (with `cluster`, a cluster-enabled node). */
  static async start(options: { cluster?: boolean } = {}): Promise<RedisServer> {
    const port = await freePort(options.cluster ? 10_000 : 0);
    const extra = options.cluster
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000']
      : [];
    const server = new RedisServer(port, extra);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** Whether the process runs. */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Start (again) on the same port; resolves when it answers PING. */
  async restart(): Promise<void> {
    if (this.running) throw new Error(`redis-server on ${this.port} is already running`);
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', HOST, '--daemonize', 'no', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning', ...this.extraArgs],
      { stdio: 'ignore' },
    );
    alive.add(child);
    child.once('exit', () => alive.delete(child));
    this.child = child;
    this.watchdog?.kill('SIGKILL');
    const orphaned = `kill -9 ${child.pid} 2>/dev/null; rm -rf '${this.dir}'`;
    const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${orphaned}`], {
      stdio: 'ignore',
      detached: true,
    });
    watchdog.unref();
    this.watchdog = watchdog;
    await waitForPong(this.port, child);
  }

  /** Stop with SIGTERM (no persistence: the data is gone) and wait for the process to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stop for good: process, watchdog and temp dir. */
  async destroy(): Promise<void> {
    await this.stop();
    this.watchdog?.kill('SIGKILL');
    this.watchdog = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Run `redis-cli` against this server; returns stdout. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run(REDIS_CLI, ['-h', HOST, '-p', String(this.port), ...args]);
    return stdout;
  }
}

/** A 3-master Redis Cluster on loopback, built with `redis-cli --cluster create`. */
export class RedisCluster {
  private constructor(readonly nodes: readonly RedisServer[]) {}

  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < masters; i++) nodes.push(await RedisServer.start({ cluster: true }));
      const cluster = new RedisCluster(nodes);
      await run(REDIS_CLI, ['--cluster', 'create', ...nodes.map((node) => `${HOST}:${node.port}`), '--cluster-replicas', '0', '--cluster-yes']);
      await cluster.waitForOk();
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((node) => node.destroy()));
      throw error;
    }
  }

  /** Seed addresses for an ioredis `Cluster`. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: HOST, port: node.port }));
  }

  /** Resolves when every node reports `cluster_state:ok` and knows every master. */
  async waitForOk(): Promise<void> {
    for (let attempt = 0; attempt < 300; attempt++) {
      const infos = await Promise.all(this.nodes.map((node) => node.cli('cluster', 'info')));
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${this.nodes.length}`))) return;
      await sleep(100);
    }
    throw new Error('the cluster did not reach cluster_state:ok');
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()));
  }
}
