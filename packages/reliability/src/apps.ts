/**
 * One small app per binding — Express 5, Koa 3, Hono on `@hono/node-server` — set up the way each
 * binding's README recommends (body parser / body limit before the middleware, the binding's error
 * hooks), serving one idempotent route, `/pay`, whose behaviour the scenario supplies as a
 * framework-neutral {@link PayHandler}. Every method reaches `/pay`; the middleware guards the
 * methods in `options.methods` (default POST and PATCH). Listens on a loopback port with
 * `@oncely/http-tests`' `listen`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { bodyParser } from '@koa/bodyparser';
import type { ExecutionContext, IdempotencyOptions } from '@oncely/core';
import { idempotency as expressIdempotency, idempotencyErrors, keepRawBody } from '@oncely/express';
import { idempotency as honoIdempotency } from '@oncely/hono';
import { listen, type RunningApp } from '@oncely/http-tests';
import { idempotency as koaIdempotency } from '@oncely/koa';
import express from 'express';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import Koa from 'koa';

export type BindingName = 'express' | 'koa' | 'hono';

/** Every binding, in report order. */
export const BINDING_NAMES: readonly BindingName[] = ['express', 'koa', 'hono'];

/** Largest request body the apps accept (the parsers' and `bodyLimit`'s cap): 64 KiB, else 413. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** What `/pay` hands the scenario. */
export interface PayRequest {
  readonly method: string;
  /** Parsed JSON (or text) body as the framework's parser left it; `undefined` without a body. */
  readonly body: unknown;
  /** The `x-tenant` header. */
  readonly tenant: string | undefined;
  /** The execution (key, scope, `childKey()`, …); `undefined` when the request was not guarded. */
  readonly context: ExecutionContext | undefined;
}

/** What `/pay` answers: `status`, extra headers, and `json` serialized as the body. */
export interface PayAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json: unknown;
}

/** The scenario's `/pay` behaviour. A rejection becomes the framework's 500 (recorded in `errors`). */
export type PayHandler = (request: PayRequest) => Promise<PayAnswer>;

/** What an app is built from. */
export interface AppSpec {
  /** Core's options (store, wait, lease, …), without `scope`. */
  readonly options: IdempotencyOptions;
  /** Scope of a request from its `x-tenant` header (default: the header, else `'public'`). */
  readonly scope?: (tenant: string | undefined) => string;
  readonly handle: PayHandler;
}

/** A running app, plus the errors its error handling saw (anything here is a finding). */
export interface ReliabilityApp extends RunningApp {
  readonly binding: BindingName;
  readonly errors: unknown[];
}

const defaultScope = (tenant: string | undefined): string => tenant || 'public';

/**
 * The 4xx an app renders for a client's error, or `undefined` for a server-side error (rendered
 * 500 and recorded in `errors`: a finding). Client errors are those the framework or its body
 * parser raise on the client's bytes before any handler runs: errors carrying a 4xx `status`
 * (body-parser, koa's `ctx.throw`, `HTTPException`), HTTP parser errors (`HPE_*`, e.g. data after
 * `Connection: close`), zlib errors on a body that lies about its `Content-Encoding` (`Z_*`), and a
 * body the client aborted (`ECONNRESET` "aborted": nobody is left to answer).
 */
export function clientErrorStatus(error: unknown): number | undefined {
  const { status, statusCode, code, message } = (error ?? {}) as { status?: unknown; statusCode?: unknown; code?: unknown; message?: unknown };
  const carried = status ?? statusCode;
  if (typeof carried === 'number') return carried >= 400 && carried < 500 ? carried : undefined;
  if (typeof code === 'string' && (code.startsWith('HPE_') || code.startsWith('Z_'))) return 400;
  if (code === 'ECONNRESET' && message === 'aborted') return 400;
  return undefined;
}
const errorStatus = clientErrorStatus;

