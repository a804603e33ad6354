import { loadModule, parseSync } from 'libpg-query';
import { InvalidSqlError, SqlRejectedError, type SqlPosition } from '../../errors.js';
import { wholeTableCondition, wholeTableMerge, type Target } from './conditions.js';
import { judgeFunction, type FunctionCatalog } from './functions.js';
import { assertParseDepth, tooDeep } from './limits.js';
import { analyseLineage, type Lineage, type LineageAnalysis, type RelationCatalog, type SensitivePredicate } from './lineage.js';
import { isServerStateFunction, serverStateRead } from './server-state.js';
import { SQL_CLASSES, type SqlClass } from './classes.js';

/** A catalog snapshot of a connection: functions (volatility) and, for lineage, relations. */
export type SqlCatalog = FunctionCatalog & { readonly relations?: RelationCatalog['relations'] };

/**
 * SQL statement classes, from least to most severe. A statement's class is the worst effect found
 * anywhere in its parse tree. `server_state`: reads the server's own state or statistics (other
 * sessions' SQL, locks, planner statistics that copy stored values; see server-state.ts). `unparseable` is kept so that policies naming it stay valid; the classifier
 * no longer produces it (text that does not parse is an INVALID_SQL error before policy).
 */
export { SQL_CLASSES, type SqlClass } from './classes.js';

/** What policy learns about one SQL statement. */
export interface SqlFacts {
  readonly class: SqlClass;
  /** Every class seen while walking the tree, for audit and explanation. */
  readonly classesSeen: readonly SqlClass[];
  /** Top-level statement node, e.g. `SelectStmt`. */
  readonly statementType: string | null;
  /** Every table or view the statement names (schema-qualified when the SQL qualifies it). */
  readonly tables: readonly string[];
  /** Tables the statement writes, creates, alters or drops (DML targets, SELECT INTO, DDL targets). */
  readonly tablesWritten: readonly string[];
  readonly functions: readonly string[];
  /** The placeholders the statement uses (`$1` → 1), sorted and unique; `$0` appears as 0 (absent in facts recorded before it was kept). */
  readonly placeholders?: readonly number[];
  /** Why the class is what it is, in one line (shown by explain and in audit). */
  readonly reason: string;
  /** Present when the policy names sensitive columns: which outputs derive from them, and other uses. */
  readonly lineage?: Lineage;
}

export const MAX_SQL_LENGTH = 100_000;

const severity = (c: SqlClass): number => SQL_CLASSES.indexOf(c);

let loaded: Promise<void> | undefined;

/** Loads the Postgres parser (WASM) once. Must be awaited before `classifySql`. A failed load is forgotten: the next call tries again. */
export function loadSqlParser(): Promise<void> {
  if (loaded === undefined) {
    const loading = loadModule();
    loaded = loading;
    loading.catch(() => {
      if (loaded === loading) loaded = undefined;
    });
  }
  return loaded;
}

const STATEMENT_CLASS: Readonly<Record<string, SqlClass>> = {
  SelectStmt: 'read',
  VariableShowStmt: 'read',
  ExplainStmt: 'read',
  InsertStmt: 'write',
  UpdateStmt: 'write',
  DeleteStmt: 'write',
  MergeStmt: 'write',
  CreateStmt: 'ddl',
  CreateTableAsStmt: 'ddl',
  AlterTableStmt: 'ddl',
  IndexStmt: 'ddl',
  ViewStmt: 'ddl',
  CreateSeqStmt: 'ddl',
  AlterSeqStmt: 'ddl',
  CreateSchemaStmt: 'ddl',
  CreateFunctionStmt: 'ddl',
  CreateEnumStmt: 'ddl',
  CompositeTypeStmt: 'ddl',
  CreateDomainStmt: 'ddl',
  CreateTrigStmt: 'ddl',
  RuleStmt: 'ddl',
  RenameStmt: 'ddl',
  CommentStmt: 'ddl',
  CreateExtensionStmt: 'ddl',
  AlterEnumStmt: 'ddl',
  RefreshMatViewStmt: 'ddl',
  DropStmt: 'destructive',
  TruncateStmt: 'destructive',
  GrantStmt: 'privilege',
  GrantRoleStmt: 'privilege',
  CreateRoleStmt: 'privilege',
  AlterRoleStmt: 'privilege',
  AlterRoleSetStmt: 'privilege',
  DropRoleStmt: 'privilege',
  AlterDefaultPrivilegesStmt: 'privilege',
  AlterOwnerStmt: 'privilege',
  ReassignOwnedStmt: 'privilege',
  DropOwnedStmt: 'privilege',
  CreatePolicyStmt: 'privilege',
  AlterPolicyStmt: 'privilege',
  VariableSetStmt: 'admin',
  TransactionStmt: 'admin',
  CopyStmt: 'admin',
  DoStmt: 'admin',
  CallStmt: 'admin',
  PrepareStmt: 'admin',
  ExecuteStmt: 'admin',
  DeallocateStmt: 'admin',
  ListenStmt: 'admin',
  UnlistenStmt: 'admin',
  NotifyStmt: 'admin',
  LockStmt: 'admin',
  VacuumStmt: 'admin',
  AlterSystemStmt: 'admin',
  CheckPointStmt: 'admin',
  LoadStmt: 'admin',
  ClusterStmt: 'admin',
  ReindexStmt: 'admin',
  DiscardStmt: 'admin',
  DeclareCursorStmt: 'admin',
  FetchStmt: 'admin',
  ClosePortalStmt: 'admin',
  CreatedbStmt: 'admin',
  DropdbStmt: 'admin',
  AlterDatabaseStmt: 'admin',
  AlterDatabaseSetStmt: 'admin',
};

