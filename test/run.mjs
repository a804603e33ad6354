#!/usr/bin/env node
// `npm test`: build (the e2e tests spawn the compiled CLI and its bundle), lint, then vitest. Prints a final line
// "N passed, N failed" from vitest's JSON report and exits non-zero on any failure, including a process
// that the tests left running (listed by pid and command line, then stopped).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeProcesses, findLeftovers, listProcesses, RUN_MARKER, settle, stopProcesses } from './support/leaks.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env }).status ?? 1;

let extraFailures = 0;
if (run(process.execPath, [join(root, 'scripts', 'phone-tables.mjs')]) !== 0 || run(bin('tsc'), ['-p', 'tsconfig.json']) !== 0 || run(process.execPath, [join(root, 'scripts', 'bundle.mjs')]) !== 0) {
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
// Everything vitest starts inherits the marker, so a process orphaned by a crashed worker is still found.
const marker = randomBytes(8).toString('hex');
const before = listProcesses() ?? [];
const filesBefore = checkoutFiles();
const status = run(bin('vitest'), args, { ...process.env, [RUN_MARKER]: marker });
const leftovers = await leftoverCheck();
const written = writtenCheck();
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
failed += extraFailures + leftovers + written;
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);

/** Counts (and stops) what the run left running: 1 when anything was, else 0. */
async function leftoverCheck() {
  const find = () => findLeftovers({ marker, cli: join(root, 'dist', 'src', 'cli.js'), before });
  if (find() === undefined) {
    process.stdout.write('process check skipped: no /proc on this system\n');
    return 0;
  }
  // The global teardown has stopped PostgreSQL before vitest exits; allow a moment for exits in flight.
  const left = await settle(find, 5_000);
  if (left === undefined || left.length === 0) return 0;
  process.stdout.write(`the tests left ${left.length} process(es) running (now stopped):\n${describeProcesses(left)}\n`);
  const stubborn = await stopProcesses(left);
  if (stubborn.length > 0) process.stdout.write(`still alive after SIGKILL:\n${describeProcesses(stubborn)}\n`);
  return 1;
}

/**
 * Untracked and ignored paths in the checkout (git's view; build output and dependencies aside), or
 * undefined outside a git checkout.
 */
function checkoutFiles() {
  const r = spawnSync('git', ['status', '--porcelain=v1', '-z', '--ignored', '--untracked-files=all', '--', '.', ':(exclude)node_modules', ':(exclude)dist'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) {
    process.stdout.write(`checkout write check skipped: git status: ${r.error?.message ?? r.stderr.trim()}\n`);
    return undefined;
  }
  return new Set(
    r.stdout
      .split('\0')
      .filter((e) => e.startsWith('?? ') || e.startsWith('!! '))
      .map((e) => e.slice(3)),
  );
}

/** Tests write to temp dirs only: 1 (and the paths) when the run left new files in the checkout. */
function writtenCheck() {
  if (filesBefore === undefined) return 0;
  const added = [...(checkoutFiles() ?? [])].filter((path) => !filesBefore.has(path));
  if (added.length === 0) return 0;
  process.stdout.write(`the tests wrote into the checkout (use a temp dir):\n${added.map((p) => `  ${p}`).join('\n')}\n`);
  return 1;
}
