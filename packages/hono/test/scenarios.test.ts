import { runHttpScenarios } from '@oncely/http-tests';
import { scenarioApp, start } from './app';

runHttpScenarios({ name: 'hono (@hono/node-server)', start: (app) => start(scenarioApp(app)) });