/**
 * Classifies one SQL statement with Postgres's own parser. Hostile input that cannot be judged at all
 * (NUL bytes, over-long text, zero or several statements) is rejected; text that does not parse is the
 * caller's mistake and fails with INVALID_SQL (the parser's message and where), before policy: nothing runs.
 */
export function classifySql(sql: string, catalog?: SqlCatalog, sensitive?: SensitivePredicate): SqlFacts {
  if (sql.includes('\u0000')) throw new SqlRejectedError('the statement contains a NUL byte.');
  if (sql.length > MAX_SQL_LENGTH) {
    throw new SqlRejectedError(`the statement is longer than ${MAX_SQL_LENGTH} characters.`);
  }
  if (sql.trim() === '') throw new SqlRejectedError('no statement was given.');
  let tree: { stmts?: { stmt?: Record<string, unknown> }[] };
  try {
    tree = parseSync(sql);
  } catch (error) {
    // The parser's own recursion gives out on deeply nested statements: that is the depth bound, not a syntax error.
    if (error instanceof RangeError || /^memory exhausted/.test(String((error as { sqlDetails?: { message?: unknown } } | null)?.sqlDetails?.message))) throw tooDeep();
    throw parseError(sql, error);
  }
  assertParseDepth(tree);
  const stmts = (tree.stmts ?? []).filter((s) => s.stmt !== undefined);
  if (stmts.length === 0) throw new SqlRejectedError('no statement was given.');
  if (stmts.length > 1) throw new SqlRejectedError(`exactly one statement per call is allowed; got ${stmts.length}.`);
  const stmt = stmts[0]?.stmt ?? {};
  const statementType = Object.keys(stmt)[0] ?? 'unknown';
  const walk = new TreeWalk(catalog);
  walk.visit(stmt);
  // Lineage is asked for (a predicate given) when the policy has sensitive columns or column rules; it also
  // tells whether an unknown `name(row)` is the column `row.name` (PostgreSQL's functional notation).
  let analysis: LineageAnalysis | undefined;
  if (catalog?.relations !== undefined && (sensitive !== undefined || walk.mayHaveProjections())) {
    analysis = analyseLineage(stmt, lineageCatalog(catalog, catalog.relations), sensitive ?? (() => false));
  }
  walk.settleProjections(analysis?.projections ?? new Set());
  const facts = walk.result(statementType, stmt[statementType]);
  if (sensitive === undefined) return facts;
  if (analysis === undefined) {
    const unknown: Lineage = { maskedOutputs: [], outputCount: 0, maskedColumns: [], sensitiveUsedOutside: [], unresolved: ['no catalog snapshot of this connection'], columnsReferenced: [] };
    return { ...facts, lineage: unknown };
  }
  return { ...facts, lineage: analysis.lineage };
}

function lineageCatalog(catalog: FunctionCatalog, relations: RelationCatalog['relations']): RelationCatalog {
  return {
    relations,
    searchPath: catalog.searchPath,
    hasFunction: (name) => catalog.functions.has(name),
    returnsSet: (name) => catalog.functions.get(name)?.some((o) => o.retset === true) ?? false,
  };
}

