import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import type { AuditRecord, AuditSink } from '../../src/audit/record.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { parsePolicy } from '../../src/policy/load.js';
import { classifySql, loadSqlParser } from '../../src/policy/sql/classify.js';
import type { ToolDeps } from '../../src/tool.js';
import { EXAMPLE_POLICY } from '../support/airlock.js';
import { readFileSync } from 'node:fs';

const registry = new ToolRegistry(ALL_TOOLS);
const policy = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'policies.json', registry.names());
const sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
const deps: ToolDeps = { sql, classifySql: async (text, c) => classifySql(text, await sql.functionCatalog(c)), hasConnection: (n) => n === 'shop', accessFor: () => [], explain: () => { throw new Error('unused'); } };
const ana = parseDevIdentity('ana@example.com,analysts');

/** A sink at the store boundary: records in memory, or fails like a full disk. */
class MemorySink implements AuditSink {
  readonly records: AuditRecord[] = [];
  failing = false;
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
      result: { rowCount: 1, maskedColumns: ['card_number'], findings: { CREDIT_CARD: 1 } },
    });
    expect(JSON.stringify(record)).toContain('****-****-****-4444');
    expect(JSON.stringify(record)).not.toContain('5555-5555-5555-4444');
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
