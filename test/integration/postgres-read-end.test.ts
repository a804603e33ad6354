import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PortalBatch, PortalShape, type PortalBatchResult } from '../../src/connectors/portal.js';
import { PostgresConnector, preambleOf } from '../../src/connectors/postgres.js';
import { CancelledError, QueryFailedError, TimeoutError } from '../../src/errors.js';

const url = inject('databaseUrl');
/** One connection only: every call reuses the connection the previous call left in the pool. */
let single: PostgresConnector;
/** A separate session that watches airlock's backend in pg_stat_activity. */
let observer: pg.Client;

beforeAll(async () => {
  single = new PostgresConnector({ resolve: () => url, poolSize: 1 });
  observer = new pg.Client({ connectionString: url });
  await observer.connect();
});
afterAll(async () => {
  await single.close();
  await observer.end();
});

const read = { mode: 'read' as const, maxRows: 100, maxBytes: 1 << 20, timeoutMs: 5000, signal: new AbortController().signal };
const BACKEND = 'SELECT pg_backend_pid() AS pid, xact_start::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()';

/** The state of airlock's backend as another session sees it right now. */
async function stateOf(pid: number): Promise<{ state: string; xact: string | null }> {
  const res = await observer.query<{ state: string; xact: string | null }>('SELECT state, xact_start::text AS xact FROM pg_stat_activity WHERE pid = $1', [pid]);
  const row = res.rows[0];
  if (row === undefined) throw new Error(`backend ${pid} is gone`);
  return row;
}

/** A read that must run in a transaction of its own on the pool's one connection: returns its backend and start. */
async function probe(): Promise<{ pid: number; started: string }> {
  const result = await single.run('shop', BACKEND, [], read);
  const [pid, started] = result.rows[0] as [number, string];
  return { pid, started };
}

