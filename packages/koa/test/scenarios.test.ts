import Koa3 from 'koa';
import Koa2 from 'koa2';
import { runHttpScenarios } from '@oncely/http-tests';
import { scenarioApp, start } from './app';

runHttpScenarios({ name: 'koa 3', start: (app) => start(scenarioApp(Koa3, app)) });
runHttpScenarios({ name: 'koa 2', start: (app) => start(scenarioApp(Koa2, app)) });
