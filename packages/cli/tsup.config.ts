import { defineConfig } from 'tsup';
import { baseConfig } from '../../tsup.base';

// `src/bin.ts` is the executable (package.json `bin` points at its ESM build; tsup keeps its shebang
// and marks it executable); `src/index.ts` is `main()` for programs and tests.
export default defineConfig({ ...baseConfig, entry: ['src/index.ts', 'src/bin.ts'], platform: 'node' });
