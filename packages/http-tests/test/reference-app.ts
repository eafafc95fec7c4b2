import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createIdempotency, utf8, type HttpResponse } from '@oncely/core';
import { fixtures, type ScenarioApp } from '@oncely/http-tests';

/** Mistakes a binding could make; the meta-test checks the suite notices each. */
export type BindingFault =
  /** Sends the handler's answer without waiting for `finish()` (the record). */
  | 'sendsBeforeRecording'
  /** Uses one scope for everyone. */
  | 'ignoresScope'
  /** Computes the scope for every request, guarded or not. */
  | 'computesScopeEagerly'
  /** Cuts bodies to `maxBodyBytes`. */
  | 'truncatesLargeBodies'
  /** Marks every answer `Idempotent-Replayed: true`. */
  | 'marksEveryAnswerReplayed'
  /** Renders thrown errors itself as a 400 and stores that, instead of `fail()`. */
  | 'storesThrownErrors'
  /** Omits `Content-Length` from core's responses. */
  | 'noContentLength';

const json = (status: number, value: unknown, headers: [string, string][] = []): HttpResponse => ({
  status,
  headers: [['content-type', 'application/json'], ...headers],
  body: utf8(JSON.stringify(value)),
});
const bytes = (body: Uint8Array, headers: [string, string][] = [['content-type', 'application/octet-stream']]): HttpResponse => ({ status: 200, headers, body });

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The scenario app on plain `node:http` and core's two-step API (`begin`, then `finish`/`fail`),
 * the way core's README says to support a framework without a binding: a reference binding.
 */
export function referenceApp(app: ScenarioApp, fault?: BindingFault): Server {
  const engine = createIdempotency(app.options);
  const { harness } = app;
  const routes: Record<string, (body: Uint8Array, req: IncomingMessage) => Promise<HttpResponse>> = {
    'GET /charges': async () => json(200, { n: harness.execute('list') }),
    'POST /binary': async () => (harness.execute('binary'), bytes(fixtures.binary)),
    'POST /gzip': async () => (harness.execute('gzip'), bytes(fixtures.gzip, [['content-type', 'application/json'], ['content-encoding', 'gzip']])),
    'POST /slow': async () => {
      const n = harness.execute('slow');
      await harness.gate();
      return json(200, { n });
    },
    'POST /fail': async () => {
      harness.execute('fail');
      throw new Error('boom');
    },
    'POST /error500': async () => json(500, { n: harness.execute('error500') }),
    'POST /cookie': async () => {
      const n = harness.execute('cookie');
      return json(200, { n }, [['set-cookie', `session=s${n}; Path=/; HttpOnly`]]);
    },
    'POST /large': async () => (harness.execute('large'), bytes(fixtures.large)),
    'POST /large-stream': async () => (harness.execute('large-stream'), bytes(fixtures.large)),
    'POST /stream': async () => (harness.execute('stream'), bytes(fixtures.streamBody, [['content-type', 'text/plain; charset=utf-8']])),
  };

  const send = (res: ServerResponse, response: HttpResponse, replayed = false): void => {
    res.statusCode = response.status;
    for (const [name, value] of response.headers) res.appendHeader(name, value);
    if (fault === 'marksEveryAnswerReplayed' && !replayed) res.setHeader('idempotent-replayed', 'true');
    const body = fault === 'truncatesLargeBodies' ? response.body.subarray(0, fixtures.maxBodyBytes) : response.body;
    if (fault !== 'noContentLength') res.setHeader('content-length', body.byteLength);
    if (fault === 'noContentLength') res.setHeader('transfer-encoding', 'chunked');
    res.end(body);
  };

  return createServer(async (req, res) => {
    const rawBody = await readBody(req);
    const url = req.url ?? '/';
    const header = (name: string) => req.headers[name] as string | undefined;
    try {
      const eager = fault === 'computesScopeEagerly' ? app.scope(header) : undefined;
      const request = {
        method: req.method ?? 'GET',
        url,
        headers: req.headers,
        rawBody,
        get scope() {
          return fault === 'ignoresScope' ? 'everyone' : (eager ?? app.scope(header));
        },
      };
      const decision = await engine.begin(request);
      if (decision.action === 'respond') return send(res, decision.response, decision.replayed);
      const context = decision.action === 'execute' ? decision.execution : undefined;
      let response: HttpResponse;
      try {
        if (url === '/charges' && req.method === 'POST') {
          const answer = harness.charge(JSON.parse(Buffer.from(rawBody).toString('utf8')), header('x-tenant'), context);
          response = json(201, answer.json, [['location', answer.location]]);
        } else {
          const route = routes[`${req.method} ${url.split('?')[0]}`];
          response = route ? await route(rawBody, req) : json(404, { error: 'not found' });
        }
      } catch (error) {
        if (fault !== 'storesThrownErrors' || !context) {
          await context?.fail(error);
          throw error;
        }
        harness.recordError(error);
        response = json(400, { error: 'failed' });
      }
      if (!context) return send(res, response);
      if (fault === 'sendsBeforeRecording') {
        send(res, response);
        await context.finish(response);
        return;
      }
      send(res, (await context.finish(response)) ?? response);
    } catch (error) {
      harness.recordError(error);
      send(res, { status: 500, headers: [['content-type', 'text/plain']], body: utf8('app error') });
    }
  });
}
