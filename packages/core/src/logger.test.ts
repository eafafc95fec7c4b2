import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { utf8 } from './bytes';
import { manualClock } from './clock';
import type { IdempotencyEvent } from './events';
import { createIdempotency, type IdempotencyOptions, type IdempotentRequest } from './http';
import { idempotent } from './function';
import { LOG_LEVELS, type Logger } from './logger';
import { memoryStore } from './memory-store';
import type { HttpResponse } from './problem';
import type { Store } from './store';

const START = Date.UTC(2030, 0, 1);

interface Line {
  readonly level: keyof Logger;
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function recordingLogger(): Logger & { readonly lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: keyof Logger) => (fields: Record<string, unknown>, message: string) => void lines.push({ level, fields, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function request(key = 'key-1', overrides: Partial<IdempotentRequest> = {}): IdempotentRequest {
  return { scope: 'tenant-a', method: 'POST', url: '/charges', headers: { 'idempotency-key': key }, rawBody: utf8('{"a":1}'), ...overrides };
}

const ok = (status = 201): HttpResponse => ({ status, headers: [], body: utf8('ok') });

function setup(options: Partial<IdempotencyOptions> = {}, store: Store = memoryStore()) {
  const clock = manualClock(START);
  const logger = recordingLogger();
  const events: IdempotencyEvent[] = [];
  const engine = createIdempotency({
    store,
    clock,
    heartbeat: false,
    logger,
    onEvent: (event) => events.push(event),
    onLifecycle: (event) => events.push(event),
    ...options,
  });
  return { engine, clock, logger, events };
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('logger option', () => {
  it('writes one line per decision, at its level, with the documented fields and never the raw key', async () => {
    const { engine, clock, logger, events } = setup();
    await engine.handle(request('secret-key-1'), async () => {
      clock.advance(120);
      return ok();
    });
    await engine.handle(request('secret-key-1'), async () => ok());
    await engine.handle(request('secret-key-1', { url: '/other' }), async () => ok());
    const running = await engine.begin(request('secret-key-2'));
    await engine.handle(request('secret-key-2'), async () => ok());
    if (running.action !== 'execute') throw new Error('must execute');
    await running.execution.finish({ status: 503, headers: [], body: null });

    const decisions = events.filter((event) => event.type !== 'claimed' && event.type !== 'settled');
    expect(logger.lines.map((line) => [line.level, line.message])).toEqual([
      ['debug', 'oncely executed'],
      ['debug', 'oncely replayed'],
      ['info', 'oncely mismatch'],
      ['info', 'oncely conflict'],
      ['warn', 'oncely released'],
    ]);
    expect(logger.lines).toHaveLength(decisions.length);
    const [executed, , , conflict, released] = logger.lines;
    expect(executed?.fields).toEqual({
      event: 'executed',
      scope: 'tenant-a',
      keyHash: decisions[0]?.keyHash,
      requestId: decisions[0]?.requestId,
      status: 201,
      durationMs: 120,
      storeLatencyMs: 0,
      handlerMs: 120,
    });
    expect(conflict?.fields).toMatchObject({ event: 'conflict', detail: 'in_progress' });
    expect(released?.fields).toMatchObject({ event: 'released', status: 503 });
    expect(JSON.stringify(logger.lines)).not.toContain('secret-key');
  });

  it('logs store errors at error level with the error message, not the error object', async () => {
    const inner = memoryStore();
    const down: Store = { ...inner, create: async () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')) };
    const { engine, logger } = setup({}, down);
    expect((await engine.handle(request(), async () => ok())).response.status).toBe(503);
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: 'oncely store_error',
        fields: expect.objectContaining({ event: 'store_error', detail: 'create', error: 'ECONNREFUSED 127.0.0.1:6379' }),
      },
    ]);
  });

  it('includes the raw key only with logRawKeys', async () => {
    const { engine, logger } = setup({ logRawKeys: true });
    await engine.handle(request('visible-key'), async () => ok());
    expect(logger.lines[0]?.fields).toMatchObject({ event: 'executed', key: 'visible-key' });
  });

  it('levels every decision as documented', () => {
    expect(LOG_LEVELS).toEqual({
      executed: 'debug',
      replayed: 'debug',
      conflict: 'info',
      mismatch: 'info',
      takeover: 'info',
      released: 'warn',
      lease_lost: 'error',
      store_error: 'error',
      complete_failed: 'error',
    });
  });

  it('works with a real pino logger: one JSON line per decision with msg, level and fields', async () => {
    const out = sink();
    const logger = pino({ level: 'debug', base: null }, out.stream);
    const clock = manualClock(START);
    const engine = createIdempotency({ store: memoryStore(), clock, heartbeat: false, logger });
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k', { url: '/other' }), async () => ok());
    const lines = out.text().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.level, line.msg, line.event])).toEqual([
      [20, 'oncely executed', 'executed'],
      [20, 'oncely replayed', 'replayed'],
      [30, 'oncely mismatch', 'mismatch'],
    ]);
    expect(lines[0]).toMatchObject({ scope: 'tenant-a', status: 201, durationMs: 0, storeLatencyMs: 0 });
    expect(lines[0]?.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(lines[0]?.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect('key' in (lines[0] ?? {})).toBe(false);
  });

  it('pino at its default level (info) drops the routine executed/replayed lines and keeps the rest', async () => {
    const out = sink();
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, logger: pino(out.stream) });
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k', { url: '/other' }), async () => ok());
    const lines = out.text().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.msg)).toEqual(['oncely mismatch']);
  });

  it('works with a console: fields first, message second, warnings and errors on stderr', async () => {
    const stdout = sink();
    const stderr = sink();
    const logger: Logger = new Console({ stdout: stdout.stream, stderr: stderr.stream, colorMode: false });
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, logger });
    await engine.handle(request('k'), async () => ok());
    await engine.handle(request('k2'), async () => ok(500));
    expect(stdout.text()).toMatch(/^\{.*event: 'executed'.*\} oncely executed\n$/s);
    expect(stdout.text()).toContain("scope: 'tenant-a'");
    expect(stderr.text()).toMatch(/^\{.*event: 'released'.*status: 500.*\} oncely released\n$/s);
  });

  it('a logger that throws never breaks a request, nor keeps events from onEvent', async () => {
    const events: IdempotencyEvent[] = [];
    const broken: Logger = {
      debug: () => {
        throw new Error('log pipe closed');
      },
      info: () => {
        throw new Error('log pipe closed');
      },
      warn: () => {
        throw new Error('log pipe closed');
      },
      error: () => {
        throw new Error('log pipe closed');
      },
    };
    const engine = createIdempotency({ store: memoryStore(), heartbeat: false, logger: broken, onEvent: (event) => events.push(event) });
    expect((await engine.handle(request(), async () => ok())).outcome).toBe('executed');
    expect((await engine.handle(request(), async () => ok())).outcome).toBe('replayed');
    expect(events.map((event) => event.type)).toEqual(['executed', 'replayed']);
  });

  it('logs the function wrapper idempotent() the same way', async () => {
    const logger = recordingLogger();
    const run = idempotent({ store: memoryStore(), heartbeat: false, logger, scope: 'jobs', key: (id: string) => id, handler: async (id: string) => id.length });
    await run('job-1');
    await run('job-1');
    expect(logger.lines.map((line) => [line.level, line.fields.event, line.fields.scope])).toEqual([
      ['debug', 'executed', 'jobs'],
      ['debug', 'replayed', 'jobs'],
    ]);
  });

  it('rejects a logger without the four methods at setup', () => {
    const store = memoryStore();
    expect(() => createIdempotency({ store, logger: { info: () => {} } as unknown as Logger })).toThrow(/logger/);
    expect(() => createIdempotency({ store, logger: null as unknown as Logger })).toThrow(/logger/);
    expect(() => createIdempotency({ store, onEvent: 'log' as unknown as () => void })).toThrow(/onEvent/);
    expect(() => createIdempotency({ store, onLifecycle: {} as unknown as () => void })).toThrow(/onLifecycle/);
  });
});
