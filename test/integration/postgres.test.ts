import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { QueryFailedError, TimeoutError, UpstreamUnavailableError } from '../../src/errors.js';

const url = inject('databaseUrl');
let connector: PostgresConnector;

beforeAll(() => {
  connector = new PostgresConnector({ resolve: () => url, poolSize: 2 });
});
afterAll(async () => {
  await connector.close();
});

const read = { mode: 'read' as const, maxRows: 100, maxBytes: 1 << 20, timeoutMs: 5000, signal: new AbortController().signal };

describe('PostgresConnector.run (real PostgreSQL)', () => {
  it('returns columns with type names, rows as arrays and the row count', async () => {
    const result = await connector.run('shop', 'SELECT id, name, country FROM customers WHERE id <= $1 ORDER BY id', [2], read);
    expect(result.columns).toEqual([
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'text' },
      { name: 'country', type: 'character' },
    ]);
    expect(result.rows).toEqual([
      [1, 'Ana Silva', 'PT'],
      [2, 'Ben Okafor', 'NG'],
    ]);
    expect(result).toMatchObject({ rowCount: 2, truncated: false });
  });

  it('renders types JSON cannot hold exactly as strings', async () => {
    const result = await connector.run(
      'shop',
      "SELECT 9007199254740993::bigint AS big, 12345678901234567890.123::numeric AS num, '\\xdeadbeef'::bytea AS bin, timestamptz '2026-01-02 03:04:05.123456+00' AS ts, date '2026-11-29' AS d, '{\"a\":1}'::jsonb AS j",
      [],
      read,
    );
    expect(result.rows[0]).toEqual(['9007199254740993', '12345678901234567890.123', '\\xdeadbeef', '2026-01-02 03:04:05.123456+00', '2026-11-29', { a: 1 }]);
    expect(result.columns.map((c) => c.type)).toEqual(['bigint', 'numeric', 'bytea', 'timestamp with time zone', 'date', 'jsonb']);
  });

  it('cuts the result at the row cap and says it was truncated', async () => {
    const result = await connector.run('shop', 'SELECT g FROM generate_series(1, 10000) g', [], { ...read, maxRows: 25 });
    expect(result.rowCount).toBe(25);
    expect(result.rows.at(-1)).toEqual([25]);
    expect(result.truncated).toBe(true);
  });

  it('runs reads in a read-only transaction that the server enforces', async () => {
    // The classifier would never call this a read; the database must refuse it anyway.
    await expect(connector.run('shop', "UPDATE customers SET name = 'x' WHERE id = 1", [], read)).rejects.toMatchObject({
      code: 'QUERY_FAILED',
      publicMessage: expect.stringContaining('SQLSTATE 25006') as unknown,
    });
    const check = await connector.run('shop', 'SELECT name FROM customers WHERE id = 1', [], read);
    expect(check.rows).toEqual([['Ana Silva']]);
  });

  it('stops a slow query with the server-side statement timeout', async () => {
    const error = await connector.run('shop', 'SELECT count(*) FROM generate_series(1, 100000000)', [], { ...read, timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).publicMessage).toBe('The call exceeded its time limit of 200 ms and was stopped. Narrow the request.');
  });

  it('never shows stored values echoed in Postgres error messages', async () => {
    const error = await connector.run('shop', 'SELECT card_number::int FROM customers', [], read).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    const failure = error as QueryFailedError;
    expect(failure.publicMessage).toBe('Query failed: invalid text representation (SQLSTATE 22P02)');
    expect(failure.message).toContain('invalid input syntax'); // internal detail keeps the server text
  });

  it('keeps syntax errors readable: they only echo the agent’s own statement', async () => {
    const error = await connector.run('shop', 'SELECT * FROM no_such_table', [], read).catch((e: unknown) => e);
    expect((error as QueryFailedError).publicMessage).toBe('Query failed: relation "no_such_table" does not exist (SQLSTATE 42P01, undefined table)');
  });

  it('commits writes in write mode and reports rows affected', async () => {
    const write = { ...read, mode: 'write' as const };
    const result = await connector.run('shop', "UPDATE products SET category = category WHERE category = 'coffee'", [], write);
    expect(result).toMatchObject({ rowsAffected: 2, rowCount: 0, columns: [] });
  });

  it('refuses DDL through the least-privilege demo role', async () => {
    const write = { ...read, mode: 'write' as const };
    const error = await connector.run('shop', 'DROP TABLE orders', [], write).catch((e: unknown) => e);
    expect((error as QueryFailedError).publicMessage).toBe('Query failed: must be owner of table orders (SQLSTATE 42501, insufficient privilege)');
  });

  it('does not leak session settings to the next call on the same pooled connection', async () => {
    const single = new PostgresConnector({ resolve: () => url, poolSize: 1 });
    try {
      await single.run('shop', 'SELECT 1', [], { ...read, timeoutMs: 1234 });
      const after = await single.run('shop', "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')", [], {
        ...read,
        mode: 'write',
        timeoutMs: 4321,
      });
      expect(after.rows).toEqual([['4321ms', 'off']]);
    } finally {
      await single.close();
    }
  });

  it('gives a clear unavailable error when the server cannot be reached', async () => {
    const dead = new PostgresConnector({ resolve: () => 'postgres://u:p@127.0.0.1:1/db', connectTimeoutMs: 1000 });
    try {
      const error = await dead.run('shop', 'SELECT 1', [], read).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect((error as UpstreamUnavailableError).publicMessage).toBe('Database connection "shop" is unavailable right now; try again shortly.');
    } finally {
      await dead.close();
    }
  });
});
