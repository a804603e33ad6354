/**
 * The columns a function in FROM yields, named as PostgreSQL names them: a function returning a scalar
 * gives one column (named after the function, or after the FROM item's alias when it is the only function);
 * one returning a row type gives that row's columns (its OUT parameters, a column definition list, or the
 * relation a `populate_record` argument is cast to). Lineage needs the exact shape: an unqualified `*` is
 * masked by position, so a column too few or too many would shift the mask onto the wrong column.
 */

type Node = Record<string, unknown>;

/** Built-in set-returning functions whose rows have named columns (their OUT parameters). */
const OUT_COLUMNS: ReadonlyMap<string, readonly string[]> = new Map([
  ['json_each', ['key', 'value']],
  ['json_each_text', ['key', 'value']],
  ['jsonb_each', ['key', 'value']],
  ['jsonb_each_text', ['key', 'value']],
  ['json_array_elements', ['value']],
  ['json_array_elements_text', ['value']],
  ['jsonb_array_elements', ['value']],
  ['jsonb_array_elements_text', ['value']],
  ['pg_options_to_table', ['option_name', 'option_value']],
  ['ts_stat', ['word', 'ndoc', 'nentry']],
  ['ts_parse', ['tokid', 'token']],
  ['ts_token_type', ['tokid', 'alias', 'description']],
  ['ts_debug', ['alias', 'description', 'token', 'dictionaries', 'dictionary', 'lexemes']],
  ['aclexplode', ['grantor', 'grantee', 'privilege_type', 'is_grantable']],
  ['pg_get_keywords', ['word', 'catcode', 'barelabel', 'catdesc', 'baredesc']],
]);

/** Built-ins that return one scalar per row (set-returning or not): one column named after the function. */
const SCALAR = new Set([
  'generate_series', 'generate_subscripts', 'regexp_matches', 'regexp_split_to_table', 'string_to_table', 'json_object_keys',
  'jsonb_object_keys', 'jsonb_path_query', 'jsonb_path_query_tz', 'unnest',
]);

/** Record-returning built-ins whose columns are those of the row type their first argument is cast to. */
const POPULATE = new Set(['json_populate_record', 'jsonb_populate_record', 'json_populate_recordset', 'jsonb_populate_recordset']);

/** Record-returning built-ins that need a column definition list. */
const DEFINED_BY_CALLER = new Set(['json_to_record', 'jsonb_to_record', 'json_to_recordset', 'jsonb_to_recordset']);

/** What lineage knows about the function and the relations it may name. */
export interface FunctionShapeContext {
  /** Columns of a relation named by a type (`null::products`), or `undefined` when it is not one. */
  readonly rowType: (names: readonly string[]) => readonly string[] | undefined;
  /** Whether a function of this name returns a set on the connection (a user-defined one may return rows of any shape). */
  readonly returnsSet: (name: string) => boolean;
}

const str = (node: unknown): string | undefined => {
  const s = (node as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof s === 'string' ? s : undefined;
};

const definedColumns = (list: unknown): string[] =>
  ((list as Node[] | undefined) ?? []).map((d) => (d.ColumnDef as Node | undefined)?.colname).filter((c): c is string => typeof c === 'string');

/**
 * One function of a FROM item (a `FuncCall` and its own column definition list): its columns, `'scalar'`
 * for one column that takes the function's (or the item's alias's) name, or `undefined` when its shape is
 * unknown (a user-defined or unlisted row-returning function).
 */
export function functionShape(call: unknown, coldeflist: unknown, context: FunctionShapeContext): readonly string[] | 'scalar' | undefined {
  const fn = (call as { FuncCall?: Node } | undefined)?.FuncCall;
  if (fn === undefined) return undefined;
  const parts = ((fn.funcname as unknown[] | undefined) ?? []).map(str);
  const name = (parts.at(-1) ?? '').toLowerCase();
  const builtin = parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog');
  const defined = definedColumns(coldeflist);
  if (defined.length > 0) return defined;
  if (!builtin) return undefined;
  const out = OUT_COLUMNS.get(name);
  if (out !== undefined) return out;
  if (SCALAR.has(name)) return 'scalar';
  if (POPULATE.has(name)) {
    const first = ((fn.args as Node[] | undefined) ?? [])[0]?.TypeCast as Node | undefined;
    const typeName = (first?.typeName ?? {}) as Node;
    if (typeName.arrayBounds !== undefined) return undefined;
    return context.rowType(((typeName.names as unknown[] | undefined) ?? []).map((n) => str(n) ?? '?'));
  }
  if (DEFINED_BY_CALLER.has(name)) return undefined;
  // Any other built-in that returns no set is a scalar function (`FROM lower('x')`, `FROM now()`); those of
  // the pg_ family may return a row (pg_control_system(), …): their shape is not guessed.
  if (context.returnsSet(name) || name.startsWith('pg_')) return undefined;
  return 'scalar';
}

/** The function name a scalar column takes. */
export function functionName(call: unknown): string {
  const parts = (((call as { FuncCall?: Node } | undefined)?.FuncCall?.funcname as unknown[] | undefined) ?? []).map(str);
  return parts.at(-1) ?? '?column?';
}

/**
 * The calls of a FROM item, as PostgreSQL runs them: `unnest(a, b, …)` with several arguments outside
 * ROWS FROM is `ROWS FROM (unnest(a), unnest(b), …)`.
 */
export function expandCalls(functions: unknown, isRowsFrom: boolean): { call: unknown; coldeflist: unknown }[] {
  const items = ((functions as Node[] | undefined) ?? []).map((f) => ((f.List as { items?: unknown[] } | undefined)?.items ?? []));
  const calls = items.map(([call, coldeflist]) => ({ call, coldeflist: (coldeflist as { List?: { items?: unknown } } | undefined)?.List?.items }));
  const only = calls[0];
  const fn = (only?.call as { FuncCall?: Node } | undefined)?.FuncCall;
  const args = (fn?.args as unknown[] | undefined) ?? [];
  if (isRowsFrom || calls.length !== 1 || fn === undefined || args.length < 2 || functionName(only?.call) !== 'unnest') return calls;
  const parts = ((fn.funcname as unknown[] | undefined) ?? []).map(str);
  if (!(parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog'))) return calls;
  return args.map((arg) => ({ call: { FuncCall: { ...fn, args: [arg] } }, coldeflist: undefined }));
}
