import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import type { AuditRecord, AuditSink, StartedEntry } from '../../src/audit/record.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
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
function call(sink: AuditSink, toolName: string, args: unknown, failures: string[] = []): Promise<CallContext> {
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
