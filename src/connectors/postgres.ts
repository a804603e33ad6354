import pg from 'pg';
import { cutDeep } from '../bounds.js';
import {
  CancelledError,
  InvalidInputError,
  QueryFailedError,
  TimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';
import type { SqlCatalog } from '../policy/sql/classify.js';
import type { RelationInfo } from '../policy/sql/lineage.js';
import type { ColumnInfo, RowsResult } from '../tool.js';
import { pgErrorText } from './pg-errors.js';
import { PortalBatch, PortalShape, type PortalBatchResult, type PortalField } from './portal.js';
import { RowGuard } from './row-guard.js';
import type { SqlConnector, SqlMode, SqlRunOptions } from './types.js';

/** Where a connection goes: a connection string (secrets resolved), or Cloud SQL with IAM database auth. */
export type ConnectionTarget =
  | { readonly kind: 'url'; readonly url: string }
  | {
      readonly kind: 'cloudsql';
      readonly instanceConnectionName: string;
      readonly ipType: 'PUBLIC' | 'PRIVATE' | 'PSC';
      readonly iamUser: string;
      readonly database: string;
    };

/**
 * Resolves a connection name to its target. Throws an AirlockError when the connection is unknown or
 * its secret is not set.
 */
export type ConnectionResolver = (name: string) => ConnectionTarget | string;

/** The Cloud SQL connector as this module uses it (`@google-cloud/cloud-sql-connector`'s Connector). */
export interface CloudSqlConnectorLike {
  getOptions(options: { instanceConnectionName: string; ipType: 'PUBLIC' | 'PRIVATE' | 'PSC'; authType: 'IAM' }): Promise<{ stream: () => unknown }>;
  close(): void;
}

export interface PostgresConnectorOptions {
  readonly resolve: ConnectionResolver;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly onPoolError?: (connection: string, error: Error) => void;
  /**
   * A call could not reach the database (refused, unknown host, timeout, server gone): for the operator's
   * log. `host` is where the connection points (host:port, socket directory or Cloud SQL instance), never
   * its credentials. The caller still gets UPSTREAM_UNAVAILABLE.
   */
  readonly onUnavailable?: (connection: string, host: string, error: Error) => void;
  /** How long a function catalog snapshot is used before it is read again (default 5 minutes). */
  readonly catalogTtlMs?: number;
  /**
   * Largest message read from the server whole (default 64 MiB): a bigger error text or catalog row
   * fails its call. Rows of governed reads are cut to the call's byte cap long before this.
   */
  readonly maxMessageBytes?: number;
  /** Creates the Cloud SQL connector on first use (airlock's own credentials; IAM database authentication). */
  readonly cloudSqlConnector?: () => CloudSqlConnectorLike;
}

/** Types JSON cannot hold exactly are returned as the server's text. */
const RAW_TEXT_TYPES = new Set([17, 1082, 1083, 1114, 1184, 1186, 1266]);
const typeParsers = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (RAW_TEXT_TYPES.has(oid)) return (value: string) => value;
    // A json value nests as deep as the query makes it; deeper than airlock walks, the subtree is cut.
    if (oid === 114 || oid === 3802) return (value: string) => cutDeep(JSON.parse(value));
    return pg.types.getTypeParser(oid, (format ?? 'text') as 'text') as (value: string) => unknown;
  },
};

const TYPE_NAMES: Readonly<Record<number, string>> = {
  16: 'boolean', 17: 'bytea', 18: 'char', 19: 'name', 20: 'bigint', 21: 'smallint', 23: 'integer', 25: 'text',
  26: 'oid', 114: 'json', 142: 'xml', 700: 'real', 701: 'double precision', 790: 'money', 869: 'inet',
  1000: 'boolean[]', 1005: 'smallint[]', 1007: 'integer[]', 1009: 'text[]', 1016: 'bigint[]', 1042: 'character',
  1043: 'character varying', 1082: 'date', 1083: 'time without time zone', 1114: 'timestamp without time zone',
  1184: 'timestamp with time zone', 1186: 'interval', 1266: 'time with time zone', 1700: 'numeric',
  2950: 'uuid', 3802: 'jsonb', 2249: 'record', 705: 'unknown',
};

