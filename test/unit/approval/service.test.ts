import { describe, expect, it } from 'vitest';
import { bindCall, type BindingInput } from '../../../src/approval/binding.js';
import type { ApprovalEvent, Approver } from '../../../src/approval/model.js';
import { createApprovalService } from '../../../src/approval/service.js';
import { createMemoryApprovalStore, type ApprovalStore } from '../../../src/approval/store.js';
import { AirlockError } from '../../../src/errors.js';

const ISSUER = 'https://issuer.test';
const KEY = new Uint8Array(32).fill(7);
const ana = { issuer: ISSUER, sub: 'ana' };
const call: BindingInput = {
  principal: ana,
  tool: 'query_sql',
  resource: 'shop',
  input: { connection: 'shop', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['paid', 42] },
  ruleIds: ['writes-need-dba'],
  policyVersion: 'sha256:v1',
};
const dba = (sub: string, extra: Partial<Approver> = {}): Approver => ({ issuer: ISSUER, sub, email: `${sub}@example.com`, groups: ['dba'], ...extra });

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 11, 6, 12)): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** The real in-memory store, counting the compare-and-sets it refused (to show a race really happened). */
function countingStore(): { store: ApprovalStore; conflicts: () => number } {
  const inner = createMemoryApprovalStore();
  let conflicts = 0;
  return {
    conflicts: () => conflicts,
    store: {
      ...inner,
      update: async (id, v, next) => {
        const ok = await inner.update(id, v, next);
        if (!ok) conflicts++;
        return ok;
      },
    },
  };
}

function setup(options: { quorum?: number; timeoutSeconds?: number } = {}) {
  const clock = manualClock();
  const { store, conflicts } = countingStore();
  const events: ApprovalEvent[] = [];
  const service = createApprovalService({ store, clock, key: KEY, onEvent: (e) => void events.push(e) });
  const open = () => service.request(bindCall(call), { approverGroups: ['dba', 'security'], quorum: options.quorum ?? 1, timeoutSeconds: options.timeoutSeconds ?? 300, justification: 'fix order 42' });
  return { clock, store, conflicts, events, service, open };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AirlockError) return error.code;
    throw error;
  }
  return 'resolved';
}

async function messageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AirlockError) return error.publicMessage;
    throw error;
  }
  return 'resolved';
}

