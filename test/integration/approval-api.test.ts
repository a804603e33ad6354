/**
 * The approval API (`createApprovalApi` with bearer approvers) on a real HTTP server, with a real approval
 * service over a JSON store and real tokens from a local OIDC issuer. Every attack asserts the status, the
 * code and the exact message, that nothing was decided, and that exactly one refusal was handed to the audit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../src/approval/view.js';
import { raw, type RawResponse } from '../support/http.js';
import { startApprovalServer, type ApprovalServer, type Person } from '../support/approval-server.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const ana: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const bob: Person = { sub: 'bob', email: 'bob@example.com', groups: ['dba'] };
const carol: Person = { sub: 'carol', email: 'carol@example.com', groups: ['dba'] };
/** A requester who is in every approver group, and an admin. */
const root: Person = { sub: 'root', email: 'root@example.com', groups: ['analysts', 'dba', 'security', 'admin'] };
const eve: Person = { sub: 'eve', email: 'eve@example.com', groups: ['analysts', 'support'] };

let idp: LocalIssuer;
let api: ApprovalServer;

beforeAll(async () => {
  idp = await startLocalIssuer();
  api = await startApprovalServer(idp);
});
afterAll(async () => {
  await api?.close();
  await idp?.close();
});

interface Sent {
  token?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

function send(method: string, path: string, o: Sent = {}): Promise<RawResponse> {
  const body = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  return raw(`${api.url}${path}`, {
    method,
    headers: {
      ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...o.headers,
    },
    ...(body === undefined ? {} : { body }),
  });
}

const decide = async (id: string, who: Person, body: unknown = { verdict: 'approve' }): Promise<RawResponse> => send('POST', `/approvals/${id}/decision`, { token: await api.token(who), body });
const json = (r: RawResponse): unknown => JSON.parse(r.body) as unknown;

/** Runs `attack`, then checks the answer, that the request is still undecided, and that exactly one refusal was recorded. */
async function refused(
  attack: () => Promise<RawResponse>,
  expected: { status: number; code: string; message: string; requestId?: string; approver?: string; detail?: RegExp },
): Promise<void> {
  const before = api.refusals.length;
  const eventsBefore = api.events.length;
  const stateBefore = expected.requestId === undefined ? undefined : await api.get(expected.requestId);
  const res = await attack();
  expect(res.status).toBe(expected.status);
  expect(res.headers['content-type']).toBe('application/json');
  expect(json(res)).toEqual({ error: { code: expected.code, message: expected.message } });
  expect(api.refusals.length - before).toBe(1);
  const refusal = api.refusals.at(-1);
  expect(refusal).toMatchObject({ status: expected.status, code: expected.code, message: expected.message });
  if (expected.approver === undefined) expect(refusal?.approver).toBeUndefined();
  else expect(refusal?.approver).toMatchObject({ issuer: idp.issuer, sub: expected.approver });
  if (expected.detail !== undefined) expect(refusal?.detail).toMatch(expected.detail);
  if (stateBefore !== undefined) {
    const after = await api.get(stateBefore.id);
    expect(after.decisions).toEqual(stateBefore.decisions);
    expect(after.version).toBe(stateBefore.version);
    expect(api.events.slice(eventsBefore).filter((e) => e.type === 'approved' || e.type === 'denied')).toEqual([]);
  }
  expect(api.thrown).toEqual([]);
}

describe('createApprovalApi: attacks are refused, recorded once, and decide nothing (issue 17)', () => {
  it('refuses self-approval by a requester who is in every approver group and an admin', async () => {
    for (const groups of [['dba'], ['dba', 'security'], ['admin']]) {
      const request = await api.open(root, { approverGroups: groups, input: { connection: 'shop', sql: `DELETE FROM t WHERE g = '${groups.join()}'` } });
      await refused(() => decide(request.id, root), {
        status: 403,
        code: 'APPROVAL_FORBIDDEN',
        message: `You may not decide approval request ${request.id}: no one may decide their own request.`,
        requestId: request.id,
        approver: 'root',
      });
      // A deny of one's own request is refused the same way: the requester has no say at all.
      await refused(() => decide(request.id, root, { verdict: 'deny', reason: 'never mind' }), {
        status: 403,
        code: 'APPROVAL_FORBIDDEN',
        message: `You may not decide approval request ${request.id}: no one may decide their own request.`,
        requestId: request.id,
        approver: 'root',
      });
    }
  });

  it('refuses an approver who is in none of the approver groups (admin included)', async () => {
    const request = await api.open(ana);
    for (const who of [eve, { sub: 'adm', email: 'adm@example.com', groups: ['admin'] }]) {
      await refused(() => decide(request.id, who), {
        status: 403,
        code: 'APPROVAL_FORBIDDEN',
        message: `You may not decide approval request ${request.id}: you are in none of its approver groups.`,
        requestId: request.id,
        approver: who.sub,
      });
    }
    // Nor can such a caller read it: to them it does not exist.
    await refused(async () => send('GET', `/approvals/${request.id}`, { token: await api.token(eve) }), {
      status: 404,
      code: 'APPROVAL_NOT_FOUND',
      message: `No approval request ${request.id} of yours exists.`,
      approver: 'eve',
    });
  });

  const INVALID_TOKEN = 'The access token is invalid or expired.';
  const now = (): number => Math.floor(Date.now() / 1000);
  const tokenCases: [string, () => Promise<string>, RegExp][] = [
    ['an expired token', () => api.token(bob, { iat: now() - 7200, exp: now() - 3600 }), /\(expired\)/],
    ['a token for another audience', () => api.token(bob, { aud: 'https://other.example/mcp' }), /\(claim_invalid\): aud/],
    [
      'an unsigned (alg: none) token',
      async () => {
        const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
        return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: 'bob', groups: ['dba'], aud: 'https://airlock.test/mcp', exp: now() + 300 })}.`;
      },
      /\(malformed\)|\(algorithm_not_allowed\)/,
    ],
    ['a token with a forged payload (groups changed)', async () => {
      const [h, , s] = (await api.token(eve)).split('.');
      const payload = Buffer.from(JSON.stringify({ iss: idp.issuer, sub: 'eve', groups: ['dba'], aud: 'https://airlock.test/mcp', exp: now() + 300 })).toString('base64url');
      return `${h}.${payload}.${s}`;
    }, /\(bad_signature\)/],
  ];
  it.each(tokenCases)('refuses %s with 401 and no approver', async (_name, make, detail) => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: `UPDATE t SET x = '${_name}'` } });
    const token = await make();
    await refused(() => send('POST', `/approvals/${request.id}/decision`, { token, body: { verdict: 'approve' } }), { status: 401, code: 'UNAUTHENTICATED', message: INVALID_TOKEN, requestId: request.id, detail });
    await refused(() => send('GET', '/approvals', { token }), { status: 401, code: 'UNAUTHENTICATED', message: INVALID_TOKEN, detail });
  });

  it('refuses a token in the query string, even with a good header', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 2' } });
    const token = await api.token(bob);
    for (const name of ['access_token', 'token']) {
      await refused(() => send('POST', `/approvals/${request.id}/decision?${name}=${token}`, { body: { verdict: 'approve' } }), {
        status: 401,
        code: 'UNAUTHENTICATED',
        message: 'Send the token as Authorization: Bearer <token>.',
        requestId: request.id,
        detail: /query string/,
      });
      await refused(() => send('POST', `/approvals/${request.id}/decision?${name}=${token}`, { token, body: { verdict: 'approve' } }), {
        status: 401,
        code: 'UNAUTHENTICATED',
        message: 'Send the token as Authorization: Bearer <token>.',
        requestId: request.id,
      });
    }
  });

  it('refuses a request without a token, or with a header that is not "Bearer <token>", with a challenge', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 3' } });
    const before = api.refusals.length;
    const none = await send('POST', `/approvals/${request.id}/decision`, { body: { verdict: 'approve' } });
    // RFC 6750: every 401 carries a challenge; a bad token says so in it.
    for (const [sent, error] of [[{ token: 'not-a-jwt' }, 'invalid_token'], [{ headers: { authorization: 'Basic Ym9iOnB3' } }, 'invalid_request']] as const) {
      const res = await send('GET', '/approvals', sent);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="airlock", error="${error}"`);
    }
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="airlock"');
    expect(json(none)).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'Sign in: send Authorization: Bearer <token> (or use the console).' } });
    expect(api.refusals.length - before).toBe(3);
    await refused(() => send('GET', '/approvals'), { status: 401, code: 'UNAUTHENTICATED', message: 'Sign in: send Authorization: Bearer <token> (or use the console).' });
    for (const header of ['Basic Ym9iOnB3', 'Bearer', 'Bearer a b', 'Token abc']) {
      await refused(() => send('POST', `/approvals/${request.id}/decision`, { headers: { authorization: header }, body: { verdict: 'approve' } }), {
        status: 401,
        code: 'UNAUTHENTICATED',
        message: 'Send the token as Authorization: Bearer <token>.',
        requestId: request.id,
      });
    }
  });

  it('refuses deciding twice: the same approver again (quorum 2), anyone after the final decision', async () => {
    const request = await api.open(ana, { quorum: 2, input: { connection: 'shop', sql: 'UPDATE t SET x = 4' } });
    expect((await decide(request.id, bob)).status).toBe(200);
    await refused(() => decide(request.id, bob), {
      status: 403,
      code: 'APPROVAL_FORBIDDEN',
      message: `You may not decide approval request ${request.id}: you have already approved it.`,
      requestId: request.id,
      approver: 'bob',
    });
    expect((await decide(request.id, carol, { verdict: 'deny', reason: 'not today' })).status).toBe(200);
    const dave: Person = { sub: 'dave', email: 'dave@example.com', groups: ['dba'] };
    for (const verdict of ['approve', 'deny']) {
      await refused(() => decide(request.id, dave, { verdict }), {
        status: 409,
        code: 'APPROVAL_USED',
        message: `Approval request ${request.id} is already decided; the decision was not recorded.`,
        requestId: request.id,
        approver: 'dave',
      });
    }
    expect((await api.service.view(request.id, api.approver(bob))).state).toBe('denied');
  });

  it('refuses a decision after the request expired, and records the expiry', async () => {
    const request = await api.open(ana, { timeoutSeconds: 60, input: { connection: 'shop', sql: 'UPDATE t SET x = 5' } });
    api.advance(61_000);
    try {
      const before = api.refusals.length;
      const res = await decide(request.id, bob);
      expect(res.status).toBe(409);
      expect(json(res)).toEqual({ error: { code: 'APPROVAL_EXPIRED', message: `Approval request ${request.id} has expired; the call was not run. Make the call again to request a new approval.` } });
      expect(api.refusals.length - before).toBe(1);
      expect(api.refusals.at(-1)).toMatchObject({ approver: { sub: 'bob' }, code: 'APPROVAL_EXPIRED', requestId: request.id });
      const after = await api.service.view(request.id, api.approver(bob));
      expect(after).toMatchObject({ state: 'expired', expiredIn: 'decision', decisions: [] });
      expect(api.events.filter((e) => e.requestId === request.id).map((e) => e.type)).toEqual(['requested', 'expired']);
      // Deciding it again is refused as expired, not as anything else.
      await refused(() => decide(request.id, carol, { verdict: 'deny' }), { status: 409, code: 'APPROVAL_EXPIRED', message: `Approval request ${request.id} has expired; the call was not run. Make the call again to request a new approval.`, approver: 'carol' });
    } finally {
      api.advance(-61_000);
    }
  });

  it('refuses malformed and unknown request ids with 404', async () => {
    const token = await api.token(bob);
    for (const id of ['nope', 'apr_', 'apr_a.b', `apr_${'x'.repeat(65)}`, 'apr_%2e%2e', 'APR_abc']) {
      await refused(() => send('GET', `/approvals/${id}`, { token }), { status: 404, code: 'APPROVAL_NOT_FOUND', message: 'No such approval request.', approver: 'bob', detail: /malformed/ });
      await refused(() => send('POST', `/approvals/${id}/decision`, { token, body: { verdict: 'approve' } }), { status: 404, code: 'APPROVAL_NOT_FOUND', message: 'No such approval request.', approver: 'bob' });
    }
    await refused(() => send('POST', '/approvals/apr_doesNotExist000/decision', { token, body: { verdict: 'approve' } }), {
      status: 404,
      code: 'APPROVAL_NOT_FOUND',
      message: 'No approval request apr_doesNotExist000 of yours exists.',
      approver: 'bob',
    });
  });

  it('refuses bad bodies: wrong verdict, extra keys, control characters, not JSON, wrong content type, too large', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 6' } });
    const token = await api.token(bob);
    const cases: [Sent, number, string][] = [
      [{ body: { verdict: 'yes' } }, 400, 'Invalid decision: verdict: Invalid option: expected one of "approve"|"deny"'],
      [{ body: { verdict: 'approve', approver: 'ana' } }, 400, 'Invalid decision: (body): Unrecognized key: "approver"'],
      [{ body: { verdict: 'approve', reason: 'ok\u001b[2Jlooks fine' } }, 400, 'Invalid decision: reason: must not contain control or direction-changing characters'],
      // C1 controls (U+009B is a one-character CSI) and direction overrides are refused as well (issue 17).
      [{ body: { verdict: 'approve', reason: 'ok\u009b2Jlooks fine' } }, 400, 'Invalid decision: reason: must not contain control or direction-changing characters'],
      [{ body: { verdict: 'deny', reason: 'denied \u202eevorppa' } }, 400, 'Invalid decision: reason: must not contain control or direction-changing characters'],
      [{ body: { verdict: 'deny', reason: 'x\u2066y\u2069' } }, 400, 'Invalid decision: reason: must not contain control or direction-changing characters'],
      [{ body: { verdict: 'approve', reason: 'x'.repeat(1001) } }, 400, 'Invalid decision: reason: Too big: expected string to have <=1000 characters'],
      [{ body: ['approve'] }, 400, 'Invalid decision: (body): Invalid input: expected object, received array'],
      [{ rawBody: '{"verdict":"approve"' }, 400, 'Body is not valid JSON'],
      [{ rawBody: 'verdict=approve', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'Content-Type must be application/json'],
      [{ rawBody: '{"verdict":"approve"}', headers: { 'content-type': 'text/plain' } }, 415, 'Content-Type must be application/json'],
      [{ rawBody: JSON.stringify({ verdict: 'approve', reason: 'x'.repeat(20_000) }) }, 413, 'Body too large (limit 16384 bytes)'],
      // Far beyond the limit: the answer must still arrive (not a reset connection).
      [{ rawBody: JSON.stringify({ verdict: 'approve', reason: 'x'.repeat(4_000_000) }) }, 413, 'Body too large (limit 16384 bytes)'],
      // The same without a declared length: read until the limit, answered, and the connection closed.
      [{ rawBody: JSON.stringify({ verdict: 'approve', reason: 'x'.repeat(4_000_000) }), headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, 413, 'Body too large (limit 16384 bytes)'],
    ];
    for (const [sent, status, message] of cases) {
      await refused(() => send('POST', `/approvals/${request.id}/decision`, { token, ...sent }), { status, code: 'INVALID_INPUT', message, requestId: request.id, approver: 'bob' });
    }
    expect((await api.service.view(request.id, api.approver(bob))).state).toBe('pending');
    // The client's kept-alive connections still work after a refused large body (issue 17).
    expect((await send('GET', `/approvals/${request.id}`, { token })).status).toBe(200);
  });

  it('refuses a bad list query', async () => {
    const token = await api.token(bob);
    await refused(() => send('GET', '/approvals?state=open', { token }), {
      status: 400,
      code: 'INVALID_INPUT',
      message: 'Invalid query: state: Invalid option: expected one of "pending"|"approved"|"denied"|"expired"|"consumed"|"withdrawn"|"all"',
      approver: 'bob',
    });
    await refused(() => send('GET', '/approvals?limit=0', { token }), { status: 400, code: 'INVALID_INPUT', message: 'Invalid query: limit: Too small: expected number to be >=1', approver: 'bob' });
    await refused(() => send('GET', '/approvals?owner=ana', { token }), { status: 400, code: 'INVALID_INPUT', message: 'Invalid query: (body): Unrecognized key: "owner"', approver: 'bob' });
  });
});

