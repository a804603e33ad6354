/**
 * The PostgreSQL connector, created at its first use: the driver (`pg`) is not needed to answer
 * `initialize`, so a server starts without it and loads it for the first call (or earlier, by `load()`).
 */
import type { PostgresConnector, PostgresConnectorOptions } from './postgres.js';
import type { SqlCatalog } from '../policy/sql/classify.js';
import type { RowsResult } from '../tool.js';
import type { SqlConnector, SqlRunOptions } from './types.js';

/** A SqlConnector that imports the PostgreSQL connector when something first needs it. */
export class LazySqlConnector implements SqlConnector {
  private loading: Promise<PostgresConnector> | undefined;
  private loaded: PostgresConnector | undefined;
  private closed = false;

  constructor(private readonly options: PostgresConnectorOptions) {}

  /** Loads the driver and creates the connector; a failed load is retried by the next use. */
  load(): Promise<PostgresConnector> {
    if (this.loaded !== undefined) return Promise.resolve(this.loaded);
    if (this.closed) return Promise.reject(new Error('the SQL connector is closed'));
    this.loading ??= import('./postgres.js').then(
      ({ PostgresConnector: Connector }) => (this.loaded = new Connector(this.options)),
      (error: unknown) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  catalog(connection: string): Promise<SqlCatalog> {
    return this.loaded !== undefined ? this.loaded.catalog(connection) : this.load().then((c) => c.catalog(connection));
  }

  run(connection: string, sql: string, params: readonly unknown[], options: SqlRunOptions): Promise<RowsResult> {
    return this.loaded !== undefined ? this.loaded.run(connection, sql, params, options) : this.load().then((c) => c.run(connection, sql, params, options));
  }

  /** Closes the pools, if the connector was ever created (waiting for a load in progress). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const connector = this.loaded ?? (await this.loading?.catch(() => undefined));
    await connector?.close();
  }
}