interface PoolEntry {
  readonly url: string;
  /** How to open a connection like the pool's (used to send cancel requests). */
  readonly clientConfig: pg.ClientConfig;
  /** The database role airlock connects as (recorded in the audit as the downstream identity). */
  readonly role: string;
  /** Where the connection points, for operator logs (no credentials). */
  readonly host: string;
  readonly pool: pg.Pool;
  readonly typeNames: Map<number, string>;
}

/**
 * Runs governed SQL on PostgreSQL. Reads run in `BEGIN READ ONLY` with a server-side statement timeout
 * and are always rolled back; rows are read through a cursor and cut at the row cap.
 */
export class PostgresConnector implements SqlConnector {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly options: PostgresConnectorOptions;

  constructor(options: PostgresConnectorOptions) {
    if (typeof options.resolve !== 'function') throw new TypeError('PostgresConnector: resolve is required');
    this.options = options;
  }

  private cloudSql: CloudSqlConnectorLike | undefined;

  private async entry(connection: string): Promise<PoolEntry> {
    const resolved = this.options.resolve(connection);
    const target: ConnectionTarget = typeof resolved === 'string' ? { kind: 'url', url: resolved } : resolved;
    const key = target.kind === 'url' ? target.url : `cloudsql:${target.instanceConnectionName}/${target.database}/${target.iamUser}/${target.ipType}`;
    const existing = this.pools.get(connection);
    if (existing?.url === key) return existing;
    if (existing !== undefined) void existing.pool.end().catch(() => undefined);
    const common = {
      max: this.options.poolSize ?? 10,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'airlock',
    };
    let pool: pg.Pool;
    let role: string;
    let host: string;
    let clientConfig: pg.ClientConfig;
    if (target.kind === 'url') {
      clientConfig = { connectionString: target.url };
      pool = new pg.Pool({ ...common, ...clientConfig });
      role = safeRole(target.url);
      host = safeHost(target.url);
    } else {
      if (this.options.cloudSqlConnector === undefined) throw new TypeError('PostgresConnector: a Cloud SQL connection needs cloudSqlConnector');
      this.cloudSql ??= this.options.cloudSqlConnector();
      let clientOptions: { stream: () => unknown };
      try {
        clientOptions = await this.cloudSql.getOptions({ instanceConnectionName: target.instanceConnectionName, ipType: target.ipType, authType: 'IAM' });
      } catch (error) {
        throw new UpstreamUnavailableError(`Database connection "${connection}"`, { detail: `Cloud SQL connector: ${String(error)}`, cause: error });
      }
      // IAM database authentication: the connector's TLS channel carries airlock's identity; no password.
      clientConfig = { ...(clientOptions as object), user: target.iamUser, database: target.database };
      pool = new pg.Pool({ ...common, ...clientConfig });
      role = target.iamUser;
      host = `Cloud SQL ${target.instanceConnectionName} (${target.ipType})`;
    }
    pool.on('error', (error) => this.options.onPoolError?.(connection, error));
    const entry = { url: key, clientConfig, role, host, pool, typeNames: new Map<number, string>() };
    this.pools.set(connection, entry);
    return entry;
  }

  private readonly catalogs = new Map<string, { at: number; key: string; catalog: Promise<SqlCatalog> }>();

  /**
   * The functions this connection can call, with their volatility (cached; refreshed after
   * `catalogTtlMs`). The policy's SQL classifier judges function calls against it.
   */
  async catalog(connection: string): Promise<SqlCatalog> {
    const entry = await this.entry(connection);
    const cached = this.catalogs.get(connection);
    const ttl = this.options.catalogTtlMs ?? 5 * 60_000;
    if (cached !== undefined && cached.key === entry.url && Date.now() - cached.at < ttl) return cached.catalog;
    const catalog = this.readCatalog(entry, connection);
    this.catalogs.set(connection, { at: Date.now(), key: entry.url, catalog });
    catalog.catch(() => this.catalogs.delete(connection));
    return catalog;
  }

