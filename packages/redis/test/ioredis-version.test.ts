import { createRequire } from 'node:module';
import { it } from 'vitest';

it('reports the ioredis under test', () => {
  const require = createRequire(import.meta.url);
  const override = process.env['ONCELY_IOREDIS'];
  const manifest = require(override ? `${override}/package.json` : 'ioredis/package.json') as { version: string };
  console.info(`ioredis ${manifest.version}${override ? ` (ONCELY_IOREDIS=${override})` : ''}`);
});
