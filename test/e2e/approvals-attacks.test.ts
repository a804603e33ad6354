/**
 * The approval attack suite against real `airlock serve` processes (issue 17): each attack fails with its
 * code, nothing runs (the order row keeps its `xmin`, no call record runs on the grant) and the refusal is in
 * the audit under the right principal. Agents and approvers hold real tokens from a local OIDC issuer.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import type { RequestView } from '../../src/approval/view.js';
import { auditIdOf, EXAMPLE_POLICY, readAudit, textOf, writePolicy } from '../support/airlock.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { approvalApi, connectAgent, RESOURCE, serveHttp, serverDir, tokenFor, until, writeRuntimeConfig, type Agent, type CallResult, type Person, type Served } from '../support/served.js';

const ana: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const mallory: Person = { sub: 'mallory', email: 'mallory@example.com', groups: ['analysts'] };
const dana: Person = { sub: 'dana', email: 'dana@example.com', groups: ['dba'] };
const eve: Person = { sub: 'eve', email: 'eve@example.com', groups: ['analysts', 'support'] };
/** In every group the policy names, and admin: still not an approver of their own call. */
const root: Person = { sub: 'root', email: 'root@example.com', groups: ['analysts', 'dba', 'admin'] };
const WRITE_SQL = 'UPDATE orders SET status = status WHERE id = $1';
const write = (id: number, sql = WRITE_SQL, params: unknown[] = [id]): Record<string, unknown> => ({ connection: 'shop', sql, params });

let idp: LocalIssuer;
const db = new pg.Client({ connectionString: inject('databaseUrl') });

/** The row version of an order: any UPDATE that runs, even one changing no value, gives it a new one. */
async function xminOf(id: number): Promise<string> {
  const { rows } = await db.query<{ xmin: string }>('SELECT xmin::text AS xmin FROM orders WHERE id = $1', [id]);
  return rows[0]?.xmin ?? '';
}

const errorOf = (result: CallResult): { code?: string; auditId?: string } => (result._meta?.['airlock/error'] ?? {});
const handleOf = (result: CallResult): { status: string; requestId: string } => result.structuredContent as { status: string; requestId: string };

/** Records of calls that ran on request `id` (any tool, outcome ok). */
const ranOn = (auditDir: string, id: string): AuditRecord[] => readAudit(auditDir).filter((r) => r.tool !== 'approval' && r.outcome === 'ok' && r.approval?.requestId === id);
const refusals = (auditDir: string): AuditRecord[] => readAudit(auditDir).filter((r) => r.approval?.event === 'refused');

beforeAll(async () => {
  idp = await startLocalIssuer();
  await db.connect();
});
afterAll(async () => {
  try {
    await db.end();
  } finally {
    await idp?.close();
  }
});

