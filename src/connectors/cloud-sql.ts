import type { Connector } from '@google-cloud/cloud-sql-connector';
import type { AuthClient } from 'google-auth-library';
import type { CloudSqlConnectorLike } from './postgres.js';

export interface CloudSqlOptions {
  /** Credentials for the Cloud SQL Admin API and IAM login; default: airlock's Application Default Credentials. */
  readonly auth?: AuthClient;
  /** Admin API base URL (tests point it at a local fake). */
  readonly sqlAdminApiEndpoint?: string;
}

/**
 * The Cloud SQL connector: it fetches the instance's CA and an ephemeral client certificate bound to
 * airlock's identity, and opens TLS straight to the instance, where IAM database authentication logs
 * airlock in as its IAM database user. No database password exists anywhere.
 *
 * The connector library (and the Google auth stack under it) is imported at the first connection, so a
 * server whose connections are plain PostgreSQL URLs never loads it; a failure to load it fails that
 * connection like any other connector failure.
 */
export function createCloudSqlConnector(options: CloudSqlOptions = {}): CloudSqlConnectorLike {
  let connector: Promise<Connector> | undefined;
  let closed = false;
  const open = (): Promise<Connector> =>
    (connector ??= import('@google-cloud/cloud-sql-connector').then(
      ({ Connector: Client }) =>
        new Client({
          ...(options.auth === undefined ? {} : { auth: options.auth }),
          ...(options.sqlAdminApiEndpoint === undefined ? {} : { sqlAdminAPIEndpoint: options.sqlAdminApiEndpoint }),
        }),
    ));
  return {
    getOptions: async (o) => {
      if (closed) throw new Error('the Cloud SQL connector is closed');
      const client = await open();
      return client.getOptions({ instanceConnectionName: o.instanceConnectionName, ipType: o.ipType as never, authType: o.authType as never });
    },
    close: () => {
      closed = true;
      // A connector still loading is closed as soon as it exists.
      void connector?.then((c) => c.close(), () => undefined);
    },
  };
}
