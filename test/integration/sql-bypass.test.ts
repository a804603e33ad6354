/**
 * The public bypass suite (issue 4): statements that try to talk past the classifier, judged with the
 * connection's real function catalog and checked against what PostgreSQL really does.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { DEMO_CARDS } from '../../src/connectors/demo-seed.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { parsePolicy } from '../../src/policy/load.js';
import { sensitiveColumns } from '../../src/policy/sensitive.js';
import { classifySql, loadSqlParser, type SqlClass } from '../../src/policy/sql/classify.js';
import type { FunctionCatalog } from '../../src/policy/sql/functions.js';
import { MAX_LINEAGE_STEPS, MAX_PARSE_DEPTH } from '../../src/policy/sql/limits.js';
import type { ToolDeps } from '../../src/tool.js';
import { tempDir } from '../support/airlock.js';

const url = inject('databaseUrl');
const adminUrl = inject('adminUrl');
let connector: PostgresConnector;
let catalog: FunctionCatalog;

beforeAll(async () => {
  await loadSqlParser();
  const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
  await admin.connect();
  // A user-defined function that claims to be STABLE: its body could do anything, so it is never "read".
  await admin.query(`CREATE OR REPLACE FUNCTION public.sneaky() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1'`);
  await admin.query(`GRANT EXECUTE ON FUNCTION public.sneaky() TO airlock_app`);
  await admin.end();
  connector = new PostgresConnector({ resolve: () => url, poolSize: 2 });
  catalog = await connector.catalog('shop');
});
afterAll(async () => {
  await connector.close();
});

/** Functions with effects outside the statement (or that dump relations): never "read", however wrapped. */
const HARMFUL_CALLS = [
  "pg_sleep(0)", "pg_terminate_backend(1)", "pg_cancel_backend(1)", "set_config('role', 'postgres', false)",
  "pg_advisory_lock(1)", "pg_try_advisory_lock(1)", "pg_advisory_xact_lock(1)", "txid_current()", "pg_current_xact_id()",
  "nextval('orders_id_seq')", "setval('orders_id_seq', 1)", "lo_import('/etc/passwd')", "lo_creat(-1)",
  "pg_read_file('/etc/passwd')", "pg_ls_dir('.')", "query_to_xml('select 1', true, false, '')",
  "table_to_xml('customers', true, false, '')", "database_to_xml(true, false, '')", "pg_notify('c', 'x')",
  "pg_reload_conf()", "pg_rotate_logfile()", "pg_stat_reset()", "pg_create_restore_point('x')",
  "pg_catalog.pg_sleep(0)", "PG_SLEEP(0)", "\"pg_sleep\"(0)", "public.sneaky()", "sneaky()", "no_such_function()",
];

const WRAPPERS = [
  (f: string) => `SELECT ${f}`,
  (f: string) => `EXPLAIN SELECT ${f}`,
  (f: string) => `SELECT * FROM ${f} AS x`,
  (f: string) => `SELECT (SELECT ${f})`,
  (f: string) => `WITH x AS (SELECT ${f} AS v) SELECT v FROM x`,
  (f: string) => `SELECT CASE WHEN false THEN ${f} END`,
  (f: string) => `SELECT 1 WHERE ${f} IS NULL`,
  (f: string) => `SELECT id FROM customers ORDER BY ${f} LIMIT 1`,
  (f: string) => `SELECT coalesce(NULL, ${f})`,
  (f: string) => `SELECT ARRAY[${f}]`,
  (f: string) => `SELECT count(*) FILTER (WHERE ${f} IS NOT NULL) FROM customers`,
  (f: string) => `SELECT * FROM customers c WHERE EXISTS (SELECT ${f})`,
  (f: string) => `SELECT 1 UNION ALL SELECT 2 WHERE ${f} IS NULL`,
  (f: string) => `VALUES (${f})`,
];

const NOT_READ_STATEMENTS: [string, SqlClass][] = [
  ["WITH d AS (DELETE FROM orders WHERE id = -1 RETURNING *) SELECT * FROM d", 'write'],
  ["WITH u AS (UPDATE orders SET quantity = quantity WHERE id = -1 RETURNING id) SELECT count(*) FROM u", 'write'],
  ["WITH i AS (INSERT INTO products (name, category, price) VALUES ('x', 'y', 1) RETURNING id) SELECT * FROM i", 'write'],
  ["SELECT * FROM orders FOR UPDATE", 'write'],
  ["SELECT * FROM orders FOR SHARE SKIP LOCKED", 'write'],
  ["SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id FOR NO KEY UPDATE OF o", 'write'],
  ["EXPLAIN ANALYZE DELETE FROM orders WHERE id = -1", 'write'],
  ["EXPLAIN (ANALYZE, BUFFERS) UPDATE orders SET quantity = 1 WHERE id = -1", 'write'],
  ["SELECT * INTO TEMP t FROM orders", 'ddl'],
  ["CREATE TEMP TABLE t AS SELECT 1", 'ddl'],
  ["CREATE TABLE t (id int)", 'ddl'],
  ["DROP TABLE orders", 'destructive'],
  ["TRUNCATE orders", 'destructive'],
  ["DELETE FROM orders", 'destructive'],
  ["UPDATE orders SET quantity = 1", 'destructive'],
  ["GRANT SELECT ON customers TO PUBLIC", 'privilege'],
  ["SET ROLE postgres", 'privilege'],
  ["SET SESSION AUTHORIZATION postgres", 'privilege'],
  ["SET TRANSACTION READ WRITE", 'admin'],
  ["SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", 'admin'],
  ["SET default_transaction_read_only = off", 'admin'],
  ["RESET ALL", 'admin'],
  ["COMMIT", 'admin'],
  ["ROLLBACK", 'admin'],
  ["START TRANSACTION READ WRITE", 'admin'],
  ["COPY orders TO STDOUT", 'admin'],
  ["COPY orders FROM STDIN", 'admin'],
  ["COPY (SELECT 1) TO PROGRAM 'id'", 'admin'],
  ["DO $$ BEGIN PERFORM pg_sleep(0); END $$", 'admin'],
  ["CALL some_procedure()", 'admin'],
  ["PREPARE p AS DELETE FROM orders", 'admin'],
  ["EXECUTE p", 'admin'],
  ["LISTEN ch", 'admin'],
  ["NOTIFY ch, 'x'", 'admin'],
  ["LOCK orders IN ACCESS EXCLUSIVE MODE", 'admin'],
  ["VACUUM orders", 'admin'],
  ["ANALYZE orders", 'admin'],
  ["ALTER SYSTEM SET work_mem = '1GB'", 'admin'],
  ["CHECKPOINT", 'admin'],
  ["LOAD 'auto_explain'", 'admin'],
  ["DISCARD ALL", 'admin'],
  ["DECLARE c CURSOR FOR SELECT 1", 'admin'],
  ["REFRESH MATERIALIZED VIEW mv", 'ddl'],
];

