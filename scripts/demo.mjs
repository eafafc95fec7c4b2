// `pnpm demo [--store memory|postgres|redis] [--payments N] [--clients N]`: builds the payments
// example (and what it depends on), then runs the retry storm of examples/payments-express.
import { execFileSync } from 'node:child_process';

const args = process.argv.slice(2).filter((arg) => arg !== '--');
execFileSync('pnpm', ['-s', 'turbo', 'run', 'build', '--filter=@oncely/example-payments-express...', '--output-logs=errors-only'], {
  stdio: 'inherit',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
});
try {
  execFileSync(process.execPath, ['examples/payments-express/dist/demo.js', ...args], { stdio: 'inherit' });
} catch (error) {
  process.exit(typeof error.status === 'number' ? error.status : 1);
}