describe('PostgresConnector.run: the end of a read rides with its last batch (issue 19)', () => {
  it('leaves the connection idle, not in a transaction, as soon as a one-batch read has answered', async () => {
    for (const maxRows of [1, 10, 999, 1000]) {
      const result = await single.run('shop', BACKEND, [], { ...read, maxRows });
      const pid = (result.rows[0] as [number, string])[0];
      // Asked before anything else runs on that connection: the ROLLBACK already completed in the call's own round trip.
      expect(await stateOf(pid)).toEqual({ state: 'idle', xact: null });
    }
  });

  it('runs every call in a transaction of its own on a reused connection, one-batch and multi-batch reads mixed', async () => {
    const starts = new Set<string>();
    let pid: number | undefined;
    for (let i = 0; i < 30; i++) {
      // Several batches (2,500 rows over a cap of 5,000) end with a ROLLBACK sent after the answer; one-batch reads end in it.
      if (i % 3 === 0) expect((await single.run('shop', 'SELECT g FROM generate_series(1, 2500) g', [], { ...read, maxRows: 5000 })).rowCount).toBe(2500);
      if (i % 3 === 1) expect((await single.run('shop', 'SELECT g FROM generate_series(1, 1500) g', [], { ...read, maxRows: 1000 })).truncated).toBe(true);
      const seen = await probe();
      pid ??= seen.pid;
      expect(seen.pid).toBe(pid);
      starts.add(seen.started);
    }
    expect(starts.size).toBe(30);
    const after = await single.run('shop', "SELECT current_setting('transaction_read_only')", [], { ...read, mode: 'write' });
    expect(after.rows).toEqual([['off']]);
  });

  it('ends the transaction when the row cap stops the portal (suspended) in the one batch', async () => {
    const result = await single.run('shop', 'SELECT g FROM generate_series(1, 50) g', [], { ...read, maxRows: 3 });
    expect(result.rows).toEqual([[1], [2], [3]]);
    expect(result.truncated).toBe(true);
    const seen = await probe();
    expect(await stateOf(seen.pid)).toEqual({ state: 'idle', xact: null });
  });

  it('still has the server refuse writes in a one-batch read, and the connection serves the next call', async () => {
    for (const sql of [
      "UPDATE customers SET name = 'x' WHERE id = 1",
      "WITH w AS (UPDATE customers SET name = 'x' WHERE id = 1 RETURNING id) SELECT id FROM w",
      'SELECT id FROM customers WHERE id = 1 FOR UPDATE',
      'CREATE TEMP TABLE t_issue19 AS SELECT 1 AS one',
    ]) {
      for (const maxRows of [1, 1000, 5000]) {
        const error = await single.run('shop', sql, [], { ...read, maxRows }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(QueryFailedError);
        expect((error as QueryFailedError).publicMessage).toBe('Query failed: read-only SQL transaction (SQLSTATE 25006)');
        const check = await single.run('shop', 'SELECT name FROM customers WHERE id = 1', [], read);
        expect(check.rows).toEqual([['Ana Silva']]);
      }
    }
  });

  it('applies the statement timeout to a one-batch read and recovers the connection', async () => {
    const error = await single.run('shop', 'SELECT count(*) FROM generate_series(1, 100000000)', [], { ...read, maxRows: 1, timeoutMs: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).publicMessage).toBe('The call exceeded its time limit of 150 ms and was stopped. Narrow the request.');
    const seen = await probe();
    expect(await stateOf(seen.pid)).toEqual({ state: 'idle', xact: null });
  });

  it('maps an error raised after rows were sent to the same code, and the ROLLBACK behind it never runs in its place', async () => {
    for (const maxRows of [10, 5000]) {
      const error = await single.run('shop', 'SELECT g, 1 / (3 - g) FROM generate_series(1, 5) g', [], { ...read, maxRows }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueryFailedError);
      expect((error as QueryFailedError).publicMessage).toBe('Query failed: division by zero (SQLSTATE 22012)');
      const syntax = await single.run('shop', 'SELECT * FROM no_such_table', [], { ...read, maxRows }).catch((e: unknown) => e);
      expect((syntax as QueryFailedError).publicMessage).toBe('Query failed: relation "no_such_table" does not exist (SQLSTATE 42P01, undefined table)');
      const seen = await probe();
      expect(await stateOf(seen.pid)).toEqual({ state: 'idle', xact: null });
    }
  });

  it('cancels a one-batch read on abort and keeps the pool usable', async () => {
    const abort = new AbortController();
    const running = single.run('shop', 'SELECT pg_sleep(5)', [], { ...read, maxRows: 1, signal: abort.signal }).catch((e: unknown) => e);
    setTimeout(() => abort.abort(), 100);
    expect(await running).toBeInstanceOf(CancelledError);
    const seen = await probe();
    expect(await stateOf(seen.pid)).toEqual({ state: 'idle', xact: null });
  });
});

describe('PortalBatch end (issue 19)', () => {
  async function submit(client: pg.Client, end: string | undefined): Promise<PortalBatchResult> {
    return new Promise((resolve, reject) => {
      const batch = new PortalBatch(
        {
          portal: 'p',
          rows: 10,
          shape: new PortalShape({ getTypeParser: () => (v: string) => v }),
          first: { text: 'SELECT g FROM generate_series(1, 3) g', values: [], preamble: preambleOf('read', 5000) },
          ...(end === undefined ? {} : { end }),
        },
        (error, result) => (error === undefined ? resolve(result as PortalBatchResult) : reject(error)),
      );
      void client.query(batch);
    });
  }

  it('runs the end statement after the rows in the same round trip and reports it, without it the transaction stays open', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const ended = await submit(client, 'ROLLBACK');
      expect(ended).toEqual({ rows: [['1'], ['2'], ['3']], suspended: false, rowCount: 3, cutValues: 0, ended: true });
      expect((await client.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro")).rows).toEqual([{ ro: 'off' }]);
      const open = await submit(client, undefined);
      expect(open).toMatchObject({ rowCount: 3, ended: false });
      expect((await client.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro")).rows).toEqual([{ ro: 'on' }]);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
  });
});
