import type { Logger } from '../log.js';
import type { Policy } from '../policy/load.js';
import { UnknownResourceError, UpstreamUnavailableError } from '../errors.js';
import { createCloudSqlConnector } from './cloud-sql.js';
import type { EmbeddedPostgres } from './embedded.js';
import { LazySqlConnector } from './lazy-sql.js';
import type { ConnectionTarget } from './postgres.js';

/** The databases governed calls run on, and how to stop them. */
export interface Databases {
  readonly sql: LazySqlConnector;
  /** Set when the demo started an embedded PostgreSQL: its connection string (the demo role). */
  readonly databaseUrl?: string;
  close(): Promise<void>;
}

/** Resolves connection names from the live policy, reading secrets from the environment snapshot. */
export function connectionResolver(policy: () => Policy, env: Readonly<Record<string, string | undefined>>): (name: string) => ConnectionTarget {
  return (name) => {
    const connection = policy().file.resources.connections[name];
    if (connection === undefined) throw new UnknownResourceError('connection', name);
    if (connection.cloudSql !== undefined) return { kind: 'cloudsql', ...connection.cloudSql };
    const variable = (connection.url ?? '').slice('env:'.length);
    const value = env[variable];
    if (value === undefined || value === '') {
      throw new UpstreamUnavailableError(`Database connection "${name}"`, { detail: `secret ${connection.url ?? '(none)'} is not set` });
    }
    return { kind: 'url', url: value };
  };
}

/**
 * The SQL connector for the policy's connections. With `demo` and no DATABASE_URL, an embedded PostgreSQL
 * with the demo data is started first and DATABASE_URL points at it (in `env`, this process's snapshot).
 */
export async function openDatabases(options: { readonly demo: boolean; readonly policy: () => Policy; readonly env: Record<string, string | undefined>; readonly log: Logger }): Promise<Databases> {
  const { env, log, policy } = options;
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl: string | undefined;
  if (options.demo && (env.DATABASE_URL ?? '') === '') {
    log('info', 'starting embedded PostgreSQL for the demo…');
    // Only the demo starts (and seeds) an embedded PostgreSQL: the rest never loads that code.
    const { startEmbeddedPostgres } = await import('./embedded.js');
    const { seedDemoDatabase } = await import('./demo-seed.js');
    embedded = await startEmbeddedPostgres({ log: (line) => log('debug', `postgres: ${line}`) });
    try {
      const demo = await seedDemoDatabase(embedded.adminUrl);
      databaseUrl = demo.url;
      env.DATABASE_URL = demo.url;
      log('info', `embedded PostgreSQL ready on 127.0.0.1:${embedded.port}; demo database "${demo.database}" as role ${demo.role}`);
    } catch (error) {
      await embedded.stop();
      throw error;
    }
  }
  for (const [name, connection] of Object.entries(policy().file.resources.connections)) {
    if (connection.url === undefined) continue;
    const variable = connection.url.slice('env:'.length);
    if ((env[variable] ?? '') === '') log('warn', `connection "${name}": ${connection.url} is not set; calls to it will fail`);
  }
  const sql = new LazySqlConnector({
    resolve: connectionResolver(policy, env),
    cloudSqlConnector: () => createCloudSqlConnector(),
    onPoolError: (name, error) => log('warn', `connection "${name}": idle client error: ${error.message}`),
    onUnavailable: (name, host, error) => log('warn', `connection "${name}" (${host}) is unreachable: ${error.message}; calls to it fail with UPSTREAM_UNAVAILABLE`),
  });
  return {
    sql,
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    async close() {
      try {
        await sql.close();
      } finally {
        await embedded?.stop();
      }
    },
  };
}