  private async readCatalog(entry: PoolEntry, connection: string): Promise<SqlCatalog> {
    let client: pg.PoolClient;
    try {
      client = await entry.pool.connect();
    } catch (error) {
      throw new UpstreamUnavailableError(`Database connection "${connection}"`, { detail: `catalog: ${String(error)}`, cause: error });
    }
    // Same protection as in run(): no uncaught error if the server goes away while this client is out.
    const onClientError = (): void => undefined;
    client.on('error', onClientError);
    let failed = false;
    try {
      const procs = await client.query<{ name: string; schema: string; volatility: 'i' | 's' | 'v'; retset: boolean }>(
        `SELECT lower(p.proname) AS name, n.nspname AS schema, p.provolatile AS volatility, p.proretset AS retset
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace`,
      );
      const path = await client.query<{ schemas: string[] }>('SELECT current_schemas(true)::text[] AS schemas');
      const rels = await client.query<{ schema: string; name: string; kind: string; columns: string[] | null; definition: string | null }>(
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
                array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped) AS columns,
                CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
          WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
          GROUP BY n.nspname, c.relname, c.relkind, c.oid`,
      );
      const relations = new Map<string, RelationInfo>();
      for (const row of rels.rows) {
        relations.set(`${row.schema}.${row.name}`, {
          kind: row.kind,
          columns: row.columns ?? [],
          ...(row.definition === null ? {} : { definition: row.definition }),
        });
      }
      const functions = new Map<string, { schema: string; volatility: 'i' | 's' | 'v'; retset: boolean }[]>();
      for (const row of procs.rows) {
        const list = functions.get(row.name) ?? [];
        list.push({ schema: row.schema, volatility: row.volatility, retset: row.retset });
        functions.set(row.name, list);
      }
      return { functions, relations, searchPath: path.rows[0]?.schemas ?? ['pg_catalog'] };
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      client.off('error', onClientError);
      client.release(failed);
    }
  }

  async run(connection: string, sql: string, params: readonly unknown[], options: SqlRunOptions): Promise<RowsResult> {
    const entry = await this.entry(connection);
    let client: pg.PoolClient;
    try {
      client = await entry.pool.connect();
    } catch (error) {
      const busy = entry.pool.totalCount >= (this.options.poolSize ?? 10) && /timeout/i.test(String(error));
      if (!busy) this.options.onUnavailable?.(connection, entry.host, reportable(error));
      throw new UpstreamUnavailableError(busy ? `Database connection "${connection}" (all its connections are busy)` : `Database connection "${connection}"`, {
        detail: error instanceof Error ? error.message : String(error),
        cause: error,
      });
    }
    let broken = false;
    let released = false;
    // A checked-out client has no pool listener: a server that goes away (restart, admin termination)
    // must not become an uncaught error. The call itself fails through its query.
    const onClientError = (): void => {
      broken = true;
    };
    client.on('error', onClientError);
    const release = (destroy: boolean): void => {
      client.off('error', onClientError);
      client.release(destroy);
    };
    const stopCancel = this.cancelOnAbort(client, entry, options.signal);
    try {
      const guard = guardOf(client, this.options.maxMessageBytes);
      const timeout = Math.max(1, Math.floor(options.timeoutMs));
      const preamble = preambleOf(options.mode, timeout);
      const end = { ended: false };
      const result = await this.readRows(client, guard, entry, sql, params, options, preamble, end);
      if (options.mode === 'read') {
        released = true;
        stopCancel();
        if (end.ended) {
          // The ROLLBACK rode in the last batch's write and completed before its ReadyForQuery: idle now.
          release(broken);
        } else {
          // The answer does not wait for ROLLBACK, and it is sent after the answer has been written (the
          // rest of the call runs in this turn's microtasks): the connection goes back to the pool only
          // once it is done (or is discarded if it fails), so no later call can see this transaction.
          setImmediate(() => {
            client.query('ROLLBACK').then(
              () => release(broken),
              () => release(true),
            );
          });
        }
      } else {
        await client.query('COMMIT');
        // A committed statement may have changed session state or the schema: reset both views of it.
        await client.query('DISCARD ALL');
        this.catalogs.delete(connection);
      }
      return result;
    } catch (error) {
      broken = await rollback(client);
      const mapped = mapError(error, connection, options);
      if (mapped instanceof UpstreamUnavailableError) this.options.onUnavailable?.(connection, entry.host, reportable(error));
      throw mapped;
    } finally {
      if (!released) {
        stopCancel();
        release(broken);
      }
    }
  }

  private async readRows(
    client: pg.PoolClient,
    guard: RowGuard,
    entry: PoolEntry,
    sql: string,
    params: readonly unknown[],
    options: SqlRunOptions,
    preamble: readonly string[],
    end: { ended: boolean },
  ): Promise<RowsResult> {
    if (options.signal.aborted) throw new CancelledError({ detail: 'cancelled before the query ran' });
    const shape = new PortalShape(typeParsers);
    const batchOf = (rows: number, first: boolean, last: boolean): Promise<PortalBatchResult> =>
      new Promise((resolve, reject) => {
        const batch = new PortalBatch({ portal: 'airlock_rows', rows, shape, ...(first ? { first: { text: sql, values: params, preamble } } : {}), ...(last ? { end: 'ROLLBACK' } : {}) }, (error, result) => {
          if (error !== undefined) reject(error);
          else resolve(result as PortalBatchResult);
        });
        void client.query(batch);
      });
    // Stream in batches on one portal: stop at the row cap (one extra row tells whether more exist) or
    // the byte cap; whatever is left is dropped with the transaction.
    let kept: unknown[][] = [];
    let bytes = 0;
    let truncated = false;
    let rowCount: number | null;
    // A read whose whole row cap (plus the one row that tells whether more exist) fits in the first batch
    // needs no second one: that batch ends the transaction too (ROLLBACK before its Sync, one round trip).
    let batchSize = options.maxRows <= 1000 ? options.maxRows + 1 : 1000;
    const oneBatch = options.mode === 'read' && batchSize === options.maxRows + 1;
    let cutValues = 0;
    // Every row, the first included, comes off the wire cut to the byte cap (values marked as cut).
    guard.limit = options.maxBytes;
    try {
      for (let first = true; ; first = false) {
        const chunk = await batchOf(batchSize, first, first && oneBatch);
        end.ended = chunk.ended;
        rowCount = chunk.rowCount;
        cutValues += chunk.cutValues;
        const rows = chunk.rows;
        let taken = 0;
        for (; taken < rows.length; taken++) {
          const row = rows[taken] as unknown[];
          if (kept.length + taken >= options.maxRows) {
            truncated = true;
            break;
          }
          const size = rowBytes(row);
          // The first row always fits (the guard cut it); the rest stop at the cap.
          if (bytes + size > options.maxBytes && kept.length + taken > 0) {
            truncated = true;
            break;
          }
          bytes += size;
          // The portal made this array for this call alone: converted in place, not copied.
          for (let i = 0; i < row.length; i++) row[i] = toJsonValue(row[i]);
        }
        // The portal's array of rows is this call's alone too: the first batch's becomes the result (most
        // results are one batch), later ones are appended to it.
        if (kept.length === 0) {
          rows.length = taken;
          kept = rows;
        } else for (let i = 0; i < taken; i++) kept.push(rows[i] as unknown[]);
        if (truncated || !chunk.suspended) break;
        batchSize = Math.min(options.maxRows + 1 - kept.length, 1000);
      }
    } finally {
      guard.limit = guard.hardLimit;
    }
    const fields = shape.fields;
    const columns = await this.columnTypes(client, entry, fields);
    const isRowStatement = fields.length > 0;
    return {
      kind: 'rows',
      columns,
      rows: kept,
      rowCount: kept.length,
      truncated: truncated || cutValues > 0,
      ...(cutValues > 0 ? { cutValues } : {}),
      downstream: { kind: 'postgres_role', principal: entry.role },
      ...(isRowStatement || rowCount === null ? {} : { rowsAffected: rowCount }),
    };
  }

  /** On abort (MCP cancellation, client gone), asks the server to cancel the running statement. */
  private cancelOnAbort(client: pg.PoolClient, entry: PoolEntry, signal: AbortSignal): () => void {
    const onAbort = (): void => {
      const active = (client as unknown as { activeQuery?: unknown }).activeQuery;
      if (active === undefined || active === null) return;
      // A cancel request goes over its own short-lived connection (protocol CancelRequest, no login).
      const canceller = new pg.Client(entry.clientConfig) as unknown as { cancel(c: unknown, q: unknown): void; connection: { on(e: string, f: () => void): void; end?: () => void } };
      canceller.connection.on('error', () => undefined);
      canceller.cancel(client, active);
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  private async columnTypes(client: pg.PoolClient, entry: PoolEntry, fields: readonly PortalField[]): Promise<ColumnInfo[]> {
    const unknown = [...new Set(fields.map((f) => f.dataTypeID))].filter((oid) => TYPE_NAMES[oid] === undefined && !entry.typeNames.has(oid));
    if (unknown.length > 0) {
      const res = await client.query<{ oid: number; name: string }>(
        'SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])',
        [unknown],
      );
      for (const row of res.rows) entry.typeNames.set(row.oid, row.name);
    }
    return fields.map((f) => ({ name: f.name, type: TYPE_NAMES[f.dataTypeID] ?? entry.typeNames.get(f.dataTypeID) ?? `oid:${f.dataTypeID}` }));
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.catalogs.clear();
    await Promise.all(pools.map((p) => p.pool.end().catch(() => undefined)));
    this.cloudSql?.close();
    this.cloudSql = undefined;
  }
}

/** The driver could not read what the server sent: the connection is closed and the call fails. */
class DriverReadError extends Error {
  constructor(cause: unknown) {
    super(`reading the server's answer failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DriverReadError';
  }
}

/**
 * airlock's own statements, with integers it computed, sent in the same write as the query. The server
 * enforces the limits: statement and lock timeouts, and no transaction left idle. They stay separate
 * `SET LOCAL` utility statements: one `SELECT set_config(…, true), …` instead saves the driver ~15 µs a call
 * but costs the database about as much more (it is planned and executed), so the call is no faster.
 */
export function preambleOf(mode: SqlMode, timeoutMs: number): readonly string[] {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new TypeError('preambleOf: timeoutMs must be a positive integer');
  return [
    mode === 'read' ? 'BEGIN READ ONLY' : 'BEGIN',
    `SET LOCAL statement_timeout = ${timeoutMs}`,
    `SET LOCAL lock_timeout = ${Math.min(timeoutMs, 5000)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${timeoutMs + 5000}`,
  ];
}

const guards = new WeakMap<pg.PoolClient, RowGuard>();

/**
 * The client's row guard, put in front of the driver's protocol parser on first use. The parser reads in
 * the socket's data handler: anything it throws (a value over V8's string limit, a malformed message)
 * would be uncaught there, so it ends this connection instead, and the query in flight fails.
 */
function guardOf(client: pg.PoolClient, maxMessageBytes: number | undefined): RowGuard {
  const known = guards.get(client);
  if (known !== undefined) return known;
  // Taken between queries (the client is idle here), so the stream sits at a message boundary. This reaches
  // into the driver (pg is pinned exactly): if its shape ever differs, no query runs unguarded.
  const stream = (client as unknown as { connection?: { stream?: NodeJS.ReadableStream & { destroy(error?: Error): void } } }).connection?.stream;
  const parsers = typeof stream?.listeners === 'function' ? (stream.listeners('data') as ((chunk: Buffer) => void)[]) : [];
  if (stream === undefined || parsers.length === 0) throw new DriverReadError(new Error('the row guard cannot attach to this pg version (no connection stream with a data listener); refusing to read rows unbounded'));
  const guard = new RowGuard(maxMessageBytes);
  guards.set(client, guard);
  for (const listener of parsers) stream.removeListener('data', listener);
  stream.on('data', (chunk: Buffer) => {
    try {
      for (const part of guard.push(chunk)) for (const parse of parsers) parse.call(stream, part);
    } catch (error) {
      stream.removeAllListeners('data');
      stream.destroy(new DriverReadError(error));
    }
  });
  return guard;
}

/** Rolls back after a failure; returns true when the connection must be discarded. */
async function rollback(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return false;
  } catch {
    return true;
  }
}

