import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

/**
 * `ONCELY_IOREDIS=/path/to/node_modules/ioredis` runs the tests against another ioredis install
 * (e.g. 6.x next to the 5.x dev dependency), to check the whole peer range.
 */
const otherIoredis = process.env['ONCELY_IOREDIS'];

export default mergeConfig(
  shared,
  defineProject({
    ...(otherIoredis ? { resolve: { alias: { ioredis: otherIoredis } } } : {}),
    test: {
      name: 'redis',
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      // The integration files start their own redis-server processes (cluster, outage): keep the
      // machine calm for the other projects running next to this one.
      fileParallelism: false,
    },
  }),
);
