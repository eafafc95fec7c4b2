import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

const src = (pkg: string): string => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

/**
 * Test-time settings every project shares: workspace packages resolve to their sources, so tests
 * run against the code being edited, not a stale build.
 */
export const shared: ViteUserConfig = {
  resolve: {
    alias: {
      '@oncely/core': src('core'),
      '@oncely/store-tests': src('store-tests'),
      '@oncely/postgres': src('postgres'),
      '@oncely/redis': src('redis'),
      '@oncely/mongodb': src('mongodb'),
      '@oncely/dynamodb': src('dynamodb'),
      '@oncely/express': src('express'),
      '@oncely/koa': src('koa'),
      '@oncely/hono': src('hono'),
      '@oncely/http-tests': src('http-tests'),
    },
  },
};
