import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // packages/reliability is the long load-and-fault suite: `pnpm test:reliability` runs it, not `pnpm test`.
    projects: ['packages/*', '!packages/reliability', 'examples/*'],
  },
});
