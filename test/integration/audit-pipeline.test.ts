import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord, AuditSink, StartedEntry } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { createGovernedServer } from '../../src/mcp/server.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import { parsePolicy } from '../../src/policy/load.js';
import { defineTool, type ToolDeps } from '../../src/tool.js';
import { tempDir } from '../support/airlock.js';

let runs = 0;
const probe = defineTool({
  name: 'probe',
  description: 'Test tool: echoes the number it is given and counts how many times it really ran.',
  input: z.strictObject({ n: z.int() }),
  annotations: { title: 'probe', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({}),
  execute(input) {
    runs++;
    return Promise.resolve({ kind: 'rows', columns: [{ name: 'n', type: 'int4' }], rows: [[input.n]], rowCount: 1, truncated: false });
  },
});
const registry = new ToolRegistry([probe]);
const policy = parsePolicy(JSON.stringify({ version: 1, rules: [{ id: 'probe', effect: 'allow', tools: ['probe'] }] }), 'policies.json', registry.names());
const deps = { sql: {}, classifySql: () => Promise.reject(new Error('unused')), hasConnection: () => false, accessFor: () => [], explain: () => ({}) } as unknown as ToolDeps;
const principal = parseDevIdentity('ana@example.com,analysts');

async function clientFor(sink: AuditSink, session: string): Promise<Client> {
  const pipeline = buildPipeline({ audit: sink, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
  const server = createGovernedServer({ name: 'airlock', version: 'test', registry, pipeline, clock: { now: () => Date.now() }, transport: 'in-memory', sessionId: () => session, credential: () => ({ kind: 'dev', principal }) });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('audit through the pipeline (real JSON store)', () => {
  it('gives 10,000 records and a verifying chain for 10,000 calls from 50 concurrent clients (audit:one-record-per-call)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { segmentBytes: 256 * 1024, journalCompactBytes: 512 * 1024 });
    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => clientFor(store, `s${i}`)));
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < 200; i++) {
          const args = i % 10 === 9 ? { n: 'bad' } : { n: c * 1000 + i };
          await client.callTool({ name: i % 25 === 24 ? 'nope' : 'probe', arguments: args });
        }
      }),
    );
    await Promise.all(clients.map((c) => c.close()));
    await store.close();
    const records = readRecords(dir);
    expect(records).toHaveLength(10_000);
    expect(new Set(records.map((r) => r.id)).size).toBe(10_000);
    const outcomes = records.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.outcome]: (acc[r.outcome] ?? 0) + 1 }), {});
    // Per client: 8 unknown tools (i % 25 = 24), 16 bad inputs (i % 10 = 9, minus the 4 already unknown).
    expect(outcomes).toEqual({ ok: 50 * 176, invalid: 50 * 16, unknown_tool: 50 * 8 });
    const report = verifyStore(dir);
    expect(report).toMatchObject({ ok: true, records: 10_000, open: 0 });
    expect(report.segments).toBeGreaterThan(1);
  }, 120_000);

  it('runs nothing when the started entry cannot be written (audit:started-before-execution)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    const started: StartedEntry[] = [];
    let failStart = false;
    const sink: AuditSink = {
      start: (entry) => (failStart ? Promise.reject(new Error('ENOSPC: no space left on device')) : store.start(entry).then(() => void started.push(entry))),
      append: (record: AuditRecord) => store.append(record),
    };
    const client = await clientFor(sink, 'sx');
    runs = 0;
    const ok = await client.callTool({ name: 'probe', arguments: { n: 1 } });
    expect(ok.isError).not.toBe(true);
    expect(runs).toBe(1);
    expect(started).toHaveLength(1);
    failStart = true;
    const refused = await client.callTool({ name: 'probe', arguments: { n: 2 } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('AUDIT_UNAVAILABLE');
    expect(runs).toBe(1);
    await client.close();
    await store.close();
    const records = readRecords(dir);
    expect(records.map((r) => [r.outcome, r.error?.code ?? null])).toEqual([
      ['ok', null],
      ['error', 'AUDIT_UNAVAILABLE'],
    ]);
    expect(records[1]?.error?.detail).toContain('started entry not written: ENOSPC');
  });
});
