/**
 * Column lineage for masking: which output columns of a statement derive from sensitive columns, and
 * whether a sensitive column is used outside the output, where it can reveal values without appearing in
 * them: filters, joins (ON, USING, NATURAL), ordering, grouping, de-duplication (DISTINCT, UNION,
 * INTERSECT, EXCEPT), windows, the number of rows a set-returning function makes, and errors whose text or
 * mere occurrence depends on the value (casts and input functions, conditional expressions that can fail,
 * functions and operators that can fail on it: see errors.ts),
 * and writes that copy it somewhere not declared sensitive (INSERT, UPDATE, MERGE, ON CONFLICT, CREATE TABLE
 * AS, SELECT INTO, COPY … TO), where later reads would no longer mask it.
 * Resolved against a catalog snapshot of the connection (tables, views and their definitions, columns).
 * Anything that cannot be resolved is reported, never silently allowed.
 */
import { parseSync } from 'libpg-query';
import { expandCalls, functionName, functionShape, type FunctionShapeContext } from './from-functions.js';
import { raisingArguments, raisingOperands } from './errors.js';
import { AnalysisBudget } from './limits.js';

export interface RelationInfo {
  readonly kind: string;
  readonly columns: readonly string[];
  /** View and materialized-view definitions (a SELECT), resolved recursively. */
  readonly definition?: string;
}

export interface RelationCatalog {
  /** "schema.table" → relation. */
  readonly relations: ReadonlyMap<string, RelationInfo>;
  readonly searchPath: readonly string[];
  /**
   * Whether a function of this (lower-case, unqualified) name exists on the connection. `name(row)` is the
   * column `row.name` only when no function of that name exists; without this, it is always a function.
   */
  readonly hasFunction?: (name: string) => boolean;
  /** Whether some function of this (lower-case, unqualified) name returns a set; built-in ones are known anyway. */
  readonly returnsSet?: (name: string) => boolean;
}

/** Decides whether a base column ("schema.table.column") is sensitive. */
export type SensitivePredicate = (schema: string, table: string, column: string) => boolean;

export interface Lineage {
  /** Output column positions (0-based) derived from a sensitive column: masked whole. */
  readonly maskedOutputs: readonly number[];
  /** How many output columns lineage resolved (0 for statements it does not model the output of). */
  readonly outputCount: number;
  /** Their names, for the agent and the audit. */
  readonly maskedColumns: readonly string[];
  /** Sensitive base columns used outside the output ("schema.table.column"). */
  readonly sensitiveUsedOutside: readonly string[];
  /** What could not be resolved; non-empty means the statement cannot be trusted to be masked. */
  readonly unresolved: readonly string[];
  /** Every base column the statement reads, anywhere ("schema.table.column"). */
  readonly columnsReferenced: readonly string[];
}

/** Lineage, and the call nodes (`name(row)`) it resolved as column projections rather than function calls. */
export interface LineageAnalysis {
  readonly lineage: Lineage;
  readonly projections: ReadonlySet<object>;
}

type Node = Record<string, unknown>;
type Sources = Set<string>;

interface Column {
  readonly name: string;
  readonly sources: Sources;
}

/** CTEs in scope: name → columns, or `null` while a recursive CTE's columns are still being found. */
type Ctes = ReadonlyMap<string, readonly Column[] | null>;

interface Source {
  readonly alias: string;
  /** Known columns; `undefined` when the source's columns are unknown (then `wildcard` applies). */
  readonly columns: readonly Column[] | undefined;
  /** For sources whose columns are unknown (functions in FROM): lineage of any column of it. */
  readonly wildcard: Sources;
  /** Base relation this source is, when it is one ("schema.table"), for whole-row references. */
  readonly relation?: string;
  /** Reachable by its alias, but not part of an unqualified `*` (the sides of a USING join, a join's alias). */
  readonly hiddenFromStar?: boolean;
}

const MAX_VIEW_DEPTH = 8;

/** Passes over a WITH RECURSIVE list before giving up on it settling (each pass must add a source or fix a shape). */
const MAX_CTE_PASSES = 64;

/** Built-in set-returning functions: with a sensitive argument, the number of rows they make is an oracle. */
const SET_RETURNING = new Set([
  'generate_series', 'generate_subscripts', 'unnest', 'regexp_matches', 'regexp_split_to_table', 'string_to_table',
  'json_array_elements', 'json_array_elements_text', 'jsonb_array_elements', 'jsonb_array_elements_text', 'json_each',
  'json_each_text', 'jsonb_each', 'jsonb_each_text', 'json_object_keys', 'jsonb_object_keys', 'json_populate_recordset',
  'jsonb_populate_recordset', 'json_to_recordset', 'jsonb_to_recordset', 'jsonb_path_query', 'jsonb_path_query_tz',
  'ts_stat', 'ts_parse', 'ts_token_type', 'unnest', 'pg_options_to_table', 'aclexplode',
]);

/**
 * Functions that parse their argument as a value of some type, or call a type's input function: their
 * errors quote the input (`invalid input syntax for type integer: "4111 …"`, `relation "…" does not exist`).
 */
const PARSES_INPUT = new Set([
  'to_number', 'to_date', 'to_timestamp', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'date', 'time', 'timetz',
  'timestamp', 'timestamptz', 'interval', 'bool', 'regclass', 'regtype', 'regproc', 'regprocedure', 'regoper', 'regoperator',
  'regnamespace', 'regrole', 'regconfig', 'regdictionary', 'regcollation', 'inet', 'cidr', 'macaddr', 'macaddr8', 'uuid',
  'money', 'bit', 'varbit', 'xml', 'xmlparse', 'to_tsquery', 'plainto_tsquery', 'phraseto_tsquery', 'websearch_to_tsquery',
  'tsquery', 'tsvector', 'json_populate_record', 'jsonb_populate_record', 'json_to_record', 'jsonb_to_record',
  'json_populate_recordset', 'jsonb_populate_recordset', 'json_to_recordset', 'jsonb_to_recordset', 'decode', 'convert_from',
  'unistr', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'pg_lsn', 'txid_snapshot', 'pg_snapshot',
]);

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/** Casts to these types cannot fail whatever the value (they copy or cut text): no error can carry it. */
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'char', 'name']);

/** Parsed view definitions, per catalog entry: a view is parsed once per catalog snapshot, not per call. */
const parsedViews = new WeakMap<RelationInfo, Node | Error>();

