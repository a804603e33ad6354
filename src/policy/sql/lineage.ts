/**
 * Column lineage for masking: which output columns of a statement derive from sensitive columns, and
 * whether a sensitive column is used outside the output (WHERE, JOIN, ORDER BY, GROUP BY, windows, …),
 * where it can reveal values without appearing in them. Resolved against a catalog snapshot of the
 * connection (tables, views and their definitions, columns). Anything that cannot be resolved is
 * reported, never silently allowed.
 */
import { parseSync } from 'libpg-query';

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
}

/** Decides whether a base column ("schema.table.column") is sensitive. */
export type SensitivePredicate = (schema: string, table: string, column: string) => boolean;

export interface Lineage {
  /** Output column positions (0-based) derived from a sensitive column: masked whole. */
  readonly maskedOutputs: readonly number[];
  /** Their names, for the agent and the audit. */
  readonly maskedColumns: readonly string[];
  /** Sensitive base columns used outside the output ("schema.table.column"). */
  readonly sensitiveUsedOutside: readonly string[];
  /** What could not be resolved; non-empty means the statement cannot be trusted to be masked. */
  readonly unresolved: readonly string[];
  /** Every base column the statement reads, anywhere ("schema.table.column"). */
  readonly columnsReferenced: readonly string[];
}

type Node = Record<string, unknown>;
type Sources = Set<string>;

interface Column {
  readonly name: string;
  readonly sources: Sources;
}

interface Source {
  readonly alias: string;
  /** Known columns; `undefined` when the source's columns are unknown (then `wildcard` applies). */
  readonly columns: readonly Column[] | undefined;
  /** For sources whose columns are unknown (functions in FROM): lineage of any column of it. */
  readonly wildcard: Sources;
  /** Base relation this source is, when it is one ("schema.table"), for whole-row references. */
  readonly relation?: string;
}

const MAX_VIEW_DEPTH = 8;

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

class Resolver {
  readonly outside = new Set<string>();
  readonly unresolved: string[] = [];
  readonly referenced = new Set<string>();

  constructor(
    private readonly catalog: RelationCatalog,
    private readonly sensitive: SensitivePredicate,
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
  private useOutside(sources: Sources): void {
    for (const s of sources) if (this.isSensitive(s)) this.outside.add(s);
  }

  isSensitive(base: string): boolean {
    const [schema = '', table = '', column = ''] = base.split('.');
    return this.sensitive(schema, table, column);
  }

  /** The output columns of a SELECT (or VALUES / set operation), resolving everything inside it. */
  select(stmt: Node, outer: Source[][], ctes: Map<string, Column[]>): Column[] {
    const localCtes = new Map(ctes);
    const withClause = stmt.withClause as { ctes?: Node[]; recursive?: boolean } | undefined;
    for (const item of withClause?.ctes ?? []) {
      const cte = item.CommonTableExpr as Node | undefined;
      if (cte === undefined) continue;
      const name = String(cte.ctename);
      const query = cte.ctequery as Node;
      const inner = (query.SelectStmt as Node | undefined) ?? undefined;
      if (inner === undefined) {
        // A data-modifying CTE (… RETURNING): its rows come from the modified table.
        localCtes.set(name, this.returning(query, outer, localCtes));
        continue;
      }
      if (withClause?.recursive === true) localCtes.set(name, []);
      let cols = this.select(inner, outer, localCtes);
      if (withClause?.recursive === true) {
        localCtes.set(name, cols);
        const again = this.select(inner, outer, localCtes);
        cols = cols.map((c, i) => ({ name: c.name, sources: union(c.sources, again[i]?.sources ?? new Set()) }));
      }
      const names = ((cte.aliascolnames as unknown[] | undefined) ?? []).map(str);
      localCtes.set(name, cols.map((c, i) => ({ name: names[i] ?? c.name, sources: c.sources })));
    }

    if (stmt.op !== undefined && stmt.op !== 'SETOP_NONE') {
      const left = this.select(stmt.larg as Node, outer, localCtes);
      const right = this.select(stmt.rarg as Node, outer, localCtes);
      this.clauses(stmt, [], outer, localCtes);
      return left.map((c, i) => ({ name: c.name, sources: union(c.sources, right[i]?.sources ?? new Set()) }));
    }

    if (Array.isArray(stmt.valuesLists)) {
      const rows = (stmt.valuesLists as Node[]).map((row) => ((row.List as { items?: unknown[] } | undefined)?.items ?? []));
      const width = Math.max(0, ...rows.map((r) => r.length));
      return Array.from({ length: width }, (_, i) => ({
        name: `column${i + 1}`,
        sources: union(...rows.map((r) => this.expr(r[i], [], outer, localCtes))),
      }));
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
        const expanded = this.star(fields, scope);
        for (const c of expanded) for (const f of c.sources) if (!f.startsWith('?')) this.referenced.add(f);
        out.push(...expanded);
        continue;
      }
      const sources = this.expr(val, scope, outer, localCtes);
      out.push({ name: typeof res.name === 'string' ? res.name : defaultName(val), sources });
    }
    this.clauses(stmt, scope, outer, localCtes);
    return out;
  }

