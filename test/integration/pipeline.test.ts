import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import type { AuditRecord, AuditSink, StartedEntry } from '../../src/audit/record.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext, CallEvent } from '../../src/pipeline/context.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { parsePolicy } from '../../src/policy/load.js';
import { classifySql, loadSqlParser } from '../../src/policy/sql/classify.js';
import { sensitiveColumns } from '../../src/policy/sensitive.js';
import type { ToolDeps } from '../../src/tool.js';
import { EXAMPLE_POLICY } from '../support/airlock.js';
import { readFileSync } from 'node:fs';

const registry = new ToolRegistry(ALL_TOOLS);
const policy = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'policies.json', registry.names());
const sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
const deps: ToolDeps = { sql, classifySql: async (text, c) => classifySql(text, await sql.catalog(c)), hasConnection: (n) => n === 'shop', accessFor: () => [], explain: () => { throw new Error('unused'); } };
const ana = parseDevIdentity('ana@example.com,analysts');

/** A sink at the store boundary: records in memory, or fails like a full disk. */
class MemorySink implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly started: StartedEntry[] = [];
  failing = false;
  start(entry: StartedEntry): Promise<void> {
    if (this.failing) return Promise.reject(new Error('ENOSPC: no space left on device'));
    this.started.push(entry);
    return Promise.resolve();
  }
  append(record: AuditRecord): Promise<void> {
    if (this.failing) return Promise.reject(new Error('ENOSPC: no space left on device'));
    this.records.push(record);
    return Promise.resolve();
  }
}

let clockNow = 1_000_000;
function call(sink: AuditSink, toolName: string, args: unknown, failures: string[] = [], report?: (event: CallEvent) => void): Promise<CallContext> {
  const run = buildPipeline({
    audit: sink,
    tools: registry,
    policy: { current: () => policy },
    deps,
    clock: { now: () => (clockNow += 5) },
    onAuditFailure: (_e, id) => failures.push(id),
  });
  const ctx: CallContext = {
    id: `call-${clockNow}`,
    startedAt: clockNow,
    sessionId: 'session-1',
    transport: 'in-memory',
    toolName,
    rawArguments: args,
    credential: { kind: 'dev', principal: ana },
    signal: new AbortController().signal,
    ...(report === undefined ? {} : { report }),
  };
  return run(ctx).then(() => ctx);
}

beforeAll(async () => {
  await loadSqlParser();
});
afterAll(async () => {
  await sql.close();
});

describe('buildPipeline (real PostgreSQL, in-memory audit sink)', () => {
  it('records the outcome, decision, facts and the masked response of a successful call', async () => {
    const sink = new MemorySink();
    const ctx = await call(sink, 'query_sql', { connection: 'shop', sql: 'SELECT card_number FROM customers WHERE id = 2' });
    expect(ctx.response?.isError).toBeUndefined();
    expect(sink.records).toHaveLength(1);
    const record = sink.records[0];
    expect(record).toMatchObject({
      id: ctx.id,
      outcome: 'ok',
      durationMs: 5,
      facts: { sql: { class: 'read', tables: ['customers'] } },
      decision: { effect: 'allow', policyVersion: policy.version },
      result: { rowCount: 1, maskedColumns: ['card_number'], findings: { SENSITIVE_COLUMN: 1 } },
    });
    // The example policy declares customers.card_number sensitive (issue 15): masked whole by lineage.
    expect((record?.response as { body?: { structuredContent?: { rows?: unknown } } }).body?.structuredContent?.rows).toEqual([['[MASKED]']]);
    expect(JSON.stringify(record)).not.toContain('5555-5555-5555-4444');
    expect(JSON.stringify(record)).not.toContain('4444');
  });

  it('fails closed when the audit store cannot write: no data is returned (audit:fail-closed)', async () => {
    const sink = new MemorySink();
    sink.failing = true;
    const failures: string[] = [];
    const ctx = await call(sink, 'query_sql', { connection: 'shop', sql: 'SELECT name FROM customers' }, failures);
    expect(ctx.response?.isError).toBe(true);
    expect(ctx.response?.content[0]?.text).toBe(`The audit log is unavailable, so the call was not run.\n[code: AUDIT_UNAVAILABLE; audit id: ${ctx.id}]`);
    expect(ctx.response?.structuredContent).toBeUndefined();
    expect(JSON.stringify(ctx.response)).not.toContain('Ana Silva');
    expect(failures).toEqual([ctx.id]);
  });

  it('keeps card numbers out of the audit even when Postgres echoes them in an error', async () => {
    const sink = new MemorySink();
    const ctx = await call(sink, 'query_sql', { connection: 'shop', sql: 'SELECT card_number::bigint FROM customers WHERE id = 1' });
    expect(ctx.error?.code).toBe('QUERY_FAILED');
    const record = sink.records[0];
    expect(record?.error?.detail).toBe('invalid input syntax for type bigint: "[CREDIT_CARD]"');
    expect(JSON.stringify(record)).not.toContain('4111 1111 1111 1111');
  });
});

