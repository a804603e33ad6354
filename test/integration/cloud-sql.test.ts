import { readFileSync, writeFileSync } from 'node:fs';
import { OAuth2Client } from 'google-auth-library';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCloudSqlConnector } from '../../src/connectors/cloud-sql.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { startCloudSqlFake, type CloudSqlFake } from '../support/cloud-sql-fake.js';

process.env.METADATA_SERVER_DETECTION = 'none';

const IAM_USER = 'airlock-reader@proj-test.iam';
const adminUrl = inject('adminUrl');
let fake: CloudSqlFake;
let hbaFile = '';
let hbaBefore = '';

function auth(token: string): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return client;
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // The IAM database user, as Cloud SQL creates it for a service account; it has no password.
    await admin.query(`DO $$ BEGIN CREATE ROLE "${IAM_USER}" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    hbaFile = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]?.hba_file ?? '';
    hbaBefore = readFileSync(hbaFile, 'utf8');
    // Cloud SQL's IAM login is checked by the fake proxy (client certificate issued against a valid
    // token); past it, the database trusts that user, as Cloud SQL's own IAM authentication does.
    writeFileSync(hbaFile, `host all "${IAM_USER}" 127.0.0.1/32 trust\n${hbaBefore}`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
  await db.connect();
  await db.query(`GRANT USAGE ON SCHEMA public TO "${IAM_USER}"; GRANT SELECT ON customers TO "${IAM_USER}"`);
  await db.end();
  fake = await startCloudSqlFake({ project: 'proj-test', region: 'europe-west1', instance: 'shop-db', postgresPort: Number(new URL(adminUrl).port), validToken: 'airlock-own-token' });
});

afterAll(async () => {
  await fake?.close();
  if (hbaFile !== '') {
    writeFileSync(hbaFile, hbaBefore);
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
  }
});

const target = { kind: 'cloudsql' as const, instanceConnectionName: 'proj-test:europe-west1:shop-db', ipType: 'PUBLIC' as const, iamUser: IAM_USER, database: 'airlock_test' };
const read = { mode: 'read' as const, maxRows: 10, maxBytes: 1 << 20, timeoutMs: 5000, signal: new AbortController().signal };

describe('PostgresConnector through the Cloud SQL connector with IAM database authentication', () => {
  it('connects as the IAM user with no password, using airlock’s own token for the ephemeral certificate', async () => {
    const connector = new PostgresConnector({
      resolve: () => target,
      cloudSqlConnector: () => createCloudSqlConnector({ auth: auth('airlock-own-token'), sqlAdminApiEndpoint: fake.adminEndpoint }),
    });
    try {
      const result = await connector.run('shop', 'SELECT current_user, count(*)::int FROM customers', [], read);
      expect(result.rows).toEqual([[IAM_USER, 12]]);
      expect(result.downstream).toEqual({ kind: 'postgres_role', principal: IAM_USER });
      expect(fake.tokens).toContain('airlock-own-token');
      expect(fake.requests).toEqual(expect.arrayContaining([
        'GET /sql/v1beta4/projects/proj-test/instances/shop-db/connectSettings',
        'POST /sql/v1beta4/projects/proj-test/instances/shop-db:generateEphemeralCert',
      ]));
    } finally {
      await connector.close();
    }
  });

  it('fails with a clear unavailable error when IAM authentication is refused', async () => {
    const connector = new PostgresConnector({
      resolve: () => target,
      connectTimeoutMs: 3000,
      cloudSqlConnector: () => createCloudSqlConnector({ auth: auth('someone-elses-token'), sqlAdminApiEndpoint: fake.adminEndpoint }),
    });
    try {
      const error = await connector.run('shop', 'SELECT 1', [], read).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('UPSTREAM_UNAVAILABLE');
      expect((error as { publicMessage?: string }).publicMessage).toBe('Database connection "shop" is unavailable right now; try again shortly.');
    } finally {
      await connector.close();
    }
  });
});
