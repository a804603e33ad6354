import type { SqlCatalog } from '../policy/sql/classify.js';
import type { RowsResult } from '../tool.js';

/** How a statement runs: reads in a read-only transaction that is always rolled back. */
export type SqlMode = 'read' | 'write';

export interface SqlRunOptions {
  readonly mode: SqlMode;
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** The tool the statement came from, named in INVALID_INPUT errors (default "query_sql"). */
  readonly tool?: string;
}

/** The SQL connector as tools see it. */
export interface SqlConnector {
  /** The connection's function catalog, for judging function calls (see policy/sql/functions.ts). */
  catalog(connection: string): Promise<SqlCatalog>;
  run(connection: string, sql: string, params: readonly unknown[], options: SqlRunOptions): Promise<RowsResult>;
}
