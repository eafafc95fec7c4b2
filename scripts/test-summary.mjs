// Reads vitest's JSON report(s) and prints one plain line, "N passed, N failed" (plus skipped when
// any), for CI readers that do not parse vitest's own summary. Exits 1 on any failure, on a
// missing report, or when no test ran at all.
import { readFileSync } from 'node:fs';

// Several reports (e.g. `pnpm test`'s and `pnpm test:reliability`'s) are summed into one line.
const paths = process.argv.length > 2 ? process.argv.slice(2) : ['.ci-out/vitest.json'];
const reports = [];
for (const path of paths) {
  try {
    reports.push(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    console.log(`0 passed, 1 failed`);
    console.error(`test-summary: no readable vitest report at ${path}: ${error.message}`);
    process.exit(1);
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of reports.flatMap((report) => report.testResults ?? [])) {
  if ((file.assertionResults ?? []).length === 0 && file.status === 'failed') failed++;
  for (const test of file.assertionResults ?? []) {
    if (test.status === 'passed') passed++;
    else if (test.status === 'failed') failed++;
    else skipped++;
  }
}
if (skipped > 0) console.error(`test-summary: ${skipped} test(s) skipped or todo; CI runs every suite, so a skip fails the build.`);
if (passed === 0) console.error('test-summary: no test ran.');
console.log(skipped > 0 ? `${passed} passed, ${failed} failed, ${skipped} skipped` : `${passed} passed, ${failed} failed`);
process.exit(failed > 0 || skipped > 0 || passed === 0 ? 1 : 0);
