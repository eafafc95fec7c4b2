import type { IdempotencyOptions } from '@oncely/core';
import { describe, it } from 'vitest';
import { send } from './client';
import { fixtures } from './fixtures';
import { Harness } from './harness';
import { httpScenarios, randomKey, type HttpScenario, type HttpScenarioId, type ScenarioContext } from './scenarios';
import { countingStore } from './stores';

/** What a scenario app is built from. */
export interface ScenarioApp {
  /** Pass these to the binding's `idempotency()`, with a scope built from {@link ScenarioApp.scope}. */
  readonly options: IdempotencyOptions;
  /**
   * The scope of a request, from a header reader: `x-tenant` (default `'public'`). With
   * `x-scope-fail: throw` it throws `Error('scope: no tenant')`; with `x-scope-fail: empty` it returns ''.
   */
  scope(header: (name: string) => string | undefined): string;
  /** Count executions, wait on the gate, record errors: see the routes in the README. */
  readonly harness: Harness;
}

/** An app listening on loopback. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/** A binding under test. */
export interface HttpScenarioTarget {
  /** Names the describe block, e.g. `'express 5'`. */
  readonly name: string;
  /** Build the scenario app with the binding and listen on port 0. */
  start(app: ScenarioApp): Promise<RunningApp>;
  /** Scenario ids not to register (document why in the test file). */
  readonly skip?: readonly HttpScenarioId[];
  /** Per-scenario timeout. Default 20 s (a generous bound for a loaded CI machine, not an expectation). */
  readonly timeoutMs?: number;
}

function scope(header: (name: string) => string | undefined): string {
  const fail = header('x-scope-fail');
  if (fail === 'throw') throw new Error('scope: no tenant');
  if (fail === 'empty') return '';
  return header('x-tenant') ?? 'public';
}

/**
 * Run one scenario against a fresh app (its own store and harness), closing the app afterwards,
 * pass or fail. Throws what the scenario's assertions throw.
 */
export async function runScenario(target: HttpScenarioTarget, scenario: HttpScenario): Promise<void> {
  const harness = new Harness();
  const store = countingStore();
  const options: IdempotencyOptions = {
    store,
    maxBodyBytes: fixtures.maxBodyBytes,
    onEvent: (event) => harness.events.push(event),
    ...scenario.options,
  };
  const app = await target.start({ options, scope, harness });
  const context: ScenarioContext = {
    url: app.url,
    harness,
    store,
    key: randomKey,
    post: (path, init) => send(app.url, path, { ...init, method: 'POST' }),
    get: (path, init) => send(app.url, path, { ...init, method: 'GET' }),
  };
  try {
    await scenario.run(context);
  } finally {
    harness.open();
    await app.close();
  }
}

/**
 * Register every HTTP scenario (CONTRACT §5–7, §10 over real loopback HTTP) for one binding, as a
 * vitest `describe` block with one `it` per scenario. Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * runHttpScenarios({ name: 'express 5', start: (app) => startExpressApp(express, app) });
 * ```
 */
export function runHttpScenarios(target: HttpScenarioTarget): void {
  const skipped = new Set<string>(target.skip ?? []);
  describe(`${target.name}: HTTP scenarios`, () => {
    for (const [id, scenario] of Object.entries(httpScenarios) as [HttpScenarioId, HttpScenario][]) {
      if (skipped.has(id)) continue;
      it(scenario.name, () => runScenario(target, scenario), target.timeoutMs ?? 20_000);
    }
  });
}