/** Statements that are reads, and must stay readable. */
const READS = [
  'SELECT 1',
  'SELECT name, email FROM customers WHERE id = 1',
  'SELECT lower(name), upper(email), length(card_number) FROM customers',
  'SELECT count(*), avg(quantity), max(ordered_at) FROM orders',
  'SELECT date_trunc($$day$$, ordered_at) AS d, count(*) FROM orders GROUP BY 1 ORDER BY 1',
  'SELECT c.name, sum(o.quantity) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name HAVING sum(o.quantity) > 1',
  'WITH t AS (SELECT customer_id, count(*) AS n FROM orders GROUP BY 1) SELECT * FROM t ORDER BY n DESC LIMIT 3',
  'SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) FROM orders',
  'SELECT jsonb_build_object($$id$$, id, $$name$$, name) FROM customers',
  'SELECT now(), current_date, random(), gen_random_uuid()',
  'SELECT md5(email), to_char(created_at, $$YYYY-MM$$) FROM customers',
  'SELECT * FROM generate_series(1, 5) AS g',
  'SELECT name FROM products UNION SELECT name FROM customers',
  'SELECT EXISTS (SELECT 1 FROM orders WHERE status = $$refunded$$)',
  'EXPLAIN SELECT * FROM orders',
  'EXPLAIN DELETE FROM orders',
  'SHOW search_path',
  'SELECT pg_catalog.lower($$X$$)',
  'VALUES (1), (2)',
  'TABLE products',
];

/**
 * Issue 15: conditions that select every row are no condition. Each statement, run by PostgreSQL inside a
 * transaction that is rolled back, touches every row of its target (the oracle), and is classed with the
 * unconditioned DELETE/UPDATE: destructive.
 */
const WHOLE_TABLE: [sql: string, params: unknown[]][] = [
  ['DELETE FROM orders WHERE true', []],
  ['DELETE FROM orders WHERE 1 = 1', []],
  ['DELETE FROM orders WHERE id = id', []],
  ['DELETE FROM orders WHERE NOT false', []],
  ["DELETE FROM orders WHERE 't'", []],
  ["DELETE FROM orders WHERE 'yes'::boolean", []],
  ['DELETE FROM orders WHERE 1::bool', []],
  ['DELETE FROM orders WHERE 2 > 1 AND NOT (1 <> 1)', []],
  ['DELETE FROM orders WHERE id = 5 OR true', []],
  ['DELETE FROM orders WHERE (quantity = quantity) IS NOT FALSE', []],
  ['DELETE FROM orders WHERE id IS NOT DISTINCT FROM id', []],
  ['DELETE FROM orders WHERE NULL IS NULL', []],
  ["DELETE FROM orders WHERE 'a' = 'a'", []],
  ['DELETE FROM orders WHERE id IN (id, 3)', []],
  ['DELETE FROM orders WHERE $1', [true]],
  ['DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers)', []],
  ['DELETE FROM orders o USING customers c WHERE c.id = 1', []],
  ['DELETE FROM public.orders AS o WHERE o.id = o.id', []],
  ['UPDATE orders SET quantity = quantity WHERE true', []],
  ['UPDATE orders SET quantity = quantity WHERE 1 = 1', []],
  ['UPDATE orders o SET quantity = quantity WHERE o.status = o.status', []],
  ["UPDATE orders SET quantity = quantity FROM customers c WHERE c.name = 'Ana Silva'", []],
  ['WITH d AS (DELETE FROM orders WHERE true RETURNING 1) SELECT count(*) FROM d', []],
  ['MERGE INTO orders o USING (SELECT 1 AS one) s ON true WHEN MATCHED THEN DELETE', []],
  ['MERGE INTO orders o USING (SELECT id FROM customers LIMIT 1) c ON c.id = 1 WHEN MATCHED THEN DELETE', []],
  ['MERGE INTO orders o USING (SELECT 1 AS one) s ON 1 = 1 WHEN MATCHED THEN UPDATE SET quantity = o.quantity', []],
  ['MERGE INTO orders o USING (SELECT 1 AS one) s ON o.id = o.id WHEN MATCHED THEN DELETE', []],
  ['MERGE INTO orders o USING (SELECT 1 AS one) s ON s.one = 1 WHEN MATCHED AND true THEN DELETE', []],
  ['MERGE INTO orders o USING (SELECT -1 AS id) s ON s.id = o.id WHEN NOT MATCHED BY SOURCE THEN DELETE', []],
];

/** Conditions that do select rows: ordinary writes. */
const CONDITIONED: string[] = [
  'DELETE FROM orders WHERE id = 5',
  'DELETE FROM orders WHERE id = 5 AND true',
  'DELETE FROM orders WHERE false',
  'DELETE FROM orders WHERE id = $1',
  'DELETE FROM orders o USING customers c WHERE c.id = o.customer_id AND c.id = 1',
  'DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = orders.customer_id AND c.id = 1)',
  'UPDATE orders SET quantity = 1 WHERE id <> id',
  'MERGE INTO orders o USING customers c ON c.id = o.customer_id WHEN MATCHED THEN DELETE',
  'MERGE INTO orders o USING customers c ON true WHEN MATCHED AND o.id = 3 THEN DELETE',
  'MERGE INTO orders o USING customers c ON 1 = 1 WHEN NOT MATCHED THEN INSERT (customer_id, product_id, quantity, status) VALUES (c.id, 1, 1, $$new$$)',
];

/**
 * Issue 15: the server's own state and statistics (other sessions' SQL, locks, prepared statements, planner
 * statistics that copy stored values) are their own class, whatever the spelling, nesting or function.
 */
const SERVER_STATE: string[] = [
  "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE tablename = 'customers'",
  'SELECT * FROM pg_catalog.pg_stats',
  'SELECT * FROM PG_STATS',
  'SELECT * FROM "pg_stats"',
  'SELECT * FROM pg_stats_ext',
  'SELECT * FROM pg_stats_ext_exprs',
  'SELECT * FROM pg_statistic',
  'SELECT query FROM pg_stat_activity',
  'SELECT query FROM pg_catalog.pg_stat_activity WHERE pid <> pg_backend_pid()',
  'TABLE pg_stat_activity',
  'SELECT * FROM pg_stat_user_tables',
  'SELECT * FROM pg_statio_user_tables',
  'SELECT * FROM pg_locks',
  'SELECT * FROM pg_prepared_statements',
  'SELECT * FROM pg_prepared_xacts',
  'SELECT * FROM pg_cursors',
  'SELECT * FROM public.pg_stat_statements',
  'SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_stat_activity)',
  'WITH s AS (SELECT * FROM pg_stats) SELECT count(*) FROM s',
  'SELECT (SELECT query FROM pg_stat_activity LIMIT 1)',
  'SELECT name FROM customers UNION ALL SELECT query FROM pg_stat_activity',
  'SELECT * FROM customers c JOIN LATERAL (SELECT * FROM pg_locks LIMIT 1) l ON true',
  'SELECT * FROM pg_stat_get_activity(NULL)',
  'SELECT pg_stat_get_backend_activity(1)',
  'SELECT * FROM pg_catalog.pg_lock_status()',
  'SELECT * FROM pg_prepared_statement()',
  'SELECT * FROM pg_cursor()',
  'EXPLAIN ANALYZE SELECT * FROM pg_stats',
];

