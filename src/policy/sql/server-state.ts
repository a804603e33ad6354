/**
 * The server's own state and statistics: other sessions and their SQL text (`pg_stat_activity`,
 * `pg_stat_statements`), locks, prepared statements and cursors, and planner statistics that copy
 * stored values (`pg_stats.most_common_vals`, `histogram_bounds`, `pg_stats_ext`). Reading them is its
 * own SQL class, `server_state`, that policy can deny or send to approval: these rows are not the
 * caller's data, and column lineage cannot see into them.
 *
 * Names are matched without their schema (`pg_stat_statements` lives wherever its extension was
 * installed) and in any case; views and materialized views are looked through, to any depth the catalog
 * shows, so a view over `pg_stat_activity` is the same as the view itself.
 */
import { parseSync } from 'libpg-query';
import type { RelationInfo } from './lineage.js';

/** Statistics and activity views and tables: pg_stat_*, pg_statio_*, pg_stats*, pg_statistic*. */
const RELATION_PREFIX = 'pg_stat';

const RELATIONS = new Set([
  'pg_locks', 'pg_prepared_statements', 'pg_prepared_xacts', 'pg_cursors', 'pg_replication_slots',
  'pg_replication_origin_status', 'pg_backend_memory_contexts', 'pg_shmem_allocations', 'pg_file_settings',
  'pg_hba_file_rules', 'pg_ident_file_mappings',
]);

/** The functions under those views (pg_stat_get_activity, pg_lock_status, …) and their kin. */
const FUNCTION_PREFIX = 'pg_stat_';

const FUNCTIONS = new Set([
  'pg_lock_status', 'pg_prepared_statement', 'pg_prepared_xact', 'pg_cursor', 'pg_mcv_list_items',
  'pg_show_all_file_settings', 'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_get_backend_memory_contexts',
  'pg_get_shmem_allocations', 'pg_get_replication_slots', 'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids',
  'pg_isolation_test_session_is_blocked', 'pg_get_replication_origin_status',
]);

/** Whether a relation name (without schema) is a server-state or statistics relation. */
export function isServerStateRelation(name: string): boolean {
  const bare = name.toLowerCase();
  return bare.startsWith(RELATION_PREFIX) || RELATIONS.has(bare);
}

/** Whether a function name (`name` or `schema.name`) reads server state or statistics. */
export function isServerStateFunction(name: string): boolean {
  const bare = (name.split('.').at(-1) ?? name).toLowerCase();
  return bare.startsWith(FUNCTION_PREFIX) || FUNCTIONS.has(bare);
}

export interface StateCatalog {
  readonly relations?: ReadonlyMap<string, RelationInfo>;
  readonly searchPath: readonly string[];
}

const MAX_VIEW_DEPTH = 8;

/** Per catalog entry: what reading that view reaches (a view is looked through once per snapshot). */
const viewVerdicts = new WeakMap<RelationInfo, string | null>();

/**
 * What reading the relation `schema.name` (schema absent: as the search path finds it) reaches of the
 * server's state, as a path (`view activity → pg_stat_activity`), or `undefined`. Fails closed: a view
 * whose definition cannot be read, or that nests too deep, counts as reaching it.
 */
export function serverStateRead(schema: string | undefined, name: string, catalog: StateCatalog | undefined, depth = 0): string | undefined {
  if (isServerStateRelation(name)) return name;
  if (catalog?.relations === undefined) return undefined;
  const info = resolve(schema, name, catalog);
  if (info?.definition === undefined) return undefined;
  let verdict = viewVerdicts.get(info);
  if (verdict === undefined) {
    verdict = depth >= MAX_VIEW_DEPTH ? `(views nested deeper than ${MAX_VIEW_DEPTH})` : (viewReach(info.definition, catalog, depth + 1) ?? null);
    viewVerdicts.set(info, verdict);
  }
  return verdict === null ? undefined : `view ${name} → ${verdict}`;
}

function resolve(schema: string | undefined, name: string, catalog: StateCatalog): RelationInfo | undefined {
  const relations = catalog.relations;
  if (relations === undefined) return undefined;
  if (schema !== undefined) return relations.get(`${schema}.${name}`);
  for (const s of catalog.searchPath) {
    const info = relations.get(`${s}.${name}`);
    if (info !== undefined) return info;
  }
  return undefined;
}

function viewReach(definition: string, catalog: StateCatalog, depth: number): string | undefined {
  let tree: unknown;
  try {
    tree = parseSync(definition);
  } catch {
    return '(a definition that cannot be read)';
  }
  let found: string | undefined;
  const walk = (node: unknown): void => {
    if (found !== undefined || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (found !== undefined) return;
      const body = value as Record<string, unknown> | null;
      if (key === 'RangeVar' && body !== null && typeof body.relname === 'string') {
        found = serverStateRead(typeof body.schemaname === 'string' ? body.schemaname : undefined, body.relname, catalog, depth);
      } else if (key === 'FuncCall' && body !== null) {
        const name = functionName(body.funcname);
        if (isServerStateFunction(name)) found = `${name}()`;
      }
      walk(value);
    }
  };
  walk(tree);
  return found;
}

function functionName(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  return parts.map((p: unknown) => (p as { String?: { sval?: unknown } }).String?.sval).filter((s): s is string => typeof s === 'string').join('.');
}