/** `name(x)`: one bare argument, no decoration, and no function of that name anywhere: maybe the column `x.name`. */
function projectionShaped(body: Record<string, unknown>, catalog: FunctionCatalog | undefined): boolean {
  const name = body.funcname as unknown[] | undefined;
  const args = body.args as { ColumnRef?: { fields?: unknown[] } }[] | undefined;
  if (catalog === undefined || name?.length !== 1 || args?.length !== 1) return false;
  if (body.agg_star === true || body.agg_distinct === true || body.func_variadic === true || body.over !== undefined || body.agg_order !== undefined || body.agg_filter !== undefined) return false;
  const fields = args[0]?.ColumnRef?.fields;
  return fields?.length === 1 && (fields[0] as { String?: unknown }).String !== undefined && !catalog.functions.has(funcName(name));
}

class TreeWalk {
  constructor(private readonly catalog: SqlCatalog | undefined) {}

  private readonly classes = new Set<SqlClass>();
  private readonly tables = new Set<string>();
  private readonly written = new Set<string>();
  /** Unsafe function calls: they count even under plain EXPLAIN (the planner folds IMMUTABLE calls). */
  private readonly functionReasons: string[] = [];
  private readonly functions = new Set<string>();
  private readonly reasons: string[] = [];
  private readonly params = new Set<number>();
  /** Unknown `name(x)` calls that lineage may resolve as columns: judged once it has. */
  private readonly maybeColumns = new Map<object, { name: string; why: string }>();

  private raise(c: SqlClass, why: string): void {
    this.classes.add(c);
    this.reasons.push(`${c}: ${why}`);
  }

  visit(node: unknown): void {
    if (Array.isArray(node)) {
      for (const item of node) this.visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (/^[A-Z]/.test(key)) this.node(key, value as Record<string, unknown>);
      // Statement targets are bare RangeVar bodies under `relation` (DML, DDL) or `rel` (SELECT INTO).
      else if ((key === 'relation' || key === 'rel') && value !== null && typeof value === 'object') this.target(value as Record<string, unknown>);
      this.visit(value);
    }
  }

  private node(type: string, body: Record<string, unknown>): void {
    const known = STATEMENT_CLASS[type];
    if (type.endsWith('Stmt')) {
      if (known === undefined) this.raise('admin', `statement type ${type} is not on the allow-list`);
      else if (type === 'SelectStmt') this.select(body);
      else if (type === 'ExplainStmt') return;
      else if (type === 'UpdateStmt' || type === 'DeleteStmt') {
        // A condition that is always true, or that does not depend on the row, is no condition.
        const whole = body.whereClause === undefined ? 'without a WHERE clause' : wholeTableCondition(body.whereClause, body.relation as Target | undefined);
        const verb = type === 'UpdateStmt' ? 'UPDATE' : 'DELETE';
        if (whole === undefined) this.raise('write', type);
        else this.raise('destructive', whole.startsWith('without') ? `${verb} ${whole}` : `${verb} whose WHERE selects every row: ${whole}`);
      } else if (type === 'MergeStmt') {
        const whole = wholeTableMerge(body);
        if (whole === undefined) this.raise('write', type);
        else this.raise('destructive', whole);
      } else if (type === 'AlterTableStmt' && JSON.stringify(body).includes('"AT_DropColumn"')) {
        this.raise('destructive', 'ALTER TABLE drops a column');
      } else if (type === 'VariableSetStmt' && ['role', 'session_authorization'].includes(String(body.name))) {
        this.raise('privilege', 'SET ROLE / SESSION AUTHORIZATION');
      } else this.raise(known, type);
    }
    if (type === 'ParamRef') this.params.add(typeof body.number === 'number' ? body.number : 0);
    if (type === 'RangeVar') {
      const name = relationName(body);
      if (name !== undefined) this.tables.add(name);
      if (typeof body.relname === 'string') {
        const reach = serverStateRead(typeof body.schemaname === 'string' ? body.schemaname : undefined, body.relname, this.catalog);
        if (reach !== undefined) this.raise('server_state', `reads server state or statistics: ${reach}`);
      }
    }
    if (type === 'FuncCall') {
      const name = funcName(body.funcname);
      const verdict = judgeFunction(name, this.catalog);
      if (!verdict.safe && projectionShaped(body, this.catalog)) this.maybeColumns.set(body, { name, why: verdict.why });
      else this.called(name, verdict.safe ? undefined : verdict.why);
    }
  }

