/**
 * The suite run against core alone, through a reference binding on plain `node:http` (see
 * reference-app.ts). Every scenario must pass here, so a failure in a binding's run is the
 * binding's, not the suite's or core's.
 */
import { listen, runHttpScenarios } from '@oncely/http-tests';
import { referenceApp } from './reference-app';

runHttpScenarios({ name: 'reference (node:http + engine.begin)', start: (app) => listen(referenceApp(app)) });
