/**
 * Issue 14: what the agent is told. Syntax errors, parameter mistakes and an unreachable database, through
 * the real pipeline (real PostgreSQL, the real JSON audit store, the server's own tool dependencies).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { toolDeps } from '../../src/main.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { parsePolicy } from '../../src/policy/load.js';
import { loadSqlParser } from '../../src/policy/sql/classify.js';
import { auditRecord, tempDir } from '../support/airlock.js';

const registry = new ToolRegistry(ALL_TOOLS);

/** A policy with the example's rules over two connections: the test database and a closed port. */
function policyFor(deadUrlVar: string): ReturnType<typeof parsePolicy> {
  return parsePolicy(
    JSON.stringify({
      version: 1,
      resources: {
        connections: {
          shop: { description: 'Test shop database', url: 'env:SHOP_URL' },
          gone: { description: 'A database that is down', url: `env:${deadUrlVar}` },
        },
      },
      rules: [
        { id: 'introspection', effect: 'allow', tools: ['whoami', 'list_resources', 'explain_policy'] },
        { id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop', 'gone'], sql: { classes: ['read'] } },
        { id: 'no-ddl', effect: 'deny', tools: ['query_sql'], sql: { classes: ['ddl', 'destructive', 'privilege', 'admin', 'unparseable'] }, reason: 'Schema changes are not allowed.' },
      ],
    }),
    'policies.json',
    registry.names(),
  );
}

/** A loopback port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

let auditDir: string;
let audit: JsonAuditStore;
let sql: PostgresConnector;
let deadPort: number;
const unavailable: string[] = [];
let run: (ctx: CallContext) => Promise<void>;
let seq = 0;

beforeAll(async () => {
  await loadSqlParser();
  deadPort = await closedPort();
  const env: Record<string, string> = { SHOP_URL: inject('databaseUrl'), GONE_URL: `postgres://airlock:s3cret-pw@127.0.0.1:${deadPort}/shop` };
  const policy = policyFor('GONE_URL');
  auditDir = join(tempDir(), 'audit');
  audit = await JsonAuditStore.open(auditDir);
  sql = new PostgresConnector({
    resolve: (name) => {
      const ref = policy.file.resources.connections[name]?.url ?? '';
      return env[ref.slice('env:'.length)] ?? '';
    },
    onUnavailable: (name, host, error) => unavailable.push(`${name} ${host} ${error.message}`),
  });
  const deps = toolDeps(() => policy, sql, sql, registry);
  run = buildPipeline({ audit, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
});

afterAll(async () => {
  await sql?.close();
  await audit?.close();
});

async function call(toolName: string, args: unknown, who = 'ana@example.com,analysts'): Promise<CallContext> {
  const ctx: CallContext = {
    id: `call-${++seq}-${Date.now()}`,
    startedAt: Date.now(),
    sessionId: 'session-1',
    transport: 'in-memory',
    toolName,
    rawArguments: args,
    credential: { kind: 'dev', principal: parseDevIdentity(who) },
    signal: new AbortController().signal,
  };
  await run(ctx);
  return ctx;
}

const text = (ctx: CallContext): string => ctx.response?.content[0]?.text ?? '';

describe('query_sql: SQL that does not parse (INVALID_SQL)', () => {
  it('answers a syntax error with the parser message and position, not a policy denial, and audits it', async () => {
    const ctx = await call('query_sql', { connection: 'shop', sql: 'SELEC name FROM customers' });
    expect(ctx.error?.code).toBe('INVALID_SQL');
    expect(text(ctx)).toBe(
      `SQL syntax error at line 1, column 1 (character 1): syntax error at or near "SELEC". The statement was not run; fix it and call again.\n[code: INVALID_SQL; audit id: ${ctx.id}]`,
    );
    expect((ctx.response as { _meta?: unknown } | undefined)?._meta).toEqual({ 'airlock/error': { code: 'INVALID_SQL', auditId: ctx.id, position: 1, line: 1, column: 1 } });
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({
      tool: 'query_sql',
      outcome: 'invalid',
      error: { code: 'INVALID_SQL', message: 'SQL syntax error at line 1, column 1 (character 1): syntax error at or near "SELEC". The statement was not run; fix it and call again.' },
      decision: null,
      result: null,
    });
  });

  it('points at the line and column of an error on a later line', async () => {
    const ctx = await call('query_sql', { connection: 'shop', sql: 'SELECT name\nFROM customers\nWHERE id = = 1' });
    expect(ctx.error?.code).toBe('INVALID_SQL');
    expect(ctx.error?.publicMessage).toBe('SQL syntax error at line 3, column 12 (character 39): syntax error at or near "=". The statement was not run; fix it and call again.');
  });

  it('is the same answer for a principal no rule allows: the mistake is named before policy', async () => {
    const ctx = await call('query_sql', { connection: 'shop', sql: 'SELECT FROM WHERE' }, 'bob@example.com,sales');
    expect(ctx.error?.code).toBe('INVALID_SQL');
    expect(ctx.error?.publicMessage).toBe('SQL syntax error at line 1, column 13 (character 13): syntax error at or near "WHERE". The statement was not run; fix it and call again.');
  });

  it('explain_policy reports the syntax error too', async () => {
    const ctx = await call('explain_policy', { tool: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT (1' } });
    expect(ctx.response?.structuredContent).toMatchObject({
      effect: 'deny',
      error: { code: 'INVALID_SQL', message: 'SQL syntax error at line 1, column 10 (character 10): syntax error at end of input. The statement was not run; fix it and call again.' },
    });
  });
});

describe('query_sql: params that do not fit the statement (INVALID_INPUT)', () => {
  it.each([
    ['SELECT name FROM customers WHERE id = $1 OR id = $2', [1], 'params: the statement has 2 placeholders ($1, $2) but 1 value was given'],
    ['SELECT name FROM customers WHERE id = $1', undefined, 'params: the statement has 1 placeholder ($1) but 0 values were given'],
    ['SELECT name FROM customers WHERE id = 1', [1, 2], 'params: the statement has no placeholders but 2 values were given'],
    ['SELECT name FROM customers WHERE id = $1 OR id = $3', [1, 2, 3], 'sql: placeholders must be numbered $1, $2, … without gaps: the statement uses $1, $3 but not $2'],
  ])('names the caller’s mistake before anything runs: %s', async (statement, params, reason) => {
    const ctx = await call('query_sql', { connection: 'shop', sql: statement, ...(params === undefined ? {} : { params }) });
    expect(ctx.error?.code).toBe('INVALID_INPUT');
    expect(text(ctx)).toBe(`Invalid arguments for query_sql: ${reason}\n[code: INVALID_INPUT; audit id: ${ctx.id}]`);
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_INPUT' }, decision: null, result: null });
  });

  it('turns a placeholder Postgres cannot type (42P18) into INVALID_INPUT with the reason', async () => {
    const ctx = await call('query_sql', { connection: 'shop', sql: 'SELECT name FROM customers WHERE $1 IS NULL', params: [null] });
    expect(ctx.error?.code).toBe('INVALID_INPUT');
    expect(ctx.error?.publicMessage).toBe(
      'Invalid arguments for query_sql: sql: could not determine data type of parameter $1 (SQLSTATE 42P18, indeterminate datatype); give the placeholder a type with a cast, e.g. $1::text or $1::int',
    );
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_INPUT' }, decision: { effect: 'allow' } });
  });

  it.each([
    ['SELECT CASE WHEN id = 1 THEN id ELSE name END FROM customers', 'CASE types text and integer cannot be matched (SQLSTATE 42804, datatype mismatch)'],
    ['SELECT id::point FROM customers', 'cannot cast type integer to point (SQLSTATE 42846, cannot coerce)'],
  ])('names a type error of the statement itself as INVALID_INPUT, with the reason: %s', async (statement, reason) => {
    const ctx = await call('query_sql', { connection: 'shop', sql: statement });
    expect(ctx.error?.code).toBe('INVALID_INPUT');
    expect(ctx.error?.publicMessage).toBe(`Invalid arguments for query_sql: sql: ${reason}`);
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_INPUT' } });
  });

  it('still keeps stored values out of errors that may echo them: QUERY_FAILED (query:no-value-in-errors)', async () => {
    const ctx = await call('query_sql', { connection: 'shop', sql: 'SELECT card_number::bigint FROM customers WHERE id = $1', params: [1] });
    expect(ctx.error?.code).toBe('QUERY_FAILED');
    expect(ctx.error?.publicMessage).toBe('Query failed: invalid text representation (SQLSTATE 22P02)');
  });

  it('maps a bind count error from the server (08P01) to INVALID_INPUT, not "unavailable"', async () => {
    const error = await sql
      .run('shop', 'SELECT $1::int AS a, $2::int AS b', [1], { mode: 'read', maxRows: 10, maxBytes: 10_000, timeoutMs: 5000, signal: new AbortController().signal })
      .then(() => undefined, (e: unknown) => e as { code?: string; publicMessage?: string });
    expect(error?.code).toBe('INVALID_INPUT');
    expect(error?.publicMessage).toBe('Invalid arguments for query_sql: params: bind message supplies 1 parameters, but prepared statement "" requires 2 (SQLSTATE 08P01)');
  });
});

describe('an unreachable database (UPSTREAM_UNAVAILABLE)', () => {
  it('tells the operator which connection and host, and the agent a clear retryable error', async () => {
    unavailable.length = 0;
    const ctx = await call('query_sql', { connection: 'gone', sql: 'SELECT 1' });
    expect(ctx.error?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(text(ctx)).toBe(`Database connection "gone" is unavailable right now; try again shortly.\n[code: UPSTREAM_UNAVAILABLE; audit id: ${ctx.id}]`);
    expect(unavailable).toEqual([`gone 127.0.0.1:${deadPort} connect ECONNREFUSED 127.0.0.1:${deadPort}`]);
    expect(unavailable.join('\n')).not.toContain('s3cret-pw');
    const record = auditRecord(auditDir, ctx.id);
    expect(record).toMatchObject({ outcome: 'error', error: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(JSON.stringify(record)).not.toContain('s3cret-pw');
  });
});