describe('SQL bypass suite (real PostgreSQL catalog)', () => {
  const functionCases = HARMFUL_CALLS.flatMap((f) => WRAPPERS.map((wrap) => wrap(f)));

  it(`never classifies any of ${HARMFUL_CALLS.length * WRAPPERS.length} wrapped harmful function calls as read (sql:never-read)`, () => {
    const leaks = functionCases.filter((sql) => classifySql(sql, catalog).class === 'read');
    expect(leaks).toEqual([]);
  });

  it.each(NOT_READ_STATEMENTS)('classifies %s as %s', (sql, expected) => {
    expect(classifySql(sql, catalog).class).toBe(expected);
  });

  it('classifies every read as read, and PostgreSQL confirms it wrote nothing, took no advisory lock and assigned no transaction id', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const sql of READS) {
        expect(classifySql(sql, catalog).class, sql).toBe('read');
        await client.query('BEGIN READ ONLY');
        try {
          await client.query(sql.replaceAll('$$', "'"));
          const check = await client.query<{ xid: string | null; advisory: number }>(
            "SELECT pg_current_xact_id_if_assigned()::text AS xid, (SELECT count(*)::int FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory') AS advisory",
          );
          expect(check.rows[0], sql).toEqual({ xid: null, advisory: 0 });
        } finally {
          await client.query('ROLLBACK');
        }
      }
    } finally {
      await client.end();
    }
  });

  it.each(WHOLE_TABLE)('classes %s as destructive: its condition selects every row (issue 15)', (sql) => {
    const facts = classifySql(sql, catalog);
    expect(facts.class).toBe('destructive');
    expect(facts.reason).toMatch(/every row|always true|does not depend on the row/);
  });

  it.each(CONDITIONED)('keeps %s an ordinary write (issue 15)', (sql) => {
    expect(classifySql(sql, catalog).class).toBe('write');
  });

  it('confirms with PostgreSQL that every whole-table statement touches every row of orders (issue 15)', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
      const total = rows[0]?.n ?? 0;
      expect(total).toBeGreaterThan(1);
      for (const [sql, params] of WHOLE_TABLE) {
        await client.query('BEGIN');
        try {
          const before = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
          const result = await client.query<{ count?: number }>(sql, params);
          const after = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM orders');
          // DELETEs empty the table; UPDATEs and MERGE … UPDATE report every row changed.
          const touched = sql.includes('WITH d') ? Number(result.rows[0]?.count) : result.rowCount;
          expect({ sql, touched, gone: (before.rows[0]?.n ?? 0) - (after.rows[0]?.n ?? 0) }).toEqual({ sql, touched: total, gone: /^UPDATE|UPDATE SET/.test(sql) ? 0 : total });
        } finally {
          await client.query('ROLLBACK');
        }
      }
    } finally {
      await client.end();
    }
  });

  it.each(SERVER_STATE)('classes %s as server_state (issue 15)', (sql) => {
    const facts = classifySql(sql, catalog);
    expect(facts.class).toBe('server_state');
    expect(facts.reason).toContain('server_state: reads server state or statistics: ');
  });

  it('keeps ordinary catalog reads and plain EXPLAIN of a statistics view read (issue 15)', () => {
    for (const sql of ['SELECT relname FROM pg_class', 'SELECT * FROM information_schema.columns', 'SELECT * FROM pg_namespace', 'EXPLAIN SELECT * FROM pg_stats', 'SELECT pg_backend_pid()']) {
      expect(classifySql(sql, catalog).class, sql).toBe('read');
    }
  });

  it('confirms with PostgreSQL that pg_stats copies card numbers and pg_stat_activity shows another session\'s SQL to airlock\'s role (issue 15)', async () => {
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    // Every principal's statements run as airlock's one role: another session of it is another principal.
    const app = new pg.Client({ connectionString: url });
    const other = new pg.Client({ connectionString: url });
    await admin.connect();
    await app.connect();
    await other.connect();
    try {
      await admin.query('ANALYZE customers');
      const stats = await app.query<{ v: string }>("SELECT coalesce(most_common_vals::text, '') || coalesce(histogram_bounds::text, '') AS v FROM pg_stats WHERE tablename = 'customers' AND attname = 'card_number'");
      expect(stats.rows[0]?.v).toMatch(/4111 1111 1111 1111|4242424242424242|378282246310005/);
      // Another session's statement text, still visible while it waits.
      const marker = `secret-${Date.now()}`;
      const sleeper = other.query(`SELECT pg_sleep(0.5), '${marker}'`);
      let seen = '';
      for (let i = 0; i < 20 && seen === ''; i++) {
        const { rows } = await app.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE query LIKE $1', [`%'${marker}'%`]);
        seen = rows.find((r) => !r.query.includes('LIKE'))?.query ?? '';
        if (seen === '') await new Promise((r) => setTimeout(r, 20));
      }
      await sleeper;
      expect(seen).toContain(marker);
    } finally {
      await other.end();
      await app.end();
      await admin.end();
    }
  });

  it('looks through views (and views of views) over server state, in any schema, with a fresh catalog (issue 15)', async () => {
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await admin.connect();
    try {
      await admin.query('CREATE SCHEMA IF NOT EXISTS ops');
      await admin.query('CREATE OR REPLACE VIEW public.issue15_activity AS SELECT pid, query FROM pg_stat_activity');
      await admin.query('CREATE OR REPLACE VIEW ops.issue15_recent AS SELECT query FROM public.issue15_activity');
      await admin.query('CREATE OR REPLACE VIEW public.issue15_backends AS SELECT * FROM pg_stat_get_activity(NULL) AS a');
      await admin.query('CREATE OR REPLACE VIEW public.issue15_plain AS SELECT id, name FROM customers');
      await admin.query('GRANT USAGE ON SCHEMA ops TO airlock_app');
      await admin.query('GRANT SELECT ON public.issue15_activity, ops.issue15_recent, public.issue15_backends, public.issue15_plain TO airlock_app');
      const fresh = new PostgresConnector({ resolve: () => url, poolSize: 1 });
      try {
        const snapshot = await fresh.catalog('shop');
        expect(classifySql('SELECT * FROM issue15_activity', snapshot)).toMatchObject({ class: 'server_state', reason: 'server_state: reads server state or statistics: view issue15_activity → pg_stat_activity' });
        expect(classifySql('SELECT * FROM ops.issue15_recent', snapshot).reason).toBe('server_state: reads server state or statistics: view issue15_recent → view issue15_activity → pg_stat_activity');
        expect(classifySql('SELECT * FROM issue15_backends', snapshot).class).toBe('server_state');
        expect(classifySql('SELECT c.name FROM customers c WHERE c.id IN (SELECT pid FROM public.issue15_activity)', snapshot).class).toBe('server_state');
        expect(classifySql('SELECT * FROM issue15_plain', snapshot).class).toBe('read');
        // And PostgreSQL does hand airlock's role other sessions' SQL through the view.
        const app = new pg.Client({ connectionString: url });
        await app.connect();
        try {
          const { rows } = await app.query<{ n: number }>('SELECT count(*)::int AS n FROM ops.issue15_recent WHERE query IS NOT NULL');
          expect(rows[0]?.n).toBeGreaterThan(0);
        } finally {
          await app.end();
        }
      } finally {
        await fresh.close();
      }
    } finally {
      await admin.query('DROP VIEW IF EXISTS ops.issue15_recent, public.issue15_activity, public.issue15_backends, public.issue15_plain');
      await admin.end();
    }
  });

  it('confirms with PostgreSQL that the harmful functions do have effects a read-only transaction does not stop', async () => {
    // The oracle for the list above: each of these runs inside BEGIN READ ONLY and still leaves a trace.
    const client = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await client.connect();
    try {
      for (const [sql, trace] of [
        ['SELECT txid_current()', "SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS hit"],
        ['SELECT pg_current_xact_id()', "SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS hit"],
        ['SELECT pg_advisory_lock(42)', "SELECT count(*) > 0 AS hit FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"],
        ["SELECT set_config('application_name', 'changed', false)", "SELECT current_setting('application_name') = 'changed' AS hit"],
      ] as const) {
        await client.query('BEGIN READ ONLY');
        await client.query(sql);
        const { rows } = await client.query<{ hit: boolean }>(trace);
        await client.query('ROLLBACK');
        expect(rows[0]?.hit, sql).toBe(true);
      }
      await client.query('SELECT pg_advisory_unlock_all()');
    } finally {
      await client.end();
    }
  });

  it('confirms with PostgreSQL that plain EXPLAIN runs an IMMUTABLE user function, so EXPLAIN does not make it a read', async () => {
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await admin.connect();
    try {
      await admin.query(
        `CREATE OR REPLACE FUNCTION public.folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM set_config('application_name', 'folded', false); RETURN 1; END$$`,
      );
      await admin.query('EXPLAIN SELECT folded()');
      const { rows } = await admin.query<{ name: string }>("SELECT current_setting('application_name') AS name");
      expect(rows[0]?.name).toBe('folded');
      const fresh = new PostgresConnector({ resolve: () => url, poolSize: 1 });
      try {
        expect(classifySql('EXPLAIN SELECT folded()', await fresh.catalog('shop')).class).toBe('admin');
      } finally {
        await fresh.close();
      }
    } finally {
      await admin.query('DROP FUNCTION public.folded()');
      await admin.end();
    }
  });

  it('treats a user function that shadows a built-in through search_path as not read', async () => {
    // initcap is used by no other test: test files run in parallel against the same database.
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await admin.connect();
    await admin.query(`CREATE OR REPLACE FUNCTION public.initcap(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'$$`);
    const fresh = new PostgresConnector({ resolve: () => url, poolSize: 1 });
    try {
      const shadowed = await fresh.catalog('shop');
      expect(classifySql('SELECT initcap(1)', shadowed).class).toBe('admin');
      expect(classifySql("SELECT pg_catalog.initcap('x')", shadowed).class).toBe('read');
    } finally {
      await fresh.close();
      await admin.query('DROP FUNCTION public.initcap(int)');
      await admin.end();
    }
  });
});

