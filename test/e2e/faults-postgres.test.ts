/**
 * Issue 21 (faults): PostgreSQL going away and coming back while `airlock serve --http` runs, on a server
 * of the test's own (embedded PostgreSQL, really stopped and started again on the same port):
 * - as the database a connection queries, in the middle of a load of calls: each call is answered, either
 *   with rows or with UPSTREAM_UNAVAILABLE and its audit id, and calls run again once it is back;
 * - as the audit and approval store: calls are refused with AUDIT_UNAVAILABLE and nothing runs; once it is
 *   back, calls run again without a restart, the requests opened before are still pending, and the chain
 *   verifies.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgRecords } from '../../src/audit/pg-store.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/connectors/embedded.js';
import { verifyStore } from '../../src/audit/verify.js';
import { seedDemoDatabase } from '../../src/connectors/demo-seed.js';
import { auditIdOf, CLI, readAudit, tempDir, textOf } from '../support/airlock.js';
import { connectClient, errorCode, examplePolicy, startFaultServer, type CallResult } from '../support/fault-server.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { approvalApi, RESOURCE, serveHttp, tokenFor, until, writeRuntimeConfig } from '../support/served.js';

const run = promisify(execFile);
let store: EmbeddedPostgres;
let dataUrl: string;

beforeAll(async () => {
  store = await startEmbeddedPostgres();
  dataUrl = (await seedDemoDatabase(store.adminUrl, 'faults')).url;
}, 60_000);

describe('query_sql while its PostgreSQL is stopped and started again under load (issue 21)', () => {
  it('answers every call with rows or UPSTREAM_UNAVAILABLE and its audit id, and recovers without a restart', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy(), env: { DATABASE_URL: dataUrl } });
    const clients = await Promise.all([1, 2, 3].map(() => connectClient(server.url)));
    const answers: CallResult[] = [];
    let phase: 'up' | 'down' | 'back' = 'up';
    const seen = { up: 0, down: 0, back: 0 };
    let stop = false;
    try {
      const loops = clients.map(async (client, n) => {
        for (let i = 0; !stop; i++) {
          const at = phase;
          const result = await client.call('query_sql', { connection: 'shop', sql: `SELECT id, name FROM products WHERE id = ${((n + i) % 6) + 1}` });
          answers.push(result);
          seen[at]++;
        }
      });
      await until(() => seen.up >= 30, 'calls before the outage');
      await store.pause();
      phase = 'down';
      await until(() => seen.down >= 30, 'calls during the outage');
      await store.resume();
      phase = 'back';
      await until(() => answers.slice(-20).every((a) => a.isError === undefined) && seen.back >= 30, 'calls to succeed again');
      stop = true;
      await Promise.all(loops);
      const failed = answers.filter((a) => a.isError === true);
      expect(failed.length).toBeGreaterThanOrEqual(30);
      for (const a of failed) {
        expect(errorCode(a)).toBe('UPSTREAM_UNAVAILABLE');
        expect(textOf(a)).toBe(`Database connection "shop" is unavailable right now; try again shortly.\n[code: UPSTREAM_UNAVAILABLE; audit id: ${auditIdOf(a)}]`);
      }
      for (const a of answers.filter((x) => x.isError === undefined)) expect(a.structuredContent).toMatchObject({ rowCount: 1 });
      // Exactly one record per answer, with the outcome the agent saw; the chain verifies.
      const records = new Map(readAudit(server.auditDir).map((r) => [r.id, r]));
      expect(records.size).toBe(answers.length);
      for (const a of answers) expect(records.get(auditIdOf(a))?.outcome).toBe(a.isError === true ? 'error' : 'ok');
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      stop = true;
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await server.stop();
      if (phase === 'down') await store.resume();
    }
  }, 120_000);
});
afterAll(async () => {
  await store?.stop();
});

describe('airlock serve --http when its PostgreSQL audit and approval store goes away (issue 21)', () => {
  it('refuses calls with AUDIT_UNAVAILABLE while it is down, and runs them again once it is back, without a restart (faults:store-recovers)', async () => {
    const dir = tempDir();
    const postgres = { url: 'env:STORE_DATABASE_URL' };
    const runtime = { audit: { postgres }, approvals: { postgres, key: 'env:APPROVALS_KEY', waitSeconds: 0 } };
    const env = { STORE_DATABASE_URL: store.adminUrl, APPROVALS_KEY: randomBytes(32).toString('base64') };
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime, env });
    const client = await connectClient(server.url);
    const select = { connection: 'shop', sql: 'SELECT id, name FROM products WHERE id = 1' };
    try {
      const first = await client.call('query_sql', select);
      expect(first.structuredContent).toMatchObject({ rows: [[1, expect.any(String)]] });
      const opened = await client.call('query_sql', { connection: 'shop', sql: 'UPDATE products SET price = price WHERE id = 1' });
      const requestId = opened.structuredContent?.requestId as string;
      expect(opened.structuredContent).toMatchObject({ status: 'pending_approval' });

      await store.pause();
      const refused = [
        await client.call('query_sql', select),
        await client.call('query_sql', { connection: 'shop', sql: 'UPDATE products SET price = price WHERE id = 2' }),
        await client.call('approval_status', { requestId }),
      ];
      for (const result of refused) {
        const id = auditIdOf(result);
        expect(errorCode(result)).toBe('AUDIT_UNAVAILABLE');
        expect(textOf(result)).toBe(`The audit log is unavailable, so the call was not run.\n[code: AUDIT_UNAVAILABLE; audit id: ${id}]`);
        // The store that would keep the record is down: the operator's log names the call instead.
        expect(server.log()).toContain(`ERROR audit write failed for call ${id}: `);
      }

      await store.resume();
      const back = await client.call('query_sql', select);
      expect(back.structuredContent).toMatchObject({ rows: [[1, expect.any(String)]] });
      const status = await client.call('approval_status', { requestId });
      expect(status.structuredContent).toMatchObject({ status: 'pending_approval', requestId });

      // One record per answered call (and the request's own record), none for the refused ones.
      const records: { id: string; tool: string; outcome: string }[] = [];
      for await (const r of pgRecords(store.adminUrl)) records.push({ id: r.id, tool: r.tool, outcome: r.outcome });
      expect(records.filter((r) => r.tool !== 'approval').map((r) => r.id)).toEqual([auditIdOf(first), auditIdOf(opened), auditIdOf(back), auditIdOf(status)]);
      expect(records.map((r) => `${r.tool} ${r.outcome}`)).toEqual(['query_sql ok', 'approval ok', 'query_sql approval_required', 'query_sql ok', 'approval_status approval_required']);
      const configPath = join(dir, 'verify.json');
      writeFileSync(configPath, JSON.stringify({ audit: { postgres } }));
      const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--config', configPath], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...env } });
      expect(verify.stdout).toMatch(/^ok: 5 record\(s\) in 0 segment\(s\) form an unbroken chain; head [0-9a-f]{64}\n$/);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 120_000);

  it('refuses only the calls that need approval, with APPROVALS_UNAVAILABLE, while the approval store alone is down', async () => {
    const dir = tempDir();
    const runtime = { approvals: { postgres: { url: 'env:STORE_DATABASE_URL', table: 'faults_approvals' }, key: 'env:APPROVALS_KEY', waitSeconds: 0 } };
    const env = { STORE_DATABASE_URL: store.adminUrl, APPROVALS_KEY: randomBytes(32).toString('base64') };
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime, env });
    const client = await connectClient(server.url);
    const select = { connection: 'shop', sql: 'SELECT id, name FROM products WHERE id = 1' };
    const write = { connection: 'shop', sql: 'UPDATE products SET price = price WHERE id = 3' };
    try {
      await store.pause();
      let refused: CallResult;
      try {
        refused = await client.call('query_sql', write);
        expect(errorCode(refused)).toBe('APPROVALS_UNAVAILABLE');
        expect(textOf(refused)).toBe(`The approval store is unavailable, so the call was not run; try again shortly.\n[code: APPROVALS_UNAVAILABLE; audit id: ${auditIdOf(refused)}]`);
        expect((await client.call('query_sql', select)).structuredContent).toMatchObject({ rowCount: 1 });
      } finally {
        await store.resume();
      }
      expect(readAudit(server.auditDir).find((r) => r.id === auditIdOf(refused))).toMatchObject({ outcome: 'error', error: { code: 'APPROVALS_UNAVAILABLE' } });
      const opened = await client.call('query_sql', write);
      expect(opened.structuredContent).toMatchObject({ status: 'pending_approval' });
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 120_000);
});

describe('the approval API and console of airlock serve --http while the PostgreSQL approval store is down (issue 21)', () => {
  let idp: LocalIssuer;
  beforeAll(async () => {
    idp = await startLocalIssuer();
  });
  afterAll(async () => {
    await idp?.close();
  });

  it('answers 503 APPROVALS_UNAVAILABLE with a fixed text, logs the cause, leaks no connection string or SQL, and answers again once it is back', async () => {
    const dir = tempDir();
    const policyPath = join(dir, 'policies.json');
    writeFileSync(policyPath, JSON.stringify(examplePolicy()));
    const configPath = writeRuntimeConfig(dir, idp, { postgres: { url: 'env:STORE_DATABASE_URL', table: 'api_outage_approvals' }, key: 'env:APPROVALS_KEY', waitSeconds: 0 });
    const server = await serveHttp({ configPath, policyPath, auditDir: join(dir, 'audit'), env: { STORE_DATABASE_URL: store.adminUrl, APPROVALS_KEY: randomBytes(32).toString('base64') } });
    const dba = await tokenFor(idp, { sub: 'dba-1', email: 'dba@example.com', groups: ['dba'] });
    const unavailable = { error: { code: 'APPROVALS_UNAVAILABLE', message: 'The approval store is unavailable right now; nothing was read or decided. Try again shortly.' } };
    const decision = { verdict: 'approve', reason: 'checked' };
    try {
      expect(await approvalApi(server.url, dba, '/approvals')).toEqual({ status: 200, body: { requests: [] } });
      // The console signs in with the same token and lists through the same API, with its session cookie.
      const signIn = await fetch(`${server.url}/console/token`, { method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ token: dba }) });
      expect(signIn.status).toBe(200);
      const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const consoleList = async (): Promise<{ status: number; body: unknown }> => {
        const res = await fetch(`${server.url}/approvals`, { headers: { cookie } });
        return { status: res.status, body: await res.json() };
      };
      expect((await consoleList()).status).toBe(200);
      const { csrf } = (await (await fetch(`${server.url}/console/session`, { headers: { cookie } })).json()) as { csrf: string };
      // The console's own routes look the session up in the same database: they answer as the API does.
      const consoleCall = async (path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; retryAfter: string | null }> => {
        const res = await fetch(`${server.url}${path}`, { ...init, headers: { cookie, ...(init.headers as Record<string, string> | undefined) } });
        return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
      };
      const down = { status: 503, body: unavailable, retryAfter: '5' };

      await store.pause();
      try {
        expect(await approvalApi(server.url, dba, '/approvals')).toEqual({ status: 503, body: unavailable });
        expect(await approvalApi(server.url, dba, '/approvals/apr_not-there/decision', decision)).toEqual({ status: 503, body: unavailable });
        expect(await approvalApi(server.url, dba, '/approvals/apr_not-there')).toEqual({ status: 503, body: unavailable });
        expect(await consoleList()).toEqual({ status: 503, body: unavailable });
        expect(await consoleCall('/console/session')).toEqual(down);
        expect(await consoleCall('/console/events')).toEqual(down);
        expect(await consoleCall('/console/logout', { method: 'POST', headers: { origin: server.url, 'x-csrf-token': csrf } })).toEqual(down);
        expect(await consoleCall('/console/token', { method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ token: dba }) })).toEqual(down);
      } finally {
        await store.resume();
      }
      expect(server.log()).toMatch(/approvals: GET \/approvals by dba-1: the approval store is unavailable: approval store: /);
      expect(server.log()).toMatch(/approvals: GET \/approvals: the approval store is unavailable: approval store: /);
      expect(server.log()).toMatch(/console: POST \/console\/logout: the approval store is unavailable: approval store: /);
      expect(server.log()).not.toContain(store.adminUrl);
      expect(server.log()).not.toMatch(/SELECT|INSERT|UPDATE \S+ SET/);

      // Back without a restart: the list answers, and a decision reaches the store (no such request).
      expect(await until(async () => ((await approvalApi(server.url, dba, '/approvals')).status === 200 ? true : undefined), 'the API to answer again')).toBe(true);
      expect((await consoleList()).status).toBe(200);
      expect(await consoleCall('/console/session')).toMatchObject({ status: 200, body: { signedIn: true } });
      expect(await approvalApi(server.url, dba, '/approvals/apr_not-there/decision', decision)).toMatchObject({ status: 404, body: { error: { code: 'APPROVAL_NOT_FOUND' } } });
      // Each 503 was recorded as a refused approval request, with the store's error in the detail only.
      const refused = readAudit(join(dir, 'audit')).filter((r) => r.error?.code === 'APPROVALS_UNAVAILABLE');
      expect(refused).toHaveLength(8);
      expect(refused.map((r) => `${String(r.approval?.detail?.method)} ${String(r.approval?.detail?.path)}`).sort()).toEqual(
        ['GET /approvals', 'GET /approvals', 'GET /approvals/apr_not-there', 'GET /console/events', 'GET /console/session', 'POST /approvals/apr_not-there/decision', 'POST /console/logout', 'POST /console/token'].sort(),
      );
      for (const r of refused) expect(JSON.stringify(r)).not.toContain(store.adminUrl);
      // The store was down: an error, not a denial of the approver.
      expect(new Set(refused.map((r) => r.outcome))).toEqual(new Set(['error']));
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('starts a console sign-in while the store is down (the sign-in in flight is sealed in the browser\'s cookie, not stored), finishes it once the store is back, and takes each sign-in once', async () => {
    const dir = tempDir();
    const policyPath = join(dir, 'policies.json');
    writeFileSync(policyPath, JSON.stringify(examplePolicy()));
    idp.clients.set('airlock-console', { secret: 'console-secret', claims: {} });
    idp.accessTokenAudience = RESOURCE;
    idp.signInAs({ sub: 'dba-1', email: 'dba@example.com', groups: ['dba'] });
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const oidc = { issuer: idp.issuer, clientId: 'airlock-console', clientSecret: 'env:CONSOLE_SECRET', redirectUri: `${origin}/console/callback`, scopes: ['openid', 'email'] };
    const configPath = writeRuntimeConfig(dir, idp, { postgres: { url: 'env:STORE_DATABASE_URL', table: 'signin_outage_approvals' }, key: 'env:APPROVALS_KEY', publicUrl: origin, console: { oidc, secureCookies: false } });
    const server = await serveHttp({ configPath, policyPath, auditDir: join(dir, 'audit'), env: { STORE_DATABASE_URL: store.adminUrl, APPROVALS_KEY: randomBytes(32).toString('base64'), CONSOLE_SECRET: 'console-secret' }, args: ['--port', String(port)] });
    const loginCookie = (res: Response): string => res.headers.getSetCookie().map((c) => c.split(';')[0] ?? '').find((c) => c.startsWith('airlock-login=')) ?? '';
    try {
      let login: Response;
      await store.pause();
      try {
        // Anyone may start a sign-in without signing in: it must not need (or fill) the shared database.
        login = await fetch(`${origin}/console/login`, { redirect: 'manual' });
        expect(login.status).toBe(302);
      } finally {
        await store.resume();
      }
      const cookie = loginCookie(login);
      expect(cookie).toMatch(/^airlock-login=[\w-]{200,}$/);
      const back = (await fetch(login.headers.get('location') ?? '', { redirect: 'manual' })).headers.get('location') ?? '';
      const state = new URL(back).searchParams.get('state') ?? '';
      // The cookie is sealed: it does not show the state (nor the nonce or the PKCE verifier), and an altered one is refused.
      expect(cookie).not.toContain(state);
      const altered = `${cookie.slice(0, -4)}${cookie.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      expect((await fetch(back, { headers: { cookie: altered }, redirect: 'manual' })).status).toBe(400);
      const signedIn = await until(async () => {
        const res = await fetch(back, { headers: { cookie }, redirect: 'manual' });
        return res.status === 200 ? res : undefined;
      }, 'the sign-in to finish once the store is back');
      const session = signedIn.headers.getSetCookie().map((c) => c.split(';')[0] ?? '').find((c) => c.startsWith('airlock-console=')) ?? '';
      expect((await (await fetch(`${origin}/console/session`, { headers: { cookie: session } })).json())).toMatchObject({ signedIn: true, approver: { sub: 'dba-1' } });
      // The same callback again opens nothing.
      expect((await fetch(back, { headers: { cookie }, redirect: 'manual' })).status).not.toBe(200);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
