/**
 * The parent side of the crash scenario: bundle the crash server (current sources, as the tests
 * see them), run it as a child process, SIGKILL it at the kill points the parent picks, and start
 * a fresh one each time. The URL moves with each restart (ephemeral port); clients read `url`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BundledChild, bundleChild } from '../../../../vitest.child';
import type { KillPoint } from './app';
import type { GoMessage, ServerMessage } from './server';

/** Marks a child this class killed on purpose. */
const KILLED = Symbol('killed');

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Bundle `server.ts` with the workspace sources of every `@oncely/*` package; returns the script and a cleanup. */
export function buildCrashServer(): Promise<BundledChild> {
  return bundleChild(here('./server.ts'), here('../..'), ['pg', 'ioredis', 'express', '@aws-sdk/client-dynamodb', 'mongodb']);
}

/** One SIGKILL: where (a kill point, or `random` for {@link CrashServer.killNow}), on which key (if known), and when (epoch ms). */
export interface Kill {
  readonly point: KillPoint | 'random';
  readonly key: string | undefined;
  readonly pid: number;
  readonly at: number;
}

export interface CrashServerOptions {
  readonly script: string;
  readonly env: Readonly<Record<string, string>>;
  /** Asked at each kill point the child reports: true → SIGKILL now (and restart). */
  readonly decide: (point: KillPoint, key: string) => boolean;
}

/** A crash server that restarts after every SIGKILL, until `stop()`. */
export class CrashServer {
  readonly kills: Kill[] = [];
  /** How many processes ran (1 + restarts). */
  starts = 0;
  /** Processes that died without being killed (a crash of the app itself). */
  unexpectedExits = 0;
  private child: ChildProcess | null = null;
  private current: Promise<string> | null = null;
  private stopped = false;

  constructor(private readonly options: CrashServerOptions) {}

  /** The base URL of the running server (waits while it restarts). */
  url(): Promise<string> {
    if (!this.current) this.current = this.spawn();
    return this.current;
  }

  private spawn(): Promise<string> {
    this.starts++;
    return new Promise<string>((resolve, reject) => {
      const child = fork(this.options.script, [], {
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, ...this.options.env },
      });
      this.child = child;
      const pid = child.pid ?? -1;
      const killed = (): boolean => (child as ChildProcess & { [KILLED]?: boolean })[KILLED] === true;
      child.on('message', (message: ServerMessage) => {
        if ('listening' in message) return resolve(`http://127.0.0.1:${message.listening}`);
        if (killed()) return;
        if (!this.stopped && this.options.decide(message.point, message.key)) {
          (child as ChildProcess & { [KILLED]?: boolean })[KILLED] = true;
          this.kills.push({ point: message.point, key: message.key, pid, at: Date.now() });
          // The next caller of url() starts a fresh process; requests in flight die with this one.
          this.current = null;
          child.kill('SIGKILL');
        } else if (child.connected) {
          child.send({ go: message.id } satisfies GoMessage);
        }
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (this.child === child) this.child = null;
        if (!killed() && !this.stopped) {
          this.unexpectedExits++;
          this.current = null;
          reject(new Error(`crash server ${pid} exited by itself (code ${code}, signal ${signal})`));
        }
      });
    });
  }

  /**
   * SIGKILL the running server now, wherever its requests are (mid-statement, mid-COMMIT, …).
   * Returns false when no server is up (one is starting, or none was asked for yet).
   */
  async killNow(): Promise<boolean> {
    const child = this.child;
    const current = this.current;
    if (!child || !current || this.stopped) return false;
    await current;
    if (this.child !== child || child.exitCode !== null || child.signalCode !== null) return false;
    (child as ChildProcess & { [KILLED]?: boolean })[KILLED] = true;
    this.kills.push({ point: 'random', key: undefined, pid: child.pid ?? -1, at: Date.now() });
    this.current = null;
    child.kill('SIGKILL');
    return true;
  }

  /** Stop for good (SIGKILL: nothing of the app's needs a clean shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