/**
 * Idle keep-alive connections stay open this long (Node's default is 5 s): a client pool reusing a
 * connection the server has just closed sees "socket hang up", a client-side race, not a finding.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

function keepAlive<S extends Server>(server: S): S {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}

/** Build the `/pay` app on `binding` and listen on a loopback port. */
export function startApp(binding: BindingName, spec: AppSpec): Promise<ReliabilityApp> {
  const errors: unknown[] = [];
  const scope = spec.scope ?? defaultScope;
  const started = binding === 'express' ? startExpress(spec, scope, errors) : binding === 'koa' ? startKoa(spec, scope, errors) : startHono(spec, scope, errors);
  return started.then((running) => ({ ...running, binding, errors }));
}

function startExpress(spec: AppSpec, scope: (tenant: string | undefined) => string, errors: unknown[]): Promise<RunningApp> {
  const app = express();
  app.use(express.json({ verify: keepRawBody, limit: MAX_REQUEST_BYTES }));
  app.use(express.text({ verify: keepRawBody, limit: MAX_REQUEST_BYTES }));
  app.use(expressIdempotency({ ...spec.options, scope: (req) => scope(req.get('x-tenant')) }));
  app.all('/pay', async (req, res, next) => {
    try {
      const answer = await spec.handle({ method: req.method, body: req.body, tenant: req.get('x-tenant'), context: req.idempotency });
      res.status(answer.status).set(answer.headers ?? {}).json(answer.json);
    } catch (error) {
      next(error);
    }
  });
  app.use(idempotencyErrors());
  app.use(((error, _req, res, _next) => {
    const status = errorStatus(error);
    if (status === undefined) errors.push(error);
    res.status(status ?? 500).type('text/plain').send(status === undefined ? 'app error' : 'bad request');
  }) as express.ErrorRequestHandler);
  return listen(keepAlive(createServer(app)));
}

function startKoa(spec: AppSpec, scope: (tenant: string | undefined) => string, errors: unknown[]): Promise<RunningApp> {
  const koa = new Koa();
  koa.on('error', (error: unknown) => {
    if (errorStatus(error) === undefined) errors.push(error);
  });
  // Render the client's own errors (bad bodies the parser chokes on) as 4xx, as a Koa app should:
  // Koa's default answers 500 for a parser error without a status (e.g. zlib on a lying Content-Encoding).
  koa.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const status = errorStatus(error);
      if (status === undefined) throw error;
      ctx.status = status;
      ctx.type = 'text/plain';
      ctx.body = 'bad request';
    }
  });
  const limit = `${MAX_REQUEST_BYTES}b`;
  koa.use(bodyParser({ enableTypes: ['json', 'form', 'text'], jsonLimit: limit, formLimit: limit, textLimit: limit }));
  koa.use(koaIdempotency({ ...spec.options, scope: (ctx) => scope(ctx.get('x-tenant') || undefined) }));
  koa.use(async (ctx) => {
    if (ctx.path !== '/pay') return;
    const answer = await spec.handle({ method: ctx.method, body: ctx.request.body, tenant: ctx.get('x-tenant') || undefined, context: ctx.state.idempotency });
    ctx.status = answer.status;
    ctx.set(answer.headers ?? {});
    ctx.body = answer.json;
  });
  return listen(keepAlive(createServer(koa.callback())));
}

function startHono(spec: AppSpec, scope: (tenant: string | undefined) => string, errors: unknown[]): Promise<RunningApp> {
  const hono = new Hono();
  hono.use(bodyLimit({ maxSize: MAX_REQUEST_BYTES, onError: (c) => c.text('payload too large', 413) }));
  hono.use(honoIdempotency({ ...spec.options, scope: (c) => scope(c.req.header('x-tenant')) }));
  hono.all('/pay', async (c) => {
    const text = await c.req.text();
    let body: unknown = text === '' ? undefined : text;
    if (text !== '' && (c.req.header('content-type') ?? '').includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        return c.text('bad request', 400);
      }
    }
    const answer = await spec.handle({ method: c.req.method, body, tenant: c.req.header('x-tenant'), context: c.get('idempotency') });
    return c.json(answer.json as object, answer.status as 200, { ...answer.headers });
  });
  hono.onError((error, c) => {
    const status = errorStatus(error);
    if (status === undefined) errors.push(error);
    return c.text(status === undefined ? 'app error' : 'bad request', (status ?? 500) as 400);
  });
  return new Promise<RunningApp>((resolve) => {
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1'}, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      });
    });
    keepAlive(server as Server);
  });
}