function parseView(info: RelationInfo): Node {
  let parsed = parsedViews.get(info);
  if (parsed === undefined) {
    try {
      const tree = parseSync(info.definition ?? '') as { stmts?: { stmt?: Node }[] };
      parsed = (tree.stmts?.[0]?.stmt?.SelectStmt as Node | undefined) ?? new Error('not a SELECT');
    } catch (error) {
      parsed = error instanceof Error ? error : new Error(String(error));
    }
    parsedViews.set(info, parsed);
  }
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

const union = (...sets: Sources[]): Sources => {
  const out = new Set<string>();
  for (const s of sets) for (const v of s) out.add(v);
  return out;
};

const str = (node: unknown): string | undefined => {
  const s = (node as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof s === 'string' ? s : undefined;
};

const names = (list: unknown): string[] => ((list as unknown[] | undefined) ?? []).map(str).filter((s): s is string => s !== undefined);

/** `1` in `ORDER BY 1`: a top-level integer constant names an output column by position. */
function position(node: unknown): number | undefined {
  const konst = (node as { A_Const?: { ival?: { ival?: unknown } } } | undefined)?.A_Const;
  if (konst?.ival === undefined) return undefined;
  return typeof konst.ival.ival === 'number' ? konst.ival.ival : 0;
}

/** A bare one-part column name (`x`, not `t.x`). */
function bareName(node: unknown): string | undefined {
  const fields = (node as { ColumnRef?: { fields?: unknown[] } } | undefined)?.ColumnRef?.fields;
  return fields?.length === 1 ? str(fields[0]) : undefined;
}

const isConstant = (node: unknown): boolean => (node as { A_Const?: unknown } | undefined)?.A_Const !== undefined;

/**
 * Whether evaluating an expression can raise an error. Only what certainly cannot counts as safe: constants,
 * column and parameter references, and null/boolean tests and conditionals built of them.
 */
function mayRaise(node: unknown): boolean {
  if (node === null || node === undefined || typeof node !== 'object') return false;
  if (Array.isArray(node)) return node.some(mayRaise);
  const [type, body] = Object.entries(node as Node)[0] ?? ['', undefined];
  const b = (body ?? {}) as Node;
  switch (type) {
    case 'A_Const':
    case 'ColumnRef':
    case 'ParamRef':
      return false;
    case 'NullTest':
    case 'BooleanTest':
      return mayRaise(b.arg);
    case 'BoolExpr':
    case 'CoalesceExpr':
      return mayRaise(b.args);
    case 'CaseExpr':
      return mayRaise(b.arg) || mayRaise(b.args) || mayRaise(b.defresult);
    case 'CaseWhen':
      return mayRaise(b.expr) || mayRaise(b.result);
    case 'FuncCall': {
      const fname = names(b.funcname);
      const builtin = fname.length === 1 || (fname.length === 2 && fname[0] === 'pg_catalog');
      const args = (b.args as unknown[] | undefined) ?? [];
      return !builtin || b.over !== undefined || raisingArguments(fname.at(-1) ?? '', args.length).length > 0 || mayRaise(args);
    }
    case 'A_Expr':
      // A pattern that is a constant was checked when parsed; matching it does not fail.
      if (['AEXPR_LIKE', 'AEXPR_ILIKE'].includes(String(b.kind)) && isConstant(b.rexpr)) return mayRaise(b.lexpr);
      // Comparisons of values of one type do not fail; other operators may (division, overflow, patterns).
      return !(COMPARISONS.has(names(b.name).at(-1) ?? '') && ['AEXPR_OP', 'AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT'].includes(String(b.kind))) || mayRaise(b.lexpr) || mayRaise(b.rexpr);
    default:
      return true;
  }
}

/** A cast that cannot fail, whatever the value: to a text type, not an array, not a user type. */
function harmlessCast(typeName: unknown): boolean {
  const t = (typeName ?? {}) as Node;
  const parts = names(t.names);
  if (t.arrayBounds !== undefined || parts.length === 0 || parts.length > 2) return false;
  if (parts.length === 2 && parts[0] !== 'pg_catalog') return false;
  return TEXT_TYPES.has(parts.at(-1) ?? '');
}

/** Columns of a list of sources as an unqualified `*` sees them; `undefined` when some are unknown. */
function visibleColumns(sources: readonly Source[]): Column[] | undefined {
  const out: Column[] = [];
  for (const s of sources) {
    if (s.hiddenFromStar === true) continue;
    if (s.columns === undefined) return undefined;
    out.push(...s.columns);
  }
  return out;
}

/** The columns of a recursive CTE after one more pass: sources only grow while the shape stays. */
function widen(before: readonly Column[] | null, after: readonly Column[]): readonly Column[] {
  if (before === null || before.length !== after.length || before.some((c, i) => c.name !== after[i]?.name)) return after;
  return after.map((c, i) => ({ name: c.name, sources: union(before[i]?.sources ?? new Set(), c.sources) }));
}

function sameColumns(a: readonly Column[] | null, b: readonly Column[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((c, i) => c.name === b[i]?.name && c.sources.size === b[i]?.sources.size);
}

class Resolver {
  readonly outside = new Set<string>();
  readonly unresolved: string[] = [];
  readonly referenced = new Set<string>();
  readonly projections = new Set<object>();
  /** The statement's own top-level SELECT: only its output is masked by position directly. */
  topLevel: Node | undefined;

  constructor(
    private readonly catalog: RelationCatalog,
    private readonly sensitive: SensitivePredicate,
    private readonly budget: AnalysisBudget,
    private readonly depth = 0,
  ) {}

  private fail(what: string): void {
    if (!this.unresolved.includes(what)) this.unresolved.push(what);
  }

  private lookupRelation(schema: string | undefined, name: string): { key: string; info: RelationInfo } | undefined {
    const candidates = schema === undefined ? this.catalog.searchPath.map((s) => `${s}.${name}`) : [`${schema}.${name}`];
    for (const key of candidates) {
      const info = this.catalog.relations.get(key);
      if (info !== undefined) return { key, info };
    }
    return undefined;
  }

  /** Marks sensitive base columns found in `sources` as used outside the output. */
  private useOutside(sources: Iterable<string>): void {
    for (const s of sources) if (this.isSensitive(s)) this.outside.add(s);
  }

  isSensitive(base: string): boolean {
    const [schema = '', table = '', column = ''] = base.split('.');
    return this.sensitive(schema, table, column);
  }

  /** The output columns of a SELECT (or VALUES / set operation), resolving everything inside it. */
  select(stmt: Node, outer: Source[][], ctes: Ctes): Column[] {
    this.budget.charge();
    const localCtes = this.withClause(stmt.withClause as Node | undefined, outer, ctes);

    if (stmt.op !== undefined && stmt.op !== 'SETOP_NONE') {
      const left = this.select(stmt.larg as Node, outer, localCtes);
      const right = this.select(stmt.rarg as Node, outer, localCtes);
      // UNION (without ALL), INTERSECT and EXCEPT compare rows: whether a row comes out depends on its values.
      if (stmt.op !== 'SETOP_UNION' || stmt.all !== true) this.useOutside(union(...left.map((c) => c.sources), ...right.map((c) => c.sources)));
      const out = left.map((c, i) => ({ name: c.name, sources: union(c.sources, right[i]?.sources ?? new Set()) }));
      this.clauses(stmt, [], outer, localCtes, out);
      return out;
    }

    if (Array.isArray(stmt.valuesLists)) {
      const rows = (stmt.valuesLists as Node[]).map((row) => ((row.List as { items?: unknown[] } | undefined)?.items ?? []));
      const width = Math.max(0, ...rows.map((r) => r.length));
      const out = Array.from({ length: width }, (_, i) => ({
        name: `column${i + 1}`,
        sources: union(...rows.map((r) => this.expr(r[i], [], outer, localCtes))),
      }));
      this.clauses(stmt, [], outer, localCtes, out);
      return out;
    }

    const scope: Source[] = [];
    for (const item of (stmt.fromClause as Node[] | undefined) ?? []) scope.push(...this.fromItem(item, scope, outer, localCtes));
    const out: Column[] = [];
    for (const target of (stmt.targetList as Node[] | undefined) ?? []) {
      const res = target.ResTarget as Node | undefined;
      if (res === undefined) continue;
      const val = res.val as Node;
      const ref = val.ColumnRef as { fields?: unknown[] } | undefined;
      const fields = ref?.fields ?? [];
      if (ref !== undefined && fields.some((f) => (f as Node).A_Star !== undefined)) {
        // `SELECT * FROM f(…)` as the whole statement: a function of unknown shape shifts no other column.
        const alone = stmt === this.topLevel && scope.length === 1 && (stmt.targetList as unknown[]).length === 1;
        const expanded = this.star(fields, scope, alone);
        for (const c of expanded) for (const f of c.sources) if (!f.startsWith('?')) this.referenced.add(f);
        out.push(...expanded);
        continue;
      }
      const sources = this.expr(val, scope, outer, localCtes);
      out.push({ name: typeof res.name === 'string' ? res.name : defaultName(val), sources });
    }
    this.clauses(stmt, scope, outer, localCtes, out);
    return out;
  }

  /**
   * WITH: without RECURSIVE a CTE sees only the CTEs before it (its own name is the outer relation); with
   * RECURSIVE every CTE of the list sees every other, in any order, and itself. Those are resolved to a
   * fixpoint: passes (on a scratch resolver, so that half-known passes record nothing) until no column gains a
   * source, then one recording pass over the settled columns.
   */
  private withClause(clause: Node | undefined, outer: Source[][], ctes: Ctes): Ctes {
    const items = ((clause?.ctes as Node[] | undefined) ?? []).map((i) => i.CommonTableExpr as Node | undefined).filter((c): c is Node => c !== undefined);
    if (items.length === 0) return ctes;
    const local = new Map(ctes);
    if (clause?.recursive !== true) {
      for (const cte of items) local.set(String(cte.ctename), this.cte(cte, outer, local));
      return local;
    }
    for (const cte of items) local.set(String(cte.ctename), null);
    let settled = false;
    for (let pass = 0; pass < MAX_CTE_PASSES && !settled; pass += 1) {
      const scratch = new Resolver(this.catalog, this.sensitive, this.budget, this.depth);
      settled = true;
      for (const cte of items) {
        const name = String(cte.ctename);
        const before = local.get(name) ?? null;
        const after = widen(before, scratch.cte(cte, outer, local));
        if (!sameColumns(before, after)) {
          settled = false;
          local.set(name, after);
        }
      }
    }
    if (!settled) this.fail(`WITH RECURSIVE ${items.map((c) => String(c.ctename)).join(', ')} does not settle`);
    const fixed = new Map(local);
    for (const cte of items) {
      const name = String(cte.ctename);
      local.set(name, widen(fixed.get(name) ?? null, this.cte(cte, outer, fixed)));
    }
    return local;
  }

  /** One CTE's columns (renamed by its column list), plus the columns SEARCH and CYCLE add. */
  private cte(cte: Node, outer: Source[][], ctes: Ctes): Column[] {
    const query = cte.ctequery as Node;
    const inner = query.SelectStmt as Node | undefined;
    // A data-modifying CTE (… RETURNING): its rows come from the modified table.
    const cols = inner === undefined ? this.returning(query, outer, ctes) : this.select(inner, outer, ctes);
    const rename = ((cte.aliascolnames as unknown[] | undefined) ?? []).map(str);
    const out = cols.map((c, i) => ({ name: rename[i] ?? c.name, sources: c.sources }));
    const of = (list: unknown): Sources => union(...names(list).map((n) => out.find((c) => c.name === n)?.sources ?? new Set<string>()));
    const search = cte.search_clause as Node | undefined;
    if (search !== undefined) {
      // The search column orders rows by the named columns: it carries (and reveals the order of) their values.
      const by = of(search.search_col_list);
      this.useOutside(by);
      if (typeof search.search_seq_column === 'string') out.push({ name: search.search_seq_column, sources: by });
    }
    const cycle = cte.cycle_clause as Node | undefined;
    if (cycle !== undefined) {
      // Cycle detection compares the named columns across rows.
      const by = of(cycle.cycle_col_list);
      this.useOutside(by);
      if (typeof cycle.cycle_mark_column === 'string') out.push({ name: cycle.cycle_mark_column, sources: new Set() });
      if (typeof cycle.cycle_path_column === 'string') out.push({ name: cycle.cycle_path_column, sources: by });
    }
    return out;
  }

  /**
   * WHERE, GROUP BY, HAVING, ORDER BY, windows, DISTINCT (ON), LIMIT: uses outside the output. ORDER BY,
   * GROUP BY and DISTINCT ON may name an output column by position (`ORDER BY 1`) or by its output name.
   */
  private clauses(stmt: Node, scope: Source[], outer: Source[][], ctes: Ctes, outputs: readonly Column[]): void {
    for (const key of ['whereClause', 'havingClause', 'windowClause', 'limitCount', 'limitOffset']) {
      if (stmt[key] !== undefined) this.useOutside(this.expr(stmt[key], scope, outer, ctes));
    }
    for (const item of (stmt.groupClause as unknown[] | undefined) ?? []) this.useOutside(this.grouping(item, scope, outer, ctes, outputs));
    for (const item of (stmt.sortClause as Node[] | undefined) ?? []) {
      this.useOutside(this.byOutput((item.SortBy as Node | undefined)?.node ?? item, scope, outer, ctes, outputs, false));
    }
    const distinct = (stmt.distinctClause as unknown[] | undefined) ?? [];
    for (const item of distinct) {
      // Plain DISTINCT is an empty item: it compares every output column.
      if (item !== null && typeof item === 'object' && Object.keys(item).length === 0) this.useOutside(union(...outputs.map((c) => c.sources)));
      else this.useOutside(this.byOutput(item, scope, outer, ctes, outputs, false));
    }
  }

  private grouping(item: unknown, scope: Source[], outer: Source[][], ctes: Ctes, outputs: readonly Column[]): Sources {
    const set = (item as { GroupingSet?: { content?: unknown[] } } | undefined)?.GroupingSet;
    if (set !== undefined) return union(...(set.content ?? []).map((i) => this.grouping(i, scope, outer, ctes, outputs)));
    return this.byOutput(item, scope, outer, ctes, outputs, true);
  }

  /** An ORDER BY / GROUP BY / DISTINCT ON item: a position, an output name (GROUP BY: input columns first), or an expression. */
  private byOutput(node: unknown, scope: Source[], outer: Source[][], ctes: Ctes, outputs: readonly Column[], inputFirst: boolean): Sources {
    const at = position(node);
    if (at !== undefined) return outputs[at - 1]?.sources ?? new Set();
    const name = bareName(node);
    if (name !== undefined) {
      const named = outputs.filter((c) => c.name === name);
      const isInput = scope.some((s) => s.columns === undefined || s.columns.some((c) => c.name === name));
      if (named.length > 0 && !(inputFirst && isInput)) return union(...named.map((c) => c.sources));
    }
    return this.expr(node, scope, outer, ctes);
  }

  private star(fields: unknown[], scope: Source[], alone = false): Column[] {
    const qualifier = fields.length > 1 ? str(fields[fields.length - 2]) : undefined;
    const sources = qualifier === undefined ? scope.filter((s) => s.hiddenFromStar !== true) : scope.filter((s) => s.alias === qualifier);
    if (sources.length === 0) {
      this.fail(`${qualifier ?? ''}.* has no source`);
      return [];
    }
    const out: Column[] = [];
    for (const s of sources) {
      if (s.columns === undefined) {
        // Positions are masked: an unknown width shifts every column after it, and its own may all be sensitive.
        if (!alone || [...s.wildcard].some((f) => f.startsWith('?') || this.isSensitive(f))) this.fail(`columns of ${s.alias} are unknown`);
        out.push({ name: s.alias, sources: s.wildcard });
      } else out.push(...s.columns);
    }
    return out;
  }

  private relationSource(schema: string | undefined, name: string, alias: Node | undefined, ctes: Ctes): Source {
    const aliasName = typeof alias?.aliasname === 'string' ? alias.aliasname : name;
    const rename = ((alias?.colnames as unknown[] | undefined) ?? []).map(str);
    const renamed = (cols: readonly Column[]): Column[] => cols.map((c, i) => ({ name: rename[i] ?? c.name, sources: c.sources }));
    if (schema === undefined && ctes.has(name)) {
      const cols = ctes.get(name);
      // A recursive CTE whose columns are not known yet (first pass): nothing flows from it so far.
      if (cols === null || cols === undefined) return { alias: aliasName, columns: undefined, wildcard: new Set() };
      return { alias: aliasName, columns: renamed(cols), wildcard: new Set() };
    }
    const found = this.lookupRelation(schema, name);
    if (found === undefined) {
      this.fail(`relation ${schema === undefined ? '' : `${schema}.`}${name} is not in the catalog`);
      return { alias: aliasName, columns: undefined, wildcard: new Set([`?.${name}.*`]) };
    }
    const [relSchema = '', relName = ''] = found.key.split('.');
    let cols: Column[];
    if (found.info.definition !== undefined) {
      cols = this.view(found.key, found.info);
    } else {
      cols = found.info.columns.map((c) => ({ name: c, sources: new Set([`${relSchema}.${relName}.${c}`]) }));
    }
    return { alias: aliasName, columns: renamed(cols), wildcard: new Set(), relation: found.key };
  }

  /** A view's columns carry the lineage of its definition (resolved recursively). */
  private view(key: string, info: RelationInfo): Column[] {
    if (this.depth >= MAX_VIEW_DEPTH) {
      this.fail(`view ${key} nests too deeply`);
      return info.columns.map((c) => ({ name: c, sources: new Set([`?.${key}.${c}`]) }));
    }
    let select: Node;
    try {
      select = parseView(info);
    } catch (error) {
      this.fail(`view ${key} definition: ${String(error)}`);
      return info.columns.map((c) => ({ name: c, sources: new Set([`?.${key}.${c}`]) }));
    }
    const inner = new Resolver(this.catalog, this.sensitive, this.budget, this.depth + 1);
    const cols = inner.select(select, [], new Map());
    for (const u of inner.unresolved) this.fail(`in view ${key}: ${u}`);
    for (const r of inner.referenced) this.referenced.add(r);
    // A sensitive column filtered on inside a view still shapes what the view returns.
    for (const o of inner.outside) this.outside.add(o);
    return info.columns.map((c, i) => ({ name: c, sources: cols[i]?.sources ?? new Set() }));
  }

  private fromItem(item: Node, scope: Source[], outer: Source[][], ctes: Ctes): Source[] {
    this.budget.charge();
    if (item.RangeVar !== undefined) {
      const rv = item.RangeVar as Node;
      return [this.relationSource(typeof rv.schemaname === 'string' ? rv.schemaname : undefined, String(rv.relname), rv.alias as Node | undefined, ctes)];
    }
    if (item.RangeTableSample !== undefined) {
      // TABLESAMPLE picks rows of the table by chance (and its arguments), not by their values.
      const sample = item.RangeTableSample as Node;
      this.useOutside(union(this.expr(sample.args, scope, outer, ctes), this.expr(sample.repeatable, scope, outer, ctes)));
      return this.fromItem(sample.relation as Node, scope, outer, ctes);
    }
    if (item.RangeSubselect !== undefined) {
      const sub = item.RangeSubselect as Node;
      const select = (sub.subquery as Node).SelectStmt as Node;
      const lateralOuter = sub.lateral === true ? [scope, ...outer] : outer;
      const cols = this.select(select, lateralOuter, ctes);
      const alias = sub.alias as Node | undefined;
      const rename = ((alias?.colnames as unknown[] | undefined) ?? []).map(str);
      return [{ alias: typeof alias?.aliasname === 'string' ? alias.aliasname : '?subquery', columns: cols.map((c, i) => ({ name: rename[i] ?? c.name, sources: c.sources })), wildcard: new Set() }];
    }
    if (item.JoinExpr !== undefined) return this.join(item.JoinExpr as Node, scope, outer, ctes);
    if (item.RangeFunction !== undefined) return [this.rangeFunction(item.RangeFunction as Node, scope, outer, ctes)];
    this.fail(`FROM item ${Object.keys(item)[0] ?? '?'} is not supported by lineage`);
    return [{ alias: '?', columns: undefined, wildcard: new Set(['?.?.*']) }];
  }

  /**
   * Functions in FROM (`f(…)`, `ROWS FROM (f(…), g(…))`, `WITH ORDINALITY`): their columns as PostgreSQL names
   * them. How many rows come out depends on the arguments, so every column (the ordinality too) derives from
   * all of them, and they are used outside the output.
   */
  private rangeFunction(fn: Node, scope: Source[], outer: Source[][], ctes: Ctes): Source {
    const args = this.expr(fn.functions, [...scope], outer, ctes);
    this.useOutside(args);
    const calls = expandCalls(fn.functions, fn.is_rowsfrom === true);
    const alias = fn.alias as Node | undefined;
    const aliasName = typeof alias?.aliasname === 'string' ? alias.aliasname : undefined;
    const context: FunctionShapeContext = {
      rowType: (parts) => {
        const found = parts.length <= 2 ? this.lookupRelation(parts.length === 2 ? parts[0] : undefined, parts.at(-1) ?? '') : undefined;
        return found?.info.columns;
      },
      returnsSet: (name) => SET_RETURNING.has(name) || this.catalog.returnsSet?.(name) === true,
    };
    let columns: string[] | undefined = [];
    for (const { call, coldeflist } of calls) {
      const shape = functionShape(call, calls.length === 1 && coldeflist === undefined ? fn.coldeflist : coldeflist, context);
      if (shape === undefined) {
        columns = undefined;
        break;
      }
      // A lone scalar function takes the FROM item's alias as its column name.
      columns.push(...(shape === 'scalar' ? [calls.length === 1 && aliasName !== undefined ? aliasName : functionName(call)] : shape));
    }
    if (columns !== undefined && fn.ordinality === true) columns.push('ordinality');
    const rename = names(alias?.colnames);
    const name = aliasName ?? (calls.length === 1 ? functionName(calls[0]?.call) : '?function');
    return {
      alias: name,
      columns: columns?.map((c, i) => ({ name: rename[i] ?? c, sources: args })),
      wildcard: args,
    };
  }

  /**
   * A join. ON compares what it names; USING and NATURAL compare the named (or all common) columns without
   * naming them in an expression, and merge each pair into one output column that comes first under `*`.
   */
  private join(join: Node, scope: Source[], outer: Source[][], ctes: Ctes): Source[] {
    const left = this.fromItem(join.larg as Node, scope, outer, ctes);
    const right = this.fromItem(join.rarg as Node, [...scope, ...left], outer, ctes);
    const both = [...left, ...right];
    if (join.quals !== undefined) this.useOutside(this.expr(join.quals, [...scope, ...both], outer, ctes));
    const alias = join.alias as Node | undefined;
    const aliased = (columns: readonly Column[] | undefined): Source[] =>
      typeof alias?.aliasname === 'string'
        ? [{ alias: alias.aliasname, columns: columns === undefined ? undefined : columns.map((c, i) => ({ name: names(alias.colnames)[i] ?? c.name, sources: c.sources })), wildcard: union(...both.map((s) => s.wildcard)), hiddenFromStar: true }]
        : [];
    const leftCols = visibleColumns(left);
    const rightCols = visibleColumns(right);
    let using = names(join.usingClause);
    if (join.isNatural === true) {
      if (leftCols === undefined || rightCols === undefined) {
        // The common columns are unknown: any column of either side may be compared.
        this.fail('NATURAL JOIN over a source whose columns are unknown');
        this.useOutside(union(...both.flatMap((s) => [s.wildcard, ...(s.columns ?? []).map((c) => c.sources)])));
        return [...both, ...aliased(undefined)];
      }
      using = [...new Set(leftCols.map((c) => c.name).filter((n) => rightCols.some((r) => r.name === n)))];
    }
    if (using.length === 0) return [...both, ...aliased(visibleColumns(both))];
    const side = (cols: Column[] | undefined, sources: Source[], name: string): Sources => {
      const col = cols?.find((c) => c.name === name);
      if (col !== undefined) return col.sources;
      if (cols === undefined) return union(...sources.map((s) => s.wildcard));
      this.fail(`join column ${name} not found`);
      return new Set([`?.?.${name}`]);
    };
    const merged = using.map((name) => ({ name, sources: union(side(leftCols, left, name), side(rightCols, right, name)) }));
    for (const m of merged) {
      for (const f of m.sources) if (!f.startsWith('?')) this.referenced.add(f);
      this.useOutside(m.sources);
    }
    if (leftCols === undefined || rightCols === undefined) return [...both, ...aliased(undefined)];
    const rest = [...leftCols, ...rightCols].filter((c) => !using.includes(c.name));
    const joined: Column[] = [...merged, ...rest];
    const usingAlias = join.join_using_alias as Node | undefined;
    return [
      ...both.map((s) => ({ ...s, hiddenFromStar: true })),
      { alias: '', columns: joined, wildcard: new Set() },
      ...(typeof usingAlias?.aliasname === 'string' ? [{ alias: usingAlias.aliasname, columns: merged, wildcard: new Set<string>(), hiddenFromStar: true }] : []),
      ...aliased(joined),
    ];
  }

  /**
   * DELETE/UPDATE/INSERT/MERGE: what they write, and their RETURNING rows. A value written into a column that
   * is not itself sensitive leaves lineage (later reads of that column are not masked): copying a sensitive
   * value there is a use outside the output. RETURNING sees the target's new values, so its columns carry
   * the lineage of what was assigned to them, as well as their own.
   */
  returning(stmt: Node, outer: Source[][], ctes: Ctes): Column[] {
    this.budget.charge();
    const body = (stmt.DeleteStmt ?? stmt.UpdateStmt ?? stmt.InsertStmt ?? stmt.MergeStmt) as Node | undefined;
    if (body === undefined) {
      this.fail(`statement ${Object.keys(stmt)[0] ?? '?'} has no lineage`);
      return [];
    }
    const local = this.withClause(body.withClause as Node | undefined, outer, ctes);
    const rel = body.relation as Node;
    const target = this.relationSource(typeof rel.schemaname === 'string' ? rel.schemaname : undefined, String(rel.relname), rel.alias as Node | undefined, local);
    const scope = [target];
    const from = [...((body.usingClause as Node[] | undefined) ?? []), ...((body.fromClause as Node[] | undefined) ?? [])];
    if (body.sourceRelation !== undefined) from.push(body.sourceRelation as Node);
    for (const item of from) scope.push(...this.fromItem(item, scope, outer, local));
    for (const key of ['whereClause', 'joinCondition']) {
      if (body[key] !== undefined) this.useOutside(this.expr(body[key], scope, outer, local));
    }
    const written = new Map<string, Sources>();
    const write = (column: string, sources: Sources): void => {
      written.set(column, union(written.get(column) ?? new Set(), sources));
      // Into a column that is itself sensitive the value stays in lineage; anywhere else it launders it.
      if (!this.sensitivePlace(target.columns?.find((c) => c.name === column))) this.useOutside(sources);
    };
    const targetNames = (list: unknown): string[] | undefined => {
      const given = ((list as Node[] | undefined) ?? []).map((t) => (t.ResTarget as Node | undefined)?.name).filter((n): n is string => typeof n === 'string');
      return given.length > 0 ? given : target.columns?.map((c) => c.name);
    };
    const assignAll = (columns: string[] | undefined, values: readonly Sources[]): void => {
      values.forEach((sources, i) => {
        const column = columns?.[i];
        if (column !== undefined) write(column, sources);
        else this.useOutside(sources);
      });
    };
    if (stmt.InsertStmt !== undefined) this.insert(body, target, targetNames(body.cols), assignAll, write, outer, local);
    for (const item of (body.targetList as Node[] | undefined) ?? []) this.assign(item, scope, outer, local, write);
    for (const when of (body.mergeWhenClauses as Node[] | undefined) ?? []) {
      const clause = (when.MergeWhenClause ?? {}) as Node;
      if (clause.condition !== undefined) this.useOutside(this.expr(clause.condition, scope, outer, local));
      if (clause.commandType === 'CMD_INSERT') {
        const values = ((clause.values as unknown[] | undefined) ?? []).map((v) => this.expr(v, scope, outer, local));
        assignAll(targetNames(clause.targetList), values);
      } else for (const item of (clause.targetList as Node[] | undefined) ?? []) this.assign(item, scope, outer, local, write);
    }
    // RETURNING (and its OLD/NEW aliases) sees the target row with what was written into it.
    const after: Source = { ...target, columns: target.columns?.map((c) => ({ name: c.name, sources: union(c.sources, written.get(c.name) ?? new Set()) })) };
    const clause = body.returningClause as Node | undefined;
    const aliasOf = (option: string, fallback: string): string => {
      const found = ((clause?.options as Node[] | undefined) ?? []).map((o) => (o.ReturningOption ?? {}) as Node).find((o) => o.option === option);
      return typeof found?.value === 'string' ? found.value : fallback;
    };
    const returnScope = [after, ...scope.slice(1), { ...after, alias: aliasOf('RETURNING_OPTION_OLD', 'old'), hiddenFromStar: true }, { ...after, alias: aliasOf('RETURNING_OPTION_NEW', 'new'), hiddenFromStar: true }];
    const out: Column[] = [];
    for (const item of (clause?.exprs as Node[] | undefined) ?? ((body.returningList as Node[] | undefined) ?? [])) {
      const res = item.ResTarget as Node;
      const val = res.val as Node;
      const fields = (val.ColumnRef as { fields?: unknown[] } | undefined)?.fields ?? [];
      if (fields.some((f) => (f as Node).A_Star !== undefined)) out.push(...this.star(fields, returnScope));
      else out.push({ name: typeof res.name === 'string' ? res.name : defaultName(val), sources: this.expr(val, returnScope, outer, local) });
    }
    return out;
  }

  /** INSERT's rows (a query or VALUES, positionally into the named columns) and its ON CONFLICT clause. */
  private insert(
    body: Node,
    target: Source,
    columns: string[] | undefined,
    assignAll: (columns: string[] | undefined, values: readonly Sources[]) => void,
    write: (column: string, sources: Sources) => void,
    outer: Source[][],
    ctes: Ctes,
  ): void {
    const query = (body.selectStmt as Node | undefined)?.SelectStmt as Node | undefined;
    const rows = query === undefined ? [] : this.select(query, outer, ctes);
    assignAll(columns, rows.map((c) => c.sources));
    const conflict = body.onConflictClause as Node | undefined;
    if (conflict === undefined) return;
    const proposed = new Map<string, Sources>();
    rows.forEach((c, i) => {
      const name = columns?.[i];
      if (name !== undefined) proposed.set(name, union(proposed.get(name) ?? new Set(), c.sources));
    });
    // The arbiter compares the proposed row with the stored ones on the conflict columns (any unique index
    // when none are named): whether the row is inserted, updated or skipped depends on those values.
    const infer = (conflict.infer ?? {}) as Node;
    const elems = ((infer.indexElems as Node[] | undefined) ?? []).map((e) => (e.IndexElem as Node | undefined)?.name);
    const arbiters = elems.length > 0 && elems.every((n): n is string => typeof n === 'string') ? elems : [...proposed.keys()];
    this.useOutside(union(...arbiters.map((n) => proposed.get(n) ?? new Set<string>())));
    const excluded: Source = {
      alias: 'excluded',
      columns: target.columns?.map((c) => ({ name: c.name, sources: proposed.get(c.name) ?? new Set<string>() })),
      wildcard: new Set(),
      hiddenFromStar: true,
    };
    const scope = [target, excluded];
    if (infer.whereClause !== undefined) this.useOutside(this.expr(infer.whereClause, scope, outer, ctes));
    if (conflict.whereClause !== undefined) this.useOutside(this.expr(conflict.whereClause, scope, outer, ctes));
    for (const item of (conflict.targetList as Node[] | undefined) ?? []) this.assign(item, scope, outer, ctes, write);
  }

  /** One `SET column = value` (or `(a, b) = (SELECT …)`, one column of the multi-assignment). */
  private assign(item: Node, scope: Source[], outer: Source[][], ctes: Ctes, write: (column: string, sources: Sources) => void): void {
    const res = (item.ResTarget ?? {}) as Node;
    if (typeof res.name !== 'string') return;
    // `SET col[1] = …`, `SET col.field = …`: the subscript or field expression is evaluated too.
    const indirection = this.expr(res.indirection, scope, outer, ctes);
    this.useOutside(indirection);
    const multi = (res.val as Node | undefined)?.MultiAssignRef as Node | undefined;
    if (multi === undefined) {
      write(res.name, this.expr(res.val, scope, outer, ctes));
      return;
    }
    const source = (multi.source ?? {}) as Node;
    const index = typeof multi.colno === 'number' ? multi.colno - 1 : -1;
    const sub = source.SubLink as Node | undefined;
    const row = source.RowExpr as Node | undefined;
    if (sub !== undefined && (sub.subselect as Node | undefined)?.SelectStmt !== undefined) {
      const cols = this.select((sub.subselect as Node).SelectStmt as Node, [scope, ...outer], ctes);
      write(res.name, cols[index]?.sources ?? union(...cols.map((c) => c.sources)));
    } else if (row !== undefined && Array.isArray(row.args) && row.args[index] !== undefined) {
      write(res.name, this.expr(row.args[index], scope, outer, ctes));
    } else write(res.name, this.expr(source, scope, outer, ctes));
  }

  /** Whether a target column keeps what is written into it in lineage: every base column it stands for is sensitive. */
  private sensitivePlace(column: Column | undefined): boolean {
    if (column === undefined || column.sources.size === 0) return false;
    return [...column.sources].every((s) => !s.startsWith('?') && this.isSensitive(s));
  }

  /**
   * CREATE TABLE … AS and SELECT … INTO: the query's rows are stored in a new table, whose columns are
   * sensitive only if the policy names them so; COPY … TO hands rows to a file, a program or the client
   * without masking. Either way what they carry is used outside the output.
   */
  store(stmt: Node, ctes: Ctes): void {
    this.budget.charge();
    const ctas = stmt.CreateTableAsStmt as Node | undefined;
    const copy = stmt.CopyStmt as Node | undefined;
    const select = stmt.SelectStmt as Node | undefined;
    if (copy !== undefined) {
      if (copy.is_from === true) return;
      const query = copy.query as Node | undefined;
      if (query !== undefined) {
        const cols = query.SelectStmt !== undefined ? this.select(query.SelectStmt as Node, [], ctes) : this.returning(query, [], ctes);
        this.useOutside(union(...cols.map((c) => c.sources)));
        return;
      }
      const rel = (copy.relation ?? {}) as Node;
      const source = this.relationSource(typeof rel.schemaname === 'string' ? rel.schemaname : undefined, String(rel.relname), undefined, ctes);
      const listed = names(copy.attlist);
      const cols = (source.columns ?? []).filter((c) => listed.length === 0 || listed.includes(c.name));
      for (const c of cols) for (const f of c.sources) if (!f.startsWith('?')) this.referenced.add(f);
      this.useOutside(union(source.wildcard, ...cols.map((c) => c.sources)));
      return;
    }
    const into = (ctas?.into ?? select?.intoClause) as Node | undefined;
    // A materialized view keeps its definition: reading it later is resolved through it, like a view.
    if (into === undefined || ctas?.objtype === 'OBJECT_MATVIEW') return;
    const query = ctas === undefined ? select : ((ctas.query as Node | undefined)?.SelectStmt as Node | undefined);
    if (query === undefined) {
      this.fail('CREATE TABLE … AS of a statement other than SELECT');
      return;
    }
    const cols = this.select(ctas === undefined ? { ...query, intoClause: undefined } : query, [], ctes);
    const rel = (into.rel ?? {}) as Node;
    const schema = typeof rel.schemaname === 'string' ? rel.schemaname : rel.relpersistence === 't' ? 'pg_temp' : (this.catalog.searchPath.find((s) => s !== 'pg_catalog') ?? 'public');
    const renamed = names(into.colNames);
    cols.forEach((c, i) => {
      if (!this.sensitive(schema, String(rel.relname), renamed[i] ?? c.name)) this.useOutside(c.sources);
    });
  }

  /** Lineage of an expression: every base column it reads, through functions, casts and subqueries. */
  expr(node: unknown, scope: Source[], outer: Source[][], ctes: Ctes): Sources {
    if (Array.isArray(node)) return union(...node.map((n) => this.expr(n, scope, outer, ctes)));
    if (node === null || typeof node !== 'object') return new Set();
    this.budget.charge();
    const n = node as Node;
    if (n.ColumnRef !== undefined) {
      const found = this.columnRef((n.ColumnRef as { fields?: unknown[] }).fields ?? [], scope, outer);
      for (const f of found) if (!f.startsWith('?')) this.referenced.add(f);
      return found;
    }
    if (n.SubLink !== undefined) {
      const sub = n.SubLink as Node;
      const select = (sub.subselect as Node).SelectStmt as Node;
      const cols = this.select(select, [scope, ...outer], ctes);
      const tested = this.expr(sub.testexpr, scope, outer, ctes);
      // EXISTS / IN / ANY decide on values without returning them: an oracle on what they compare.
      if (sub.subLinkType !== 'EXPR_SUBLINK' && sub.subLinkType !== 'ARRAY_SUBLINK') {
        this.useOutside(union(tested, ...cols.map((c) => c.sources)));
        return new Set();
      }
      return union(tested, ...cols.map((c) => c.sources));
    }
    if (n.FuncCall !== undefined) return this.call(n.FuncCall as Node, scope, outer, ctes);
    if (n.TypeCast !== undefined) {
      const cast = n.TypeCast as Node;
      const sources = this.expr(cast.arg, scope, outer, ctes);
      // A cast runs the target type's input function: its error quotes the value (`…::regclass`, `…::int`).
      if (!harmlessCast(cast.typeName)) this.useOutside(sources);
      return sources;
    }
    if (n.XmlExpr !== undefined) {
      const xml = n.XmlExpr as Node;
      const sources = union(this.expr(xml.named_args, scope, outer, ctes), this.expr(xml.args, scope, outer, ctes));
      if (xml.op === 'IS_XMLPARSE') this.useOutside(sources);
      return sources;
    }
    if (n.CaseExpr !== undefined) {
      const c = n.CaseExpr as Node;
      const whens = ((c.args as Node[] | undefined) ?? []).map((w) => (w.CaseWhen ?? {}) as Node);
      const tests = union(this.expr(c.arg, scope, outer, ctes), ...whens.map((w) => this.expr(w.expr, scope, outer, ctes)));
      const results = union(...whens.map((w) => this.expr(w.result, scope, outer, ctes)), this.expr(c.defresult, scope, outer, ctes));
      // Which branch runs (and which later test is evaluated) depends on the tests: one that can fail makes the
      // error an oracle on them.
      if (whens.some((w, i) => mayRaise(w.result) || (i > 0 && mayRaise(w.expr))) || mayRaise(c.defresult)) this.useOutside(tests);
      return union(tests, results);
    }
    if (n.CoalesceExpr !== undefined || n.BoolExpr !== undefined) {
      // COALESCE evaluates an argument only when the ones before it are null; AND/OR stop early, in any order.
      const args = (((n.CoalesceExpr ?? n.BoolExpr) as Node).args as unknown[] | undefined) ?? [];
      const sources = args.map((a) => this.expr(a, scope, outer, ctes));
      args.forEach((a, i) => {
        if (!mayRaise(a)) return;
        const others = n.CoalesceExpr !== undefined ? sources.slice(0, i) : sources.filter((_, j) => j !== i);
        this.useOutside(union(...others));
      });
      return union(...sources);
    }
    if (n.A_Expr !== undefined) {
      const e = n.A_Expr as Node;
      const left = this.expr(e.lexpr, scope, outer, ctes);
      const right = this.expr(e.rexpr, scope, outer, ctes);
      // Division by zero, overflow, an invalid pattern: whether the error happens is an oracle on the operands.
      const op = names(e.name).at(-1) ?? '';
      if (e.kind === 'AEXPR_OP' || e.kind === 'AEXPR_OP_ANY' || e.kind === 'AEXPR_OP_ALL') {
        const raising = raisingOperands(op);
        if (raising !== 'none') this.useOutside(raising === 'right' ? right : union(left, right));
      } else if (['AEXPR_LIKE', 'AEXPR_ILIKE', 'AEXPR_SIMILAR'].includes(String(e.kind))) this.useOutside(right);
      return union(left, right);
    }
    let out = new Set<string>();
    for (const value of Object.values(n)) out = union(out, this.expr(value, scope, outer, ctes));
    return out;
  }

  private call(fn: Node, scope: Source[], outer: Source[][], ctes: Ctes): Sources {
    const fname = names(fn.funcname);
    const projected = this.projection(fn, fname, scope, outer);
    if (projected !== undefined) {
      this.projections.add(fn);
      return projected;
    }
    for (const key of ['over', 'agg_filter', 'agg_order']) {
      if (fn[key] !== undefined) this.useOutside(this.expr(fn[key], scope, outer, ctes));
    }
    const argNodes = (fn.args as unknown[] | undefined) ?? [];
    const perArg = argNodes.map((a) => this.expr(a, scope, outer, ctes));
    const args = union(...perArg);
    const bare = (fname.at(-1) ?? '').toLowerCase();
    const schema = fname.length > 1 ? fname.at(-2) : undefined;
    const builtin = schema === undefined || schema === 'pg_catalog';
    // A set-returning function decides how many rows come out; an input function's error quotes its argument.
    if ((builtin && (SET_RETURNING.has(bare) || PARSES_INPUT.has(bare))) || this.catalog.returnsSet?.(bare) === true) this.useOutside(args);
    else if (!builtin || argNodes.some((a) => (a as Node).NamedArgExpr !== undefined) || fn.func_variadic === true) this.useOutside(args);
    // Whether the call fails can depend on some of its arguments (a computed length, a pattern, a number that overflows).
    else for (const i of raisingArguments(bare, argNodes.length)) this.useOutside(perArg[i] ?? new Set());
    return args;
  }

  /**
   * `name(row)` is PostgreSQL's functional notation for `row.name` when no function `name` exists: one
   * undecorated argument naming a row source (not a column) that has a column of that name.
   */
  private projection(fn: Node, fname: string[], scope: Source[], outer: Source[][]): Sources | undefined {
    const args = (fn.args as unknown[] | undefined) ?? [];
    if (fname.length !== 1 || args.length !== 1 || this.catalog.hasFunction === undefined) return undefined;
    if (['agg_star', 'agg_distinct', 'func_variadic'].some((k) => fn[k] === true) || ['over', 'agg_order', 'agg_filter'].some((k) => fn[k] !== undefined)) return undefined;
    const column = fname[0] ?? '';
    const row = bareName(args[0]);
    if (row === undefined || this.catalog.hasFunction(column.toLowerCase())) return undefined;
    for (const level of [scope, ...outer]) {
      if (level.some((s) => s.columns === undefined || s.columns.some((c) => c.name === row))) return undefined;
      const source = level.find((s) => s.alias === row);
      if (source === undefined) continue;
      const col = source.columns?.find((c) => c.name === column);
      if (col === undefined) return undefined;
      for (const f of col.sources) if (!f.startsWith('?')) this.referenced.add(f);
      return col.sources;
    }
    return undefined;
  }

  private columnRef(fields: unknown[], scope: Source[], outer: Source[][]): Sources {
    const parts = fields.map((f) => str(f) ?? ((f as Node).A_Star !== undefined ? '*' : '?'));
    const scopes = [scope, ...outer];
    const column = parts.at(-1) ?? '?';
    const qualifier = parts.length >= 2 ? parts[parts.length - 2] : undefined;
    for (const level of scopes) {
      if (qualifier !== undefined) {
        const source = level.find((s) => s.alias === qualifier);
        if (source === undefined) continue;
        if (column === '*') return union(source.wildcard, ...(source.columns ?? []).map((c) => c.sources));
        if (source.columns === undefined) return source.wildcard;
        const col = source.columns.find((c) => c.name === column);
        if (col !== undefined) return col.sources;
        this.fail(`column ${qualifier}.${column} not found`);
        return new Set([`?.${qualifier}.${column}`]);
      }
      const matches = level.filter((s) => s.columns?.some((c) => c.name === column) ?? false);
      if (matches.length > 0) return union(...matches.map((s) => s.columns?.find((c) => c.name === column)?.sources ?? new Set<string>()));
      const unknown = level.filter((s) => s.columns === undefined);
      if (unknown.length > 0) return union(...unknown.map((s) => s.wildcard));
      // A bare table alias used as a value is the whole row: `SELECT c FROM customers c`, `row_to_json(c)`.
      const whole = level.find((s) => s.alias === column);
      if (whole !== undefined) return union(whole.wildcard, ...(whole.columns ?? []).map((c) => c.sources));
    }
    this.fail(`column ${parts.join('.')} could not be resolved`);
    return new Set([`?.?.${column}`]);
  }
}

function defaultName(val: Node): string {
  const fields = (val.ColumnRef as { fields?: unknown[] } | undefined)?.fields;
  if (fields !== undefined) return str(fields.at(-1)) ?? '?column?';
  const fn = (val.FuncCall as { funcname?: unknown[] } | undefined)?.funcname;
  if (fn !== undefined) return str(fn.at(-1)) ?? '?column?';
  if (val.TypeCast !== undefined) return defaultName((val.TypeCast as Node).arg as Node);
  return '?column?';
}

/** EXPLAIN with ANALYZE runs the statement: its row counts and errors are the statement's own. */
function explainAnalyzes(explain: Node): boolean {
  return /"defname":"analyze"/i.test(JSON.stringify(explain.options ?? []));
}

/**
 * Lineage of one parsed statement (the `stmt` node of libpg-query's output), and which `name(row)` calls
 * are column projections. Throws `SqlRejectedError` when the analysis would take more than its budget.
 */
export function analyseLineage(stmt: Node, catalog: RelationCatalog, sensitive: SensitivePredicate): LineageAnalysis {
  const resolver = new Resolver(catalog, sensitive, new AnalysisBudget());
  let outputs: Column[] = [];
  let target = stmt;
  const explain = stmt.ExplainStmt as Node | undefined;
  // EXPLAIN ANALYZE shows no values but executes the statement: what it uses is used; what it outputs is not shown.
  const analyzed = explain !== undefined && explainAnalyzes(explain);
  if (analyzed) target = (explain.query ?? {}) as Node;
  if (target.CreateTableAsStmt !== undefined || target.CopyStmt !== undefined || (target.SelectStmt as Node | undefined)?.intoClause !== undefined) {
    // They return no rows: what their query yields is stored or handed out, not shown.
    resolver.store(target, new Map());
  } else if (target.SelectStmt !== undefined) {
    resolver.topLevel = target.SelectStmt as Node;
    outputs = resolver.select(target.SelectStmt as Node, [], new Map());
  }
  else if (target.DeleteStmt !== undefined || target.UpdateStmt !== undefined || target.InsertStmt !== undefined || target.MergeStmt !== undefined) {
    outputs = resolver.returning(target, [], new Map());
  }
  if (analyzed) outputs = [];
  const maskedOutputs: number[] = [];
  outputs.forEach((c, i) => {
    if ([...c.sources].some((s) => s.startsWith('?') || resolver.isSensitive(s))) maskedOutputs.push(i);
  });
  return {
    lineage: {
      maskedOutputs,
      outputCount: outputs.length,
      maskedColumns: maskedOutputs.map((i) => outputs[i]?.name ?? `#${i}`),
      sensitiveUsedOutside: [...resolver.outside].sort(),
      unresolved: resolver.unresolved,
      columnsReferenced: [...resolver.referenced].sort(),
    },
    projections: resolver.projections,
  };
}

/** Lineage of one parsed statement (the `stmt` node of libpg-query's output). */
export function lineageOf(stmt: Node, catalog: RelationCatalog, sensitive: SensitivePredicate): Lineage {
  return analyseLineage(stmt, catalog, sensitive).lineage;
}
