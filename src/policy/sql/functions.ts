/**
 * Which function calls a statement may make and still be a `read`. With a catalog snapshot of the
 * connection, a function is read-safe when every overload of that name that could be called is a
 * built-in (pg_catalog) IMMUTABLE or STABLE function, minus known exceptions. Without a catalog, only a
 * small static allow-list counts. Everything else (volatile, user-defined, unknown) raises the class.
 */
import { isServerStateFunction } from './server-state.js';

/** A snapshot of the functions a connection can call. */
export interface FunctionCatalog {
  /**
   * Lower-case function name → overloads (schema; volatility: i immutable, s stable, v volatile; whether it
   * returns a set).
   */
  readonly functions: ReadonlyMap<string, readonly { readonly schema: string; readonly volatility: 'i' | 's' | 'v'; readonly retset?: boolean }[]>;
  /** Schemas searched for unqualified names, in order (pg_catalog first). */
  readonly searchPath: readonly string[];
}

/** STABLE or IMMUTABLE, yet harmful: they assign transaction ids or dump whole relations, schemas or databases. */
const EXCEPTIONS = new Set([
  'txid_current', 'txid_current_if_assigned', 'pg_current_xact_id', 'pg_current_xact_id_if_assigned',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'query_to_xml', 'query_to_xmlschema',
  'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until',
  'set_config', 'dblink', 'lo_get', 'lo_export', 'lo_import',
]);

/** Volatile built-ins with no effect outside the statement. */
const HARMLESS_VOLATILE = new Set(['random', 'random_normal', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday']);

/** Side effects by name prefix, whatever the catalog says. */
const NEVER_READ_PREFIXES = ['pg_stat_reset', 'pg_stat_clear_snapshot', 'pg_stat_force_next_flush', 'pg_advisory_', 'pg_try_advisory_', 'lo_', 'dblink', 'pg_terminate', 'pg_cancel', 'pg_reload', 'pg_rotate', 'pg_switch', 'pg_create_', 'pg_drop_', 'pg_replication_', 'pg_logical_', 'pg_promote', 'pg_file_'];

/** Without a catalog: common built-ins known to be IMMUTABLE or STABLE. */
const STATIC_READ_SAFE = new Set([
  'abs', 'avg', 'bool_and', 'bool_or', 'btrim', 'ceil', 'ceiling', 'char_length', 'character_length', 'coalesce', 'concat', 'concat_ws',
  'count', 'date_part', 'date_trunc', 'extract', 'floor', 'format', 'greatest', 'initcap', 'json_agg', 'json_build_object', 'jsonb_agg',
  'jsonb_build_object', 'least', 'left', 'length', 'lower', 'lpad', 'ltrim', 'max', 'md5', 'min', 'mod', 'now', 'nullif', 'octet_length',
  'position', 'power', 'rank', 'dense_rank', 'regexp_replace', 'replace', 'right', 'round', 'row_number', 'rpad', 'rtrim', 'sign', 'split_part',
  'sqrt', 'string_agg', 'strpos', 'substr', 'substring', 'sum', 'to_char', 'to_date', 'to_number', 'to_timestamp', 'trim', 'trunc', 'upper',
  'array_agg', 'array_length', 'unnest', 'generate_series', 'lag', 'lead', 'first_value', 'last_value', 'ntile', 'percent_rank', 'cume_dist',
  'stddev', 'variance', 'age', 'justify_interval', 'make_date', 'make_interval', 'to_json', 'to_jsonb', 'row_to_json', 'jsonb_pretty',
  'jsonb_typeof', 'json_typeof', 'jsonb_array_length', 'jsonb_extract_path', 'jsonb_extract_path_text', 'current_date', 'percentile_cont',
  'percentile_disc', 'mode', 'corr', 'regr_slope', 'statement_timestamp', 'transaction_timestamp', 'sha256', 'encode', 'decode',
]);

export interface FunctionVerdict {
  readonly safe: boolean;
  readonly why: string;
}

/** Judges one function call (`name` as written: `lower` or `pg_catalog.lower`, lower-cased). */
export function judgeFunction(name: string, catalog: FunctionCatalog | undefined): FunctionVerdict {
  const parts = name.split('.');
  const bare = parts.at(-1) ?? name;
  const schema = parts.length > 1 ? parts.at(-2) : undefined;
  if (EXCEPTIONS.has(bare) || NEVER_READ_PREFIXES.some((p) => bare.startsWith(p))) return { safe: false, why: `function ${name} has effects outside the statement or dumps data` };
  if (HARMLESS_VOLATILE.has(bare) && (schema === undefined || schema === 'pg_catalog')) return { safe: true, why: '' };
  if (catalog === undefined) {
    return STATIC_READ_SAFE.has(bare) && (schema === undefined || schema === 'pg_catalog')
      ? { safe: true, why: '' }
      : { safe: false, why: `function ${name} is not on the read-safe list (no catalog snapshot)` };
  }
  const overloads = catalog.functions.get(bare) ?? [];
  const reachable = schema === undefined ? overloads.filter((o) => catalog.searchPath.includes(o.schema)) : overloads.filter((o) => o.schema === schema);
  if (reachable.length === 0) return { safe: false, why: `function ${name} is unknown on this connection` };
  if (reachable.some((o) => o.schema !== 'pg_catalog')) return { safe: false, why: `function ${name} is user-defined (its effects cannot be judged)` };
  // Readers of server state are VOLATILE because what they read changes, not because they change
  // anything: their class is server_state (see server-state.ts), not admin.
  if (reachable.some((o) => o.volatility === 'v') && !isServerStateFunction(bare)) return { safe: false, why: `function ${name} is VOLATILE` };
  return { safe: true, why: '' };
}