  private called(name: string, unsafe: string | undefined): void {
    this.functions.add(name);
    if (isServerStateFunction(name)) this.raise('server_state', `reads server state or statistics: ${name}()`);
    if (unsafe !== undefined) {
      this.raise('admin', unsafe);
      this.functionReasons.push(`admin: ${unsafe}`);
    }
  }

  mayHaveProjections(): boolean {
    return this.maybeColumns.size > 0;
  }

  /** Calls lineage resolved as column projections read a column; the rest are unknown functions after all. */
  settleProjections(projections: ReadonlySet<object>): void {
    for (const [node, { name, why }] of this.maybeColumns) if (!projections.has(node)) this.called(name, why);
    this.maybeColumns.clear();
  }

  private target(body: Record<string, unknown>): void {
    const name = relationName(body);
    if (name === undefined) return;
    this.tables.add(name);
    this.written.add(name);
  }

  private select(body: Record<string, unknown>): void {
    if (body.intoClause !== undefined) this.raise('ddl', 'SELECT … INTO creates a table');
    else if (body.lockingClause !== undefined) this.raise('write', 'SELECT … FOR UPDATE/SHARE takes row locks');
    else this.classes.add('read');
  }

  result(statementType: string, top: unknown): SqlFacts {
    if (statementType === 'ExplainStmt') this.explain(top as Record<string, unknown>);
    const seen = [...this.classes].sort((a, b) => severity(a) - severity(b));
    const worst = seen.at(-1) ?? 'read';
    const reason = this.reasons.length > 0 ? this.reasons.join('; ') : `${statementType} reads only`;
    return {
      class: worst,
      classesSeen: seen.length > 0 ? seen : ['read'],
      statementType,
      tables: [...this.tables].sort(),
      tablesWritten: [...this.written].sort(),
      functions: [...this.functions].sort(),
      placeholders: [...this.params].sort((a, b) => a - b),
      reason,
    };
  }

  /** EXPLAIN runs nothing unless ANALYZE is on; with ANALYZE the inner statement really executes. */
  private explain(body: Record<string, unknown>): void {
    // Any ANALYZE option counts, whatever its argument: judging "off" spellings is not worth the risk.
    const analyze = /"defname":"analyze"/i.test(JSON.stringify(body.options ?? []));
    if (!analyze) {
      // Without ANALYZE only the plan is produced: the inner statement's writes do not happen. Function
      // calls still count: planning evaluates IMMUTABLE calls with constant arguments, and a user-defined
      // function can claim IMMUTABLE whatever its body does.
      this.classes.clear();
      this.reasons.length = 0;
      this.classes.add('read');
      this.reasons.push('read: EXPLAIN without ANALYZE only plans');
      if (this.functionReasons.length > 0) {
        this.classes.add('admin');
        this.reasons.push(...this.functionReasons);
      }
    }
  }
}

/** The parser's error as the caller's own: its message, and where it is (line and column for a person). */
function parseError(sql: string, error: unknown): InvalidSqlError {
  const details = (error as { sqlDetails?: { message?: unknown; cursorPosition?: unknown } } | null)?.sqlDetails;
  const detail = error instanceof Error ? error.message : String(error);
  if (typeof details?.message !== 'string') return new InvalidSqlError('the statement could not be parsed', undefined, { detail, cause: error });
  return new InvalidSqlError(details.message, typeof details.cursorPosition === 'number' ? positionOf(sql, details.cursorPosition) : undefined, { detail, cause: error });
}

/** libpg-query reports a 0-based offset in characters (code points), as Postgres counts them. */
function positionOf(sql: string, offset: number): SqlPosition {
  const before = Array.from(sql).slice(0, Math.max(0, offset));
  let line = 1;
  let column = 1;
  for (const ch of before) {
    if (ch === '\n') {
      line += 1;
      column = 1;
    } else column += 1;
  }
  return { position: before.length + 1, line, column };
}

function relationName(body: Record<string, unknown>): string | undefined {
  if (typeof body.relname !== 'string') return undefined;
  return typeof body.schemaname === 'string' ? `${body.schemaname}.${body.relname}` : body.relname;
}

function funcName(parts: unknown): string {
  if (!Array.isArray(parts)) return 'unknown';
  return parts
    .map((p: unknown) => {
      const s = (p as { String?: { sval?: unknown } }).String?.sval;
      return typeof s === 'string' ? s.toLowerCase() : '?';
    })
    .join('.');
}
