import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: 'dynamodb',
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      // One DynamoDB Local (a JVM) for the whole run, started and stopped here.
      globalSetup: ['./test/global-setup.ts'],
      // The AWS SDK warns once per worker that its 2027 releases need Node 22; global-setup.ts says it once.
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  }),
);
