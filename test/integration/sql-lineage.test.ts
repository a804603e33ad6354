/**
 * Lineage against a real PostgreSQL catalog: outputs derived from sensitive columns are masked whole;
 * sensitive columns used outside the output, or anything unresolved, send the call to approval.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { sensitiveColumns } from '../../src/policy/sensitive.js';
import { classifySql, loadSqlParser, type SqlCatalog } from '../../src/policy/sql/classify.js';

const url = inject('databaseUrl');
const adminUrl = inject('adminUrl');
const sensitive = sensitiveColumns(['customers.card_number', 'customers.email']);
let connector: PostgresConnector;
let catalog: SqlCatalog;

beforeAll(async () => {
  await loadSqlParser();
  const admin = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, '/airlock_test') });
  await admin.connect();
  await admin.query(`CREATE OR REPLACE VIEW customer_cards AS SELECT id, name, card_number AS pan FROM customers`);
  await admin.query(`CREATE OR REPLACE VIEW cards_again AS SELECT pan AS number, name FROM customer_cards`);
  await admin.query(`GRANT SELECT ON customer_cards, cards_again TO airlock_app`);
  await admin.end();
  connector = new PostgresConnector({ resolve: () => url, poolSize: 1 });
  catalog = await connector.catalog('shop');
});
afterAll(async () => {
  await connector.close();
});

const lineage = (sql: string) => {
  const facts = classifySql(sql, catalog, sensitive);
  if (facts.lineage === undefined) throw new Error('no lineage');
  return facts.lineage;
};

describe('SQL lineage (real catalog)', () => {
  it.each<[string, string[]]>([
    ['SELECT name, card_number FROM customers', ['card_number']],
    ['SELECT c.card_number AS x FROM customers c', ['x']],
    ['SELECT x FROM (SELECT card_number AS x FROM customers) s', ['x']],
    ['SELECT y FROM (SELECT card_number FROM customers) AS s(y)', ['y']],
    ['WITH t AS (SELECT card_number FROM customers) SELECT card_number FROM t', ['card_number']],
    ['WITH t(a) AS (SELECT card_number FROM customers) SELECT a FROM t', ['a']],
    ['SELECT name FROM customers UNION SELECT card_number FROM customers', ['name']],
    ['SELECT lower(card_number) FROM customers', ['lower']],
    ['SELECT md5(card_number) AS h FROM customers', ['h']],
    ['SELECT card_number::bigint AS n FROM customers', ['n']],
    ['SELECT CASE WHEN card_number LIKE $$4%$$ THEN $$visa$$ END AS brand FROM customers', ['brand']],
    ['SELECT c FROM customers c', ['c']],
    ['SELECT row_to_json(c) FROM customers c', ['row_to_json']],
    ['SELECT to_jsonb(c.*) AS j FROM customers c', ['j']],
    ['SELECT * FROM customers', ['email', 'card_number']],
    ['SELECT c.* FROM customers c JOIN orders o ON o.customer_id = c.id', ['email', 'card_number']],
    ['SELECT pan FROM customer_cards', ['pan']],
    ['SELECT number, name FROM cards_again', ['number']],
    ['SELECT name, (SELECT card_number FROM customers c2 WHERE c2.id = c.id) AS cn FROM customers c', ['cn']],
    ['SELECT id, name FROM customers', []],
    ['SELECT count(*) FROM orders', []],
    ['SELECT g FROM generate_series(1, 3) AS g', []],
    ['SELECT x.id FROM (SELECT id, card_number FROM customers) x', []],
  ])('masks the outputs of %s: %j', (sql, masked) => {
    const l = lineage(sql.replaceAll('$$', "'"));
    expect(l.maskedColumns).toEqual(masked);
    expect(l.unresolved).toEqual([]);
  });

  it.each([
    ["SELECT name FROM customers WHERE card_number LIKE '4111%'", 'public.customers.card_number'],
    ['SELECT name FROM customers ORDER BY card_number', 'public.customers.card_number'],
    ['SELECT name FROM customers GROUP BY name, email', 'public.customers.email'],
    ["SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id AND c.card_number > ''", 'public.customers.card_number'],
    ["SELECT EXISTS (SELECT 1 FROM customers WHERE card_number = '4111 1111 1111 1111')", 'public.customers.card_number'],
    ["SELECT id FROM customers WHERE id IN (SELECT id FROM customers WHERE email LIKE 'a%')", 'public.customers.email'],
    ['SELECT row_number() OVER (ORDER BY card_number) FROM customers', 'public.customers.card_number'],
    ["SELECT string_agg(name, ',' ORDER BY email) FROM customers", 'public.customers.email'],
    ["SELECT name FROM customer_cards WHERE pan LIKE '5%'", 'public.customers.card_number'],
    ['SELECT count(DISTINCT card_number) FILTER (WHERE email IS NOT NULL) FROM customers', 'public.customers.email'],
  ])('flags a sensitive column used outside the output: %s', (sql, column) => {
    expect(lineage(sql).sensitiveUsedOutside).toContain(column);
  });

  it('reports what it cannot resolve instead of allowing it', () => {
    expect(lineage('SELECT * FROM no_such_table').unresolved).toContain('relation no_such_table is not in the catalog');
    expect(lineage('SELECT zzz FROM customers').unresolved).toEqual(['column zzz could not be resolved']);
  });

  it('masks unresolved outputs whole rather than guessing', () => {
    expect(lineage('SELECT * FROM no_such_table').maskedColumns).toEqual(['no_such_table']);
  });
});

describe('rules on columns referenced (lineage facts)', () => {
  it('lists every base column a statement reads, and lets rules match on them', async () => {
    const { parsePolicy } = await import('../../src/policy/load.js');
    const { evaluate } = await import('../../src/policy/evaluate.js');
    const facts = (sql: string) => ({ resource: { kind: 'connection' as const, name: 'shop' }, sql: classifySql(sql, catalog, () => false) });
    expect(facts('SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.status = $1').sql.lineage?.columnsReferenced).toEqual([
      'public.customers.id',
      'public.customers.name',
      'public.orders.customer_id',
      'public.orders.status',
    ]);
    const policy = parsePolicy(
      JSON.stringify({
        version: 1,
        resources: { connections: { shop: { url: 'env:X' } } },
        rules: [
          { id: 'names-and-orders', effect: 'allow', tools: ['query_sql'], sql: { classes: ['read'], columns: ['customers.id', 'customers.name', 'orders.*'] } },
          { id: 'never-email', effect: 'deny', tools: ['query_sql'], sql: { columns: ['customers.email'] }, reason: 'Emails are off limits.' },
        ],
      }),
      'policies.json',
      ['query_sql'],
    );
    const principal = { issuer: 'i', sub: 's', email: undefined, groups: [], clientId: undefined, dev: false };
    const decide = (sql: string) => evaluate(policy, { principal, tool: 'query_sql', facts: facts(sql) });
    expect(decide('SELECT name FROM customers').effect).toBe('allow');
    expect(decide('SELECT o.status, c.name FROM orders o JOIN customers c ON c.id = o.customer_id').effect).toBe('allow');
    expect(decide('SELECT country FROM customers')).toMatchObject({ effect: 'deny', ruleIds: [] });
    expect(decide('SELECT count(*) FROM customers WHERE email IS NULL')).toMatchObject({ effect: 'deny', ruleIds: ['never-email'] });
    expect(decide('SELECT * FROM customers')).toMatchObject({ effect: 'deny', ruleIds: ['never-email'] });
  });
});
