/**
 * Honest failure: an unreachable, dropped or silent server surfaces as `StoreUnavailableError`
 * (with the driver's error as `cause`) within the client's timeouts, and the engine answers 503 —
 * never a hang. A TCP proxy in front of the server under test plays the network.
 */
import { createIdempotency, isIdempotencyError, utf8 } from '@oncely/core';
import type { Store } from '@oncely/core';
import { inProgressRecord } from '@oncely/store-tests';
import { mongoStore } from '@oncely/mongodb';
import { MongoClient, MongoError, type MongoClientOptions } from 'mongodb';
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { mongoTarget, TEST_DATABASE } from './target';

const target = mongoTarget();
const settings = { expiryGranularityMs: 1 };
const FAST_FAILURE: MongoClientOptions = { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000, socketTimeoutMS: 1_000, retryReads: false, retryWrites: false };

/** host:port of the server under test, from its URL. */
function upstream(): { host: string; port: number } {
  const match = /^mongodb:\/\/(?:[^@/]*@)?\[?([^\]/:,]+)\]?:(\d+)/.exec(target.url);
  if (!match) throw new Error('these tests need a mongodb:// URL with one host:port');
  return { host: match[1] as string, port: Number(match[2]) };
}

/** A loopback TCP proxy to the server under test that can drop every connection or go silent. */
class Proxy {
  private readonly sockets = new Set<Socket>();
  private silent = false;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Proxy> {
    const { host, port } = upstream();
    const server = createServer();
    const proxy = new Proxy(server);
    server.on('connection', (client) => {
      const remote = tcpConnect(port, host);
      proxy.track(client);
      proxy.track(remote);
      client.on('data', (chunk) => proxy.silent || remote.write(chunk));
      remote.on('data', (chunk) => proxy.silent || client.write(chunk));
      client.on('close', () => remote.destroy());
      remote.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  private track(socket: Socket): void {
    socket.on('error', () => undefined);
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** A URL that reaches the server through this proxy (the client's own options apply). */
  get url(): string {
    return `mongodb://127.0.0.1:${(this.server.address() as AddressInfo).port}/?directConnection=true`;
  }

  /** Keep connections open but stop passing bytes either way: a server that never answers. */
  goSilent(): void {
    this.silent = true;
  }

  /** Refuse new connections and cut every open one. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/** A port nothing listens on: bound, then released. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `mongodb://127.0.0.1:${port}/?directConnection=true`;
}

/** Every primitive, one after the other, rejects with StoreUnavailableError caused by a driver error. */
async function expectEveryOperationUnavailable(store: Store): Promise<Error[]> {
  const record = inProgressRecord(settings);
  const operations: [string, () => Promise<unknown>][] = [
    ['create', () => store.create(record, Date.now())],
    ['update', () => store.update(record.id, record.token, record)],
    ['delete', () => store.delete(record.id, record.token)],
    ['get', () => store.get(record.id, Date.now())],
  ];
  const causes: Error[] = [];
  for (const [name, operation] of operations) {
    const error: unknown = await operation().then(
      (value) => new Error(`${name} resolved with ${JSON.stringify(value)}`),
      (caught: unknown) => caught,
    );
    expect(isIdempotencyError(error, 'store_unavailable'), `${name}: ${String(error)}`).toBe(true);
    const cause = (error as Error).cause;
    expect(cause, `${name}: cause is the driver's error`).toBeInstanceOf(MongoError);
    causes.push(cause as Error);
  }
  return causes;
}

const clients: MongoClient[] = [];
const proxies: Proxy[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close(true).catch(() => undefined)));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function client(url: string, options: MongoClientOptions = {}): MongoClient {
  const created = new MongoClient(url, { ...FAST_FAILURE, ...options });
  clients.push(created);
  return created;
}

describe(`mongoStore failures on ${target.label}`, () => {
  it('no server at all: every operation rejects with StoreUnavailableError (cause: MongoServerSelectionError) after serverSelectionTimeoutMS', async () => {
    const store = mongoStore({ collection: client(await deadUrl()).db(TEST_DATABASE).collection('unreachable') });
    const [first] = await expectEveryOperationUnavailable(store);
    expect(first?.name).toBe('MongoServerSelectionError');
  });

  it('the engine answers 503 store_unavailable with Retry-After, and the handler does not run', async () => {
    const store = mongoStore({ collection: client(await deadUrl()).db(TEST_DATABASE).collection('unreachable') });
    let ran = false;
    const { response } = await createIdempotency({ store }).handle(
      { scope: 't', method: 'POST', url: '/charges', headers: { 'idempotency-key': 'k-503' }, rawBody: utf8('{}') },
      async () => {
        ran = true;
        return { status: 201, headers: [], body: new Uint8Array() };
      },
    );
    expect(response.status).toBe(503);
    expect(response.headers.some(([name]) => name.toLowerCase() === 'retry-after')).toBe(true);
    expect(ran).toBe(false);
  });

  it('the server goes away after connecting: every operation rejects with StoreUnavailableError', async () => {
    const proxy = await Proxy.start();
    proxies.push(proxy);
    const store = mongoStore({ collection: client(proxy.url).db(TEST_DATABASE).collection('dropped') });
    expect(await store.get('warm-up', Date.now())).toBeNull();
    await proxy.close();
    await expectEveryOperationUnavailable(store);
  });

  it('the server stops answering mid-connection: socketTimeoutMS ends every operation with StoreUnavailableError', async () => {
    const proxy = await Proxy.start();
    proxies.push(proxy);
    const store = mongoStore({ collection: client(proxy.url).db(TEST_DATABASE).collection('silent') });
    expect(await store.get('warm-up', Date.now())).toBeNull();
    proxy.goSilent();
    await expectEveryOperationUnavailable(store);
  });
});
