import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

/**
 * The reliability scenarios (`pnpm test:reliability`): long, load-heavy, real servers. Not part of
 * the root `pnpm test` (the root config excludes this project). Files run one at a time: each one
 * loads the machine on its own, and the figures it writes mean more without a neighbour.
 */
export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: 'reliability',
      include: ['test/**/*.test.ts'],
      // DynamoDB Local and the MongoDB stand-in, started once per run by their own packages' setups.
      globalSetup: ['../dynamodb/test/global-setup.ts', '../mongodb/test/global-setup.ts'],
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      fileParallelism: false,
      testTimeout: 300_000,
      hookTimeout: 120_000,
    },
  }),
);
