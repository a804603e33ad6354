import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALL_TOOLS } from '../../tools/index.js';
import type { ApprovalEvent, Approver } from '../../src/approval/model.js';
import { createApprovalService, type ApprovalService } from '../../src/approval/service.js';
import { createMemoryApprovalStore } from '../../src/approval/store.js';
import type { AuditRecord, AuditSink, StartedEntry } from '../../src/audit/record.js';
import { PostgresConnector } from '../../src/connectors/postgres.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import type { Principal } from '../../src/identity/principal.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext, CallEvent } from '../../src/pipeline/context.js';
import { parsePolicy, type Policy } from '../../src/policy/load.js';
import { classifySql, loadSqlParser } from '../../src/policy/sql/classify.js';
import type { ToolDeps } from '../../src/tool.js';
import { EXAMPLE_POLICY } from '../support/airlock.js';

const registry = new ToolRegistry(ALL_TOOLS);
const policyText = readFileSync(EXAMPLE_POLICY, 'utf8');
const basePolicy = parsePolicy(policyText, 'policies.json', registry.names());
/** The example policy with the write rule edited (a new version). */
function editedPolicy(edit: (rule: Record<string, unknown>) => void): Policy {
  const json = JSON.parse(policyText) as { rules: Record<string, unknown>[] };
  const rule = json.rules.find((r) => r.id === 'writes-need-dba-approval');
  if (rule === undefined) throw new Error('example policy lost its write rule');
  edit(rule);
  return parsePolicy(JSON.stringify(json), 'policies.json', registry.names());
}
const sql = new PostgresConnector({ resolve: () => inject('databaseUrl') });
const deps: ToolDeps = { sql, classifySql: async (text, c) => classifySql(text, await sql.catalog(c)), hasConnection: (n) => n === 'shop', accessFor: () => [], explain: () => Promise.reject(new Error('unused')) };
const ana = parseDevIdentity('ana@example.com,analysts');
const bob = parseDevIdentity('bob@example.com,analysts');
const dana: Approver = { issuer: 'airlock:dev-identity', sub: 'dana@example.com', email: 'dana@example.com', groups: ['dba'] };
const dave: Approver = { issuer: 'airlock:dev-identity', sub: 'dave@example.com', email: 'dave@example.com', groups: ['dba'] };
/** A no-op write: it changes no value, but it is a write policy sends to approval. */
const WRITE = { connection: 'shop', sql: 'UPDATE orders SET status = status WHERE id = $1', params: [1] };

class MemorySink implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly started: StartedEntry[] = [];
  start(entry: StartedEntry): Promise<void> {
    this.started.push(entry);
    return Promise.resolve();
  }
  append(record: AuditRecord): Promise<void> {
    this.records.push(record);
    return Promise.resolve();
  }
}

interface Harness {
  readonly sink: MemorySink;
  readonly service: ApprovalService;
  readonly events: ApprovalEvent[];
  policy: Policy;
  call(principal: Principal, tool: string, args: unknown, options?: { signal?: AbortSignal; report?: (e: CallEvent) => void }): Promise<CallContext>;
}

let seq = 0;
function harness(waitMs: number): Harness {
  const sink = new MemorySink();
  const events: ApprovalEvent[] = [];
  const clock = { now: () => Date.now() };
  const service = createApprovalService({ store: createMemoryApprovalStore(), clock, key: new Uint8Array(32).fill(3), onEvent: (e) => void events.push(e) });
  const h: Harness = {
    sink,
    service,
    events,
    policy: basePolicy,
    call(principal, tool, args, options = {}) {
      const run = buildPipeline({
        audit: sink,
        tools: registry,
        policy: { current: () => h.policy },
        deps,
        clock,
        onAuditFailure: () => undefined,
        approvals: { service, waitMs, heartbeatMs: 20, consoleUrl: (id) => `http://127.0.0.1:1/console#/requests/${id}` },
      });
      const ctx: CallContext = {
        id: `call-${++seq}`,
        startedAt: Date.now(),
        sessionId: 's',
        transport: 'in-memory',
        toolName: tool,
        rawArguments: args,
        credential: { kind: 'dev', principal },
        signal: options.signal ?? new AbortController().signal,
        ...(options.report === undefined ? {} : { report: options.report }),
      };
      return run(ctx).then(() => ctx);
    },
  };
  return h;
}

/** The first request the service opened (after `call` started waiting). */
async function openedRequest(h: Harness): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const opened = h.events.find((e) => e.type === 'requested');
    if (opened !== undefined) return opened.requestId;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no request was opened');
}

const structured = (ctx: CallContext): Record<string, unknown> => ctx.response?.structuredContent ?? {};
const errorCode = (ctx: CallContext): string | undefined => (ctx.response?.isError === true ? ctx.error?.code : undefined);