/**
 * The real pipeline (real catalog, policy, audit store) for analysts whose rule allows `classes`, with
 * `customers.card_number` declared sensitive and no content detector: only lineage stands between the card
 * numbers and the agent. Registers its own setup and teardown in the calling `describe`.
 */
function lineagePipeline(ruleId: string, classes: SqlClass[], extraColumns: string[] = []) {
  const registry = new ToolRegistry(ALL_TOOLS);
  const policy = parsePolicy(
    JSON.stringify({
      version: 1,
      resources: { connections: { shop: { url: 'env:DATABASE_URL' } } },
      rules: [{ id: ruleId, effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes } }],
      masking: { detectors: [], columns: ['customers.card_number', ...extraColumns], sensitiveUse: { approverGroups: ['security'] } },
    }),
    'policies.json',
    registry.names(),
  );
  const predicate = sensitiveColumns(policy.file.masking.columns);
  const analyst = parseDevIdentity('ana@example.com,analysts');
  let sql: PostgresConnector;
  let store: JsonAuditStore;
  let n = 0;

  beforeAll(async () => {
    sql = new PostgresConnector({ resolve: () => url, poolSize: 2 });
    store = await JsonAuditStore.open(join(tempDir(), 'audit'));
  });
  afterAll(async () => {
    await store?.close();
    await sql?.close();
  });

  async function call(text: string): Promise<CallContext> {
    const deps: ToolDeps = { sql, classifySql: async (t, c) => classifySql(t, await sql.catalog(c), predicate), hasConnection: (c) => c === 'shop', accessFor: () => [], explain: () => { throw new Error('unused'); } };
    const ctx: CallContext = {
      id: `${ruleId}-${++n}`,
      startedAt: Date.now(),
      sessionId: 'session-lineage',
      transport: 'in-memory',
      toolName: 'query_sql',
      rawArguments: { connection: 'shop', sql: text },
      credential: { kind: 'dev', principal: analyst },
      signal: new AbortController().signal,
    };
    await buildPipeline({ audit: store, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined })(ctx);
    return ctx;
  }
  const recordsOf = async (ctx: CallContext) => (await store.records()).filter((r) => r.id === ctx.id);
  return { call, recordsOf };
}

const digitsOnly = (s: string): string => s.replace(/\D/g, '');
/** No demo card number, in any spelling, anywhere in what the agent got. */
const showsNoCard = (ctx: CallContext): boolean => {
  const text = digitsOnly(JSON.stringify(ctx.response ?? null));
  return DEMO_CARDS.every((card) => !text.includes(digitsOnly(card)));
};

/**
 * Lineage bypasses (issue 15): statements that learn card numbers without an output column that carries
 * them — through join syntax, CTE scope, row counts, order, de-duplication and errors. Each goes through the
 * real pipeline (real catalog, policy, audit store) with `customers.card_number` declared sensitive and no
 * content detector, so only lineage stands between the card numbers and the agent.
 */
