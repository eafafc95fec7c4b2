import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/server.ts', 'src/demo.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  clean: true,
  sourcemap: true,
});
