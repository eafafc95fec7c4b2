import express5 from 'express';
import express4 from 'express4';
import { runHttpScenarios } from '@oncely/http-tests';
import { scenarioApp, start } from './app';

runHttpScenarios({ name: 'express 5', start: (app) => start(scenarioApp(express5, app)) });
runHttpScenarios({ name: 'express 4', start: (app) => start(scenarioApp(express4, app)) });