describe('SQL lineage bypass suite (real pipeline, PostgreSQL and audit store) (issue 15)', () => {
  const { call, recordsOf } = lineagePipeline('analysts-read', ['read']);

  // Splits every card into characters and joins them against '0'–'9': the digits come out of the other side.
  const DIGITS = 'SELECT c.id, s.pos, d.digit FROM customers c CROSS JOIN LATERAL (SELECT i AS pos, substr(c.card_number, i, 1) AS ch FROM generate_series(1, 19) AS i) s JOIN (SELECT i::text AS ch, i AS digit FROM generate_series(0, 9) AS i) d USING (ch)';
  const ROWS = "SELECT c.id FROM customers c, LATERAL generate_series(1, (c.card_number LIKE '4111%')::int) g";
  const INTERSECT = "SELECT card_number FROM customers INTERSECT SELECT '4111 1111 1111 1111'";
  const DIVIDE = "SELECT CASE WHEN card_number LIKE '4111%' THEN 1/0 ELSE 0 END FROM customers";
  const REGCLASS = `SELECT ('"' || card_number || '"')::regclass FROM customers`;
  const OVERFLOW = 'SELECT (ascii(card_number) - 52) * 2147483647 FROM customers';
  const NEGATIVE_LENGTH = 'SELECT substr(name, 1, ascii(card_number) - 52) FROM customers';
  const CHR = 'SELECT chr(ascii(card_number) - 52) FROM customers';
  const ORDERS_IS_A_CTE = 'WITH RECURSIVE a AS (SELECT status AS v FROM orders), orders AS (SELECT card_number AS status FROM customers) SELECT v FROM a';

  /** Each needs approval: a sensitive column decides comparisons, rows, their order, or an error. */
  const ORACLES: [string, string][] = [
    // 5: join syntax compares without a column reference
    ['USING', DIGITS],
    ['USING', "SELECT c.id FROM customers c JOIN (VALUES ('4111 1111 1111 1111')) AS v(card_number) USING (card_number)"],
    ['USING', 'SELECT count(*) FROM customers a JOIN customers b USING (card_number)'],
    ['NATURAL', "SELECT id FROM customers NATURAL JOIN (SELECT '4111 1111 1111 1111' AS card_number) v"],
    ['NATURAL', "SELECT x.id FROM (customers NATURAL LEFT JOIN (SELECT '4111 1111 1111 1111'::text AS card_number, true AS hit) v) x WHERE hit"],
    // 7: row counts, order, de-duplication, errors
    ['rows', ROWS],
    ['rows', "SELECT id, generate_series(1, ascii(substr(card_number, 1, 1)) - 47) FROM customers"],
    ['rows', "SELECT id, part FROM customers, unnest(string_to_array(card_number, ' ')) AS part WHERE false"],
    ['rows', "SELECT id FROM customers, jsonb_array_elements(to_jsonb(string_to_array(card_number, '4')))"],
    ['order', 'SELECT card_number, id FROM customers ORDER BY 1'],
    ['order', 'SELECT card_number AS name, id FROM customers ORDER BY name'],
    ['group', 'SELECT card_number, count(*) FROM customers GROUP BY 1'],
    ['group', 'SELECT substr(card_number, 1, 4) AS iin, count(*) FROM customers GROUP BY iin'],
    ['distinct', 'SELECT DISTINCT ON (1) card_number, id FROM customers'],
    ['distinct', 'SELECT DISTINCT substr(card_number, 1, 1) FROM customers'],
    ['set operation', INTERSECT],
    ['set operation', "SELECT '4111 1111 1111 1111' EXCEPT SELECT card_number FROM customers"],
    ['set operation', "SELECT count(*) FROM (SELECT substr(card_number, 1, 1) FROM customers UNION SELECT '4') s"],
    ['error', DIVIDE],
    ['error', "SELECT CASE substr(card_number, 1, 1) WHEN '4' THEN 'x'::int ELSE 0 END FROM customers"],
    ['error', 'SELECT 1 / (ascii(substr(card_number, 1, 1)) - 52) FROM customers'],
    ['rows', 'SELECT key, value FROM customers c, jsonb_each(to_jsonb(c))'],
    ['rows', 'SELECT * FROM customers c, unnest(ARRAY[c.card_number], ARRAY[c.name])'],
    ['rows', 'SELECT * FROM customers c, ROWS FROM (unnest(ARRAY[c.card_number]), generate_series(1, 2)) WITH ORDINALITY AS r'],
    ['rows', "SELECT p.* FROM customers c, jsonb_populate_record(null::products, jsonb_build_object('name', c.card_number)) AS p"],
    // 3: errors whose occurrence depends on the value: overflow, sizes, lengths, fields, patterns, dates
    ['error', OVERFLOW],
    ['error', 'SELECT -(ascii(card_number) - 52) FROM customers'],
    ['error', NEGATIVE_LENGTH],
    ['error', "SELECT repeat('x', (ascii(card_number) - 51) * 1000000000) FROM customers"],
    ['error', "SELECT lpad('x', (ascii(card_number) - 51) * 1000000000) FROM customers"],
    ['error', CHR],
    ['error', "SELECT to_number(substr(card_number, 1, 4), '9999') FROM customers"],
    ['error', 'SELECT make_date(2000, 1, ascii(card_number) - 20) FROM customers'],
    ['error', "SELECT split_part(name, ' ', ascii(card_number) - 52) FROM customers"],
    ['error', "SELECT regexp_replace(name, '(' || substr(card_number, 1, 1), 'x') FROM customers"],
    ['error', "SELECT 'abc' LIKE substr(card_number, 1, 1) || '\\' FROM customers"],
    ['error', "SELECT jsonb_path_query_first('{\"a\":1}', ('strict $.' || CASE WHEN card_number LIKE '4%' THEN 'b' ELSE 'a' END)::jsonpath) FROM customers"],
    ['error', 'SELECT power(ascii(card_number) - 40, 300) FROM customers'],
    ['EXPLAIN ANALYZE', "EXPLAIN ANALYZE SELECT id FROM customers WHERE card_number LIKE '4111%'"],
    ['EXPLAIN ANALYZE', "EXPLAIN (ANALYZE, COSTS off, TIMING off) SELECT c.id FROM customers c, LATERAL generate_series(1, (c.card_number LIKE '4%')::int) g"],
    // 4: errors that quote the value
    ['cast', REGCLASS],
    ['cast', 'SELECT card_number::int FROM customers'],
    ['cast', 'SELECT card_number::date FROM customers'],
    ['cast', 'SELECT card_number::json FROM customers'],
    ['cast', "SELECT to_date(card_number, 'YYYY-MM-DD') FROM customers"],
    ['cast', "SELECT pg_catalog.int8(replace(card_number, ' ', 'x')) FROM customers"],
    ['cast', 'EXPLAIN ANALYZE SELECT card_number::regtype FROM customers'],
  ];

  it.each(ORACLES)('sends a %s oracle to approval, audited once: %s', async (_family, text) => {
    const ctx = await call(text);
    expect(ctx.response?.isError, text).toBe(true);
    expect(ctx.error?.code, text).toBe('APPROVAL_REQUIRED');
    expect(ctx.response?.content[0]?.text).toContain('outside its output');
    expect(showsNoCard(ctx)).toBe(true);
    const records = await recordsOf(ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'approval_required', principal: { email: 'ana@example.com' }, decision: { effect: 'approve', ruleIds: ['analysts-read'] } });
    expect(records[0]?.decision?.reason).toContain('public.customers.card_number');
  });

  it('confirms with PostgreSQL that the oracles are real: without lineage they reveal card numbers', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // USING rebuilds every digit of every card without any output column derived from it.
      const digits = await client.query<{ id: number; pos: number; digit: number }>(DIGITS);
      const first = digits.rows.filter((r) => r.id === 1).sort((a, b) => a.pos - b.pos).map((r) => String(r.digit)).join('');
      expect(first).toBe(digitsOnly(DEMO_CARDS[0] ?? ''));
      // Under WITH RECURSIVE "orders" is the CTE, whatever its position.
      const scoped = await client.query<{ v: string }>(ORDERS_IS_A_CTE);
      expect(scoped.rows.map((r) => r.v)).toContain(DEMO_CARDS[0]);
      // Row counts and set operations answer "does a card start with / equal …?".
      const rows = await client.query(ROWS);
      const visa = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM customers WHERE card_number LIKE '4111%'");
      expect(rows.rowCount).toBe(visa.rows[0]?.n);
      expect(rows.rowCount).toBeGreaterThan(0);
      expect((await client.query(INTERSECT)).rowCount).toBe(1);
      // Errors: their occurrence, and their text.
      await expect(client.query(DIVIDE)).rejects.toThrow('division by zero');
      await expect(client.query(REGCLASS)).rejects.toThrow(`relation "${DEMO_CARDS[0] ?? ''}" does not exist`);
      await expect(client.query('SELECT card_number::int FROM customers')).rejects.toThrow(DEMO_CARDS[0] ?? '');
      // Whether arithmetic overflows, a length is negative or chr() gets zero depends on the card's first digit
      // (every demo card but the Mastercard starts with 3 or 4): the error happens for some cards, not others.
      await expect(client.query(OVERFLOW)).rejects.toThrow('integer out of range');
      await expect(client.query(NEGATIVE_LENGTH)).rejects.toThrow('negative substring length not allowed');
      await expect(client.query(CHR)).rejects.toThrow('null character not permitted');
      for (const sql of [OVERFLOW, NEGATIVE_LENGTH, CHR]) {
        expect((await client.query(`${sql} WHERE card_number LIKE '5%'`)).rowCount, sql).toBeGreaterThan(0);
      }
      // Reading an array element out of range is NULL, not an error: subscripts are no oracle.
      const sub = await client.query<{ v: string | null }>('SELECT (string_to_array(card_number, NULL))[ascii(card_number)] AS v FROM customers');
      expect(sub.rows.every((r) => r.v === null)).toBe(true);

    } finally {
      await client.end();
    }
  });

  /** Readable reads (11): they run, and what derives from the card number is masked. */
  const READABLE: [string, number][] = [
    // 3: functions that cannot fail on the card number stay masked reads
    ["SELECT id, card_number, upper(card_number), left(card_number, 4), substr(card_number, 1, 4), md5(card_number), length(card_number) FROM customers WHERE id <= 2", 2],
    ["SELECT id, reverse(card_number), card_number || 'x', replace(card_number, ' ', ''), split_part(card_number, ' ', 1), regexp_replace(card_number, '[0-9]', '#', 'g') FROM customers WHERE id <= 2", 2],
    ["SELECT count(*), max(card_number), string_agg(card_number, ',') FROM customers", 1],
    ["SELECT id, jsonb_build_object('card', card_number), to_jsonb(c), (string_to_array(card_number, ' '))[ascii(card_number)] AS part FROM customers c WHERE id <= 2", 2],

    // 6: the CTE's rows are the cards: masked, whatever the order of the CTEs
    [ORDERS_IS_A_CTE, 12],
    ['WITH RECURSIVE a AS (SELECT v FROM b), b AS (SELECT card_number AS v FROM customers) SELECT v FROM a', 12],
    ["WITH RECURSIVE t(x, y, n) AS (SELECT '', (SELECT card_number FROM customers ORDER BY id LIMIT 1), 0 UNION ALL SELECT y, y, n + 1 FROM t WHERE n < 2) SELECT x FROM t", 3],
    // 11
    ['WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t', 5],
    ['WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n, n * 2 AS twice FROM t', 3],
    ['WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM customers WHERE id = 1 UNION ALL SELECT c.id, depth + 1 FROM chain JOIN customers c ON c.id = chain.id + 1 WHERE depth < 3) SELECT c.id, c.card_number FROM chain JOIN customers c USING (id)', 4],
    ['SELECT id, card_number FROM customers TABLESAMPLE SYSTEM (100) REPEATABLE (1) WHERE id <= 3', 3],
    ['SELECT count(*) FROM orders TABLESAMPLE BERNOULLI (100)', 1],
    ['SELECT id, card_number(c) FROM customers c WHERE id <= 2', 2],
    ['SELECT name(c), card_number(customers) AS pan FROM customers c JOIN customers USING (id) WHERE c.id = 1', 1],
    ['SELECT id, country(c) FROM customers c WHERE id = 1', 1],
    ['SELECT o.id, c.card_number FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id WHERE o.id <= 2', 2],
    ['SELECT * FROM customers JOIN orders ON orders.customer_id = customers.id WHERE orders.id = 1', 1],
    ['SELECT * FROM orders JOIN customers USING (id) WHERE id <= 2', 2],
  ];

  /**
   * Functions in FROM (2): read with the columns PostgreSQL gives them, so that `*` masks the card number's
   * own position (a column too few before it put the mask on the column next to it).
   */
  const FROM_FUNCTIONS: [string, number, string[], string[]][] = [
    [`SELECT * FROM json_to_record('{"a":1,"b":"x"}') AS x(a int, b text)`, 1, ['a', 'b'], []],
    ["SELECT * FROM unnest(ARRAY[1,2], ARRAY['a','b'])", 2, ['unnest', 'unnest'], []],
    ["SELECT * FROM ROWS FROM (generate_series(1,2), unnest(ARRAY['a','b']))", 2, ['generate_series', 'unnest'], []],
    [`SELECT * FROM jsonb_each('{"a":1}')`, 1, ['key', 'value'], []],
    [`SELECT key, value FROM json_each_text('{"a":"b"}')`, 1, ['key', 'value'], []],
    ["SELECT * FROM pg_options_to_table(ARRAY['a=1'])", 1, ['option_name', 'option_value'], []],
    ['SELECT generate_series, ordinality FROM generate_series(3, 4) WITH ORDINALITY', 2, ['generate_series', 'ordinality'], []],
    ["SELECT * FROM unnest(ARRAY['x','y']) WITH ORDINALITY AS u(v)", 2, ['v', 'ordinality'], []],
    [`SELECT * FROM jsonb_populate_record(null::products, '{"name":"x"}')`, 1, ['id', 'name', 'category', 'price'], []],
    ['SELECT * FROM unnest(ARRAY[1], ARRAY[2]), customers c WHERE c.id = 1', 1, ['unnest', 'unnest', 'id', 'name', 'email', 'card_number', 'country', 'created_at'], ['card_number']],
    [`SELECT * FROM jsonb_each('{"a":1}') AS j, customers c WHERE c.id = 1`, 1, ['key', 'value', 'id', 'name', 'email', 'card_number', 'country', 'created_at'], ['card_number']],
    [`SELECT * FROM ROWS FROM (jsonb_each_text('{"a":"b"}'), generate_series(1, 1)) WITH ORDINALITY AS r, customers WHERE customers.id = 2`, 1, ['key', 'value', 'generate_series', 'ordinality', 'id', 'name', 'email', 'card_number', 'country', 'created_at'], ['card_number']],
    [`SELECT * FROM json_to_record('{"a":1}') AS x(a int) CROSS JOIN LATERAL (SELECT card_number FROM customers WHERE id = x.a) k`, 1, ['a', 'card_number'], ['card_number']],
  ];

  it.each(FROM_FUNCTIONS)('runs %s with PostgreSQL\'s columns and masks the card number where it is (issue 15)', async (text, rows, columns, masked) => {
    const ctx = await call(text);
    expect(ctx.response?.isError, JSON.stringify(ctx.response)).toBeFalsy();
    const content = ctx.response?.structuredContent as { columns: { name: string }[]; rows: unknown[][] };
    expect(content.columns.map((c) => c.name)).toEqual(columns);
    expect(content.rows).toHaveLength(rows);
    expect(showsNoCard(ctx)).toBe(true);
    const records = await recordsOf(ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'ok', decision: { effect: 'allow' } });
    expect(records[0]?.facts?.sql?.class).toBe('read');
    expect(records[0]?.facts?.sql?.lineage).toMatchObject({ unresolved: [], sensitiveUsedOutside: [], maskedColumns: masked });
    expect(records[0]?.result?.maskedColumns).toEqual(masked);
  });

  it.each(READABLE)('runs %s and masks what derives from the card number', async (text, rows) => {
    const ctx = await call(text);
    expect(ctx.response?.isError, JSON.stringify(ctx.response)).toBeFalsy();
    const content = ctx.response?.structuredContent as { columns: { name: string }[]; rows: unknown[][] };
    expect(content.rows).toHaveLength(rows);
    expect(showsNoCard(ctx)).toBe(true);
    const records = await recordsOf(ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'ok', decision: { effect: 'allow' } });
    expect(records[0]?.facts?.sql?.class).toBe('read');
    expect(records[0]?.facts?.sql?.lineage?.unresolved).toEqual([]);
    // The card column, where there is one, is masked whole by lineage (no content detector is on).
    const cardColumns = records[0]?.facts?.sql?.lineage?.maskedColumns ?? [];
    expect(records[0]?.result?.maskedColumns).toEqual(cardColumns);
    if (/card_number/.test(text)) expect(cardColumns.length).toBeGreaterThan(0);
  });

  it('refuses a statement nested past the bound (SQL_REJECTED naming it), audited once', async () => {
    for (const text of [
      `SELECT ${'(SELECT '.repeat(1000)}1${')'.repeat(1000)}`,
      `SELECT * FROM ${'(SELECT * FROM '.repeat(1000)}customers${') s'.repeat(1000)}`,
    ]) {
      const ctx = await call(text);
      expect(ctx.error?.code).toBe('SQL_REJECTED');
      expect(JSON.stringify(ctx.response)).toContain(`nests more than ${MAX_PARSE_DEPTH} levels deep`);
      const records = await recordsOf(ctx);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'denied', principal: { email: 'ana@example.com' }, error: { code: 'SQL_REJECTED' } });
    }
    let costly = 'SELECT card_number AS x FROM customers';
    for (let k = 0; k < 14; k += 1) costly = `WITH RECURSIVE r${k} AS (${costly}) SELECT x FROM r${k}`;
    const ctx = await call(costly);
    expect(JSON.stringify(ctx.response)).toContain(`more than ${MAX_LINEAGE_STEPS} steps of column-lineage analysis`);
    expect(await recordsOf(ctx)).toHaveLength(1);
  });
});