function safeRole(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || '(default)';
  } catch {
    return '(unparsed)';
  }
}

/** An error with a message an operator can read (Node's AggregateError from dual-stack connects has none). */
function reportable(error: unknown): Error {
  if (error instanceof AggregateError && error.message === '') {
    const parts = error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e)));
    return new Error(parts.join('; ') || 'connection failed', { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** host:port of a connection string (or its socket directory), without user or password. */
function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    const socket = parsed.searchParams.get('host');
    if (parsed.hostname === '' && socket !== null) return socket;
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}`;
  } catch {
    return '(unparsed)';
  }
}

/** Approximate size of a row as the agent will receive it (cheap: no serialisation). */
function rowBytes(row: readonly unknown[]): number {
  let n = 2;
  for (const v of row) {
    if (v === null || v === undefined) n += 5;
    else if (typeof v === 'string') n += v.length + 3;
    else if (typeof v === 'number' || typeof v === 'boolean') n += 8;
    else if (v instanceof Date) n += 28;
    else if (Buffer.isBuffer(v)) n += v.length * 2 + 5;
    else n += JSON.stringify(v).length + 1;
  }
  return n;
}

function toJsonValue(value: unknown): unknown {
  // Most cells: text and numbers, as the type parsers gave them.
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return value;
}

/** A bind error's text names counts only, never values; anything else of class 08P01 gets a fixed text. */
const BIND_COUNT = /^bind message supplies \d+ parameters?, but prepared statement "[^"]{0,64}" requires \d+$/;

/**
 * Errors that are the caller's own and echo no stored values: the statement's parameters do not fit it.
 * Named for the caller as INVALID_INPUT instead of a query or connection failure.
 */
/**
 * datatype mismatch, ambiguous function, cannot coerce. Not 42883 (undefined function): an input function
 * reports it with the text it was given (`'…'::regproc`), which can be a stored value.
 */
const TYPE_ERRORS: ReadonlySet<string> = new Set(['42804', '42725', '42846']);

function callerError(pgError: Partial<pg.DatabaseError>, tool: string): InvalidInputError | undefined {
  const code = pgError.code;
  const message = typeof pgError.message === 'string' && pgError.message.length <= 300 ? pgError.message : undefined;
  if (code === '08P01') {
    const text = message !== undefined && BIND_COUNT.test(message) ? `${message} (SQLSTATE 08P01)` : 'the server rejected the parameters sent with the statement (SQLSTATE 08P01, protocol violation)';
    return new InvalidInputError(tool, [{ path: 'params', message: text }]);
  }
  if (code === '42P02' || code === '42P18') {
    const hint = code === '42P18' ? '; give the placeholder a type with a cast, e.g. $1::text or $1::int' : '';
    return new InvalidInputError(tool, [{ path: 'sql', message: `${pgErrorText(pgError)}${hint}` }]);
  }
  // Type errors of the statement itself: their messages name types, operators and functions, never values.
  if (code !== undefined && TYPE_ERRORS.has(code)) return new InvalidInputError(tool, [{ path: 'sql', message: pgErrorText(pgError) }]);
  return undefined;
}

function mapError(error: unknown, connection: string, options: SqlRunOptions): Error {
  if (error instanceof CancelledError) return error;
  if (error instanceof DriverReadError) {
    return new QueryFailedError('the result could not be read (a message from the server is too large or malformed); select less, e.g. left(column, 1000)', { detail: error.message, cause: error });
  }
  const pgError = error as Partial<pg.DatabaseError> & { code?: string };
  const detail = error instanceof Error ? error.message : String(error);
  if (pgError.code === '57014') {
    if (options.signal.aborted) return new CancelledError({ detail, cause: error });
    return new TimeoutError(options.timeoutMs, { detail, cause: error });
  }
  if (typeof pgError.code === 'string' && /^[0-9A-Z]{5}$/.test(pgError.code)) {
    const own = callerError(pgError, options.tool ?? 'query_sql');
    if (own !== undefined) return own;
    if (pgError.code.startsWith('08') || pgError.code === '57P01' || pgError.code === '57P03') {
      return new UpstreamUnavailableError(`Database connection "${connection}"`, { detail, cause: error });
    }
    return new QueryFailedError(pgErrorText(pgError), { detail, cause: error, data: { sqlstate: pgError.code } });
  }
  return new UpstreamUnavailableError(`Database connection "${connection}"`, { detail, cause: error });
}
