import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

export default mergeConfig(shared, defineProject({ test: { name: 'http-tests', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } }));