describe('buildPipeline with sensitive columns (lineage, real PostgreSQL)', () => {
  const lineagePolicy = parsePolicy(
    JSON.stringify({
      version: 1,
      resources: { connections: { shop: { url: 'env:X' } } },
      rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], sql: { classes: ['read'] } }],
      masking: { detectors: ['CREDIT_CARD'], style: 'last4', columns: ['customers.card_number', 'customers.email'], sensitiveUse: { approverGroups: ['security'] } },
    }),
    'policies.json',
    registry.names(),
  );
  const sensitive = sensitiveColumns(lineagePolicy.file.masking.columns);
  const lineageDeps: ToolDeps = { ...deps, classifySql: async (text, c) => classifySql(text, await sql.catalog(c), sensitive) };

  function run(sqlText: string, sink = new MemorySink()): Promise<{ ctx: CallContext; sink: MemorySink }> {
    const pipeline = buildPipeline({
      audit: sink,
      tools: registry,
      policy: { current: () => lineagePolicy },
      deps: lineageDeps,
      clock: { now: () => Date.now() },
      onAuditFailure: () => undefined,
    });
    const ctx: CallContext = {
      id: `lineage-${Math.random()}`,
      startedAt: Date.now(),
      sessionId: 's',
      transport: 'in-memory',
      toolName: 'query_sql',
      rawArguments: { connection: 'shop', sql: sqlText },
      credential: { kind: 'dev', principal: ana },
      signal: new AbortController().signal,
    };
    return pipeline(ctx).then(() => ({ ctx, sink }));
  }

  it('masks every output derived from a sensitive column whole, whatever it looks like (masking:lineage)', async () => {
    const { ctx, sink } = await run("SELECT name, lower(email) AS e, md5(card_number) AS h FROM customers WHERE id = 1");
    expect(ctx.response?.structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]', '[MASKED]']], masked: ['e', 'h'] });
    expect(sink.records[0]?.result).toMatchObject({ maskedColumns: ['e', 'h'], findings: { SENSITIVE_COLUMN: 2 } });
  });

  it('masks whole-row references and views alike', async () => {
    const { ctx } = await run('SELECT row_to_json(c) AS r FROM customers c WHERE id = 1');
    expect(ctx.response?.structuredContent).toMatchObject({ rows: [['[MASKED]']], masked: ['r'] });
  });

  it('sends a query that filters on a sensitive column to approval, naming the column (masking:sensitive-use-approval)', async () => {
    const { ctx, sink } = await run("SELECT count(*) FROM customers WHERE card_number LIKE '4111%'");
    expect(ctx.error?.code).toBe('APPROVAL_REQUIRED');
    expect(ctx.response?.content[0]?.text).toContain(
      'Approval required: The query uses sensitive column public.customers.card_number outside its output (filters, joins, ordering, grouping, copies into other columns or errors can reveal values). A human approver (security) must approve this exact call; it was not run.',
    );
    expect(sink.records[0]).toMatchObject({ outcome: 'approval_required', facts: { sql: { lineage: { sensitiveUsedOutside: ['public.customers.card_number'] } } } });
  });

  it('leaves queries that touch no sensitive column alone', async () => {
    const { ctx } = await run('SELECT id, name FROM customers WHERE id = 2');
    expect(ctx.response?.structuredContent).toMatchObject({ rows: [[2, 'Ben Okafor']], masked: [] });
  });
});

describe('CallContext.report (issue 16)', () => {
  const events = async (toolName: string, args: unknown): Promise<{ ctx: CallContext; events: CallEvent[] }> => {
    const seen: CallEvent[] = [];
    const ctx = await call(new MemorySink(), toolName, args, [], (e) => seen.push(e));
    return { ctx, events: seen };
  };

  it('reports each step of a governed call and what was masked, with no SQL text and no values', async () => {
    const { ctx, events: seen } = await events('query_sql', { connection: 'shop', sql: "SELECT name, card_number, 'paid with 4111 1111 1111 1111' AS memo FROM customers WHERE name = 'Ana Silva'" });
    expect(ctx.response?.isError).toBeUndefined();
    expect(seen).toEqual([
      { kind: 'progress', step: 'decided', message: 'Policy allowed the call (analysts-read-shop)' },
      { kind: 'progress', step: 'started', message: 'Running query_sql on shop' },
      { kind: 'progress', step: 'finished', message: 'Read 1 row' },
      { kind: 'progress', step: 'masked', message: 'Result masked' },
      { kind: 'log', level: 'info', message: 'Masked 2 values (SENSITIVE_COLUMN 1, CREDIT_CARD 1) in columns: card_number, memo' },
    ]);
    const text = JSON.stringify(seen);
    for (const leak of ['Ana', 'Silva', '4111', 'SELECT', 'paid with']) expect(text).not.toContain(leak);
  });

  it('warns when the result was cut, with the row count and the limit, never the rows', async () => {
    const { events: seen } = await events('query_sql', { connection: 'shop', sql: 'SELECT id FROM customers ORDER BY id', maxRows: 2 });
    expect(seen.filter((e) => e.kind === 'log')).toEqual([
      { kind: 'log', level: 'warning', message: 'Result truncated at 2 rows. Only the first 2 rows are shown. Narrow the query (WHERE, LIMIT, fewer columns) to see the rest.' },
    ]);
    expect(seen.at(-1)).toEqual({ kind: 'progress', step: 'masked', message: 'Result checked: nothing to mask' });
  });

  it('reports nothing for a denied call, and only the decision for one that needs approval', async () => {
    expect((await events('query_sql', { connection: 'shop', sql: 'DROP TABLE customers' })).events).toEqual([]);
    const approval = await events('query_sql', { connection: 'shop', sql: "UPDATE customers SET name = 'x' WHERE id = 1" });
    expect(approval.ctx.error?.code).toBe('APPROVAL_REQUIRED');
    expect(approval.events).toEqual([{ kind: 'progress', step: 'decided', message: 'Policy requires a human approval (writes-need-dba-approval)' }]);
  });

  it('reports a non-row tool as finished', async () => {
    const { events: seen } = await events('whoami', {});
    expect(seen.map((e) => e.kind === 'progress' && e.message)).toEqual(['Policy allowed the call (everyone-introspection)', 'Running whoami', 'Tool finished', 'Result checked: nothing to mask']);
  });
});
