import { Connector } from '@google-cloud/cloud-sql-connector';
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
 */
export function createCloudSqlConnector(options: CloudSqlOptions = {}): CloudSqlConnectorLike {
  const connector = new Connector({
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    ...(options.sqlAdminApiEndpoint === undefined ? {} : { sqlAdminAPIEndpoint: options.sqlAdminApiEndpoint }),
  });
  return {
    getOptions: (o) => connector.getOptions({ instanceConnectionName: o.instanceConnectionName, ipType: o.ipType as never, authType: o.authType as never }),
    close: () => connector.close(),
  };
}
