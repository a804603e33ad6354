import { createHash } from 'node:crypto';
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
import type { CallContext } from '../../src/pipeline/context.js';
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

describe('every outcome, one complete record (real JSON store)', () => {
  it('writes exactly one complete, chained record per call for each outcome type (audit:one-record-per-call)', async () => {
    const { QueryFailedError, TimeoutError, CancelledError } = await import('../../src/errors.js');
    const { JsonAuditStore: Store } = await import('../../src/audit/store.js');
    const behave = defineTool({
      name: 'behave',
      description: 'Test tool: succeeds, fails, times out or is cancelled on request, to exercise every outcome.',
      input: z.strictObject({ as: z.enum(['ok', 'error', 'timeout', 'cancel']) }),
      annotations: { title: 'behave', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      facts: () => ({}),
      execute(input) {
        if (input.as === 'error') return Promise.reject(new QueryFailedError('boom'));
        if (input.as === 'timeout') return Promise.reject(new TimeoutError(50));
        if (input.as === 'cancel') return Promise.reject(new CancelledError());
        return Promise.resolve({ kind: 'rows', columns: [{ name: 'x', type: 'int4' }], rows: [[1]], rowCount: 1, truncated: false });
      },
    });
    const tools = new ToolRegistry([behave, probe]);
    const rules = {
      version: 1,
      rules: [
        { id: 'behave', effect: 'allow', tools: ['behave'] },
        { id: 'probe-needs-approval', effect: 'approve', tools: ['probe'], approval: { approverGroups: ['dba'] } },
      ],
    };
    const pol = parsePolicy(JSON.stringify(rules), 'policies.json', tools.names());
    const deny = parsePolicy(JSON.stringify({ version: 1, rules: [] }), 'policies.json', tools.names());
    const dir = tempDir();
    const store = await Store.open(dir);
    const run = (policyOf: typeof pol, credentialKind: 'dev' | 'none', toolName: string, args: unknown): Promise<void> =>
      buildPipeline({ audit: store, tools, policy: { current: () => policyOf }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined })({
        id: `${toolName}-${JSON.stringify(args)}-${credentialKind}-${policyOf === deny ? 'deny' : 'p'}`,
        startedAt: Date.now(),
        sessionId: 'outcomes',
        transport: 'in-memory',
        toolName,
        rawArguments: args,
        credential: credentialKind === 'dev' ? { kind: 'dev', principal } : { kind: 'none' },
        signal: new AbortController().signal,
      });
    await run(pol, 'dev', 'behave', { as: 'ok' });
    await run(pol, 'none', 'behave', { as: 'ok' });
    await run(pol, 'dev', 'nope', {});
    await run(pol, 'dev', 'behave', { as: 'sideways' });
    await run(deny, 'dev', 'behave', { as: 'ok' });
    await run(pol, 'dev', 'probe', { n: 1 });
    await run(pol, 'dev', 'behave', { as: 'error' });
    await run(pol, 'dev', 'behave', { as: 'timeout' });
    await run(pol, 'dev', 'behave', { as: 'cancel' });
    await store.close();
    const records = readRecords(dir);
    expect(records.map((r) => [r.outcome, r.error?.code ?? null])).toEqual([
      ['ok', null],
      ['unauthenticated', 'UNAUTHENTICATED'],
      ['unknown_tool', 'UNKNOWN_TOOL'],
      ['invalid', 'INVALID_INPUT'],
      ['denied', 'POLICY_DENIED'],
      ['approval_required', 'APPROVAL_REQUIRED'],
      ['error', 'QUERY_FAILED'],
      ['timed_out', 'TIMEOUT'],
      ['cancelled', 'CANCELLED'],
    ]);
    expect(new Set(records.map((r) => r.id)).size).toBe(9);
    for (const r of records) {
      expect(Object.keys(r).sort()).toEqual(['chain', 'decision', 'devIdentity', 'downstream', 'durationMs', 'error', 'facts', 'id', 'input', 'outcome', 'principal', 'response', 'result', 'sessionId', 'time', 'tool', 'transport']);
      expect(r.response.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(records[0]?.result).toEqual({ rowCount: 1, truncated: false, maskedColumns: [], findings: {} });
    expect(records[4]?.decision).toMatchObject({ effect: 'deny' });
    expect(records[5]?.decision).toMatchObject({ effect: 'approve', ruleIds: ['probe-needs-approval'] });
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 9, open: 0 });
  });
});

describe('messages screened on a transport that does not screen raw input itself (issue 15)', () => {
  it('sends the very response the pipeline rendered and the audit hashed, for results and refusals alike (issue 19)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    const rendered = new Map<string, CallContext>();
    const inner = buildPipeline({ audit: store, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
    const pipeline = async (ctx: CallContext): Promise<void> => {
      await inner(ctx);
      rendered.set(ctx.id, ctx);
    };
    const server = createGovernedServer({ name: 'airlock', version: 'test', registry, pipeline, clock: { now: () => Date.now() }, transport: 'in-memory', sessionId: () => 'same', credential: () => ({ kind: 'dev', principal }) });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const answers: { id: number; result: { content: unknown[]; structuredContent?: unknown; isError?: boolean } }[] = [];
    clientSide.onmessage = (message) => void ('id' in message && answers.push(message as never));
    await server.connect(serverSide);
    await clientSide.start();
    try {
      await clientSide.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'probe', arguments: { n: 3 } } });
      await clientSide.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'probe', arguments: { n: 'x' } } });
      await clientSide.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'nope', arguments: {} } });
      await expect.poll(() => answers.length, { timeout: 5000 }).toBe(3);
    } finally {
      await server.close();
      await store.close();
    }
    const records = readRecords(dir);
    expect(records.map((r) => r.outcome).sort()).toEqual(['invalid', 'ok', 'unknown_tool']);
    for (const record of records) {
      const ctx = rendered.get(record.id);
      const answer = answers.find((a) => JSON.stringify(a.result).includes(record.id));
      // Not a copy made by a second validation: the pipeline's own content array went out.
      expect(answer?.result.content).toBe(ctx?.response?.content);
      expect(record.response.sha256).toBe(createHash('sha256').update(JSON.stringify(answer?.result)).digest('hex'));
    }
    expect(answers.find((a) => a.id === 1)?.result.structuredContent).toMatchObject({ rows: [[3]] });
    expect(answers.filter((a) => a.result.isError === true).map((a) => a.id).sort()).toEqual([2, 3]);
  });

  it('answers a refused request once, audits it once, and runs a tools/call through its ticket', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    const pipeline = buildPipeline({ audit: store, tools: registry, policy: { current: () => policy }, deps, clock: { now: () => Date.now() }, onAuditFailure: () => undefined });
    const server = createGovernedServer({ name: 'airlock', version: 'test', registry, pipeline, clock: { now: () => Date.now() }, transport: 'in-memory', sessionId: () => 'raw', credential: () => ({ kind: 'dev', principal }) });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const answers: Record<string, unknown>[] = [];
    const progress: Record<string, unknown>[] = [];
    // Responses carry an id; the call's progress notifications (it sent a token) are kept apart.
    clientSide.onmessage = (message) => void ('id' in message ? answers : progress).push(message);
    await server.connect(serverSide);
    await clientSide.start();
    try {
      await clientSide.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: null } } as never);
      await clientSide.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'probe', arguments: { n: 7 }, _meta: { progressToken: 'p' } } });
      await expect.poll(() => answers.length, { timeout: 5000 }).toBe(2);
      await new Promise((r) => setTimeout(r, 100));
      expect(answers).toHaveLength(2);
      const refused = answers.find((a) => a.id === 1) as { error: { code: number; message: string } };
      expect(refused.error.code).toBe(-32600);
      expect(refused.error.message).toMatch(/^Invalid request: params\._meta: must be an object, got null \[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
      expect(progress.map((p) => (p.params as { progressToken: unknown }).progressToken)).toEqual(['p', 'p', 'p', 'p']);
      const ran = answers.find((a) => a.id === 2) as { result: { structuredContent: unknown } };
      expect(ran.result.structuredContent).toMatchObject({ rows: [[7]] });
    } finally {
      await server.close();
      await store.close();
    }
    const records = readRecords(dir);
    expect(records.map((r) => [r.tool, r.outcome])).toEqual([
      ['tools/list', 'invalid'],
      ['probe', 'ok'],
    ]);
  });
});