beforeAll(async () => {
  await loadSqlParser();
});
afterAll(async () => {
  await sql.close();
});

describe('approval stage (real PostgreSQL, real approval service) (issue 17)', () => {
  it('runs the write once a DBA approves while the call waits, and records who approved', async () => {
    const h = harness(10_000);
    const progress: string[] = [];
    const waiting = h.call(ana, 'query_sql', { ...WRITE, justification: 'ticket 42' }, { report: (e) => e.kind === 'progress' && progress.push(e.message) });
    const id = await openedRequest(h);
    expect(h.sink.started).toHaveLength(0);
    await h.service.decide(id, dana, 'approve', 'looks right');
    const ctx = await waiting;
    expect(ctx.response?.isError).toBeUndefined();
    expect(structured(ctx)).toMatchObject({ rowsAffected: 1 });
    const record = h.sink.records.at(-1);
    expect(record).toMatchObject({ outcome: 'ok', approval: { requestId: id, state: 'consumed', role: 'opened', approvers: [{ sub: 'dana@example.com', verdict: 'approve' }] } });
    expect(h.events.map((e) => e.type)).toEqual(['requested', 'approved', 'consumed']);
    expect(progress.some((m) => m.startsWith(`Waiting for approval by dba (request ${id})`))).toBe(true);
    expect(progress.some((m) => m.startsWith('Approved by dana@example.com'))).toBe(true);
    const view = await h.service.status(id, ana);
    expect(view.request.justification).toBe('ticket 42');
    // Approvers see what the statement is and the planner's estimate (EXPLAIN, never run before approval).
    expect(view.request.details).toMatchObject({ requester: { email: 'ana@example.com', groups: ['analysts'] }, reason: "Changing rows in the shop database needs a DBA's approval.", facts: { class: 'write', tablesWritten: ['orders'], estimate: { node: 'ModifyTable', relation: 'orders', rows: expect.any(Number) as number, cost: expect.any(Number) as number } } });
    expect(view.request.binding.input).toEqual(WRITE);
  });

  it('returns a pending_approval handle when nobody decides in time, and approval_status collects the result once', async () => {
    const h = harness(60);
    const first = await h.call(ana, 'query_sql', WRITE);
    expect(first.response?.isError).toBeUndefined();
    const pending = structured(first);
    expect(pending).toMatchObject({ status: 'pending_approval', approvers: ['dba'], quorum: 1, approvals: 0 });
    const id = String(pending.requestId);
    expect(pending.consoleUrl).toBe(`http://127.0.0.1:1/console#/requests/${id}`);
    expect(first.response?.content[0]?.text).toContain(`call approval_status with {"requestId": "${id}"}`);
    expect(h.sink.records.at(-1)).toMatchObject({ outcome: 'approval_required', approval: { requestId: id, state: 'pending', role: 'opened' } });
    expect(h.sink.started).toHaveLength(0);

    const still = await h.call(ana, 'approval_status', { requestId: id, wait_seconds: 0 });
    expect(structured(still)).toMatchObject({ status: 'pending_approval', requestId: id });

    await h.service.decide(id, dana, 'approve');
    const collected = await h.call(ana, 'approval_status', { requestId: id });
    expect(structured(collected)).toMatchObject({ rowsAffected: 1 });
    expect(h.sink.records.at(-1)).toMatchObject({ tool: 'approval_status', outcome: 'ok', approval: { requestId: id, state: 'consumed', role: 'collected' } });
    expect(h.sink.started).toHaveLength(1);

    const again = await h.call(ana, 'approval_status', { requestId: id });
    expect(errorCode(again)).toBe('APPROVAL_USED');
    expect(h.sink.started).toHaveLength(1);
  });

  it('joins the pending request when the same call is sent again, and opens another for a call one byte different', async () => {
    const h = harness(30);
    const a = structured(await h.call(ana, 'query_sql', WRITE));
    const b = structured(await h.call(ana, 'query_sql', { ...WRITE, justification: 'other words' }));
    expect(b.requestId).toBe(a.requestId);
    expect(h.sink.records.at(-1)?.approval).toMatchObject({ role: 'joined' });
    const c = structured(await h.call(ana, 'query_sql', { ...WRITE, sql: `${WRITE.sql} ` }));
    const d = structured(await h.call(ana, 'query_sql', { ...WRITE, params: ['1'] }));
    expect(new Set([a.requestId, c.requestId, d.requestId]).size).toBe(3);
  });

  it('never lets anyone but the requester collect, and a grant never runs a different call', async () => {
    const h = harness(30);
    const id = String(structured(await h.call(ana, 'query_sql', WRITE)).requestId);
    await h.service.decide(id, dana, 'approve');
    expect(errorCode(await h.call(bob, 'approval_status', { requestId: id }))).toBe('APPROVAL_NOT_FOUND');
    // The same SQL with another parameter is another call: it opens its own request instead of using the grant.
    const other = await h.call(ana, 'query_sql', { ...WRITE, params: [2] });
    expect(structured(other)).toMatchObject({ status: 'pending_approval' });
    expect(structured(other).requestId).not.toBe(id);
    expect(h.sink.started).toHaveLength(0);
    expect(structured(await h.call(ana, 'approval_status', { requestId: id }))).toMatchObject({ rowsAffected: 1 });
  });

  it('ends with APPROVAL_DENIED naming the approver and reason, and nothing runs', async () => {
    const h = harness(10_000);
    const waiting = h.call(ana, 'query_sql', WRITE);
    const id = await openedRequest(h);
    await h.service.decide(id, dana, 'deny', 'use the admin tool');
    const ctx = await waiting;
    expect(errorCode(ctx)).toBe('APPROVAL_DENIED');
    expect(ctx.response?.content[0]?.text).toContain(`Approval request ${id} was denied by dana@example.com: "use the admin tool"; the call was not run.`);
    expect(h.sink.started).toHaveLength(0);
    expect(errorCode(await h.call(ana, 'approval_status', { requestId: id }))).toBe('APPROVAL_DENIED');
  });

  it('needs every approver of a quorum, distinct', async () => {
    const h = harness(30);
    h.policy = editedPolicy((r) => (r.approval = { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 900 }));
    const id = String(structured(await h.call(ana, 'query_sql', WRITE)).requestId);
    await h.service.decide(id, dana, 'approve');
    expect(structured(await h.call(ana, 'approval_status', { requestId: id, wait_seconds: 0 }))).toMatchObject({ status: 'pending_approval', approvals: 1, quorum: 2 });
    await h.service.decide(id, dave, 'approve');
    expect(structured(await h.call(ana, 'approval_status', { requestId: id }))).toMatchObject({ rowsAffected: 1 });
  });

  it('denies an approved call that policy now denies, and asks for a fresh approval when the policy version changed', async () => {
    const h = harness(30);
    const id = String(structured(await h.call(ana, 'query_sql', WRITE)).requestId);
    await h.service.decide(id, dana, 'approve');
    h.policy = editedPolicy((r) => {
      r.effect = 'deny';
      delete r.approval;
    });
    expect(errorCode(await h.call(ana, 'approval_status', { requestId: id }))).toBe('POLICY_DENIED');
    // Back to approve, but under a new version (a longer timeout): the old grant is not used; a fresh request opens.
    h.policy = editedPolicy((r) => (r.approval = { approverGroups: ['dba'], quorum: 1, timeoutSeconds: 1800 }));
    const fresh = structured(await h.call(ana, 'approval_status', { requestId: id }));
    expect(fresh).toMatchObject({ status: 'pending_approval' });
    expect(fresh.requestId).not.toBe(id);
    expect(h.sink.started).toHaveLength(0);
    expect((await h.service.status(id, ana)).request.state).toBe('approved');
  });

  it('withdraws the request when the waiting call is cancelled (recorded), and it can no longer be approved', async () => {
    const h = harness(10_000);
    const abort = new AbortController();
    const waiting = h.call(ana, 'query_sql', WRITE, { signal: abort.signal });
    const id = await openedRequest(h);
    abort.abort();
    const ctx = await waiting;
    expect(errorCode(ctx)).toBe('CANCELLED');
    expect(h.events.map((e) => e.type)).toContain('withdrawn');
    await expect(h.service.decide(id, dana, 'approve')).rejects.toMatchObject({ code: 'APPROVAL_WITHDRAWN' });
  });

  it('asks for a justification when the rule requires one, before opening a request', async () => {
    const h = harness(30);
    h.policy = editedPolicy((r) => (r.approval = { approverGroups: ['dba'], quorum: 1, timeoutSeconds: 900, justificationRequired: true }));
    const ctx = await h.call(ana, 'query_sql', WRITE);
    expect(errorCode(ctx)).toBe('INVALID_INPUT');
    expect(ctx.response?.content[0]?.text).toContain('justification');
    expect(h.events).toHaveLength(0);
    expect(structured(await h.call(ana, 'query_sql', { ...WRITE, justification: 'refund for order 1' }))).toMatchObject({ status: 'pending_approval' });
  });

  it('refuses approval_status for an id that is not a request (INVALID_INPUT) or unknown (APPROVAL_NOT_FOUND)', async () => {
    const h = harness(30);
    expect(errorCode(await h.call(ana, 'approval_status', { requestId: 'nope' }))).toBe('INVALID_INPUT');
    expect(errorCode(await h.call(ana, 'approval_status', { requestId: 'apr_doesnotexist' }))).toBe('APPROVAL_NOT_FOUND');
  });
});
