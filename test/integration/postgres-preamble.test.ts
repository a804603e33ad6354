import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresConnector, preambleOf } from '../../src/connectors/postgres.js';
import { QueryFailedError, TimeoutError } from '../../src/errors.js';

const url = inject('databaseUrl');
let connector: PostgresConnector;

beforeAll(() => {
  connector = new PostgresConnector({ resolve: () => url, poolSize: 1 });
});
afterAll(async () => {
  await connector.close();
});

const read = { mode: 'read' as const, maxRows: 100, maxBytes: 1 << 20, timeoutMs: 5000, signal: new AbortController().signal };
const SETTINGS =
  "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS it, current_setting('transaction_read_only') AS ro";

describe('preambleOf (issue 19)', () => {
  it('is the transaction start and the three limits as local settings', () => {
    expect(preambleOf('read', 1500)).toEqual([
      'BEGIN READ ONLY',
      'SET LOCAL statement_timeout = 1500',
      'SET LOCAL lock_timeout = 1500',
      'SET LOCAL idle_in_transaction_session_timeout = 6500',
    ]);
    expect(preambleOf('write', 30000)).toEqual([
      'BEGIN',
      'SET LOCAL statement_timeout = 30000',
      'SET LOCAL lock_timeout = 5000',
      'SET LOCAL idle_in_transaction_session_timeout = 35000',
    ]);
  });

  it('refuses a timeout that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => preambleOf('read', bad)).toThrow(TypeError);
  });
});

describe('PostgresConnector.run preamble (issue 19)', () => {
  it('applies all three limits as local settings of a read-only transaction', async () => {
    const result = await connector.run('shop', SETTINGS, [], { ...read, timeoutMs: 1234 });
    expect(result.rows).toEqual([['1234ms', '1234ms', '6234ms', 'on']]);
    expect(result.columns.map((c) => c.name)).toEqual(['st', 'lt', 'it', 'ro']);
  });

  it('caps the lock timeout at 5 s and applies the settings in write mode too', async () => {
    const result = await connector.run('shop', SETTINGS, [], { ...read, mode: 'write', timeoutMs: 12000 });
    expect(result.rows).toEqual([['12s', '5s', '17s', 'off']]);
  });

  it('returns only the statement’s rows, never the preamble’s', async () => {
    const one = await connector.run('shop', 'SELECT 1 AS one', [], read);
    expect(one.rows).toEqual([[1]]);
    expect(one.rowCount).toBe(1);
    const none = await connector.run('shop', 'SELECT id FROM customers WHERE false', [], read);
    expect(none.rows).toEqual([]);
    expect(none).toMatchObject({ rowCount: 0, truncated: false });
    const three = await connector.run('shop', 'SELECT g, g::text FROM generate_series(1, 3) g', [], { ...read, maxRows: 2 });
    expect(three.rows).toEqual([
      [1, '1'],
      [2, '2'],
    ]);
    expect(three.truncated).toBe(true);
  });

  it('reports the statement’s own rows affected, not the preamble’s completion', async () => {
    const write = { ...read, mode: 'write' as const };
    const result = await connector.run('shop', "UPDATE products SET category = category WHERE category = 'coffee'", [], write);
    expect(result).toMatchObject({ rowsAffected: 2, rowCount: 0, columns: [] });
    const none = await connector.run('shop', "UPDATE products SET category = category WHERE category = 'no such'", [], write);
    expect(none).toMatchObject({ rowsAffected: 0, rowCount: 0 });
  });

  it('enforces the statement timeout the preamble set', async () => {
    const error = await connector.run('shop', 'SELECT count(*) FROM generate_series(1, 100000000)', [], { ...read, timeoutMs: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).publicMessage).toBe('The call exceeded its time limit of 150 ms and was stopped. Narrow the request.');
  });

  it('maps a failing statement after the preamble and leaves the connection usable', async () => {
    const error = await connector.run('shop', 'SELECT 1/0', [], read).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).publicMessage).toBe('Query failed: division by zero (SQLSTATE 22012)');
    // One pooled connection: the next call runs on it with fresh settings and no transaction left over.
    const after = await connector.run('shop', SETTINGS, [], { ...read, timeoutMs: 777 });
    expect(after.rows).toEqual([['777ms', '777ms', '5777ms', 'on']]);
  });

  it('leaves no setting behind on the pooled connection after the call', async () => {
    await connector.run('shop', 'SELECT 1', [], { ...read, timeoutMs: 999 });
    // A write-mode call sees its own settings, never the previous call's.
    const after = await connector.run('shop', SETTINGS, [], { ...read, mode: 'write', timeoutMs: 4321 });
    expect(after.rows).toEqual([['4321ms', '4321ms', '9321ms', 'off']]);
  });
});

describe('PostgresConnector.run row values, converted in place (issue 19)', () => {
  it('turns every cell into its JSON value across batches, nulls included', async () => {
    const result = await connector.run(
      'shop',
      "SELECT g, CASE WHEN g % 2 = 0 THEN NULL ELSE g::text END AS t, (g * 10000000000)::bigint AS big, date '2026-01-01' + g AS d, decode(lpad(to_hex(g), 4, '0'), 'hex') AS b FROM generate_series(1, 2500) g",
      [],
      { ...read, maxRows: 3000 },
    );
    expect(result.rowCount).toBe(2500);
    expect(result.rows[0]).toEqual([1, '1', '10000000000', '2026-01-02', '\\x0001']);
    expect(result.rows[1]).toEqual([2, null, '20000000000', '2026-01-03', '\\x0002']);
    expect(result.rows[2499]).toEqual([2500, null, '25000000000000', '2032-11-05', '\\x09c4']);
    expect(result.rows.every((row) => Array.isArray(row) && row.length === 5)).toBe(true);
  });
});
