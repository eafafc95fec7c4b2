import { serve } from '@hono/node-server';
import { fixtures, webStream, type RunningApp, type ScenarioApp } from '@oncely/http-tests';
import { idempotency } from '@oncely/hono';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const bytes = (data: Uint8Array) => data as Uint8Array<ArrayBuffer>;

/** The scenario app (routes of @oncely/http-tests) on Hono. */
export function scenarioApp(app: ScenarioApp): Hono {
  const { harness } = app;
  const hono = new Hono();
  hono.use(idempotency({ ...app.options, scope: (c) => app.scope((name) => c.req.header(name)) }));
  hono.post('/charges', async (c) => {
    const answer = harness.charge(await c.req.json(), c.req.header('x-tenant'), c.get('idempotency'));
    return c.json(answer.json, 201, { location: answer.location });
  });
  hono.get('/charges', (c) => c.json({ n: harness.execute('list') }));
  hono.post('/binary', (c) => {
    harness.execute('binary');
    return c.body(bytes(fixtures.binary), 200, { 'content-type': 'application/octet-stream' });
  });
  hono.post('/gzip', (c) => {
    harness.execute('gzip');
    return c.body(bytes(fixtures.gzip), 200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  });
  hono.post('/slow', async (c) => {
    const n = harness.execute('slow');
    await harness.gate();
    return c.json({ n });
  });
  hono.post('/fail', () => {
    harness.execute('fail');
    throw new Error('boom');
  });
  hono.post('/error500', (c) => c.json({ n: harness.execute('error500') }, 500));
  hono.post('/cookie', (c) => {
    const n = harness.execute('cookie');
    c.header('set-cookie', `session=s${n}; Path=/; HttpOnly`);
    return c.json({ n });
  });
  hono.post('/large', (c) => {
    harness.execute('large');
    return c.body(bytes(fixtures.large), 200, { 'content-type': 'application/octet-stream' });
  });
  hono.post('/large-stream', (c) => {
    harness.execute('large-stream');
    return c.body(webStream(fixtures.largeChunks), 200, { 'content-type': 'application/octet-stream' });
  });
  hono.post('/stream', (c) => {
    harness.execute('stream');
    return c.body(webStream(fixtures.streamChunks), 200, { 'content-type': 'text/plain; charset=utf-8' });
  });
  hono.onError((error, c) => {
    harness.recordError(error);
    return c.text('app error', 500);
  });
  return hono;
}

/** Serve with @hono/node-server on loopback. */
export function start(hono: Hono): Promise<RunningApp> {
  return new Promise<RunningApp>((resolve) => {
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as Server).closeAllConnections();
          }),
      });
    });
  });
}
