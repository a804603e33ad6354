import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { readRecords } from '../../src/audit/read.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { createGovernedServer } from '../../src/mcp/server.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import { parsePolicy, type Policy } from '../../src/policy/load.js';
import type { SqlFacts } from '../../src/policy/sql/classify.js';
import { defineTool, type ToolDeps } from '../../src/tool.js';
import { tempDir } from '../support/airlock.js';

/** One statement's facts, shared and frozen as the classifier cache hands them to every repeat of it. */
const statement = Object.freeze({ class: 'read', classesSeen: Object.freeze(['read']), statementType: 'SelectStmt', tables: Object.freeze(['public.customers']), tablesWritten: Object.freeze([]), functions: Object.freeze([]), reason: '' }) as unknown as SqlFacts;

let runs = 0;
const lookup = defineTool({
  name: 'query_sql',
  description: 'Test tool standing in for query_sql: one repeated read of the shop connection.',
  input: z.strictObject({ n: z.int() }),
  annotations: { title: 'lookup', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({ resource: { kind: 'connection', name: 'shop' }, sql: statement }),
  execute(input) {
    runs++;
    return Promise.resolve({ kind: 'rows', columns: [{ name: 'n', type: 'int4' }], rows: [[input.n]], rowCount: 1, truncated: false });
  },
});
const registry = new ToolRegistry([lookup]);
const resources = { connections: { shop: { url: 'env:DATABASE_URL' } } };
const allowing = parsePolicy(JSON.stringify({ version: 1, resources, rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } }] }), 'policies.json', registry.names());
const freezing = parsePolicy(
  JSON.stringify({ version: 1, resources, rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'] }, { id: 'freeze', effect: 'deny', tools: ['query_sql'], resources: ['shop'], reason: 'shop is frozen.' }] }),
  'policies.json',
  registry.names(),
);
const deps = { sql: {}, classifySql: () => Promise.reject(new Error('unused')), hasConnection: () => true, accessFor: () => [], explain: () => ({}) } as unknown as ToolDeps;

describe('policy decisions of repeated statements, through the pipeline', () => {
  it('records each call with its own principal and the decision of the policy in force, and the chain verifies (issue 19)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    let current: Policy = allowing;
    const pipeline = buildPipeline({ audit: store, tools: registry, policy: { current: () => current }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
    const clients: Client[] = [];
    const connect = async (identity: string, session: string): Promise<Client> => {
      const principal = parseDevIdentity(identity);
      const server = createGovernedServer({ name: 'airlock', version: 'test', registry, pipeline, clock: { now: () => Date.now() }, transport: 'in-memory', sessionId: () => session, credential: () => ({ kind: 'dev', principal }) });
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      const client = new Client({ name: 'test', version: '1.0.0' });
      await client.connect(clientSide);
      clients.push(client);
      return client;
    };
    runs = 0;
    try {
      const ana = await connect('ana@example.com,analysts', 's-ana');
      const bob = await connect('bob@example.com,sales', 's-bob');
      for (let n = 1; n <= 3; n++) expect((await ana.callTool({ name: 'query_sql', arguments: { n } })).isError).toBeFalsy();
      expect((await bob.callTool({ name: 'query_sql', arguments: { n: 4 } })).isError).toBe(true);
      expect((await ana.callTool({ name: 'query_sql', arguments: { n: 5 } })).isError).toBeFalsy();
      // The policy is reloaded: the same statement by the same caller is now decided by the new one.
      current = freezing;
      expect((await ana.callTool({ name: 'query_sql', arguments: { n: 6 } })).isError).toBe(true);
      current = allowing;
      expect((await ana.callTool({ name: 'query_sql', arguments: { n: 7 } })).isError).toBeFalsy();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await store.close();
    }
    expect(runs).toBe(5);
    const records = readRecords(dir);
    expect(records.map((r) => [(r.input as { n: number }).n, r.principal?.sub, r.outcome, r.decision?.ruleIds, r.decision?.policyVersion])).toEqual([
      [1, 'ana@example.com', 'ok', ['read'], allowing.version],
      [2, 'ana@example.com', 'ok', ['read'], allowing.version],
      [3, 'ana@example.com', 'ok', ['read'], allowing.version],
      [4, 'bob@example.com', 'denied', [], allowing.version],
      [5, 'ana@example.com', 'ok', ['read'], allowing.version],
      [6, 'ana@example.com', 'denied', ['freeze'], freezing.version],
      [7, 'ana@example.com', 'ok', ['read'], allowing.version],
    ]);
    expect(records[3]?.principal).toEqual({ issuer: 'airlock:dev-identity', sub: 'bob@example.com', email: 'bob@example.com', groups: ['sales'], dev: true });
    expect(records[5]?.decision).toEqual({ effect: 'deny', ruleIds: ['freeze'], reason: 'shop is frozen.', policyVersion: freezing.version });
    expect(records[6]?.decision).toEqual({ effect: 'allow', ruleIds: ['read'], reason: 'allowed by read', policyVersion: allowing.version });
    expect(records[0]?.facts).toEqual({ resource: { kind: 'connection', name: 'shop' }, sql: JSON.parse(JSON.stringify(statement)) as unknown });
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 7, open: 0, problems: [] });
  });
});
