/**
 * query_sql against a real PostgreSQL under stress: cancellation, huge results, session state, outages,
 * pool exhaustion and error texts that could leak values.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedDemoDatabase } from '../../src/connectors/demo-seed.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/connectors/embedded.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { CancelledError, QueryFailedError, UpstreamUnavailableError } from '../../src/errors.js';

const url = inject('databaseUrl');
const adminUrl = inject('adminUrl');
const base = { mode: 'read' as const, maxRows: 1000, maxBytes: 1024 * 1024, timeoutMs: 10_000 };
const signal = () => new AbortController().signal;

let connector: PostgresConnector;
beforeAll(() => {
  connector = new PostgresConnector({ resolve: () => url, poolSize: 3 });
});
afterAll(async () => {
  await connector.close();
});

async function activeQueries(pattern: string): Promise<number> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
      [`%${pattern}%`],
    );
    return rows[0]?.n ?? -1;
  } finally {
    await admin.end();
  }
}

describe('query_sql connector, production behaviour', () => {
  it('cancels the running statement on the server when the call is cancelled (pg_stat_activity)', async () => {
    const controller = new AbortController();
    const marker = 'cancel_me_7391';
    const running = connector.run('shop', `SELECT count(*) AS ${marker} FROM generate_series(1, 3000000000)`, [], { ...base, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 400));
    expect(await activeQueries(marker)).toBe(1);
    const started = Date.now();
    controller.abort();
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await activeQueries(marker)).toBe(0);
  });

  it('streams a 1,000,000-row SELECT, stops at the row cap, and keeps memory bounded', async () => {
    const before = process.memoryUsage().rss;
    const result = await connector.run('shop', "SELECT g, md5(g::text) AS h, repeat('x', 50) AS pad FROM generate_series(1, 1000000) AS g", [], { ...base, signal: signal() });
    expect(result).toMatchObject({ rowCount: 1000, truncated: true });
    expect(result.rows[999]?.[0]).toBe(1000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('stops at the byte cap before the row cap', async () => {
    const result = await connector.run('shop', "SELECT g, repeat('y', 1000) AS big FROM generate_series(1, 100000) AS g", [], {
      ...base,
      maxRows: 100_000,
      maxBytes: 64 * 1024,
      signal: signal(),
    });
    expect(result.truncated).toBe(true);
    expect(result.rowCount).toBeGreaterThan(50);
    expect(result.rowCount).toBeLessThan(70);
  });

  it('does not let a committed SET survive into the next call on the same connection', async () => {
    const single = new PostgresConnector({ resolve: () => url, poolSize: 1 });
    try {
      await single.run('shop', 'SET statement_timeout = 1', [], { ...base, mode: 'write', signal: signal() });
      const after = await single.run('shop', "SELECT current_setting('statement_timeout')", [], { ...base, timeoutMs: 4321, signal: signal() });
      expect(after.rows).toEqual([['4321ms']]);
      const role = await single.run('shop', 'SELECT current_user', [], { ...base, signal: signal() });
      expect(role.rows).toEqual([['airlock_app']]);
    } finally {
      await single.close();
    }
  });

  it('refuses clearly when every pooled connection is busy, and recovers once they are free', async () => {
    const tiny = new PostgresConnector({ resolve: () => url, poolSize: 1, connectTimeoutMs: 300 });
    try {
      const slow = tiny.run('shop', 'SELECT count(*) FROM generate_series(1, 8000000)', [], { ...base, signal: signal() });
      await new Promise((r) => setTimeout(r, 50));
      const refused = await tiny.run('shop', 'SELECT 1', [], { ...base, signal: signal() }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UpstreamUnavailableError);
      expect((refused as UpstreamUnavailableError).publicMessage).toBe('Database connection "shop" (all its connections are busy) is unavailable right now; try again shortly.');
      await slow;
      expect((await tiny.run('shop', 'SELECT 1', [], { ...base, signal: signal() })).rows).toEqual([[1]]);
    } finally {
      await tiny.close();
    }
  });

  it.each([
    ['SELECT card_number::int FROM customers', 'Query failed: invalid text representation (SQLSTATE 22P02)'],
    ["SELECT 1 / (length(card_number) - length(card_number)) FROM customers", 'Query failed: division by zero (SQLSTATE 22012)'],
    ["SELECT replace(replace(card_number, ' ', ''), '-', '')::numeric::int FROM customers", 'Query failed: numeric value out of range (SQLSTATE 22003)'],
    ["SELECT to_date(card_number, 'YYYY-MM-DD') FROM customers", expect.stringMatching(/^Query failed: .+ \(SQLSTATE 22\w{3}\)$/) as unknown as string],
  ])('keeps stored values out of the error for %s (query:no-value-in-errors)', async (sql, message) => {
    const error = await connector.run('shop', sql, [], { ...base, signal: signal() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).publicMessage).toEqual(message);
    // No stored value (a card number, or any part of one) in what the agent sees.
    expect((error as QueryFailedError).publicMessage).not.toMatch(/4111|5555|3782|6011|4012|5105|3530|4242|\d{6,}/);
  });

  it('keeps the duplicate key value out of a unique-violation error', async () => {
    const error = await connector
      .run('shop', "INSERT INTO customers (name, email, card_number, country) SELECT name, email, card_number, country FROM customers WHERE id = 1", [], { ...base, mode: 'write', signal: signal() })
      .catch((e: unknown) => e);
    expect((error as QueryFailedError).publicMessage).toBe('Query failed: unique violation (SQLSTATE 23505; schema public, table customers, constraint customers_email_key)');
  });
});

describe('query_sql connector when PostgreSQL goes away and comes back', () => {
  let server: EmbeddedPostgres;
  let own: PostgresConnector;
  beforeAll(async () => {
    server = await startEmbeddedPostgres();
    const demo = await seedDemoDatabase(server.adminUrl, 'outage');
    own = new PostgresConnector({ resolve: () => demo.url, connectTimeoutMs: 1000 });
  }, 60_000);
  afterAll(async () => {
    await own.close();
    await server.stop();
  });

  it('gives a clear error while it is down and recovers without a restart of airlock', async () => {
    expect((await own.run('shop', 'SELECT count(*)::int FROM products', [], { ...base, signal: signal() })).rows).toEqual([[6]]);
    await server.pause();
    const down = await own.run('shop', 'SELECT 1', [], { ...base, signal: signal() }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(UpstreamUnavailableError);
    expect((down as UpstreamUnavailableError).publicMessage).toBe('Database connection "shop" is unavailable right now; try again shortly.');
    await server.resume();
    let recovered: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      recovered = await own.run('shop', 'SELECT count(*)::int FROM products', [], { ...base, signal: signal() }).catch((e: unknown) => e);
      if (!(recovered instanceof Error)) break;
    }
    expect((recovered as { rows: unknown }).rows).toEqual([[6]]);
  }, 60_000);
});