describe('createApprovalApi: what approvers can do (issue 17)', () => {
  it('lists pending requests by default, every state with state=all, newest first, with the exact input', async () => {
    const local = await startApprovalServer(idp);
    try {
      const first = await local.open(ana, { input: { connection: 'shop', sql: 'UPDATE a SET x = 1', params: [] } });
      // "Newest first" orders by creation time (milliseconds): two requests opened within the same one are a tie.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const second = await local.open(ana, { input: { connection: 'shop', sql: 'UPDATE b SET x = $1', params: ['1'] }, justification: 'ticket 7' });
      const done = await local.open(ana, { input: { connection: 'shop', sql: 'UPDATE c SET x = 1' } });
      await local.service.decide(done.id, local.approver(bob), 'deny', 'no');
      const elsewhere = await local.open(ana, { approverGroups: ['security'], input: { connection: 'shop', sql: 'UPDATE d SET x = 1' } });
      const token = await local.token(bob);
      const pending = await raw(`${local.url}/approvals`, { headers: { authorization: `Bearer ${token}` } });
      expect(pending.status).toBe(200);
      expect(pending.headers['cache-control']).toBe('no-store');
      const list = (JSON.parse(pending.body) as { requests: RequestView[] }).requests;
      expect(list.map((r) => r.id)).toEqual([second.id, first.id].filter((id) => id !== elsewhere.id));
      expect(list[0]).toMatchObject({
        state: 'pending',
        requester: { issuer: idp.issuer, sub: 'ana', email: 'ana@example.com', groups: ['analysts'] },
        tool: 'query_sql',
        resource: 'shop',
        input: { connection: 'shop', sql: 'UPDATE b SET x = $1', params: ['1'] },
        ruleIds: ['writes-need-dba'],
        reason: 'Writes to shop need a DBA',
        approverGroups: ['dba'],
        quorum: 1,
        approvals: 0,
        decisions: [],
        justification: 'ticket 7',
        canDecide: true,
      });
      const all = JSON.parse((await raw(`${local.url}/approvals?state=all&limit=10`, { headers: { authorization: `Bearer ${token}` } })).body) as { requests: RequestView[] };
      expect(all.requests.map((r) => [r.id, r.state])).toEqual([
        [done.id, 'denied'],
        [second.id, 'pending'],
        [first.id, 'pending'],
      ].sort((a, b) => (a[0] === done.id ? -1 : b[0] === done.id ? 1 : 0)));
      const limited = JSON.parse((await raw(`${local.url}/approvals?state=all&limit=1`, { headers: { authorization: `Bearer ${token}` } })).body) as { requests: RequestView[] };
      expect(limited.requests).toHaveLength(1);
      // The requester sees their own requests and is told they cannot decide them.
      const own = JSON.parse((await raw(`${local.url}/approvals`, { headers: { authorization: `Bearer ${await local.token(ana)}` } })).body) as { requests: RequestView[] };
      expect(own.requests.map((r) => [r.canDecide, r.cannotDecide])).toEqual([
        [false, 'own_request'],
        [false, 'own_request'],
        [false, 'own_request'],
      ]);
      expect(local.refusals).toEqual([]);
    } finally {
      await local.close();
    }
  });

  it('gets one request, approves it with a reason: approved with executeBy, and the audit events say who', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 7' } });
    const token = await api.token(bob);
    const got = await send('GET', `/approvals/${request.id}`, { token });
    expect(got.status).toBe(200);
    expect((json(got) as { request: RequestView }).request).toMatchObject({ id: request.id, state: 'pending', canDecide: true });
    const before = api.refusals.length;
    const res = await send('POST', `/approvals/${request.id}/decision`, { token, body: { verdict: 'approve', reason: 'checked the ticket' } });
    expect(res.status).toBe(200);
    const view = (json(res) as { request: RequestView }).request;
    expect(view).toMatchObject({
      id: request.id,
      state: 'approved',
      approvals: 1,
      decisions: [{ approver: { sub: 'bob', email: 'bob@example.com' }, verdict: 'approve', reason: 'checked the ticket' }],
      canDecide: false,
      cannotDecide: 'decided',
    });
    expect(Date.parse(view.executeBy ?? '') - Date.parse(view.decidedAt ?? '')).toBe(10 * 60_000);
    expect(api.events.filter((e) => e.requestId === request.id).map((e) => e.type)).toEqual(['requested', 'approved']);
    expect(api.events.at(-1)).toMatchObject({ type: 'approved', approver: { issuer: idp.issuer, sub: 'bob', email: 'bob@example.com' }, reason: 'checked the ticket', granted: true });
    expect(api.refusals.length).toBe(before);
  });

  it('denies with a reason', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 8' } });
    const res = await decide(request.id, carol, { verdict: 'deny', reason: 'use the staging copy' });
    expect(res.status).toBe(200);
    expect((json(res) as { request: RequestView }).request).toMatchObject({ state: 'denied', decisions: [{ approver: { sub: 'carol' }, verdict: 'deny', reason: 'use the staging copy' }] });
  });

  it('quorum 2 with two approvers deciding at the same moment: both recorded once, approved once', async () => {
    for (let round = 0; round < 5; round++) {
      const request = await api.open(ana, { quorum: 2, input: { connection: 'shop', sql: `UPDATE q SET x = ${round}` } });
      const [a, b] = await Promise.all([decide(request.id, bob, { verdict: 'approve', reason: 'bob' }), decide(request.id, carol, { verdict: 'approve', reason: 'carol' })]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const after = await api.service.view(request.id, api.approver(bob));
      expect(after.state).toBe('approved');
      expect(after.decisions.map((d) => d.approver.sub).sort()).toEqual(['bob', 'carol']);
      const events = api.events.filter((e) => e.requestId === request.id && e.type === 'approved');
      expect(events.map((e) => (e.type === 'approved' ? e.granted : undefined)).sort()).toEqual([false, true]);
      // Two approvers at once on a quorum of 1: one wins, the other is told it was already decided.
      const single = await api.open(ana, { input: { connection: 'shop', sql: `UPDATE s SET x = ${round}` } });
      const before = api.refusals.length;
      const both = await Promise.all([decide(single.id, bob), decide(single.id, carol, { verdict: 'deny' })]);
      expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(api.refusals.length - before).toBe(1);
      expect((await api.service.view(single.id, api.approver(bob))).decisions).toHaveLength(1);
    }
  });

  it('does not list a request whose time ran out as pending: it is marked expired (recorded) and listed as such (issue 17)', async () => {
    const local = await startApprovalServer(idp);
    try {
      const late = await local.open(ana, { timeoutSeconds: 30, input: { connection: 'shop', sql: 'UPDATE late SET x = 1' } });
      const live = await local.open(ana, { timeoutSeconds: 600, input: { connection: 'shop', sql: 'UPDATE live SET x = 1' } });
      local.advance(31_000);
      const token = await local.token(bob);
      const pending = JSON.parse((await raw(`${local.url}/approvals`, { headers: { authorization: `Bearer ${token}` } })).body) as { requests: RequestView[] };
      expect(pending.requests.map((r) => r.id)).toEqual([live.id]);
      const expired = JSON.parse((await raw(`${local.url}/approvals?state=expired`, { headers: { authorization: `Bearer ${token}` } })).body) as { requests: RequestView[] };
      expect(expired.requests.map((r) => [r.id, r.state, r.canDecide])).toEqual([[late.id, 'expired', false]]);
      expect(local.events.filter((e) => e.type === 'expired').map((e) => e.requestId)).toEqual([late.id]);
    } finally {
      await local.close();
    }
  });

  it('answers other paths and methods with 404 without reading a credential', async () => {
    for (const [method, path] of [['DELETE', '/approvals/apr_abc'], ['PUT', '/approvals'], ['GET', '/approvals/apr_abc/decision'], ['POST', '/approvals']] as const) {
      const res = await send(method, path);
      expect(res.status).toBe(404);
      expect((json(res) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });
});