/**
 * Writes that copy sensitive values (issue 15). A card number written into a column that is not declared
 * sensitive leaves lineage: later reads of that column are not masked. Each copy is a use outside the output
 * and needs approval even where the rule allows the statement's class; RETURNING is output, masked like a
 * SELECT's.
 */
describe('SQL write lineage bypass suite (real pipeline, PostgreSQL and audit store) (issue 15)', () => {
  // Writes that run go to a table of this suite's own: an UPDATE of the shared demo tables would reorder
  // their rows for every other test file (heap order is what a SELECT without ORDER BY returns).
  const { call, recordsOf } = lineagePipeline('analysts-write', ['read', 'write', 'ddl', 'admin'], ['issue15_cards.card_number']);
  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await admin.connect();
    try {
      await admin.query(`DROP TABLE IF EXISTS issue15_cards; CREATE TABLE issue15_cards (id int PRIMARY KEY, name text NOT NULL, card_number text NOT NULL);
        INSERT INTO issue15_cards VALUES (1, 'Ana', '4111 1111 1111 1111'), (2, 'Bo', '5555-5555-5555-4444');
        GRANT SELECT, UPDATE, DELETE ON issue15_cards TO airlock_app`);
    } finally {
      await admin.end();
    }
  });
  const ORDER_COLUMNS = 'orders (customer_id, product_id, quantity, status, ordered_at)';
  const LAUNDER_UPDATE = 'UPDATE orders SET status = c.card_number FROM customers c WHERE c.id = orders.customer_id';
  const LAUNDER_MERGE = 'MERGE INTO orders o USING customers c ON c.id = o.customer_id WHEN MATCHED THEN UPDATE SET status = c.card_number';

  const COPIES: [string, string][] = [
    ['INSERT … SELECT', `INSERT INTO ${ORDER_COLUMNS} SELECT id, 1, 1, card_number, now() FROM customers`],
    ['INSERT … SELECT', "INSERT INTO products SELECT id + 1000, card_number, 'x', 1 FROM customers"],
    ['INSERT … SELECT', `INSERT INTO ${ORDER_COLUMNS} SELECT id, 1, 1, length(card_number)::text, now() FROM customers`],
    ['INSERT … VALUES', `INSERT INTO ${ORDER_COLUMNS} VALUES (1, 1, 1, (SELECT card_number FROM customers LIMIT 1), now())`],
    ['UPDATE … FROM', LAUNDER_UPDATE],
    ['UPDATE … FROM', 'UPDATE customers SET name = card_number WHERE id = 1'],
    ['UPDATE subquery', 'UPDATE orders o SET status = (SELECT card_number FROM customers c WHERE c.id = o.customer_id) WHERE o.id = 1'],
    ['UPDATE multi-assignment', 'UPDATE orders o SET (quantity, status) = (SELECT 1, reverse(card_number) FROM customers c WHERE c.id = o.customer_id) WHERE o.id = 1'],
    ['UPDATE multi-assignment', 'UPDATE customers SET (card_number, name) = ROW(name, card_number) WHERE id = 1'],
    ['MERGE UPDATE', LAUNDER_MERGE],
    ['MERGE INSERT', "MERGE INTO products p USING customers c ON c.id + 1000 = p.id WHEN NOT MATCHED THEN INSERT (name, category, price) VALUES (c.card_number, 'x', 1)"],
    ['ON CONFLICT', "INSERT INTO products (id, name, category, price) SELECT id, card_number, 'x', 1 FROM customers ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name"],
    ['ON CONFLICT', "INSERT INTO products (id, name, category, price) VALUES (1, 'a', 'b', 1) ON CONFLICT (id) DO UPDATE SET category = (SELECT substr(card_number, 1, 6) FROM customers LIMIT 1)"],
    ['ON CONFLICT', 'INSERT INTO customers (name, email, card_number, country) SELECT name, email, card_number, country FROM customers ON CONFLICT DO NOTHING'],
    ['CREATE TABLE AS', 'CREATE TABLE issue15_leak AS SELECT card_number FROM customers'],
    ['CREATE TABLE AS', 'CREATE TEMP TABLE issue15_leak (a, b) AS SELECT id, upper(card_number) FROM customers'],
    ['SELECT INTO', 'SELECT card_number INTO TEMP issue15_leak FROM customers'],
    ['data-modifying CTE', `WITH x AS (INSERT INTO ${ORDER_COLUMNS} SELECT id, 1, 1, card_number, now() FROM customers RETURNING id) SELECT count(*) FROM x`],
    ['data-modifying CTE', `WITH x AS (UPDATE orders SET status = c.card_number FROM customers c WHERE c.id = orders.customer_id RETURNING orders.status) SELECT status FROM x`],
    ['COPY', 'COPY (SELECT card_number FROM customers) TO STDOUT'],
    ['COPY', 'COPY customers TO STDOUT'],
    ['COPY', "COPY (SELECT id FROM customers WHERE card_number LIKE '4%') TO STDOUT"],
    ['EXPLAIN ANALYZE', `EXPLAIN ANALYZE INSERT INTO ${ORDER_COLUMNS} SELECT id, 1, 1, card_number, now() FROM customers`],
  ];

  it.each(COPIES)('sends a %s that copies a card number out of lineage to approval, audited once: %s', async (_family, text) => {
    const ctx = await call(text);
    expect(ctx.error?.code, text).toBe('APPROVAL_REQUIRED');
    expect(ctx.response?.content[0]?.text).toBe(
      `Approval required: The query uses sensitive column public.customers.card_number outside its output (filters, joins, ordering, grouping, copies into other columns or errors can reveal values). A human approver (security) must approve this exact call; it was not run.\n[code: APPROVAL_REQUIRED; audit id: ${ctx.id}]`,
    );
    expect(showsNoCard(ctx)).toBe(true);
    const records = await recordsOf(ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'approval_required', principal: { email: 'ana@example.com' }, decision: { effect: 'approve', ruleIds: ['analysts-write'] } });
    expect(records[0]?.facts?.sql?.lineage?.sensitiveUsedOutside).toEqual(['public.customers.card_number']);
  });

  /** Writes that keep card numbers where they are declared sensitive, or copy none: they run as the rule allows. */
  const KEPT: [string, number, string[]][] = [
    ['UPDATE issue15_cards SET card_number = card_number WHERE id = 1 RETURNING id, card_number', 1, ['card_number']],
    ['UPDATE issue15_cards SET card_number = card_number WHERE id = 2 RETURNING old.card_number AS was, new.name', 1, ['was']],
    ['DELETE FROM customers WHERE id = -1 RETURNING card_number', 0, ['card_number']],
    [`INSERT INTO ${ORDER_COLUMNS} SELECT id, 1, 1, name, now() FROM customers WHERE false RETURNING status`, 0, []],
    ['UPDATE orders SET status = status WHERE id = -1 RETURNING id', 0, []],
    ['MERGE INTO issue15_cards t USING (SELECT id, card_number FROM customers WHERE id = 1) s ON s.id = t.id WHEN MATCHED THEN UPDATE SET name = t.name RETURNING t.id, s.card_number', 1, ['card_number']],
  ];

  it.each(KEPT)('runs %s and masks RETURNING columns that carry card numbers', async (text, rows, masked) => {
    const ctx = await call(text);
    expect(ctx.response?.isError, JSON.stringify(ctx.response)).toBeFalsy();
    expect((ctx.response?.structuredContent as { rows: unknown[] }).rows).toHaveLength(rows);
    expect(showsNoCard(ctx)).toBe(true);
    const records = await recordsOf(ctx);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'ok', decision: { effect: 'allow', ruleIds: ['analysts-write'] } });
    expect(records[0]?.facts?.sql?.lineage).toMatchObject({ sensitiveUsedOutside: [], unresolved: [], maskedColumns: masked });
  });

  it('keeps stores that copy no card number out of approval (CREATE TABLE AS, COPY of other columns, materialized views)', async () => {
    const snapshot = await connector.catalog('shop');
    const predicate = sensitiveColumns(['customers.card_number']);
    for (const text of [
      'CREATE TEMP TABLE issue15_names AS SELECT id, name FROM customers',
      'SELECT id, name INTO TEMP issue15_names FROM customers',
      'COPY customers (id, name) TO STDOUT',
      'COPY orders FROM STDIN',
      'CREATE MATERIALIZED VIEW issue15_cards AS SELECT card_number FROM customers',
    ]) {
      expect(classifySql(text, snapshot, predicate).lineage, text).toMatchObject({ sensitiveUsedOutside: [], unresolved: [] });
    }
  });

  it('confirms with PostgreSQL that a copy launders the card number: the copied column reads back unmasked', async () => {
    const snapshot = await connector.catalog('shop');
    const predicate = sensitiveColumns(['customers.card_number']);
    const readBack = 'SELECT o.status FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.id = 1 LIMIT 1';
    // What lineage alone would say of the read afterwards: nothing to mask.
    expect(classifySql(readBack, snapshot, predicate).lineage).toMatchObject({ maskedColumns: [], sensitiveUsedOutside: [], unresolved: [] });
    const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
    await admin.connect();
    try {
      for (const write of [LAUNDER_UPDATE, LAUNDER_MERGE]) {
        await admin.query('BEGIN');
        try {
          await admin.query(write);
          const { rows } = await admin.query<{ status: string }>(readBack);
          expect(rows[0]?.status, write).toBe(DEMO_CARDS[0]);
        } finally {
          await admin.query('ROLLBACK');
        }
      }
    } finally {
      await admin.end();
    }
  });
});
