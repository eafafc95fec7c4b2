/**
 * A suite that cannot fail proves nothing. Each fault below is a mistake a binding could make; the
 * reference binding is run with it, and the scenarios guarding against it must reject. The same
 * scenarios pass without the fault (reference.test.ts).
 */
import { httpScenarios, listen, runScenario, type HttpScenarioId } from '@oncely/http-tests';
import { describe, expect, it } from 'vitest';
import { referenceApp, type BindingFault } from './reference-app';

const caughtBy: Record<BindingFault, HttpScenarioId[]> = {
  sendsBeforeRecording: ['sendsAfterRecord'],
  ignoresScope: ['tenantIsolation'],
  computesScopeEagerly: ['getPassesThrough'],
  truncatesLargeBodies: ['largeBody', 'largeStream'],
  marksEveryAnswerReplayed: ['replayJson', 'quotedKey', 'tenantIsolation'],
  storesThrownErrors: ['thrownErrorReleases'],
  noContentLength: ['missingKey', 'replayBinary'],
};

describe('the HTTP suite catches broken bindings', () => {
  for (const [fault, scenarios] of Object.entries(caughtBy) as [BindingFault, HttpScenarioId[]][]) {
    for (const id of scenarios) {
      it(`${fault} fails "${id}"`, async () => {
        const target = { name: fault, start: (app: Parameters<typeof referenceApp>[0]) => listen(referenceApp(app, fault)) };
        await expect(runScenario(target, httpScenarios[id])).rejects.toThrow();
      });
    }
  }
});
