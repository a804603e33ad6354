import { beforeAll, describe, expect, it } from 'vitest';
import { SqlRejectedError } from '../../../../src/errors.js';
import { classifySql, loadSqlParser, type SqlCatalog } from '../../../../src/policy/sql/classify.js';
import { MAX_LINEAGE_STEPS, MAX_PARSE_DEPTH } from '../../../../src/policy/sql/limits.js';

/** The demo schema, as a catalog snapshot would describe it. */
const catalog: SqlCatalog = {
  searchPath: ['pg_catalog', 'public'],
  functions: new Map([
    ['lower', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['length', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['generate_series', [{ schema: 'pg_catalog', volatility: 'i', retset: true }]],
    ['unnest', [{ schema: 'pg_catalog', volatility: 'i', retset: true }]],
    ['string_to_array', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['regexp_split_to_table', [{ schema: 'pg_catalog', volatility: 'i', retset: true }]],
    ['to_number', [{ schema: 'pg_catalog', volatility: 's' }]],
    ['to_date', [{ schema: 'pg_catalog', volatility: 's' }]],
    ['count', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['md5', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['substr', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['coalesce', [{ schema: 'pg_catalog', volatility: 'i' }]],
    ['row_to_json', [{ schema: 'pg_catalog', volatility: 's' }]],
    ['name', [{ schema: 'pg_catalog', volatility: 'i' }]],
  ]),
  relations: new Map([
    ['public.customers', { kind: 'r', columns: ['id', 'name', 'email', 'card_number', 'country', 'created_at'] }],
    ['public.orders', { kind: 'r', columns: ['id', 'customer_id', 'product_id', 'quantity', 'status', 'ordered_at'] }],
    ['public.products', { kind: 'r', columns: ['id', 'name', 'category', 'price'] }],
    ['public.cards', { kind: 'v', columns: ['id', 'card_number'], definition: ' SELECT customers.id, customers.card_number FROM customers;' }],
  ]),
};
const CARD = 'public.customers.card_number';
const sensitive = (_s: string, table: string, column: string): boolean => table === 'customers' && column === 'card_number';

const lineage = (sql: string) => {
  const l = classifySql(sql, catalog, sensitive).lineage;
  if (l === undefined) throw new Error('no lineage');
  return l;
};

beforeAll(async () => {
  await loadSqlParser();
});

describe('lineageOf: JOIN … USING and NATURAL JOIN compare the named columns (issue 15)', () => {
  it.each([
    'SELECT c.id FROM customers c JOIN customers d USING (card_number)',
    "SELECT d.digit FROM customers JOIN (VALUES ('4')) AS d(card_number) USING (card_number)",
    'SELECT n FROM customers NATURAL JOIN (SELECT card_number, 1 AS n FROM customers) x',
    'SELECT count(*) FROM customers c LEFT JOIN cards USING (id, card_number)',
    "SELECT 1 FROM (customers JOIN (SELECT '4111' AS card_number) k USING (card_number)) AS j",
    "SELECT o.id FROM orders o JOIN (customers NATURAL JOIN (SELECT '4111 1111 1111 1111' AS card_number) k) ON true",
    "SELECT g.d FROM customers c JOIN LATERAL (SELECT substr(c.card_number, i, 1) AS card_number, i::text AS d FROM generate_series(1, 19) AS i) g USING (card_number)",
  ])('flags the card number in %s', (sql) => {
    expect(lineage(sql).sensitiveUsedOutside).toEqual([CARD]);
  });

  it('merges USING columns under * as PostgreSQL does: the join column once, first', () => {
    const l = lineage('SELECT * FROM orders JOIN customers USING (id)');
    expect(l.unresolved).toEqual([]);
    // id (merged), then the other five of orders, then customers' name, email, card_number …
    expect(l.maskedOutputs).toEqual([1 + 5 + 2]);
    expect(lineage("SELECT * FROM customers c JOIN (SELECT 1 AS id, 'x' AS tag) AS x USING (id)").maskedOutputs).toEqual([3]);
    const natural = lineage('SELECT * FROM customers NATURAL JOIN cards');
    expect(natural.maskedColumns).toEqual(['card_number']);
    expect(natural.maskedOutputs).toEqual([1]);
  });

  it('leaves joins on other columns alone', () => {
    const l = lineage('SELECT c.name, o.status FROM customers c JOIN orders o ON o.customer_id = c.id JOIN products p USING (id)');
    expect(l.sensitiveUsedOutside).toEqual([]);
    expect(l.unresolved).toEqual([]);
  });
});

describe('lineageOf: CTE scope under WITH RECURSIVE (issue 15)', () => {
  it.each([
    'WITH RECURSIVE a AS (SELECT status AS v FROM orders), orders AS (SELECT card_number AS status FROM customers) SELECT v FROM a',
    'WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT * FROM c), c AS (SELECT card_number FROM customers) SELECT * FROM a',
    'WITH RECURSIVE t(x, n) AS (SELECT 0, 0 UNION ALL SELECT y, n + 1 FROM t, (SELECT card_number AS y FROM customers) s WHERE n < 3) SELECT x FROM t',
    // The card enters only after several rounds: three hops through the recursion.
    "WITH RECURSIVE t(a, b, c, d, n) AS (SELECT '', '', '', (SELECT card_number FROM customers LIMIT 1), 0 UNION ALL SELECT b, c, d, d, n + 1 FROM t WHERE n < 5) SELECT a FROM t",
  ])('masks the output of %s', (sql) => {
    const l = lineage(sql);
    expect(l.maskedOutputs).toEqual([0]);
    expect(l.unresolved).toEqual([]);
  });

  it('without RECURSIVE a CTE sees only the CTEs before it, and its own name is the table', () => {
    const l = lineage('WITH a AS (SELECT status AS v FROM orders), orders AS (SELECT card_number AS status FROM customers) SELECT v FROM a');
    expect(l.maskedOutputs).toEqual([]);
    expect(l.columnsReferenced).toContain('public.orders.status');
    const own = lineage('WITH customers AS (SELECT id, name FROM customers) SELECT * FROM customers');
    expect(own.maskedOutputs).toEqual([]);
  });

  it('resolves a counting recursion as a plain read (no unresolved column)', () => {
    for (const sql of [
      'WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t',
      'WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t',
      'WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SEARCH DEPTH FIRST BY n SET ord SELECT n, ord FROM t ORDER BY ord',
    ]) {
      expect(lineage(sql), sql).toMatchObject({ maskedOutputs: [], maskedColumns: [], sensitiveUsedOutside: [], unresolved: [], columnsReferenced: [] });
      expect(lineage(sql).outputCount, sql).toBe(sql.endsWith('ORDER BY ord') ? 2 : 1);
    }
  });
});

describe('lineageOf: oracles without an output column (issue 15)', () => {
  it.each([
    // set-returning functions: the number of rows
    "SELECT c.id FROM customers c, LATERAL generate_series(1, (c.card_number LIKE '4111%')::int) g",
    "SELECT c.id, generate_series(1, (card_number LIKE '4%')::int) FROM customers c",
    "SELECT id FROM customers, unnest(string_to_array(card_number, ' ')) AS part",
    "SELECT id, regexp_split_to_table(card_number, '') FROM customers",
    'SELECT c.id FROM customers c CROSS JOIN LATERAL ROWS FROM (generate_series(1, length(c.card_number))) AS g',
    // positions and output names
    'SELECT card_number, id FROM customers ORDER BY 1',
    'SELECT card_number AS name FROM customers ORDER BY name',
    'SELECT x, count(*) FROM (SELECT card_number AS x FROM customers) s GROUP BY 1',
    'SELECT card_number AS x, count(*) FROM customers GROUP BY x',
    'SELECT DISTINCT ON (1) card_number, id FROM customers',
    'SELECT DISTINCT card_number FROM customers',
    'SELECT card_number FROM customers UNION ALL SELECT name FROM products ORDER BY 1',
    'SELECT name, card_number FROM customers GROUP BY ROLLUP (1, 2)',
    // set operations compare rows
    "SELECT card_number FROM customers INTERSECT SELECT '4111 1111 1111 1111'",
    "SELECT card_number FROM customers EXCEPT ALL SELECT '4111 1111 1111 1111'",
    "SELECT '4111 1111 1111 1111' UNION SELECT card_number FROM customers",
    "SELECT count(*) FROM (SELECT substr(card_number, 1, 1) FROM customers UNION SELECT '4') s",
    // errors that depend on the value
    "SELECT CASE WHEN card_number LIKE '4%' THEN 1/0 ELSE 1 END FROM customers",
    "SELECT CASE substr(card_number, 1, 1) WHEN '4' THEN 'x'::int ELSE 0 END FROM customers",
    "SELECT coalesce(nullif(card_number LIKE '4%', true)::text, (SELECT 'a' UNION ALL SELECT 'b')) FROM customers",
    "SELECT (card_number LIKE '4%') OR (1/0 = 1) FROM customers",
    "SELECT CASE WHEN card_number LIKE '4%' THEN 0 WHEN substr(name, 1, -1) = '' THEN 1 END FROM customers",
    "SELECT CASE WHEN card_number LIKE '4%' THEN lower(name)::int END FROM customers",
    'SELECT 1 / length(replace(card_number, $$4$$, $$$$)) FROM customers',
  ])('flags the card number in %s', (sql) => {
    expect(lineage(sql.replaceAll('$$', "'")).sensitiveUsedOutside).toEqual([CARD]);
  });

  it.each([
    'SELECT card_number FROM customers UNION ALL SELECT name FROM products',
    "SELECT CASE WHEN card_number LIKE '4%' THEN 'visa' ELSE 'other' END AS brand FROM customers",
    'SELECT name FROM customers ORDER BY 1',
    'SELECT id, card_number FROM customers ORDER BY id',
    'SELECT name, card_number FROM customers GROUP BY name, id',
    'SELECT card_number AS x, count(*) OVER () FROM customers',
    'SELECT * FROM generate_series(1, 3) AS g',
    'SELECT coalesce(card_number, name) FROM customers',
    "SELECT CASE WHEN substr(card_number, 1, 1) = '4' THEN 'visa' WHEN card_number LIKE '5%' THEN lower(name) END FROM customers",
    "SELECT (card_number LIKE '4%') AND length(name) > 3 FROM customers",
  ])('leaves %s to masking alone', (sql) => {
    const l = lineage(sql);
    expect(l.sensitiveUsedOutside).toEqual([]);
    expect(l.unresolved).toEqual([]);
  });

  it('follows EXPLAIN ANALYZE into the statement it runs, and plain EXPLAIN does not run it', () => {
    for (const sql of [
      "EXPLAIN ANALYZE SELECT id FROM customers WHERE card_number LIKE '4111%'",
      "EXPLAIN (ANALYZE, COSTS off) SELECT count(*) FROM customers c, LATERAL generate_series(1, (c.card_number LIKE '4%')::int) g",
      "EXPLAIN (ANALYZE true, FORMAT json) SELECT card_number FROM customers INTERSECT SELECT '4111 1111 1111 1111'",
      'EXPLAIN ANALYZE SELECT card_number::int FROM customers',
    ]) {
      const l = lineage(sql);
      expect(l.sensitiveUsedOutside, sql).toEqual([CARD]);
      expect(l.maskedOutputs, sql).toEqual([]);
    }
    expect(lineage('EXPLAIN ANALYZE SELECT card_number FROM customers').sensitiveUsedOutside).toEqual([]);
    expect(lineage("EXPLAIN SELECT id FROM customers WHERE card_number LIKE '4111%'").sensitiveUsedOutside).toEqual([]);
  });
});

describe('lineageOf: errors that can carry a sensitive value (issue 15)', () => {
  it.each([
    "SELECT ('\"' || card_number || '\"')::regclass FROM customers",
    'SELECT card_number::int FROM customers',
    'SELECT CAST(card_number AS date) FROM customers',
    'SELECT card_number::json FROM customers',
    'SELECT card_number::jsonb -> 0 FROM customers',
    'SELECT card_number::text[] FROM customers',
    "SELECT to_number(card_number, '9999') FROM customers",
    "SELECT to_date(card_number, 'YYYY') FROM customers",
    'SELECT int8(replace(card_number, $$ $$, $$$$)) FROM customers',
    'SELECT pg_catalog.regclass(card_number) FROM customers',
    'SELECT XMLPARSE(CONTENT card_number) FROM customers',
    'SELECT (SELECT card_number FROM customers LIMIT 1)::uuid',
    'SELECT array_agg(card_number)::int[] FROM customers',
  ])('flags %s', (sql) => {
    expect(lineage(sql.replaceAll('$$', "'")).sensitiveUsedOutside).toEqual([CARD]);
  });

  it.each([
    'SELECT card_number::text, card_number::varchar(4), CAST(card_number AS char(4)), card_number::pg_catalog.name FROM customers',
    'SELECT id::text, created_at::date, name::regclass FROM customers',
  ])('leaves casts that cannot fail, or of other columns, alone: %s', (sql) => {
    expect(lineage(sql).sensitiveUsedOutside).toEqual([]);
  });
});

describe('lineageOf: reads it models (issue 15)', () => {
  it('reads TABLESAMPLE as the table', () => {
    const l = lineage('SELECT id, card_number FROM customers TABLESAMPLE BERNOULLI (50) REPEATABLE (7)');
    expect(l).toMatchObject({ maskedColumns: ['card_number'], sensitiveUsedOutside: [], unresolved: [] });
    expect(classifySql('SELECT name FROM customers TABLESAMPLE SYSTEM (10)', catalog, sensitive).class).toBe('read');
  });

  it('reads card_number(c) as c.card_number, and only when no function of that name exists', () => {
    const facts = classifySql('SELECT card_number(c) AS pan, name(c) FROM customers c', catalog, sensitive);
    // `name` is also a function (name(text)): PostgreSQL would call it if it could, so it stays a call.
    expect(facts.class).toBe('read');
    expect(facts.lineage).toMatchObject({ maskedColumns: ['pan', 'name'], unresolved: [] });
    const only = classifySql('SELECT country(c), card_number(customers) FROM customers c, customers', catalog, sensitive);
    expect(only.class).toBe('read');
    expect(only.functions).toEqual([]);
    expect(only.lineage?.maskedColumns).toEqual(['card_number']);
    expect(classifySql("SELECT id FROM customers c WHERE card_number(c) LIKE '4%'", catalog, sensitive).lineage?.sensitiveUsedOutside).toEqual([CARD]);
    // Without a sensitive predicate lineage still decides whether the call is a column.
    expect(classifySql('SELECT country(c) FROM customers c', catalog).class).toBe('read');
    expect(classifySql('SELECT nosuch(c) FROM customers c', catalog).class).toBe('admin');
    expect(classifySql('SELECT country(1)', catalog).class).toBe('admin');
  });
});

describe('lineageOf: writes that copy sensitive values (issue 15)', () => {
  it.each([
    'INSERT INTO orders (status) SELECT card_number FROM customers',
    'INSERT INTO orders (status) VALUES ((SELECT card_number FROM customers LIMIT 1))',
    'INSERT INTO products SELECT id, card_number, $$x$$, 1 FROM customers',
    'UPDATE orders SET status = c.card_number FROM customers c WHERE c.id = orders.customer_id',
    'UPDATE orders o SET (quantity, status) = (SELECT 1, card_number FROM customers c WHERE c.id = o.customer_id)',
    'UPDATE customers SET (card_number, name) = ROW(name, card_number)',
    'UPDATE customers SET name = (SELECT card_number FROM cards LIMIT 1)',
    'MERGE INTO orders o USING customers c ON c.id = o.customer_id WHEN MATCHED THEN UPDATE SET status = c.card_number',
    'MERGE INTO products p USING customers c ON c.id = p.id WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.card_number, $$x$$, 1)',
    'INSERT INTO products (id, name) SELECT id, card_number FROM customers ON CONFLICT (id) DO UPDATE SET category = EXCLUDED.name',
    'INSERT INTO customers (card_number) SELECT card_number FROM customers ON CONFLICT (card_number) DO NOTHING',
    'CREATE TABLE t AS SELECT card_number FROM customers',
    'SELECT lower(card_number) INTO t FROM customers',
    'WITH x AS (INSERT INTO orders (status) SELECT card_number FROM customers RETURNING id) SELECT id FROM x',
    'COPY (SELECT card_number FROM customers) TO STDOUT',
    'COPY customers (id, card_number) TO STDOUT',
    'EXPLAIN ANALYZE UPDATE orders SET status = c.card_number FROM customers c',
  ])('flags the copy in %s', (sql) => {
    expect(lineage(sql.replaceAll('$$', "'")).sensitiveUsedOutside).toEqual([CARD]);
  });

  it.each([
    'UPDATE customers SET card_number = upper(card_number) WHERE id = 1',
    'UPDATE customers SET (card_number, name) = (SELECT card_number, name FROM customers LIMIT 1)',
    'INSERT INTO customers (name, card_number) SELECT name, card_number FROM customers',
    'UPDATE cards SET card_number = card_number',
    'INSERT INTO orders (status) SELECT name FROM customers',
    'CREATE TABLE t AS SELECT id, name FROM customers',
    'CREATE MATERIALIZED VIEW m AS SELECT card_number FROM customers',
    'COPY customers (id, name) TO STDOUT',
    'EXPLAIN INSERT INTO orders (status) SELECT card_number FROM customers',
  ])('leaves writes that keep card numbers in sensitive columns, or copy none, alone: %s', (sql) => {
    expect(lineage(sql)).toMatchObject({ sensitiveUsedOutside: [], unresolved: [] });
  });

  it('masks RETURNING columns that carry what was written, and OLD/NEW', () => {
    expect(lineage('WITH x AS (INSERT INTO orders (status) SELECT card_number FROM customers RETURNING status) SELECT status FROM x').maskedColumns).toEqual(['status']);
    expect(lineage('UPDATE customers SET card_number = $$x$$ WHERE id = 1 RETURNING old.card_number AS was, new.card_number AS now, name'.replaceAll('$$', "'")).maskedColumns).toEqual(['was', 'now']);
    expect(lineage('UPDATE orders SET status = $$x$$ WHERE id = 1 RETURNING WITH (OLD AS o, NEW AS n) o.status, n.*'.replaceAll('$$', "'"))).toMatchObject({ maskedColumns: [], unresolved: [] });
    expect(lineage('DELETE FROM customers WHERE id = 1 RETURNING *').maskedColumns).toEqual(['card_number']);
    expect(lineage('SELECT card_number INTO t FROM customers').maskedColumns).toEqual([]);
  });
});

describe('lineageOf: functions in FROM (issue 15)', () => {
  it.each<[string, string[]]>([
    ['SELECT * FROM customers c, jsonb_each(to_jsonb(c))', ['card_number', 'key', 'value']],
    ['SELECT key FROM jsonb_each(to_jsonb((SELECT c FROM customers c LIMIT 1)))', ['key']],
    ['SELECT u FROM customers c, unnest(ARRAY[c.card_number]) u', ['u']],
    ['SELECT r.* FROM customers c, ROWS FROM (unnest(ARRAY[c.card_number]), generate_series(1, 2)) WITH ORDINALITY AS r', ['unnest', 'generate_series', 'ordinality']],
    ['SELECT b FROM customers c, unnest(ARRAY[1], ARRAY[c.card_number]) AS u(a, b)', ['b']],
  ])('derives every column of %s from a sensitive argument, and counts the rows it makes as a use', (sql, masked) => {
    expect(lineage(sql)).toMatchObject({ maskedColumns: masked, sensitiveUsedOutside: [CARD], unresolved: [] });
  });

  it('names columns as PostgreSQL does, so that * masks by the right position', () => {
    const star = (sql: string) => lineage(sql);
    expect(star('SELECT * FROM unnest(ARRAY[1], ARRAY[2]) AS u, customers').maskedColumns).toEqual(['card_number']);
    expect(star('SELECT * FROM unnest(ARRAY[1], ARRAY[2]) AS u, customers').maskedOutputs).toEqual([5]);
    expect(star('SELECT * FROM generate_series(1, 2) WITH ORDINALITY, customers').maskedOutputs).toEqual([5]);
    expect(star("SELECT * FROM jsonb_each('{}') WITH ORDINALITY AS j(k), customers").maskedOutputs).toEqual([6]);
    expect(star("SELECT * FROM ROWS FROM (jsonb_to_record('{}') AS (a int, b int), generate_series(1, 2)), customers").maskedOutputs).toEqual([6]);
    expect(star("SELECT * FROM json_populate_record(null::customers, '{}')")).toMatchObject({ maskedColumns: [], unresolved: [] });
    expect(star('SELECT generate_series, ordinality, g.generate_series FROM generate_series(1, 2) WITH ORDINALITY AS g(generate_series)').unresolved).toEqual([]);
  });

  it('does not guess the shape of a function it does not know', () => {
    expect(lineage('SELECT * FROM pg_control_system(), customers').unresolved).toEqual(['columns of pg_control_system are unknown']);
  });
});

describe('lineageOf: functions and operators that can fail on a sensitive value (issue 15)', () => {
  it.each([
    'SELECT length(card_number) * 2147483647 FROM customers',
    'SELECT ascii(card_number) + 1 FROM customers',
    'SELECT -ascii(card_number) FROM customers',
    'SELECT substr(card_number, 1, 4 - ascii(card_number)) FROM customers',
    'SELECT substr(name, 1, ascii(card_number) - 52) FROM customers',
    "SELECT substring(name FROM card_number) FROM customers",
    "SELECT repeat('x', ascii(card_number) * 1000000) FROM customers",
    "SELECT lpad(name, length(card_number) * 1000000) FROM customers",
    'SELECT chr(ascii(card_number) - 52) FROM customers',
    'SELECT make_date(2000, 1, ascii(card_number)) FROM customers',
    "SELECT split_part(name, ' ', ascii(card_number) - 52) FROM customers",
    'SELECT regexp_replace(name, card_number, $$x$$) FROM customers',
    'SELECT name ~ card_number FROM customers',
    "SELECT 'abc' LIKE card_number FROM customers",
    "SELECT jsonb_path_query_first('{}', 'strict $.a', to_jsonb(card_number)) FROM customers",
    "SELECT to_char(now(), card_number) FROM customers",
    'SELECT sum(ascii(card_number)) FROM customers',
    'SELECT public.my_fn(card_number) FROM customers',
  ])('flags %s', (sql) => {
    expect(lineage(sql.replaceAll('$$', "'")).sensitiveUsedOutside).toEqual([CARD]);
  });

  it.each([
    'SELECT card_number, upper(card_number), lower(card_number), left(card_number, 4), right(card_number, 4) FROM customers',
    'SELECT substr(card_number, 1, 4), md5(card_number), length(card_number), reverse(card_number) FROM customers',
    "SELECT card_number || 'x', replace(card_number, ' ', ''), split_part(card_number, ' ', 1), translate(card_number, '1', '2') FROM customers",
    "SELECT regexp_replace(card_number, '[0-9]', '#', 'g'), string_to_array(card_number, ' ') FROM customers",
    "SELECT jsonb_build_object('c', card_number), json_object_agg(card_number, 1), max(card_number), count(card_number) FROM customers GROUP BY id",
    'SELECT (string_to_array(card_number, NULL))[ascii(card_number)] FROM customers',
    'SELECT name(c), card_number::text FROM customers c',
  ])('leaves functions that cannot fail on it alone: %s', (sql) => {
    expect(lineage(sql)).toMatchObject({ sensitiveUsedOutside: [], unresolved: [] });
  });
});

describe('classifySql: bounds on analysis (issue 15)', () => {
  it('refuses statements nested deeper than the parse bound, naming it', () => {
    for (const depth of [150, 1000, 5000]) {
      const sql = `SELECT ${'(SELECT '.repeat(depth)}1${')'.repeat(depth)}`;
      expect(() => classifySql(sql, catalog, sensitive)).toThrow(SqlRejectedError);
      expect(() => classifySql(sql, catalog, sensitive)).toThrow(`SQL rejected: the statement nests more than ${MAX_PARSE_DEPTH} levels deep`);
    }
    const from = `SELECT * FROM ${'(SELECT * FROM '.repeat(400)}customers${') s'.repeat(400)}`;
    expect(() => classifySql(from, catalog, sensitive)).toThrow(`more than ${MAX_PARSE_DEPTH} levels deep`);
    const sum = `SELECT ${Array.from({ length: 2000 }, () => 'id').join(' + ')} FROM customers`;
    expect(() => classifySql(sum, catalog)).toThrow(`more than ${MAX_PARSE_DEPTH} levels deep`);
  });

  it('analyses moderately nested statements in full', () => {
    const sql = `SELECT * FROM ${'(SELECT * FROM '.repeat(60)}customers${') s'.repeat(60)}`;
    expect(lineage(sql).maskedColumns).toEqual(['card_number']);
  });

  it('refuses a statement whose lineage needs more work than the budget, naming it', () => {
    // Shallow but costly: each WITH RECURSIVE resolves its body several times (to a fixpoint), nested 14 times.
    let sql = 'SELECT card_number AS x FROM customers';
    for (let k = 0; k < 14; k += 1) sql = `WITH RECURSIVE r${k} AS (${sql}) SELECT x FROM r${k}`;
    expect(() => classifySql(sql, catalog, sensitive)).toThrow(`SQL rejected: the statement needs more than ${MAX_LINEAGE_STEPS} steps of column-lineage analysis`);
  });
});