describe('attacks on approvals (issue 17)', () => {
  const { dir, auditDir } = serverDir();
  let server: Served | undefined;
  const url = (): string => server?.url ?? '';
  beforeAll(async () => {
    server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 1 }), policyPath: writePolicy(dir), auditDir });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** `who` makes the write on `order` and gets the pending handle (the wait is one second). */
  async function pendingWrite(who: Person, order: number, args = write(order)): Promise<{ agent: Agent; requestId: string }> {
    const agent = await connectAgent('Streamable HTTP 2025 (session)', url(), await tokenFor(idp, who));
    try {
      const result = await agent.call('query_sql', args);
      expect(handleOf(result).status, textOf(result)).toBe('pending_approval');
      return { agent, requestId: handleOf(result).requestId };
    } catch (error) {
      await agent.close();
      throw error;
    }
  }

  const decide = (token: string, id: string, verdict: 'approve' | 'deny' = 'approve'): ReturnType<typeof approvalApi<{ error?: { code: string; message: string }; request?: RequestView }>> =>
    approvalApi(url(), token, `/approvals/${id}/decision`, { verdict });

  /** One more refusal record than before, and it is the one expected. */
  async function refusedOnce(before: number, expected: Record<string, unknown>): Promise<void> {
    await until(() => refusals(auditDir).length > before, 'the refusal record');
    const after = refusals(auditDir);
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject(expected);
  }

  it('no one approves their own call, not even a member of every approver group and admin (issue 17) (approval:no-self-approval)', async () => {
    const order = 170;
    const before = await xminOf(order);
    const { agent, requestId } = await pendingWrite(root, order);
    try {
      for (const verdict of ['approve', 'deny'] as const) {
        const count = refusals(auditDir).length;
        const answer = await decide(await tokenFor(idp, root), requestId, verdict);
        expect(answer).toEqual({ status: 403, body: { error: { code: 'APPROVAL_FORBIDDEN', message: `You may not decide approval request ${requestId}: no one may decide their own request.` } } });
        await refusedOnce(count, { principal: { sub: 'root', groups: ['admin', 'analysts', 'dba'] }, outcome: 'denied', error: { code: 'APPROVAL_FORBIDDEN' }, approval: { requestId, event: 'refused' } });
      }
      // Still pending: collecting returns the handle again and nothing runs.
      const again = await agent.call('approval_status', { requestId, wait_seconds: 0 });
      expect(handleOf(again)).toMatchObject({ status: 'pending_approval', requestId });
      expect(await xminOf(order)).toBe(before);
      expect(ranOn(auditDir, requestId)).toEqual([]);
    } finally {
      await agent.close();
    }
  });

  it('an approver outside the approver groups cannot decide (issue 17) (approval:approver-groups)', async () => {
    const order = 171;
    const before = await xminOf(order);
    const { agent, requestId } = await pendingWrite(ana, order);
    try {
      const count = refusals(auditDir).length;
      const answer = await decide(await tokenFor(idp, eve), requestId);
      expect(answer).toEqual({ status: 403, body: { error: { code: 'APPROVAL_FORBIDDEN', message: `You may not decide approval request ${requestId}: you are in none of its approver groups.` } } });
      await refusedOnce(count, { principal: { sub: 'eve', groups: ['analysts', 'support'] }, outcome: 'denied', error: { code: 'APPROVAL_FORBIDDEN' }, approval: { requestId, event: 'refused' } });
      expect(await xminOf(order)).toBe(before);
      expect(handleOf(await agent.call('approval_status', { requestId, wait_seconds: 0 }))).toMatchObject({ status: 'pending_approval' });
    } finally {
      await agent.close();
    }
  });

  it('expired, wrong-audience, unsigned and foreign tokens get 401 on /approvals, each recorded once without a principal (issue 17)', async () => {
    const order = 172;
    const before = await xminOf(order);
    const { agent, requestId } = await pendingWrite(ana, order);
    const stranger = await startLocalIssuer();
    try {
      const now = Math.floor(Date.now() / 1000);
      const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
      const [head, , signature] = (await tokenFor(idp, eve)).split('.');
      const cases: [string, string, RegExp][] = [
        ['expired', await tokenFor(idp, dana, { iat: now - 7200, exp: now - 3600 }), /\(expired\)/],
        ['wrong audience', await tokenFor(idp, dana, { aud: 'https://other.example/mcp' }), /\(claim_invalid\): aud/],
        ['unsigned (alg none)', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: 'dana', aud: RESOURCE, groups: ['dba'], exp: now + 300 })}.`, /\(malformed\)|\(algorithm_not_allowed\)/],
        ['groups rewritten under a valid signature', `${head}.${b64({ iss: idp.issuer, sub: 'eve', aud: RESOURCE, groups: ['dba'], exp: now + 300 })}.${signature}`, /\(bad_signature\)/],
        ['an issuer that is not trusted', await stranger.sign({ sub: 'dana', aud: RESOURCE, groups: ['dba'] }), /\(untrusted_issuer\)/],
      ];
      for (const [label, token, why] of cases) {
        const count = refusals(auditDir).length;
        const answer = await decide(token, requestId);
        expect(answer.status, label).toBe(401);
        expect(answer.body.error?.code, label).toBe('UNAUTHENTICATED');
        await refusedOnce(count, { principal: null, outcome: 'unauthenticated', approval: { requestId, event: 'refused', detail: { status: 401, method: 'POST' } } });
        expect(refusals(auditDir).at(-1)?.error?.detail, label).toMatch(why);
        const listed = await approvalApi(url(), token, '/approvals');
        expect(listed.status, label).toBe(401);
      }
      // No credential at all, and a session cookie nobody was given: the same 401, recorded once.
      for (const headers of [{}, { cookie: '__Host-airlock-console=forged-session-id' }] as Record<string, string>[]) {
        const count = refusals(auditDir).length;
        const res = await fetch(`${url()}/approvals/${requestId}/decision`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ verdict: 'approve' }) });
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
        await refusedOnce(count, { principal: null, outcome: 'unauthenticated', approval: { requestId, event: 'refused' } });
      }
      expect(await xminOf(order)).toBe(before);
      expect(handleOf(await agent.call('approval_status', { requestId, wait_seconds: 0 }))).toMatchObject({ status: 'pending_approval', approvals: 0 });
    } finally {
      await stranger.close();
      await agent.close();
    }
  });

  it('another agent cannot collect the request; the requester collects once, a second time is APPROVAL_USED (issue 17) (approval:single-use)', async () => {
    const order = 173;
    const before = await xminOf(order);
    const { agent, requestId } = await pendingWrite(ana, order);
    const thief = await connectAgent('Streamable HTTP 2026-07-28 (stateless)', url(), await tokenFor(idp, mallory));
    try {
      expect((await decide(await tokenFor(idp, dana), requestId)).status).toBe(200);
      const stolen = await thief.call('approval_status', { requestId });
      expect(stolen.isError).toBe(true);
      expect(errorOf(stolen).code).toBe('APPROVAL_NOT_FOUND');
      expect(textOf(stolen)).toContain(`No approval request ${requestId}`);
      expect(readAudit(auditDir).find((r) => r.id === errorOf(stolen).auditId)).toMatchObject({ tool: 'approval_status', principal: { sub: 'mallory' }, error: { code: 'APPROVAL_NOT_FOUND' } });
      expect(await xminOf(order)).toBe(before);
      // Even with the same SQL and parameters: mallory's call is mallory's, it opens mallory's own request.
      const same = await thief.call('query_sql', write(order));
      expect(handleOf(same)).toMatchObject({ status: 'pending_approval' });
      expect(handleOf(same).requestId).not.toBe(requestId);
      expect(await xminOf(order)).toBe(before);

      const first = await agent.call('approval_status', { requestId });
      expect(first.structuredContent).toMatchObject({ rowsAffected: 1 });
      const after = await xminOf(order);
      expect(after).not.toBe(before);
      const second = await agent.call('approval_status', { requestId });
      expect(second.isError).toBe(true);
      expect(errorOf(second).code).toBe('APPROVAL_USED');
      expect(readAudit(auditDir).find((r) => r.id === errorOf(second).auditId)).toMatchObject({ principal: { sub: 'ana' }, error: { code: 'APPROVAL_USED' } });
      // Re-sending the call itself does not run on the spent grant either: it asks again.
      const resent = await agent.call('query_sql', write(order));
      expect(handleOf(resent)).toMatchObject({ status: 'pending_approval' });
      expect(handleOf(resent).requestId).not.toBe(requestId);
      expect(await xminOf(order)).toBe(after);
      expect(ranOn(auditDir, requestId)).toHaveLength(1);
    } finally {
      await thief.close();
      await agent.close();
    }
  });

  it('a grant does not cover a call that differs by one byte of SQL or one parameter type: that call opens its own request (issue 17) (approval:bound-to-call)', async () => {
    const order = 174;
    const before = await xminOf(order);
    const { agent, requestId } = await pendingWrite(ana, order);
    try {
      expect((await decide(await tokenFor(idp, dana), requestId)).status).toBe(200);
      const variants: [string, Record<string, unknown>][] = [
        ['one more space', write(order, 'UPDATE orders SET status = status WHERE id =  $1')],
        ['a trailing semicolon', write(order, `${WRITE_SQL};`)],
        ['the parameter as a string', write(order, WRITE_SQL, [String(order)])],
        ['the parameter as a string with a leading zero', write(order, WRITE_SQL, [`0${order}`])],
        ['another row', write(order + 1)],
      ];
      const opened = new Set<string>();
      for (const [label, args] of variants) {
        const result = await agent.call('query_sql', args);
        expect(handleOf(result).status, label).toBe('pending_approval');
        expect(handleOf(result).requestId, label).not.toBe(requestId);
        opened.add(handleOf(result).requestId);
      }
      expect(opened.size).toBe(variants.length);
      expect(await xminOf(order)).toBe(before);
      expect(await xminOf(order + 1)).not.toBe('');
      expect(ranOn(auditDir, requestId)).toEqual([]);
      // The grant is still there for exactly the approved call.
      const view = await approvalApi<{ request: RequestView }>(url(), await tokenFor(idp, dana), `/approvals/${requestId}`);
      expect(view.body.request).toMatchObject({ state: 'approved', input: write(order) });
    } finally {
      await agent.close();
    }
  });
});

describe('approvals that run out of time (issue 17)', () => {
  const { dir, auditDir } = serverDir();
  let server: Served | undefined;
  const url = (): string => server?.url ?? '';
  beforeAll(async () => {
    // The schema's smallest timeouts: ten seconds to decide, ten seconds to collect.
    const policy = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { rules: { id: string; approval?: { timeoutSeconds: number } }[] };
    const rule = policy.rules.find((r) => r.id === 'writes-need-dba-approval');
    if (rule?.approval === undefined) throw new Error('example policy changed: no writes-need-dba-approval rule');
    rule.approval.timeoutSeconds = 10;
    server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 1, executionWindowSeconds: 10 }), policyPath: writePolicy(dir, policy), auditDir });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('an approval after the decision timeout is refused, and a grant not collected within the execution window expires; nothing runs (issue 17) (approval:expiry)', async () => {
    const late = 175;
    const idle = 176;
    const lateBefore = await xminOf(late);
    const idleBefore = await xminOf(idle);
    const agent = await connectAgent('legacy SSE', url(), await tokenFor(idp, ana));
    try {
      const undecided = handleOf(await agent.call('query_sql', write(late))).requestId;
      const uncollected = handleOf(await agent.call('query_sql', write(idle))).requestId;
      const approver = await tokenFor(idp, dana);
      expect((await approvalApi(url(), approver, `/approvals/${uncollected}/decision`, { verdict: 'approve' })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 10_500));

      const tooLate = await approvalApi<{ error: { code: string } }>(url(), approver, `/approvals/${undecided}/decision`, { verdict: 'approve' });
      expect(tooLate.status).toBe(409);
      expect(tooLate.body.error.code).toBe('APPROVAL_EXPIRED');
      for (const [id, phase] of [[undecided, 'decision'], [uncollected, 'execution']] as const) {
        const collected = await agent.call('approval_status', { requestId: id });
        expect(collected.isError, id).toBe(true);
        expect(errorOf(collected).code, id).toBe('APPROVAL_EXPIRED');
        await until(() => readAudit(auditDir).some((r) => r.approval?.requestId === id && r.approval.event === 'expired'), 'the expiry record');
        expect(readAudit(auditDir).filter((r) => r.approval?.requestId === id && r.approval.event === 'expired')).toMatchObject([{ principal: null, outcome: 'denied', approval: { detail: { phase } } }]);
        expect(ranOn(auditDir, id)).toEqual([]);
      }
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === undecided && r.approval.event === 'refused')).toMatchObject([{ principal: { sub: 'dana' }, error: { code: 'APPROVAL_EXPIRED' } }]);
      expect(await xminOf(late)).toBe(lateBefore);
      expect(await xminOf(idle)).toBe(idleBefore);
    } finally {
      await agent.close();
    }
  });
});

describe('a forged store and a changed policy (issue 17)', () => {
  it('a decision written into approvals.json is refused after a restart; nothing runs (issue 17) (approval:forged-store)', async () => {
    const { dir, auditDir } = serverDir();
    const configPath = writeRuntimeConfig(dir, idp, { waitSeconds: 1 });
    const policyPath = writePolicy(dir);
    const order = 177;
    const before = await xminOf(order);
    let server: Served | undefined;
    let agent: Agent | undefined;
    try {
      server = await serveHttp({ configPath, policyPath, auditDir });
      agent = await connectAgent('Streamable HTTP 2025 (session)', server.url, await tokenFor(idp, ana));
      const requestId = handleOf(await agent.call('query_sql', write(order))).requestId;
      await agent.close();
      agent = undefined;
      await server.stop();
      server = undefined;

      // Someone who can write the file but lacks the key marks the request approved by a DBA.
      const file = join(auditDir, 'approvals.json');
      const text = readFileSync(file, 'utf8');
      const store = JSON.parse(text) as unknown;
      const forged = JSON.stringify(store, (key, value: unknown) => {
        if (value !== null && typeof value === 'object' && (value as { id?: unknown }).id === requestId) {
          const at = Date.now();
          return { ...(value), state: 'approved', decidedAt: at, executeBy: at + 600_000, decisions: [{ approver: { issuer: idp.issuer, sub: 'dana', email: 'dana@example.com', groups: ['dba'] }, verdict: 'approve', at }] };
        }
        return value;
      });
      expect(forged).not.toBe(JSON.stringify(store));
      writeFileSync(file, forged);

      server = await serveHttp({ configPath, policyPath, auditDir });
      agent = await connectAgent('Streamable HTTP 2025 (session)', server.url, await tokenFor(idp, ana));
      const collected = await agent.call('approval_status', { requestId });
      expect(collected.isError).toBe(true);
      expect(errorOf(collected).code).toBe('APPROVAL_NOT_FOUND');
      const record = readAudit(auditDir).find((r) => r.id === auditIdOf(collected));
      expect(record).toMatchObject({ tool: 'approval_status', principal: { sub: 'ana' }, error: { code: 'APPROVAL_NOT_FOUND', detail: expect.stringContaining(`approval request ${requestId} rejected`) as unknown } });
      // Approvers do not see it either, so nobody can act on the forged state.
      const approver = await tokenFor(idp, dana);
      expect((await approvalApi<{ requests: RequestView[] }>(server.url, approver, '/approvals?state=all')).body.requests.map((r) => r.id)).not.toContain(requestId);
      const count = refusals(auditDir).length;
      const decided = await approvalApi<{ error: { code: string } }>(server.url, approver, `/approvals/${requestId}/decision`, { verdict: 'approve' });
      expect(decided.status).toBe(409);
      expect(decided.body.error.code).toBe('APPROVAL_INVALID');
      await until(() => refusals(auditDir).length > count, 'the refusal record');
      expect(refusals(auditDir).slice(count)).toMatchObject([{ principal: { sub: 'dana' }, error: { code: 'APPROVAL_INVALID' }, approval: { requestId } }]);
      expect(await xminOf(order)).toBe(before);
      expect(ranOn(auditDir, requestId)).toEqual([]);
    } finally {
      await agent?.close();
      await server?.stop();
    }
  });

  it('a grant from an older policy version: a changed policy asks for a fresh approval, a policy that now denies denies (issue 17) (approval:recheck-policy)', async () => {
    const { dir, auditDir } = serverDir();
    const policyPath = writePolicy(dir);
    const order = 178;
    const before = await xminOf(order);
    let server: Served | undefined;
    let agent: Agent | undefined;
    try {
      server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 1 }), policyPath, auditDir });
      const running = server;
      agent = await connectAgent('Streamable HTTP 2026-07-28 (stateless)', server.url, await tokenFor(idp, ana));
      const approver = await tokenFor(idp, dana);
      const policy = JSON.parse(readFileSync(policyPath, 'utf8')) as { description: string; rules: { id: string; effect: string; reason?: string; approval?: unknown }[] };
      const reloads = (): number => running.log().split('policy reloaded from').length - 1;

      // 1. Same rules, new version: the grant is for the old version, the call needs a fresh approval.
      const first = handleOf(await agent.call('query_sql', write(order))).requestId;
      expect((await approvalApi(server.url, approver, `/approvals/${first}/decision`, { verdict: 'approve' })).status).toBe(200);
      writeFileSync(policyPath, JSON.stringify({ ...policy, description: `${policy.description} (edited)` }, null, 2));
      await until(() => reloads() === 1, 'the policy reload');
      const fresh = await agent.call('approval_status', { requestId: first });
      expect(handleOf(fresh)).toMatchObject({ status: 'pending_approval' });
      const second = handleOf(fresh).requestId;
      expect(second).not.toBe(first);
      expect(await xminOf(order)).toBe(before);

      // 2. The new request is approved, then policy turns writes into a deny: the grant does not run.
      expect((await approvalApi(server.url, approver, `/approvals/${second}/decision`, { verdict: 'approve' })).status).toBe(200);
      const denying = { ...policy, rules: policy.rules.map((r) => (r.id === 'writes-need-dba-approval' ? { ...r, effect: 'deny', approval: undefined, reason: 'Writes are frozen.' } : r)) };
      writeFileSync(policyPath, JSON.stringify(denying, null, 2));
      await until(() => reloads() === 2, 'the second policy reload');
      const denied = await agent.call('approval_status', { requestId: second });
      expect(denied.isError).toBe(true);
      expect(errorOf(denied).code).toBe('POLICY_DENIED');
      expect(textOf(denied)).toContain('Writes are frozen.');
      expect(readAudit(auditDir).find((r) => r.id === errorOf(denied).auditId)).toMatchObject({ tool: 'approval_status', outcome: 'denied', principal: { sub: 'ana' }, decision: { effect: 'deny', ruleIds: ['writes-need-dba-approval'] } });
      expect(await xminOf(order)).toBe(before);
      expect(ranOn(auditDir, first)).toEqual([]);
      expect(ranOn(auditDir, second)).toEqual([]);
    } finally {
      await agent?.close();
      await server?.stop();
    }
  });
});
