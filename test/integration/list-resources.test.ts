/**
 * Issue 14: list_resources tells an agent where it may go. Through the real pipeline (identity, policy,
 * audit in the real JSON store) with the example policies.json and the server's own tool dependencies.
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
import { parsePolicy, type Policy } from '../../src/policy/load.js';
import { auditRecord, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

const registry = new ToolRegistry(ALL_TOOLS);
const example = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'policies.json', registry.names());

let auditDir: string;
let audit: JsonAuditStore;
let sql: PostgresConnector;
let seq = 0;

beforeAll(async () => {
  auditDir = join(tempDir(), 'audit');
  audit = await JsonAuditStore.open(auditDir);
  sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
});

afterAll(async () => {
  await sql?.close();
  await audit?.close();
});

async function listResources(who: string, policy: Policy = example): Promise<CallContext> {
  const run = buildPipeline({
    audit,
    tools: registry,
    policy: { current: () => policy },
    deps: toolDeps(() => policy, sql, sql, registry),
    clock: { now: () => Date.now() },
    onAuditFailure: () => undefined,
  });
  const ctx: CallContext = {
    id: `list-${++seq}-${Date.now()}`,
    startedAt: Date.now(),
    sessionId: 'session-1',
    transport: 'in-memory',
    toolName: 'list_resources',
    rawArguments: {},
    credential: { kind: 'dev', principal: parseDevIdentity(who) },
    signal: new AbortController().signal,
  };
  await run(ctx);
  return ctx;
}

const SHOP = 'Demo shop database (embedded PostgreSQL in `npm start`, or DATABASE_URL)';

describe('list_resources with the example policy', () => {
  it('shows an analyst the shop connection: reads run, writes need a DBA, and audits the call', async () => {
    const ctx = await listResources('ana@example.com,analysts');
    expect(ctx.error).toBeUndefined();
    expect(ctx.response?.structuredContent).toEqual({
      resources: [
        {
          kind: 'connection',
          name: 'shop',
          description: SHOP,
          access: [
            { tool: 'query_sql', effect: 'allow', sqlClasses: ['read'], conditional: false },
            { tool: 'query_sql', effect: 'approve', sqlClasses: ['write', 'server_state'], approverGroups: ['dba'], conditional: false },
          ],
        },
        // The demo bucket and log scopes (issue 18): object globs that run, need approval or are never read; forced log filters.
        {
          kind: 'bucket',
          name: 'data',
          description: "Demo bucket (a local Cloud Storage server in `npm start`): the app's logs and assets, config files, customer exports",
          access: [
            { tool: 'read_bucket', effect: 'allow', conditional: true, objects: ['app/**', 'config/*.json'], deniedObjects: ['**/*.pem', '**/*.p12'] },
            { tool: 'read_bucket', effect: 'approve', approverGroups: ['dpo', 'dba'], conditional: true, objects: ['exports/**'], deniedObjects: ['**/*.pem', '**/*.p12'] },
          ],
        },
        {
          kind: 'log_scope',
          name: 'prod-logs',
          description: 'The checkout service on Cloud Run: application and request logs (a local Cloud Logging server in `npm start`)',
          access: [{ tool: 'tail_logs', effect: 'allow', conditional: true, logNames: ['app', 'requests'], logFilters: ['resource.type="cloud_run_revision"', 'severity>=INFO'] }],
        },
        {
          kind: 'log_scope',
          name: 'audit-logs',
          description: 'Admin Activity audit log of the demo project: who changed what, with request bodies',
          access: [{ tool: 'tail_logs', effect: 'approve', approverGroups: ['dba'], conditional: true, logNames: ['cloudaudit.googleapis.com/activity'] }],
        },
      ],
      auditId: ctx.id,
    });
    expect(ctx.response?.content[0]?.text).toBe(
      [
        'You may use 4 resources (anything not listed is denied):',
        `connection "shop": ${SHOP}`,
        '  query_sql: read runs; write, server_state needs approval (approvers: dba)',
        'bucket "data": Demo bucket (a local Cloud Storage server in `npm start`): the app\'s logs and assets, config files, customer exports',
        '  read_bucket: objects app/**, config/*.json: runs; objects exports/**: needs approval (approvers: dpo, dba)',
        '    never: **/*.pem, **/*.p12',
        'log scope "prod-logs": The checkout service on Cloud Run: application and request logs (a local Cloud Logging server in `npm start`)',
        '  tail_logs: runs',
        '    logs: app, requests',
        '    always filtered by: (resource.type="cloud_run_revision") AND (severity>=INFO)',
        'log scope "audit-logs": Admin Activity audit log of the demo project: who changed what, with request bodies',
        '  tail_logs: needs approval (approvers: dba)',
        '    logs: cloudaudit.googleapis.com/activity',
      ].join('\n'),
    );
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({
      tool: 'list_resources',
      outcome: 'ok',
      principal: { email: 'ana@example.com', groups: ['analysts'] },
      decision: { effect: 'allow', ruleIds: ['everyone-introspection'] },
    });
  });

  it('shows a caller that may use nothing no resource at all, not even its name', async () => {
    const ctx = await listResources('bob@example.com,sales');
    expect(ctx.response?.structuredContent).toEqual({ resources: [], auditId: ctx.id });
    expect(ctx.response?.content[0]?.text).toBe('No resources: policy lets you use no connection, bucket or log scope through airlock.');
    expect(JSON.stringify(ctx.response)).not.toContain('shop');
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({ tool: 'list_resources', outcome: 'ok', decision: { effect: 'allow' } });
  });

  it('is refused like any tool when no rule allows it (default deny), and audited', async () => {
    const policy = parsePolicy(JSON.stringify({ version: 1, rules: [] }), 'policies.json', registry.names());
    const ctx = await listResources('ana@example.com,analysts', policy);
    expect(ctx.error?.code).toBe('POLICY_DENIED');
    expect(ctx.error?.publicMessage).toBe('Denied by policy: no rule allows this call (default deny).');
    expect(auditRecord(auditDir, ctx.id)).toMatchObject({ tool: 'list_resources', outcome: 'denied', error: { code: 'POLICY_DENIED' } });
  });
});

describe('list_resources with several resources and narrowed rules', () => {
  const policy = parsePolicy(
    JSON.stringify({
      version: 1,
      resources: {
        connections: {
          shop: { url: 'env:SHOP_URL', description: 'Shop' },
          hr: { url: 'env:HR_URL' },
          finance: { url: 'env:FIN_URL', description: 'Finance' },
        },
        buckets: { exports: { bucket: 'acme-exports', description: 'CSV exports' } },
      },
      rules: [
        { id: 'introspection', effect: 'allow', tools: ['list_resources'] },
        { id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop', 'hr'], sql: { classes: ['read'] } },
        { id: 'hr-not-salaries', effect: 'deny', tools: ['query_sql'], resources: ['hr'], sql: { tables: ['salaries'] }, reason: 'Salaries are off limits.' },
        { id: 'ddl', effect: 'approve', principals: { groups: ['dba'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['ddl', 'write'] }, approval: { approverGroups: ['dba-leads'] } },
      ],
    }),
    'policies.json',
    registry.names(),
  );

  it('lists only what this caller may use, merges classes with one effect, and flags narrowed rules', async () => {
    const ctx = await listResources('ana@example.com,analysts', policy);
    expect(ctx.response?.structuredContent).toEqual({
      resources: [
        { kind: 'connection', name: 'shop', description: 'Shop', access: [{ tool: 'query_sql', effect: 'allow', sqlClasses: ['read'], conditional: false }] },
        { kind: 'connection', name: 'hr', access: [{ tool: 'query_sql', effect: 'allow', sqlClasses: ['read'], conditional: true }] },
      ],
      auditId: ctx.id,
    });
    expect(ctx.response?.content[0]?.text).toBe(
      [
        'You may use 2 resources (anything not listed is denied):',
        'connection "shop": Shop',
        '  query_sql: read runs',
        'connection "hr"',
        '  query_sql: read runs (some tables, columns or functions may be restricted: explain_policy tells for one call)',
      ].join('\n'),
    );
  });

  it('shows a DBA its own grants: write and ddl need the leads’ approval', async () => {
    const ctx = await listResources('dee@example.com,dba', policy);
    expect(ctx.response?.structuredContent).toEqual({
      resources: [{ kind: 'connection', name: 'shop', description: 'Shop', access: [{ tool: 'query_sql', effect: 'approve', sqlClasses: ['write', 'ddl'], approverGroups: ['dba-leads'], conditional: false }] }],
      auditId: ctx.id,
    });
  });
});