describe('createApprovalService (issue 17)', () => {
  it('refuses a key shorter than 32 bytes and a bad execution window when built', () => {
    const store = createMemoryApprovalStore();
    const clock = manualClock();
    expect(() => createApprovalService({ store, clock, key: new Uint8Array(31) })).toThrow('key must be at least 32 bytes');
    expect(() => createApprovalService({ store, clock, key: KEY, executionWindowMs: 0 })).toThrow(TypeError);
  });

  it('opens a pending request bound to the call, and joins it when the same caller sends the same call again', async () => {
    const { service, open, events } = setup();
    const first = await open();
    expect(first.request.id).toMatch(/^apr_[A-Za-z0-9_-]{22}$/);
    expect(first.request).toMatchObject({ state: 'pending', quorum: 1, approverGroups: ['dba', 'security'], justification: 'fix order 42', decisions: [], version: 1 });
    expect(first.request.bindingHash).toBe(bindCall(call).bindingHash);
    expect(first.events.map((e) => e.type)).toEqual(['requested']);
    const again = await open();
    expect(again.request.id).toBe(first.request.id);
    expect(again.events).toEqual([{ type: 'joined', requestId: first.request.id, at: '2026-12-06T12:00:00.000Z', bindingHash: first.request.bindingHash, requester: ana }]);
    const other = await service.request(bindCall({ ...call, input: { ...(call.input as object), params: ['paid', '42'] } }), { approverGroups: ['dba'], timeoutSeconds: 60 });
    expect(other.request.id).not.toBe(first.request.id);
    expect(events.map((e) => e.type)).toEqual(['requested', 'joined', 'requested']);
  });

  it('opens one request when the same call arrives several times at once; the others join it', async () => {
    const { open } = setup();
    const results = await Promise.all(Array.from({ length: 5 }, open));
    expect(new Set(results.map((r) => r.request.id)).size).toBe(1);
    expect(results.flatMap((r) => r.events.map((e) => e.type)).sort()).toEqual(['joined', 'joined', 'joined', 'joined', 'requested']);
  });

  it('refuses self-approval even when the requester is in every approver group (approval:no-self-approval)', async () => {
    const { service, open } = setup();
    const { request } = await open();
    const self: Approver = { ...ana, email: 'ana@example.com', groups: ['dba', 'security', 'admins'] };
    expect(await messageOf(service.decide(request.id, self, 'approve'))).toBe(`You may not decide approval request ${request.id}: no one may decide their own request.`);
    expect(await codeOf(service.decide(request.id, self, 'deny'))).toBe('APPROVAL_FORBIDDEN');
    const { request: after } = await service.status(request.id, ana);
    expect(after.state).toBe('pending');
    expect(after.decisions).toEqual([]);
  });

  it('refuses an approver outside the approver groups, whatever else they are', async () => {
    const { service, open } = setup();
    const { request } = await open();
    for (const groups of [[], ['admins'], ['DBA'], ['dba '], ['analysts', 'secur1ty']]) {
      expect(await messageOf(service.decide(request.id, dba('bob', { groups }), 'approve'))).toBe(`You may not decide approval request ${request.id}: you are in none of its approver groups.`);
    }
    // Same sub at another issuer is another person, and is still not in the groups.
    expect(await codeOf(service.decide(request.id, { issuer: 'https://other.test', sub: 'bob', groups: ['x'] }, 'approve'))).toBe('APPROVAL_FORBIDDEN');
    expect((await service.status(request.id, ana)).request.decisions).toEqual([]);
  });

  it('treats the same sub at another issuer as another person (not the requester)', async () => {
    const { service, open } = setup();
    const { request } = await open();
    const twin: Approver = { issuer: 'https://other.test', sub: 'ana', groups: ['dba'] };
    const { request: after } = await service.decide(request.id, twin, 'approve');
    expect(after.state).toBe('approved');
  });

  it('needs a quorum of distinct approvers; one approver counts once', async () => {
    const { service, open } = setup({ quorum: 2 });
    const { request } = await open();
    const first = await service.decide(request.id, dba('bob'), 'approve', 'looks right');
    expect(first.request.state).toBe('pending');
    expect(first.events).toMatchObject([{ type: 'approved', approvals: 1, quorum: 2, granted: false, reason: 'looks right', approver: { issuer: ISSUER, sub: 'bob', email: 'bob@example.com' } }]);
    expect(await messageOf(service.decide(request.id, dba('bob', { email: 'other@example.com' }), 'approve'))).toBe(`You may not decide approval request ${request.id}: you have already approved it.`);
    const second = await service.decide(request.id, dba('carol', { groups: ['security'] }), 'approve');
    expect(second.request.state).toBe('approved');
    expect(second.request.executeBy).toBe(Date.UTC(2026, 11, 6, 12) + 10 * 60_000);
    expect(second.events).toMatchObject([{ type: 'approved', approvals: 2, granted: true, executeBy: '2026-12-06T12:10:00.000Z' }]);
    expect(await messageOf(service.decide(request.id, dba('dave'), 'deny'))).toBe(`Approval request ${request.id} is already decided; the decision was not recorded.`);
  });

  it('records each of many concurrent decisions once: exactly the quorum approves, the rest are refused', async () => {
    const { service, open, conflicts } = setup({ quorum: 3 });
    const { request } = await open();
    const approvers = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8'].map((s) => dba(s));
    const outcomes = await Promise.all(approvers.map((a) => codeOf(service.decide(request.id, a, 'approve'))));
    expect(outcomes.filter((o) => o === 'resolved')).toHaveLength(3);
    expect(outcomes.filter((o) => o === 'APPROVAL_USED')).toHaveLength(5);
    expect(conflicts()).toBeGreaterThan(0);
    const { request: after } = await service.status(request.id, ana);
    expect(after.state).toBe('approved');
    expect(after.decisions).toHaveLength(3);
    expect(new Set(after.decisions.map((d) => d.approver.sub)).size).toBe(3);
    expect(after.version).toBe(4);
  });

  it('records one of two concurrent clicks by the same approver, and refuses the other', async () => {
    const { service, open } = setup({ quorum: 2 });
    const { request } = await open();
    const outcomes = await Promise.all([service.decide(request.id, dba('bob'), 'approve'), service.decide(request.id, dba('bob'), 'approve')].map(codeOf));
    expect(outcomes.sort()).toEqual(['APPROVAL_FORBIDDEN', 'resolved']);
    expect((await service.status(request.id, ana)).request.decisions).toHaveLength(1);
  });

  it('ends the request on any deny, also after approvals short of the quorum', async () => {
    const { service, open } = setup({ quorum: 2 });
    const { request } = await open();
    await service.decide(request.id, dba('bob'), 'approve');
    const denied = await service.decide(request.id, dba('carol'), 'deny', 'wrong order');
    expect(denied.request.state).toBe('denied');
    expect(denied.events).toMatchObject([{ type: 'denied', reason: 'wrong order', approver: { sub: 'carol' } }]);
    expect(await messageOf(service.consume(request.id, ana, bindCall(call)))).toBe(`Approval request ${request.id} was denied by carol@example.com: "wrong order"; the call was not run.`);
    expect(await codeOf(service.decide(request.id, dba('dave'), 'approve'))).toBe('APPROVAL_USED');
  });

  it('refuses a decision after the deadline and marks the request expired', async () => {
    const { service, open, clock, events } = setup({ timeoutSeconds: 60 });
    const { request } = await open();
    clock.advance(60_000);
    expect(await messageOf(service.decide(request.id, dba('bob'), 'approve'))).toBe(
      `Approval request ${request.id} has expired; the call was not run. Make the call again to request a new approval.`,
    );
    const { request: after } = await service.status(request.id, ana);
    expect(after).toMatchObject({ state: 'expired', expiredIn: 'decision', decisions: [] });
    expect(events.at(-1)).toMatchObject({ type: 'expired', phase: 'decision', requestId: request.id });
    expect(await codeOf(service.decide(request.id, dba('bob'), 'approve'))).toBe('APPROVAL_EXPIRED');
    expect(await codeOf(service.consume(request.id, ana, bindCall(call)))).toBe('APPROVAL_EXPIRED');
    // The same call again opens a fresh request instead of joining the expired one.
    const fresh = await open();
    expect(fresh.request.id).not.toBe(request.id);
    expect(fresh.events.map((e) => e.type)).toEqual(['requested']);
  });

  it('expires a pending request the caller re-sends after its deadline, then opens a new one', async () => {
    const { open, clock, events } = setup({ timeoutSeconds: 30 });
    const first = await open();
    clock.advance(30_001);
    const second = await open();
    expect(second.request.id).not.toBe(first.request.id);
    expect(events.map((e) => e.type)).toEqual(['requested', 'expired', 'requested']);
  });

  it('expireDue marks every pending request past its deadline', async () => {
    const { service, open, clock } = setup({ timeoutSeconds: 30 });
    const { request } = await open();
    expect(await service.expireDue()).toEqual([]);
    clock.advance(30_000);
    expect(await service.expireDue()).toMatchObject([{ type: 'expired', requestId: request.id, phase: 'decision' }]);
    expect((await service.status(request.id, ana)).request.state).toBe('expired');
  });

  it('lets only the requester see or collect a request; to others it does not exist', async () => {
    const { service, open } = setup();
    const { request } = await open();
    await service.decide(request.id, dba('bob'), 'approve');
    const notFound = `No approval request ${request.id} of yours exists.`;
    for (const other of [{ issuer: ISSUER, sub: 'bob' }, { issuer: 'https://other.test', sub: 'ana' }, { issuer: ISSUER, sub: 'Ana' }]) {
      expect(await messageOf(service.status(request.id, other))).toBe(notFound);
      expect(await messageOf(service.consume(request.id, other, bindCall(call)))).toBe(notFound);
    }
    expect(await messageOf(service.status('apr_nope', ana))).toBe('No approval request apr_nope of yours exists.');
    expect(await codeOf(service.status('../../etc/passwd', ana))).toBe('APPROVAL_NOT_FOUND');
    expect((await service.status(request.id, ana)).request.state).toBe('approved');
  });

  it('runs a grant once, for exactly the approved call, within the execution window', async () => {
    const { service, open, clock } = setup();
    const { request } = await open();
    expect(await messageOf(service.consume(request.id, ana, bindCall(call)))).toBe(`Approval request ${request.id} is still waiting for a decision; the call was not run.`);
    await service.decide(request.id, dba('bob'), 'approve');
    const input = call.input as { sql: string; params: unknown[] };
    const near = [
      { ...call, input: { ...input, sql: `${input.sql} ` } },
      { ...call, input: { ...input, sql: input.sql.replace('$2', '$3') } },
      { ...call, input: { ...input, params: ['paid', '42'] } },
      { ...call, input: { ...input, params: ['paid', 43] } },
      { ...call, input: { ...input, params: ['paid', 42, 1] } },
      { ...call, policyVersion: 'sha256:v2' },
      { ...call, resource: 'shop-replica' },
      { ...call, tool: 'query_sql_write' },
    ];
    for (const variant of near) {
      expect(await messageOf(service.consume(request.id, ana, bindCall(variant)))).toBe(
        `This call differs from the one approved in request ${request.id}; it was not run. Only the exact approved call can run.`,
      );
    }
    clock.advance(9 * 60_000);
    const used = await service.consume(request.id, ana, bindCall(call));
    expect(used.request).toMatchObject({ state: 'consumed', consumedAt: clock.now() });
    expect(used.events).toMatchObject([{ type: 'consumed', requestId: request.id, requester: ana }]);
    expect(await messageOf(service.consume(request.id, ana, bindCall(call)))).toBe(`Approval request ${request.id} was already used: a grant runs its call once.`);
  });

  it('refuses a grant not used within the execution window, and records it expired', async () => {
    const { service, open, clock, events } = setup();
    const { request } = await open();
    await service.decide(request.id, dba('bob'), 'approve');
    clock.advance(10 * 60_000);
    expect(await codeOf(service.consume(request.id, ana, bindCall(call)))).toBe('APPROVAL_EXPIRED');
    expect(events.at(-1)).toMatchObject({ type: 'expired', phase: 'execution' });
    expect((await service.status(request.id, ana)).request).toMatchObject({ state: 'expired', expiredIn: 'execution' });
  });

  it('lets exactly one of several concurrent consumes of one grant run', async () => {
    const { service, open } = setup();
    const { request } = await open();
    await service.decide(request.id, dba('bob'), 'approve');
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => codeOf(service.consume(request.id, ana, bindCall(call)))));
    expect(outcomes.filter((o) => o === 'resolved')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'APPROVAL_USED')).toHaveLength(5);
  });

  it('never honours a record it did not seal: a forged decision written straight to the store', async () => {
    const { service, open, store } = setup();
    const { request } = await open();
    const forged = { ...request, version: 2, state: 'approved' as const, decidedAt: 1, executeBy: Number.MAX_SAFE_INTEGER, decisions: [{ approver: { issuer: ISSUER, sub: 'mallory', groups: ['dba'] }, verdict: 'approve' as const, at: 1 }] };
    expect(await store.update(request.id, 1, forged)).toBe(true);
    expect(await messageOf(service.consume(request.id, ana, bindCall(call)))).toBe(`Approval request ${request.id} failed its integrity check and cannot be used.`);
    expect(await codeOf(service.decide(request.id, dba('bob'), 'approve'))).toBe('APPROVAL_INVALID');
    // A service with another key does not trust this one's records either.
    const other = createApprovalService({ store, clock: manualClock(), key: new Uint8Array(32).fill(8) });
    const { request: second } = await service.request(bindCall({ ...call, tool: 'other' }), { approverGroups: ['dba'], timeoutSeconds: 60 });
    expect(await codeOf(other.decide(second.id, dba('bob'), 'approve'))).toBe('APPROVAL_INVALID');
  });

  it('returns from a decision only once its event is recorded (the audit comes before the answer)', async () => {
    const clock = manualClock();
    const recorded: string[] = [];
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const service = createApprovalService({
      store: createMemoryApprovalStore(),
      clock,
      key: KEY,
      onEvent: async (e) => {
        if (e.type === 'approved') await gate;
        recorded.push(e.type);
      },
    });
    const { request } = await service.request(bindCall(call), { approverGroups: ['dba'], timeoutSeconds: 60 });
    let settled = false;
    const deciding = service.decide(request.id, dba('bob'), 'approve').then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    release();
    await deciding;
    expect(recorded).toEqual(['requested', 'approved']);
  });
});
