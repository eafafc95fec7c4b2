import { Readable } from 'node:stream';
import { fixtures, listen, slowly, type RunningApp, type ScenarioApp } from '@oncely/http-tests';
import { idempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
import type express from 'express';
import { createServer } from 'node:http';

/** Either Express 4 or Express 5 (their default exports). */
export type ExpressModule = typeof express;

/** The scenario app (routes of @oncely/http-tests) on Express, with the recommended setup. */
export function scenarioApp(express: ExpressModule, app: ScenarioApp): express.Express {
  const { harness } = app;
  const server = express();
  server.use(express.json({ verify: keepRawBody }));
  server.use(idempotency({ ...app.options, scope: (req) => app.scope((name) => req.get(name)) }));
  server.post('/charges', (req, res) => {
    const answer = harness.charge(req.body, req.get('x-tenant'), req.idempotency);
    res.status(201).location(answer.location).json(answer.json);
  });
  server.get('/charges', (_req, res) => {
    res.json({ n: harness.execute('list') });
  });
  server.post('/binary', (_req, res) => {
    harness.execute('binary');
    res.type('application/octet-stream').send(Buffer.from(fixtures.binary));
  });
  server.post('/gzip', (_req, res) => {
    harness.execute('gzip');
    res.set({ 'content-type': 'application/json', 'content-encoding': 'gzip' }).send(Buffer.from(fixtures.gzip));
  });
  server.post('/slow', async (_req, res, next) => {
    const n = harness.execute('slow');
    try {
      await harness.gate();
      res.json({ n });
    } catch (error) {
      next(error);
    }
  });
  server.post('/fail', () => {
    harness.execute('fail');
    throw new Error('boom');
  });
  server.post('/error500', (_req, res) => {
    res.status(500).json({ n: harness.execute('error500') });
  });
  server.post('/cookie', (_req, res) => {
    const n = harness.execute('cookie');
    res.cookie('session', `s${n}`, { path: '/', httpOnly: true }).json({ n });
  });
  server.post('/large', (_req, res) => {
    harness.execute('large');
    res.type('application/octet-stream').send(Buffer.from(fixtures.large));
  });
  server.post('/large-stream', (_req, res) => {
    harness.execute('large-stream');
    res.type('application/octet-stream');
    Readable.from(slowly(fixtures.largeChunks), { objectMode: false }).pipe(res);
  });
  server.post('/stream', (_req, res) => {
    harness.execute('stream');
    res.type('text/plain; charset=utf-8');
    Readable.from(slowly(fixtures.streamChunks), { objectMode: false }).pipe(res);
  });
  server.use(idempotencyErrors());
  server.use(((error, _req, res, _next) => {
    harness.recordError(error);
    res.status(500).type('text/plain').send('app error');
  }) as express.ErrorRequestHandler);
  return server;
}

/** Listen on loopback. */
export function start(app: express.Express): Promise<RunningApp> {
  return listen(createServer(app));
}
