/**
 * Figures of the reliability scenarios: one JSON file per (scenario, store, binding) in
 * `packages/reliability/results/` (gitignored), which `scripts/reliability-report.mjs` turns into
 * the table of `docs/reliability.md`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One scenario run's figures. Counts are counted, never assumed. */
export interface ReliabilityResult {
  /** e.g. `'storm'`, `'tenancy'`, `'hostile'`, `'crash'`, `'outage'`, `'clock-skew'`. */
  readonly scenario: string;
  /** `memory`, `postgres`, `redis`, `dynamodb`, `mongodb (stand-in)`, … */
  readonly store: string;
  /** `express`, `koa`, `hono`, … */
  readonly binding: string;
  /** The load held, in words and numbers, e.g. `'1000 keys × 8 clients, 5–50 ms handler'`. */
  readonly load: string;
  /** Faults injected, e.g. `'none'`, `'SIGKILL ×12'`, `'redis stopped 3 s'`. */
  readonly faults: string;
  /** Side effects the handlers performed (executions counted by the handlers themselves). */
  readonly executions: number;
  /** Distinct operations (keys × scopes) that had to run. */
  readonly distinctKeys: number;
  /** Executions beyond one per distinct operation. */
  readonly duplicates: number;
  /** Operations that never ran (or whose effect is missing). */
  readonly lost: number;
  /** 5xx answers outside an injected outage window. */
  readonly fiveXXOutsideOutages: number;
  /** Anything a reader needs to interpret the numbers (durations, retries, caveats). */
  readonly notes: string;
}

/** `packages/reliability/results/` */
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Write `result` to `results/<scenario>__<store>__<binding>.json` and print one summary line. Returns the path. */
export function writeResult(result: ReliabilityResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${slug(result.scenario)}__${slug(result.store)}__${slug(result.binding)}.json`;
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `reliability: ${result.scenario} | ${result.store} | ${result.binding} | ${result.load} | faults: ${result.faults} | ` +
      `executions ${result.executions}/${result.distinctKeys} | duplicates ${result.duplicates} | lost ${result.lost} | ` +
      `5xx outside outages ${result.fiveXXOutsideOutages}${result.notes ? ` | ${result.notes}` : ''}\n`,
  );
  return path;
}
