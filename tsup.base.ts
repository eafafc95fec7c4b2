import type { Options } from 'tsup';

/**
 * The build every @oncely package shares: dual ESM + CJS, declarations for both,
 * source maps, no bundled dependencies. Spread it into a package's tsup.config.ts.
 */
export const baseConfig: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  splitting: false,
  treeshake: true,
  outDir: 'dist',
};
