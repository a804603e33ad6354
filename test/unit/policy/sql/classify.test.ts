import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidSqlError, SqlRejectedError } from '../../../../src/errors.js';
import { classifySql, loadSqlParser, type SqlClass } from '../../../../src/policy/sql/classify.js';

beforeAll(async () => {
  await loadSqlParser();
});

describe('classifySql', () => {
  it.each<[string, SqlClass]>([
    ['SELECT 1', 'read'],
    ['select name from customers where id = $1', 'read'],
    ['WITH t AS (SELECT 1) SELECT * FROM t', 'read'],
    ['SHOW search_path', 'read'],
    ['EXPLAIN SELECT * FROM customers', 'read'],
    ['EXPLAIN DELETE FROM customers', 'read'],
    ['INSERT INTO orders (id) VALUES (1)', 'write'],
    ['UPDATE customers SET name = $1 WHERE id = $2', 'write'],
    ['DELETE FROM customers WHERE id = 1', 'write'],
    ['SELECT * FROM customers FOR UPDATE', 'write'],
    ['WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING *) SELECT * FROM d', 'write'],
    ['EXPLAIN ANALYZE DELETE FROM customers WHERE id = 1', 'write'],
    ['EXPLAIN (ANALYZE false) UPDATE customers SET name = 1 WHERE id = 1', 'write'],
    ['CREATE TABLE t (id int)', 'ddl'],
    ['SELECT * INTO copy FROM customers', 'ddl'],
    ['CREATE INDEX ON customers (email)', 'ddl'],
    ['DROP TABLE customers', 'destructive'],
    ['TRUNCATE customers', 'destructive'],
    ['DELETE FROM customers', 'destructive'],
    ['UPDATE customers SET name = 1', 'destructive'],
    ['WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d', 'destructive'],
    ['ALTER TABLE customers DROP COLUMN email', 'destructive'],
    ['GRANT SELECT ON customers TO public', 'privilege'],
    ['SET ROLE postgres', 'privilege'],
    ['CREATE ROLE x', 'privilege'],
    ['SET statement_timeout = 0', 'admin'],
    ['BEGIN', 'admin'],
    ['COMMIT', 'admin'],
    ['COPY customers TO PROGRAM \'cat\'', 'admin'],
    ['DO $$ BEGIN END $$', 'admin'],
    ['VACUUM customers', 'admin'],
    ['LOCK customers IN ACCESS EXCLUSIVE MODE', 'admin'],
    ['LISTEN ch', 'admin'],
    ['SELECT pg_terminate_backend(1)', 'admin'],
    ['SELECT pg_sleep(10)', 'admin'],
    ['SELECT set_config(\'role\', \'postgres\', false)', 'admin'],
    ['SELECT pg_advisory_lock(1)', 'admin'],
    ['SELECT lo_import(\'/etc/passwd\')', 'admin'],
    ['SELECT pg_catalog.pg_read_file(\'/etc/passwd\')', 'admin'],
    ['SELECT table_to_xml(\'customers\', true, false, \'\')', 'admin'],
    ['SELECT txid_current()', 'admin'],
    ['SELECT nextval(\'orders_id_seq\')', 'admin'],
  ])('classifies %s as %s', (sql, expected) => {
    expect(classifySql(sql).class).toBe(expected);
  });

  it.each([
    ['DELETE FROM orders WHERE id = 1', ['orders'], ['orders']],
    ['INSERT INTO audit.log (x) SELECT id FROM customers', ['audit.log', 'customers'], ['audit.log']],
    ['UPDATE orders o SET status = p.name FROM products p WHERE o.product_id = p.id', ['orders', 'products'], ['orders']],
    ['SELECT * INTO copy_of FROM customers', ['copy_of', 'customers'], ['copy_of']],
    ['WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d JOIN customers c ON true', ['customers', 'd', 'orders'], ['orders']],
    ['ALTER TABLE customers ADD COLUMN x int', ['customers'], ['customers']],
    ['SELECT 1 FROM products', ['products'], []],
  ])('separates tables read and written in %s', (sql, tables, written) => {
    const facts = classifySql(sql);
    expect(facts.tables).toEqual(tables);
    expect(facts.tablesWritten).toEqual(written);
  });

  it('collects tables and functions', () => {
    const facts = classifySql('SELECT lower(c.name), count(*) FROM public.customers c JOIN orders o ON o.customer_id = c.id GROUP BY 1');
    expect(facts.tables).toEqual(['orders', 'public.customers']);
    expect(facts.functions).toEqual(['count', 'lower']);
    expect(facts.statementType).toBe('SelectStmt');
  });

  it.each([
    ['SELECT 1; SELECT 2', 'SQL rejected: exactly one statement per call is allowed; got 2.'],
    ['SELECT 1; DROP TABLE customers', 'SQL rejected: exactly one statement per call is allowed; got 2.'],
    ['', 'SQL rejected: no statement was given.'],
    ['SELECT 1\u0000; DROP TABLE x', 'SQL rejected: the statement contains a NUL byte.'],
    ['SELECT ' + '1,'.repeat(60_000) + '1', 'SQL rejected: the statement is longer than 100000 characters.'],
    ['  -- only a comment', 'SQL rejected: no statement was given.'],
  ])('rejects input #%# with a fixed message', (sql, message) => {
    let caught: unknown;
    try {
      classifySql(sql);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SqlRejectedError);
    expect((caught as SqlRejectedError).publicMessage).toBe(message);
  });

  it.each([
    ['SELEC 1', 'SQL syntax error at line 1, column 1 (character 1): syntax error at or near "SELEC". The statement was not run; fix it and call again.', { position: 1, line: 1, column: 1 }],
    ["SELECT 'é€😀' FRM t", 'SQL syntax error at line 1, column 18 (character 18): syntax error at or near "t". The statement was not run; fix it and call again.', { position: 18, line: 1, column: 18 }],
    ["SELECT 'abc", 'SQL syntax error at line 1, column 8 (character 8): unterminated quoted string at or near "\'abc". The statement was not run; fix it and call again.', { position: 8, line: 1, column: 8 }],
  ])('fails text that does not parse with INVALID_SQL, the parser message and where (issue 14): %s', (sql, message, data) => {
    let caught: unknown;
    try {
      classifySql(sql);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidSqlError);
    expect((caught as InvalidSqlError).code).toBe('INVALID_SQL');
    expect((caught as InvalidSqlError).outcome).toBe('invalid');
    expect((caught as InvalidSqlError).publicMessage).toBe(message);
    expect((caught as InvalidSqlError).data).toEqual(data);
  });

  it.each([
    ['SELECT 1', []],
    ['SELECT $2, $1, $2', [1, 2]],
    ["SELECT '$1', $$ $2 $$, $3", [3]],
    ['EXPLAIN SELECT * FROM orders WHERE id = $1', [1]],
    ['SELECT $0', [0]],
  ])('lists the placeholders of %s', (sql, placeholders) => {
    expect(classifySql(sql).placeholders).toEqual(placeholders);
  });
});
