/**
 * Chooses what the MongoDB tests run against, once per run: the real MongoDB at `MONGODB_URL` when
 * it is set, otherwise oncely's wire-protocol STAND-IN (mockupdb + mongomock, not MongoDB), started
 * here on a free loopback port and stopped after the run. Says which, in one log line.
 */
import type { TestProject } from 'vitest/node';
import { ensureStandInPackages, STAND_IN_LABEL, startStandIn } from './standin/launch';
import type { MongoTarget } from './target';

declare module 'vitest' {
  export interface ProvidedContext {
    mongodb: MongoTarget;
  }
}

/** `mongodb://user:secret@host` → `mongodb://user:***@host`. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const url = process.env['MONGODB_URL']?.trim();
  if (url) {
    process.stderr.write(`mongodb: real server at ${redact(url)}\n`);
    project.provide('mongodb', { url, standIn: false, label: 'mongodb (real server)' });
    return undefined;
  }
  ensureStandInPackages();
  const standIn = await startStandIn();
  process.stderr.write(`${STAND_IN_LABEL}: tests run against ${standIn.url} (set MONGODB_URL to test a real MongoDB)\n`);
  project.provide('mongodb', { url: standIn.url, standIn: true, label: STAND_IN_LABEL });
  return () => standIn.stop();
}
