import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { shared } from './vitest.shared';

/** A child-process script bundled by {@link bundleChild}, and how to delete it. */
export interface BundledChild {
  /** The `.mjs` file to `fork()`. */
  readonly script: string;
  /** Deletes the bundle's folder. */
  remove(): void;
}

/**
 * Bundles a test's child-process entry (`entry`, a `.ts` file) with the sources of every
 * `@oncely/*` package (the aliases of {@link shared}), so a child that a crash test SIGKILLs runs
 * the code being edited, not a stale `dist`. The bundle goes to `node_modules/.cache/` of
 * `packageDir` (the calling package), so the drivers left `external` (pg, ioredis, …) resolve from
 * that package's own dependencies.
 */
export async function bundleChild(entry: string, packageDir: string, external: readonly string[]): Promise<BundledChild> {
  const { build } = await import('tsup');
  const name = basename(entry, extname(entry));
  const outDir = join(packageDir, 'node_modules', '.cache', `oncely-${name}-${randomBytes(4).toString('hex')}`);
  const alias = (shared.resolve?.alias ?? {}) as Record<string, string>;
  await build({
    entry: { [name]: entry },
    outDir,
    format: ['esm'],
    outExtension: () => ({ js: '.mjs' }),
    platform: 'node',
    target: 'node20',
    splitting: false,
    sourcemap: false,
    dts: false,
    clean: false,
    silent: true,
    config: false,
    external: [...external],
    noExternal: [/^@oncely\//],
    esbuildOptions(options) {
      options.alias = alias;
    },
  });
  return { script: join(outDir, `${name}.mjs`), remove: () => rmSync(outDir, { recursive: true, force: true }) };
}