  /** WHERE, GROUP BY, HAVING, ORDER BY, windows, DISTINCT ON, LIMIT: uses outside the output. */
  private clauses(stmt: Node, scope: Source[], outer: Source[][], ctes: Map<string, Column[]>): void {
    for (const key of ['whereClause', 'groupClause', 'havingClause', 'sortClause', 'windowClause', 'distinctClause', 'limitCount', 'limitOffset']) {
      if (stmt[key] !== undefined) this.useOutside(this.expr(stmt[key], scope, outer, ctes));
    }
  }

  private star(fields: unknown[], scope: Source[]): Column[] {
    const qualifier = fields.length > 1 ? str(fields[fields.length - 2]) : undefined;
    const sources = qualifier === undefined ? scope : scope.filter((s) => s.alias === qualifier);
    if (sources.length === 0) {
      this.fail(`${qualifier ?? ''}.* has no source`);
      return [];
    }
    const out: Column[] = [];
    for (const s of sources) {
      if (s.columns === undefined) {
        this.fail(`columns of ${s.alias} are unknown`);
        out.push({ name: s.alias, sources: s.wildcard });
      } else out.push(...s.columns);
    }
    return out;
  }

  private relationSource(schema: string | undefined, name: string, alias: Node | undefined, ctes: Map<string, Column[]>): Source {
    const aliasName = typeof alias?.aliasname === 'string' ? alias.aliasname : name;
    const rename = ((alias?.colnames as unknown[] | undefined) ?? []).map(str);
    const renamed = (cols: readonly Column[]): Column[] => cols.map((c, i) => ({ name: rename[i] ?? c.name, sources: c.sources }));
    if (schema === undefined && ctes.has(name)) return { alias: aliasName, columns: renamed(ctes.get(name) ?? []), wildcard: new Set() };
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
    try {
      const select = parseView(info);
      const inner = new Resolver(this.catalog, this.sensitive, this.depth + 1);
      const cols = inner.select(select, [], new Map());
      for (const u of inner.unresolved) this.fail(`in view ${key}: ${u}`);
      for (const r of inner.referenced) this.referenced.add(r);
      // A sensitive column filtered on inside a view still shapes what the view returns.
      for (const o of inner.outside) this.outside.add(o);
      return info.columns.map((c, i) => ({ name: c, sources: cols[i]?.sources ?? new Set() }));
    } catch (error) {
      this.fail(`view ${key} definition: ${String(error)}`);
      return info.columns.map((c) => ({ name: c, sources: new Set([`?.${key}.${c}`]) }));
    }
  }

