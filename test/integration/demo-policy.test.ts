/**
 * Issue 15 (points 8, 9, 10) through the shipped demo policy, the server's own tool dependencies, real
 * PostgreSQL and the real JSON audit store: card numbers transformed past content detection are masked
 * by lineage, server statistics need a DBA, and whole-table writes hidden behind constant conditions are
 * denied. Every refusal has exactly one audit record under the caller.
 */
import { readFileSync } from 'node:fs';
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
import { evaluate } from '../../src/policy/evaluate.js';
import { parsePolicy } from '../../src/policy/load.js';
import { callScope } from '../../src/policy/scope.js';
import { loadSqlParser } from '../../src/policy/sql/classify.js';
import type { CallFacts, RowsResult } from '../../src/tool.js';
import { EXAMPLE_POLICY, readAudit, tempDir } from '../support/airlock.js';

const registry = new ToolRegistry(ALL_TOOLS);
const policy = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'policies.json', registry.names());
let sql: PostgresConnector;
let audit: JsonAuditStore;
let auditDir: string;
let run: (ctx: CallContext) => Promise<void>;
let seq = 0;

beforeAll(async () => {
  await loadSqlParser();
  sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
  auditDir = join(tempDir(), 'audit');
  audit = await JsonAuditStore.open(auditDir);
  run = buildPipeline({ audit, tools: registry, policy: { current: () => policy }, deps: toolDeps(() => policy, sql, sql, registry), clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
});

afterAll(async () => {
  await sql?.close();
  await audit?.close();
});

async function query(statement: string, who = 'ana@example.com,analysts'): Promise<CallContext> {
  const ctx: CallContext = {
    id: `demo-${++seq}-${Date.now()}`,
    startedAt: Date.now(),
    sessionId: 'session-demo',
    transport: 'in-memory',
    toolName: 'query_sql',
    rawArguments: { connection: 'shop', sql: statement },
    credential: { kind: 'dev', principal: parseDevIdentity(who) },
    signal: new AbortController().signal,
  };
  await run(ctx);
  return ctx;
}

const CARD_DIGITS = /4111[\s-]?1111[\s-]?1111[\s-]?1111|1111[\s-]?1111[\s-]?1111[\s-]?1114|5555[\s-]?5555[\s-]?5555[\s-]?4444|4444[\s-]?5555/;

/** Outputs derived from customers.card_number that content detection alone does not recognise. */
const TRANSFORMED: [string, string][] = [
  ['reversed', 'SELECT id, reverse(card_number) AS c FROM customers ORDER BY id LIMIT 3'],
  ['a letter glued on', "SELECT id, 'x' || card_number AS c FROM customers ORDER BY id LIMIT 3"],
  ['a digit appended', "SELECT id, card_number || '5' AS c FROM customers ORDER BY id LIMIT 3"],
  ['digits only, then a letter', "SELECT id, regexp_replace(card_number, '[^0-9]', '', 'g') || 'z' AS c FROM customers ORDER BY id LIMIT 3"],
  ['as JSON object keys', 'SELECT id, json_object_agg(card_number, 1) AS c FROM customers GROUP BY id ORDER BY id LIMIT 3'],
  ['as jsonb keys', 'SELECT id, jsonb_build_object(card_number, id) AS c FROM customers ORDER BY id LIMIT 3'],
  ['split into characters', "SELECT id, string_to_array(card_number, NULL) AS c FROM customers ORDER BY id LIMIT 3"],
  ['translated to full-width digits', "SELECT id, translate(card_number, '0123456789', '０１２３４５６７８９') AS c FROM customers ORDER BY id LIMIT 3"],
];

describe('the demo policy (issue 15)', () => {
  it.each(TRANSFORMED)('masks card numbers %s whole, by lineage', async (_name, statement) => {
    const ctx = await query(statement);
    expect(ctx.error).toBeUndefined();
    const rows = (ctx.result as RowsResult).rows;
    expect(rows.map((r) => r[1])).toEqual(['[MASKED]', '[MASKED]', '[MASKED]']);
    expect(JSON.stringify(ctx.response)).not.toMatch(CARD_DIGITS);
    expect(ctx.maskReport?.maskedColumns).toEqual(['c']);
  });

  it('still masks card numbers by content where no column rule reaches (a literal in the statement)', async () => {
    const ctx = await query("SELECT 'paid with 4111 1111 1111 1111' AS note, json_build_object('5555555555554444', 1) AS j");
    expect((ctx.result as RowsResult).rows).toEqual([['paid with **** **** **** 1111', { '************4444': 1 }]]);
  });

  it('sends statistics and activity views to a DBA, with one audit record under the caller', async () => {
    for (const statement of [
      "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'",
      'SELECT query FROM pg_stat_activity',
      'SELECT * FROM pg_locks',
      'SELECT * FROM pg_stat_get_activity(NULL)',
    ]) {
      const ctx = await query(statement);
      expect(ctx.error?.code, statement).toBe('APPROVAL_REQUIRED');
      expect(ctx.response?.content[0]?.text).toBe(
        `Approval required: Server statistics and activity views can show stored values and other callers' SQL; a DBA must approve reading them. A human approver (dba) must approve this exact call; it was not run.\n[code: APPROVAL_REQUIRED; audit id: ${ctx.id}]`,
      );
      const records = readAudit(auditDir).filter((r) => r.id === ctx.id);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        outcome: 'approval_required',
        principal: { email: 'ana@example.com', groups: ['analysts'] },
        decision: { effect: 'approve', ruleIds: ['server-state-needs-dba-approval'] },
        facts: { sql: { class: 'server_state' } },
      });
    }
  });

  it('denies whole-table writes hidden behind constant conditions, with one audit record under the caller', async () => {
    for (const statement of ['DELETE FROM orders WHERE true', 'UPDATE orders SET status = status WHERE 1 = 1', "DELETE FROM orders WHERE 't'", 'MERGE INTO orders o USING (SELECT 1 AS one) s ON true WHEN MATCHED THEN DELETE']) {
      const ctx = await query(statement);
      expect(ctx.error?.code, statement).toBe('POLICY_DENIED');
      const records = readAudit(auditDir).filter((r) => r.id === ctx.id);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'denied', principal: { email: 'ana@example.com' }, decision: { effect: 'deny', ruleIds: ['no-schema-or-admin'] }, facts: { sql: { class: 'destructive' } } });
    }
    const { rows } = await sql.run('shop', 'SELECT count(*)::int AS n FROM orders', [], { mode: 'read', timeoutMs: 5000, maxRows: 1, maxBytes: 1024, signal: new AbortController().signal });
    expect(rows[0]?.[0]).toBeGreaterThan(0);
  });
});

