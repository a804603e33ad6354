#!/usr/bin/env node
// `npm test`: build (the e2e tests spawn the compiled CLI), lint, then vitest. Prints a final line
// "N passed, N failed" from vitest's JSON report and exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

let extraFailures = 0;
if (run(bin('tsc'), ['-p', 'tsconfig.json']) !== 0) {
  process.stdout.write('build failed\n0 passed, 1 failed\n');
  process.exit(1);
}
if (run(bin('eslint'), ['.']) !== 0) {
  process.stdout.write('lint failed\n');
  extraFailures += 1;
}

const dir = mkdtempSync(join(tmpdir(), 'airlock-vitest-'));
const report = join(dir, 'report.json');
const args = ['run', '--config', 'test/vitest.config.ts', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)];
const status = run(bin('vitest'), args);
let passed = 0;
let failed = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests ?? 0;
  // A file that fails to load has no failed assertions of its own: count it once.
  const brokenFiles = (json.testResults ?? []).filter(
    (r) => r.status === 'failed' && !(r.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  failed = (json.numFailedTests ?? 0) + brokenFiles;
} catch {
  failed = 1;
  process.stdout.write('no vitest JSON report was written\n');
}
rmSync(dir, { recursive: true, force: true });
if (status !== 0 && failed === 0) failed = 1;
failed += extraFailures;
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