  private fromItem(item: Node, scope: Source[], outer: Source[][], ctes: Map<string, Column[]>): Source[] {
    if (item.RangeVar !== undefined) {
      const rv = item.RangeVar as Node;
      return [this.relationSource(typeof rv.schemaname === 'string' ? rv.schemaname : undefined, String(rv.relname), rv.alias as Node | undefined, ctes)];
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
    if (item.JoinExpr !== undefined) {
      const join = item.JoinExpr as Node;
      const left = this.fromItem(join.larg as Node, scope, outer, ctes);
      const right = this.fromItem(join.rarg as Node, [...scope, ...left], outer, ctes);
      const both = [...left, ...right];
      if (join.quals !== undefined) this.useOutside(this.expr(join.quals, [...scope, ...both], outer, ctes));
      const alias = join.alias as Node | undefined;
      if (typeof alias?.aliasname === 'string') {
        const cols = both.flatMap((s) => s.columns ?? []);
        return [...both, { alias: alias.aliasname, columns: cols, wildcard: union(...both.map((s) => s.wildcard)) }];
      }
      return both;
    }
    if (item.RangeFunction !== undefined) {
      const fn = item.RangeFunction as Node;
      const args = this.expr(fn.functions, [...scope], outer, ctes);
      const alias = fn.alias as Node | undefined;
      const name = typeof alias?.aliasname === 'string' ? alias.aliasname : '?function';
      const colnames = ((alias?.colnames as unknown[] | undefined) ?? []).map(str).filter((c): c is string => c !== undefined);
      const columns = colnames.length > 0 ? colnames.map((c) => ({ name: c, sources: args })) : [{ name, sources: args }];
      return [{ alias: name, columns, wildcard: args }];
    }
    this.fail(`FROM item ${Object.keys(item)[0] ?? '?'} is not supported by lineage`);
    return [{ alias: '?', columns: undefined, wildcard: new Set(['?.?.*']) }];
  }

  /** DELETE/UPDATE/INSERT … RETURNING: the rows of the target table (and USING/FROM tables). */
  returning(stmt: Node, outer: Source[][], ctes: Map<string, Column[]>): Column[] {
    const body = (stmt.DeleteStmt ?? stmt.UpdateStmt ?? stmt.InsertStmt ?? stmt.MergeStmt) as Node | undefined;
    if (body === undefined) {
      this.fail(`statement ${Object.keys(stmt)[0] ?? '?'} has no lineage`);
      return [];
    }
    const rel = body.relation as Node;
    const scope = [this.relationSource(typeof rel.schemaname === 'string' ? rel.schemaname : undefined, String(rel.relname), rel.alias as Node | undefined, ctes)];
    for (const item of [...((body.usingClause as Node[] | undefined) ?? []), ...((body.fromClause as Node[] | undefined) ?? [])]) {
      scope.push(...this.fromItem(item, scope, outer, ctes));
    }
    if (body.whereClause !== undefined) this.useOutside(this.expr(body.whereClause, scope, outer, ctes));
    const out: Column[] = [];
    for (const target of ((body.returningClause as Node | undefined)?.exprs as Node[] | undefined) ?? ((body.returningList as Node[] | undefined) ?? [])) {
      const res = target.ResTarget as Node;
      const val = res.val as Node;
      const fields = (val.ColumnRef as { fields?: unknown[] } | undefined)?.fields ?? [];
      if (fields.some((f) => (f as Node).A_Star !== undefined)) out.push(...this.star(fields, scope));
      else out.push({ name: typeof res.name === 'string' ? res.name : defaultName(val), sources: this.expr(val, scope, outer, ctes) });
    }
    return out;
  }

  /** Lineage of an expression: every base column it reads, through functions, casts and subqueries. */
  expr(node: unknown, scope: Source[], outer: Source[][], ctes: Map<string, Column[]>): Sources {
    if (Array.isArray(node)) return union(...node.map((n) => this.expr(n, scope, outer, ctes)));
    if (node === null || typeof node !== 'object') return new Set();
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
    if (n.FuncCall !== undefined) {
      const fn = n.FuncCall as Node;
      for (const key of ['over', 'agg_filter', 'agg_order']) {
        if (fn[key] !== undefined) this.useOutside(this.expr(fn[key], scope, outer, ctes));
      }
      return this.expr(fn.args, scope, outer, ctes);
    }
    let out = new Set<string>();
    for (const value of Object.values(n)) out = union(out, this.expr(value, scope, outer, ctes));
    return out;
  }

  private columnRef(fields: unknown[], scope: Source[], outer: Source[][]): Sources {
    const names = fields.map((f) => str(f) ?? ((f as Node).A_Star !== undefined ? '*' : '?'));
    const scopes = [scope, ...outer];
    const column = names.at(-1) ?? '?';
    const qualifier = names.length >= 2 ? names[names.length - 2] : undefined;
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
    this.fail(`column ${names.join('.')} could not be resolved`);
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

/** Lineage of one parsed statement (the `stmt` node of libpg-query's output). */
export function lineageOf(stmt: Node, catalog: RelationCatalog, sensitive: SensitivePredicate): Lineage {
  const resolver = new Resolver(catalog, sensitive);
  let outputs: Column[] = [];
  if (stmt.SelectStmt !== undefined) outputs = resolver.select(stmt.SelectStmt as Node, [], new Map());
  else if (stmt.DeleteStmt !== undefined || stmt.UpdateStmt !== undefined || stmt.InsertStmt !== undefined || stmt.MergeStmt !== undefined) {
    outputs = resolver.returning(stmt, [], new Map());
  }
  const maskedOutputs: number[] = [];
  outputs.forEach((c, i) => {
    if ([...c.sources].some((s) => s.startsWith('?') || resolver.isSensitive(s))) maskedOutputs.push(i);
  });
  return {
    maskedOutputs,
    maskedColumns: maskedOutputs.map((i) => outputs[i]?.name ?? `#${i}`),
    sensitiveUsedOutside: [...resolver.outside].sort(),
    unresolved: resolver.unresolved,
    columnsReferenced: [...resolver.referenced].sort(),
  };
}
