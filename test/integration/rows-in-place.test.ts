import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PostgresConnector } from '../../src/connectors/postgres.js';

let connector: PostgresConnector;

beforeAll(() => {
  const url = inject('databaseUrl');
  connector = new PostgresConnector({ resolve: () => url, poolSize: 1 });
});

afterAll(async () => {
  await connector?.close();
});

const read = { mode: 'read' as const, maxRows: 5000, maxBytes: 1 << 20, timeoutMs: 10_000, signal: new AbortController().signal };

/** Plain, dense arrays: what JSON and the masker expect of a row, whatever the driver handed over. */
function expectPlainRows(rows: readonly (readonly unknown[])[], width: number): void {
  for (const row of rows) {
    expect(Object.getPrototypeOf(row)).toBe(Array.prototype);
    expect(row.length).toBe(width);
    expect(Object.keys(row).length).toBe(width);
  }
}

describe('PostgresConnector: rows converted in place as they arrive (issue 19)', () => {
  it('parses every type in every row of a result read in several batches', async () => {
    // 2,500 rows: three portal batches of up to 1,000, each row converted where the driver put it.
    const result = await connector.run(
      'shop',
      "SELECT g, 'n' || g AS label, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END AS flag, g::bigint * 4294967296 AS big, jsonb_build_object('g', g) AS doc, ARRAY[g, g + 1] AS pair FROM generate_series(1, 2500) AS g",
      [],
      read,
    );
    expect(result).toMatchObject({ rowCount: 2500, truncated: false });
    expect(result.rows[0]).toEqual([1, 'n1', false, '4294967296', { g: 1 }, [1, 2]]);
    expect(result.rows[2]).toEqual([3, 'n3', null, '12884901888', { g: 3 }, [3, 4]]);
    expect(result.rows[999]).toEqual([1000, 'n1000', true, '4294967296000', { g: 1000 }, [1000, 1001]]);
    expect(result.rows[1000]).toEqual([1001, 'n1001', false, '4299262263296', { g: 1001 }, [1001, 1002]]);
    expect(result.rows[2499]).toEqual([2500, 'n2500', true, '10737418240000', { g: 2500 }, [2500, 2501]]);
    expectPlainRows(result.rows, 6);
    expect(JSON.stringify(result.rows[1])).toBe('[2,"n2",true,"8589934592",{"g":2},[2,3]]');
  });

  it('keeps the types JSON cannot hold as exact strings, and nulls as null', async () => {
    const result = await connector.run(
      'shop',
      "SELECT '\\x00ff'::bytea AS bin, timestamptz '2026-12-06 21:00:00+00' AS ts, 1.50::numeric AS num, NULL::text AS nothing, '' AS empty",
      [],
      read,
    );
    expect(result.rows).toEqual([['\\x00ff', '2026-12-06 21:00:00+00', '1.50', null, '']]);
    expectPlainRows(result.rows, 5);
  });

  it('leaves a value the row guard cut as the server text and still parses the values beside it', async () => {
    // The jsonb document is over the cap: cut, it is no longer JSON and stays text; the integer after it parses.
    const result = await connector.run('shop', 'SELECT 5 AS before, (SELECT jsonb_agg(g) FROM generate_series(1, 40000) g) AS doc, 7 AS after', [], { ...read, maxBytes: 64 * 1024 });
    const row = result.rows[0] as unknown[];
    expect(row[0]).toBe(5);
    expect(typeof row[1]).toBe('string');
    expect((row[1] as string).startsWith('[1, 2, 3, 4')).toBe(true);
    expect(row[2]).toBe(7);
    expect(result).toMatchObject({ rowCount: 1, truncated: true, cutValues: 1 });
    expectPlainRows(result.rows, 3);
  });

  it('keeps the first batch as the result and appends later ones, cut exactly at the row cap', async () => {
    const sql = 'SELECT g FROM generate_series(1, $1::int) AS g';
    const cases: [rows: number, maxRows: number, kept: number, truncated: boolean][] = [
      [1000, 1000, 1000, false],
      [1001, 1000, 1000, true],
      [3000, 1500, 1500, true],
      [2500, 5000, 2500, false],
      [0, 10, 0, false],
    ];
    for (const [total, maxRows, kept, truncated] of cases) {
      const result = await connector.run('shop', sql, [total], { ...read, maxRows });
      expect({ total, maxRows, rowCount: result.rowCount, length: result.rows.length, truncated: result.truncated }).toEqual({ total, maxRows, rowCount: kept, length: kept, truncated });
      expect(result.rows.map((r) => r[0])).toEqual(Array.from({ length: kept }, (_, i) => i + 1));
    }
  });

  it('stops at the byte cap inside a later batch with the rows before it kept', async () => {
    // Each row ~1 KB: the 64 KiB cap falls in the first batch; 1.2 MB cap in the second.
    for (const [maxBytes, batchOfCut] of [[64 * 1024, 1], [1200 * 1024, 2]] as const) {
      const result = await connector.run('shop', "SELECT g, repeat('r', 1000) AS pad FROM generate_series(1, 3000) AS g", [], { ...read, maxBytes });
      expect(result.truncated).toBe(true);
      expect(result.rowCount).toBe(result.rows.length);
      expect(Math.ceil(result.rowCount / 1000)).toBe(batchOfCut);
      expect(result.rows.map((r) => r[0])).toEqual(Array.from({ length: result.rowCount }, (_, i) => i + 1));
      expectPlainRows(result.rows, 2);
    }
  });
});