describe('the demo policy on the demo bucket and log scopes (issue 18)', () => {
  const ana = { sub: 'ana@example.com', email: 'ana@example.com', groups: ['analysts'], issuer: 'dev', clientId: undefined, dev: true };
  const outsider = { sub: 'sam@example.com', email: 'sam@example.com', groups: ['support'], issuer: 'dev', clientId: undefined, dev: true };
  const bucket = (facts: Omit<CallFacts, 'resource'>, principal = ana): ReturnType<typeof evaluate> =>
    evaluate(policy, { principal, tool: 'read_bucket', facts: { resource: { kind: 'bucket', name: 'data' }, ...facts } });

  it.each([
    ['app/logs/api-2026-12-01.ndjson', 'allow', ['analysts-read-app-objects']],
    ['app/logs/worker.log.gz', 'allow', ['analysts-read-app-objects']],
    ['config/service.json', 'allow', ['analysts-read-app-objects']],
    ['exports/customers-2026-11.csv', 'approve', ['exports-need-dpo-approval']],
    ['exports/2026/all.csv', 'approve', ['exports-need-dpo-approval']],
    ['config/settings.txt', 'deny', []],
    ['config/nested/service.json', 'deny', []],
    ['app/certs/server.pem', 'deny', ['no-key-files']],
    ['server.pem', 'deny', ['no-key-files']],
    ['exports/keys/export.p12', 'deny', ['no-key-files']],
  ] as const)('read_bucket read of %s: %s', (object, effect, ruleIds) => {
    const decision = bucket({ object });
    expect(decision.effect).toBe(effect);
    expect(decision.ruleIds).toEqual(ruleIds);
  });

  it('sends exports to a DPO or a DBA, with the reason the agent sees', () => {
    const decision = bucket({ object: 'exports/customers-2026-11.csv' });
    expect(decision.approval?.approverGroups).toEqual(['dpo', 'dba']);
    expect(decision.reason).toBe('Customer exports hold personal data in bulk; a DPO or a DBA must approve reading one.');
  });

  it('shows a listing only the names a read could reach', () => {
    const listing = bucket({ listPrefix: '' });
    expect(listing.effect).toBe('allow');
    const scope = callScope(policy, ana, 'read_bucket', { resource: { kind: 'bucket', name: 'data' }, listPrefix: '' }, listing);
    const names = ['app/README.md', 'config/service.json', 'config/settings.txt', 'exports/customers-2026-11.csv', 'app/certs/server.pem'];
    expect(names.filter((n) => scope.objectVisible(n))).toEqual(['app/README.md', 'config/service.json', 'exports/customers-2026-11.csv']);
  });

  it('lets nobody outside analysts and DBAs read the bucket or the logs', () => {
    expect(bucket({ object: 'app/README.md' }, outsider).effect).toBe('deny');
    expect(bucket({ listPrefix: '' }, outsider).effect).toBe('deny');
    expect(evaluate(policy, { principal: outsider, tool: 'tail_logs', facts: { resource: { kind: 'log_scope', name: 'prod-logs' }, logNames: ['app', 'requests'] } }).effect).toBe('deny');
  });

  it('narrows the production logs by the scope filter and the analysts\' rule, and sends the audit log to a DBA', () => {
    const facts: CallFacts = { resource: { kind: 'log_scope', name: 'prod-logs' }, logNames: ['app', 'requests'], logFilter: 'severity>=ERROR' };
    const prod = evaluate(policy, { principal: ana, tool: 'tail_logs', facts });
    expect(prod).toMatchObject({ effect: 'allow', ruleIds: ['analysts-read-prod-logs'] });
    expect(prod.limits).toMatchObject({ maxRows: 200, maxWindowMs: 6 * 3600_000, maxFollowMs: 30_000 });
    expect(callScope(policy, ana, 'tail_logs', facts, prod).logFilters).toEqual(['resource.type="cloud_run_revision"', 'severity>=INFO']);
    const audit = evaluate(policy, { principal: ana, tool: 'tail_logs', facts: { resource: { kind: 'log_scope', name: 'audit-logs' }, logNames: ['cloudaudit.googleapis.com/activity'] } });
    expect(audit).toMatchObject({ effect: 'approve', ruleIds: ['audit-log-needs-dba-approval'] });
    expect(audit.approval?.approverGroups).toEqual(['dba']);
    expect(audit.limits.maxFollowMs).toBe(0);
  });
});
