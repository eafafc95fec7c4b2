/**
 * Failures the store must report as `StoreUnavailableError` (with the SDK's error as `cause`),
 * promptly and never by hanging: DynamoDB throttling after the SDK's retries, a refused connection,
 * a server that accepts and never answers (with the client's timeouts, and without them: the
 * store's own `timeoutMs`), and a missing table. The core then answers 503 `store_unavailable`.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createIdempotency, isIdempotencyError, utf8 } from '@oncely/core';
import type { IdempotencyRecord, Store } from '@oncely/core';
import { completedRecord, inProgressRecord } from '@oncely/store-tests';
import { afterAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../src/index';
import { freePort } from './dynamodb-local';
import { countRequests, dynamoTarget, LOCAL_CREDENTIALS, localClient } from './target';

const ctx = { expiryGranularityMs: 1 };

function clientFor(endpoint: string, extra: Partial<ConstructorParameters<typeof DynamoDBClient>[0]> = {}): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS, maxAttempts: 2, ...extra });
}

/** Every operation of `store` rejects with StoreUnavailableError whose cause satisfies `checkCause`. */
async function expectEveryOperationUnavailable(store: Store, checkCause: (cause: unknown) => void): Promise<void> {
  const claim = inProgressRecord(ctx);
  const operations: [string, () => Promise<unknown>][] = [
    ['create', () => store.create(claim, Date.now())],
    ['update', () => store.update(claim.id, claim.token, completedRecord(claim) as IdempotencyRecord)],
    ['delete', () => store.delete(claim.id, claim.token)],
    ['get', () => store.get(claim.id, Date.now())],
  ];
  for (const [name, run] of operations) {
    let failure: unknown;
    try {
      await run();
    } catch (error) {
      failure = error;
    }
    expect(isIdempotencyError(failure, 'store_unavailable'), `${name} must throw StoreUnavailableError, threw ${String(failure)}`).toBe(true);
    expect((failure as Error).message, name).toContain(`dynamoStore: ${name} of record ${claim.id}`);
    checkCause((failure as Error).cause);
  }
}

async function closeServer(server: Server | ReturnType<typeof createTcpServer>, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe(`dynamodb failures — ${dynamoTarget().label}`, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('throttling (ProvisionedThroughputExceededException) after the SDK retries → StoreUnavailableError with the cause', async () => {
    const sockets = new Set<Socket>();
    let requests = 0;
    const server = createHttpServer((request, response) => {
      requests++;
      request.resume();
      request.on('end', () => {
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `throttled-${requests}` });
        response.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
            message: 'The level of configured provisioned throughput for the table was exceeded.',
          }),
        );
      });
    });
    server.on('connection', (socket) => sockets.add(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => closeServer(server, sockets));
    const port = (server.address() as { port: number }).port;
    const client = clientFor(`http://127.0.0.1:${port}`, { maxAttempts: 2 });
    const counter = countRequests(client);

    await expectEveryOperationUnavailable(dynamoStore({ client, tableName: 'throttled' }), (cause) => {
      expect((cause as Error).name).toBe('ProvisionedThroughputExceededException');
    });
    // maxAttempts 2: every operation was tried twice by the SDK before the store gave up.
    expect(counter.sent).toHaveLength(8);
    expect(requests).toBe(8);
    client.destroy();
  });

  it('connection refused → StoreUnavailableError with the network error as cause; the engine answers 503', async () => {
    const client = clientFor(`http://127.0.0.1:${await freePort()}`);
    const store = dynamoStore({ client, tableName: 'refused' });
    await expectEveryOperationUnavailable(store, (cause) => {
      expect(String((cause as { code?: unknown }).code ?? (cause as Error).message)).toMatch(/ECONNREFUSED/);
    });
    const engine = createIdempotency({ store });
    const { response } = await engine.handle(
      { scope: 't', method: 'POST', url: '/charges', headers: { 'idempotency-key': 'k-503' }, rawBody: utf8('{}') },
      async () => ({ status: 201, headers: [], body: utf8('never') }),
    );
    expect(response.status).toBe(503);
    expect(response.headers).toContainEqual(['retry-after', '1']);
    expect(JSON.parse(new TextDecoder().decode(response.body))).toMatchObject({ code: 'store_unavailable' });
    client.destroy();
  });

  it('a server that never answers: the client timeout (requestTimeout + throwOnRequestTimeout) and, without one, the store timeoutMs end every operation', async () => {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read the request, never answer
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => closeServer(server, sockets));
    const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const withClientTimeouts = clientFor(endpoint, {
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 500, requestTimeout: 300, throwOnRequestTimeout: true },
    });
    await expectEveryOperationUnavailable(dynamoStore({ client: withClientTimeouts, tableName: 'silent', timeoutMs: false }), (cause) => {
      expect((cause as Error).name).toBe('TimeoutError');
    });
    withClientTimeouts.destroy();

    const withoutTimeouts = clientFor(endpoint, { maxAttempts: 1 });
    const before = new Set(sockets);
    await expectEveryOperationUnavailable(dynamoStore({ client: withoutTimeouts, tableName: 'silent', timeoutMs: 300 }), (cause) => {
      expect(cause).toBeUndefined();
    });
    // The timed-out requests were aborted, not left running: their connections close.
    const opened = [...sockets].filter((socket) => !before.has(socket));
    expect(opened.length).toBeGreaterThan(0);
    await Promise.all(opened.map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
    withoutTimeouts.destroy();
  });

  it('a missing table (ResourceNotFoundException) → StoreUnavailableError naming it', async () => {
    const client = localClient();
    await expectEveryOperationUnavailable(dynamoStore({ client, tableName: 'oncely_no_such_table' }), (cause) => {
      expect((cause as Error).name).toBe('ResourceNotFoundException');
    });
    client.destroy();
  });
});
