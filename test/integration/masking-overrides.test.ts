import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import type { Principal } from '../../src/identity/principal.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { explainCall } from '../../src/policy/explain.js';
import { parsePolicy } from '../../src/policy/load.js';
import { classifySql, loadSqlParser } from '../../src/policy/sql/classify.js';
import type { ToolDeps } from '../../src/tool.js';
import { tempDir } from '../support/airlock.js';

/** Masking overrides through the real pipeline: real PostgreSQL (the demo shop), the real audit store. */
const registry = new ToolRegistry(ALL_TOOLS);
const policy = parsePolicy(
  JSON.stringify({
    version: 1,
    resources: { connections: { shop: { url: 'env:DATABASE_URL' } } },
    rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts', 'support'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } }],
    masking: {
      detectors: ['CREDIT_CARD', 'EMAIL'],
      overrides: [{ id: 'support-sees-email', description: 'support answers customers by email', principals: { groups: ['support'] }, resources: ['shop'], remove: ['EMAIL'] }],
    },
  }),
  'policies.json',
  registry.names(),
);
const sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
const deps: ToolDeps = { sql, classifySql: async (text, c) => classifySql(text, await sql.catalog(c)), hasConnection: (n) => n === 'shop', accessFor: () => [], explain: () => { throw new Error('unused'); } };
const analyst = parseDevIdentity('ana@example.com,analysts');
const support = parseDevIdentity('sam@example.com,support');
let store: JsonAuditStore;
let n = 0;

async function query(principal: Principal): Promise<CallContext> {
  const ctx: CallContext = {
    id: `call-${++n}`,
    startedAt: Date.now(),
    sessionId: 'session-1',
    transport: 'in-memory',
    toolName: 'query_sql',
    rawArguments: { connection: 'shop', sql: 'SELECT email, card_number FROM customers WHERE id = $1', params: [1] },
    credential: { kind: 'dev', principal },
    signal: new AbortController().signal,
  };
  await buildPipeline({ audit: store, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined })(ctx);
  return ctx;
}

beforeAll(async () => {
  await loadSqlParser();
  store = await JsonAuditStore.open(join(tempDir(), 'audit'));
});
afterAll(async () => {
  await store.close();
  await sql.close();
});

describe('masking overrides (real pipeline, PostgreSQL and audit store)', () => {
  it("masks e-mail addresses for analysts, shows them to support on shop, and records the override", async () => {
    const forAnalyst = await query(analyst);
    const forSupport = await query(support);
    const rowOf = (ctx: CallContext): unknown[] => ((ctx.response?.structuredContent as { rows: unknown[][] }).rows[0] ?? []);
    expect(rowOf(forAnalyst)[0]).toBe('[EMAIL_1]');
    expect(rowOf(forSupport)[0]).toMatch(/^[a-z.]+@example\.com$/);
    // Cards stay masked for both: the override removes EMAIL only.
    expect(rowOf(forSupport)[1]).toBe('**** **** **** 1111');
    const records = await store.records();
    const recordOf = (ctx: CallContext) => records.find((r) => r.id === ctx.id);
    expect(recordOf(forAnalyst)?.result).toMatchObject({ findings: { EMAIL: 1, CREDIT_CARD: 1 } });
    expect(recordOf(forAnalyst)?.result).not.toHaveProperty('maskingOverrides');
    expect(recordOf(forSupport)?.result).toMatchObject({ findings: { CREDIT_CARD: 1 }, maskingOverrides: ['support-sees-email'] });
  });

  it('explains which detectors a call would run with, and why', async () => {
    const e = await explainCall({ policy, tools: registry, deps, principal: support, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT email FROM customers' } });
    expect(e.masking).toEqual({ detectors: ['CREDIT_CARD'], overrides: ['support-sees-email'] });
    const forAnalyst = await explainCall({ policy, tools: registry, deps, principal: analyst, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT email FROM customers' } });
    expect(forAnalyst.masking).toEqual({ detectors: ['CREDIT_CARD', 'EMAIL'], overrides: [] });
  });
});
