import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalApi, type ApiRefusal } from '../src/approval/api.js';
import { bearerApprovers } from '../src/approval/bearer-auth.js';
import { bindCall } from '../src/approval/binding.js';
import { createApprovalService, type ApprovalService } from '../src/approval/service.js';
import { createMemoryApprovalStore } from '../src/approval/store.js';
import { createApprovalConsole, type ApprovalConsole } from '../src/console/approvals-console.js';
import { identityConfigSchema } from '../src/identity/config.js';
import { OidcVerifier } from '../src/identity/oidc.js';
import { launchBrowser } from './support/browser.js';
import { startLocalIssuer, type LocalIssuer } from './support/oidc-issuer.js';

const CLIENT = 'airlock-console';
const SECRET = 'console-secret';
const users = {
  ana: { sub: 'ana', email: 'ana@example.com', email_verified: true, groups: ['analysts', 'dba'] },
  dora: { sub: 'dora', email: 'dora@example.com', email_verified: true, groups: ['dba'] },
  dan: { sub: 'dan', email: 'dan@example.com', email_verified: true, groups: ['dba'] },
  otto: { sub: 'otto', email: 'otto@example.com', email_verified: true, groups: ['sales'] },
} as const;

interface Harness {
  readonly base: string;
  readonly service: ApprovalService;
  readonly refusals: ApiRefusal[];
  readonly console: ApprovalConsole;
  close(): Promise<void>;
}

let idp: LocalIssuer;

/**
 * A context in a browser of its own: the packaged Chromium runs single-process, where closing one context
 * takes the browser down. Close it with `context.browser()?.close()`.
 */
async function freshContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const browser = await launchBrowser();
  try {
    return await browser.newContext(options);
  } catch (error) {
    await browser.close();
    throw error;
  }
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A real approval service, console and approval API behind one HTTP server, as `airlock serve` mounts them. */
async function startHarness(options: { secureCookies?: boolean; dev?: boolean; oidc?: boolean } = {}): Promise<Harness> {
  const service = createApprovalService({ store: createMemoryApprovalStore(), clock: { now: () => Date.now() }, key: randomBytes(32) });
  const refusals: ApiRefusal[] = [];
  const onRefused = (r: ApiRefusal): Promise<void> => {
    refusals.push(r);
    return Promise.resolve();
  };
  const verifier = new OidcVerifier(identityConfigSchema().parse({ issuers: [{ issuer: idp.issuer, audiences: ['airlock'] }], jwksCooldownSeconds: 0 }));
  let routes: ((req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>)[] = [];
  const { server, base } = await listen((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      for (const route of routes) if (await route(req, res, url)) return;
      res.writeHead(404).end();
    })().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  const app = createApprovalConsole({
    service,
    verifier,
    ...(options.oidc === false ? {} : { oidc: { issuer: idp.issuer, clientId: CLIENT, clientSecret: SECRET, redirectUri: `${base}/console/callback`, scopes: ['openid', 'email'] } }),
    ...(options.dev === true ? { devApprovers: [{ sub: 'dev-dba', email: 'dev-dba@example.com', groups: ['dba'] }] } : {}),
    secureCookies: options.secureCookies ?? true,
    onRefused,
  });
  const api = createApprovalApi({ service, authenticators: [bearerApprovers(verifier), app.authenticator], onRefused });
  routes = [app.routes, api];
  return {
    base,
    service,
    refusals,
    console: app,
    close: async () => {
      app.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a request for a write by `who`, through the real service. */
async function openRequest(h: Harness, sql: string, params: unknown[], who: { sub: string; email: string; groups: readonly string[] } = users.ana): Promise<string> {
  const { request } = await h.service.request(
    bindCall({ principal: { issuer: idp.issuer, sub: who.sub }, tool: 'query_sql', resource: 'shop', input: { connection: 'shop', sql, params }, ruleIds: ['writes-need-dba'], policyVersion: 'sha256:v1' }),
    {
      approverGroups: ['dba'],
      timeoutSeconds: 900,
      justification: 'customer 42 paid by wire transfer',
      details: { requester: { email: who.email, groups: [...who.groups] }, reason: 'Writes to production need a DBA', facts: { class: 'write', tablesWritten: ['orders'], estimatedRows: 1 } },
    },
  );
  return request.id;
}

/** Signs in through the issuer (authorization code + PKCE) and waits for the board. */
async function signIn(page: Page, h: Harness, user: (typeof users)[keyof typeof users]): Promise<void> {
  idp.signInAs({ ...user, groups: [...user.groups] });
  await page.goto(`${h.base}/console`);
  await page.click('#oidc-link');
  await page.waitForSelector('#board:not([hidden])');
}

async function session(page: Page): Promise<{ csrf: string; approver: { sub: string } }> {
  return page.evaluate(async () => (await fetch('/console/session')).json()) as Promise<{ csrf: string; approver: { sub: string } }>;
}

async function sessionCookie(context: BrowserContext): Promise<string> {
  const c = (await context.cookies()).find((k) => k.name === '__Host-airlock-console');
  if (c === undefined) throw new Error('no session cookie');
  return `${c.name}=${c.value}`;
}

const UPDATE = "UPDATE orders SET status = 'paid', note = $1 WHERE id = 42 -- by wire";

beforeAll(async () => {
  idp = await startLocalIssuer();
  idp.clients.set(CLIENT, { secret: SECRET, claims: {} });
});

afterAll(async () => {
  await idp.close();
});

describe('createApprovalConsole (issue 17)', () => {
  it('signs in with code + PKCE, shows the pending request with highlighted SQL, approves it with a reason, and follows changes live', async () => {
    const h = await startHarness();
    const context = await freshContext();
    try {
      const id = await openRequest(h, UPDATE, ['wire 2026-12-06']);
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      const asked = idp.authorizeRequests().at(-1)!;
      expect(asked.get('code_challenge_method')).toBe('S256');
      expect(asked.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(asked.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(asked.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(asked.get('redirect_uri')).toBe(`${h.base}/console/callback`);
      expect(await page.textContent('#who')).toBe('Signed in as dora@example.com (dba)');

      const card = `#list li[data-id="${id}"]`;
      await page.waitForSelector(card);
      expect(await page.textContent(`${card} pre.sql`)).toBe(UPDATE);
      expect(await page.locator(`${card} .sql .kw`).allTextContents()).toEqual(['UPDATE', 'SET', 'WHERE']);
      expect(await page.locator(`${card} .sql .str`).allTextContents()).toEqual(["'paid'"]);
      expect(await page.locator(`${card} .sql .num`).allTextContents()).toEqual(['42']);
      expect(await page.locator(`${card} .sql .param`).allTextContents()).toEqual(['$1']);
      expect(await page.locator(`${card} .sql .cmt`).allTextContents()).toEqual(['-- by wire']);
      const text = await page.textContent(card);
      for (const part of ['requested byana@example.com (analysts, dba)', '$1 = "wire 2026-12-06" (string)', 'classificationwrite', 'writes tablesorders', 'estimated rows1', 'rulewrites-need-dba: Writes to production need a DBA', 'justificationcustomer 42 paid by wire transfer', 'left']) {
        expect(text).toContain(part);
      }

      await page.evaluate('window.__sameDocument = true');
      await page.fill(`#reason-${id}`, 'matches ticket OPS-7');
      await page.click(`${card} button.approve`);
      await page.waitForSelector(card, { state: 'detached' });
      const decided = await h.service.view(id, { issuer: idp.issuer, sub: 'dora', groups: ['dba'] });
      expect(decided.state).toBe('approved');
      expect(decided.decisions.map((d) => [d.approver.sub, d.verdict, d.reason])).toEqual([['dora', 'approve', 'matches ticket OPS-7']]);

      // Live: a new request appears, and one decided elsewhere leaves, without reloading the page.
      const second = await openRequest(h, 'DELETE FROM carts WHERE updated_at < $1', ['2026-01-01']);
      await page.waitForSelector(`#list li[data-id="${second}"]`);
      await h.service.decide(second, { issuer: idp.issuer, sub: 'dan', groups: ['dba'] }, 'deny', 'too broad');
      await page.waitForSelector(`#list li[data-id="${second}"]`, { state: 'detached' });
      expect(await page.evaluate('window.__sameDocument')).toBe(true);
      await page.click('#tab-history');
      await page.waitForSelector(`#list li[data-id="${second}"].denied`);
      expect(await page.textContent(`#list li[data-id="${id}"]`)).toContain('approved bydora@example.com');
      expect(h.refusals).toEqual([]);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('opens the request a notification links to (#/requests/ID), across the issuer sign-in, and finds decided ones in the history', async () => {
    const h = await startHarness();
    const context = await freshContext();
    try {
      const first = await openRequest(h, UPDATE, ['one']);
      const wanted = await openRequest(h, UPDATE, ['two']);
      const page = await context.newPage();
      idp.signInAs({ ...users.dora, groups: [...users.dora.groups] });
      await page.goto(`${h.base}/console#/requests/${wanted}`);
      await page.click('#oidc-link');
      await page.waitForSelector('#board:not([hidden])');
      expect(new URL(page.url()).hash).toBe(`#/requests/${wanted}`);
      await page.waitForSelector(`#list li[data-id="${wanted}"].target`);
      expect(await page.locator('#list li.target').count()).toBe(1);
      expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe(`reason-${wanted}`);
      // A decided request is looked up in the history.
      await h.service.decide(first, { issuer: idp.issuer, sub: 'dan', groups: ['dba'] }, 'deny', 'no');
      await page.evaluate(`location.hash = '#/requests/${first}'`);
      await page.waitForSelector(`#list li[data-id="${first}"].target.denied`);
      expect(await page.getAttribute('#tab-history', 'aria-selected')).toBe('true');
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('shows the requester their own request with the reason they cannot decide it and no buttons; an outsider sees nothing', async () => {
    const h = await startHarness();
    const context = await freshContext();
    try {
      const id = await openRequest(h, UPDATE, ['x']);
      const page = await context.newPage();
      await signIn(page, h, users.ana);
      const card = `#list li[data-id="${id}"]`;
      await page.waitForSelector(card);
      expect(await page.textContent(`${card} .cannot`)).toBe('This is your own request: someone else has to decide it.');
      expect(await page.$$(`${card} button`)).toHaveLength(0);
    } finally {
      await context.browser()?.close();
    }
    // The packaged Chromium runs single-process: one context at a time.
    const other = await freshContext();
    try {
      const p2 = await other.newPage();
      await signIn(p2, h, users.otto);
      await p2.waitForSelector('#empty:not([hidden])');
      expect(await p2.textContent('#empty')).toBe('No request is waiting for a decision.');
    } finally {
      await other.browser()?.close();
      await h.close();
    }
  });

  it('refuses a decision with the session cookie but no or a forged CSRF token, or from another origin: 403, nothing decided, one audit record each (approval:console-csrf)', async () => {
    const h = await startHarness();
    const attacker = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>elsewhere</title>');
    });
    const context = await freshContext();
    try {
      const id = await openRequest(h, UPDATE, ['x']);
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      const { csrf } = await session(page);
      const cookieHeader = await sessionCookie(context);

      // A page of another origin (same site: loopback) posts with the victim's cookie.
      await page.goto(attacker.base);
      await page.evaluate(
        async ({ target }) => {
          await fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ verdict: 'approve' }) });
        },
        { target: `${h.base}/approvals/${id}/decision` },
      );
      await expect.poll(() => h.refusals.length).toBe(1);
      expect(h.refusals[0]).toMatchObject({ method: 'POST', requestId: id, status: 403, code: 'FORBIDDEN', message: 'Cross-site request refused.', detail: `console decision not same-origin: Origin ${attacker.base} is not ${h.base}` });

      const raw = (headers: Record<string, string>): Promise<Response> =>
        fetch(`${h.base}/approvals/${id}/decision`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: cookieHeader, ...headers }, body: JSON.stringify({ verdict: 'approve' }) });
      const cases: [Record<string, string>, string, string][] = [
        [{ origin: h.base }, 'Missing or wrong CSRF token; reload the console.', 'console decision without x-csrf-token'],
        [{ origin: h.base, 'x-csrf-token': randomBytes(32).toString('base64url') }, 'Missing or wrong CSRF token; reload the console.', 'console decision with a wrong x-csrf-token'],
        [{ origin: h.base, 'x-csrf-token': `${csrf}x` }, 'Missing or wrong CSRF token; reload the console.', 'console decision with a wrong x-csrf-token'],
        [{ origin: attacker.base, 'x-csrf-token': csrf }, 'Cross-site request refused.', `console decision not same-origin: Origin ${attacker.base} is not ${h.base}`],
        [{ 'sec-fetch-site': 'same-site', 'x-csrf-token': csrf }, 'Cross-site request refused.', 'console decision not same-origin: neither Origin nor Sec-Fetch-Site: same-origin'],
        [{ 'x-csrf-token': csrf }, 'Cross-site request refused.', 'console decision not same-origin: neither Origin nor Sec-Fetch-Site: same-origin'],
      ];
      for (const [headers, message, detail] of cases) {
        const before = h.refusals.length;
        const res = await raw(headers);
        expect(res.status).toBe(403);
        expect(await res.json()).toEqual({ error: { code: 'FORBIDDEN', message } });
        expect(h.refusals.slice(before)).toEqual([{ method: 'POST', path: `/approvals/${id}/decision`, requestId: id, status: 403, code: 'FORBIDDEN', message, detail }]);
      }
      // Another session's token does not fit this session.
      const anaToken = await idp.sign({ ...users.ana, groups: [...users.ana.groups], aud: 'airlock' });
      const anaSignIn = await fetch(`${h.base}/console/token`, { method: 'POST', headers: { 'content-type': 'application/json', origin: h.base }, body: JSON.stringify({ token: anaToken }) });
      const anaCsrf = ((await anaSignIn.json()) as { csrf: string }).csrf;
      expect(anaCsrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect((await raw({ origin: h.base, 'x-csrf-token': anaCsrf })).status).toBe(403);
      expect((await h.service.view(id, { issuer: idp.issuer, sub: 'dora', groups: ['dba'] })).state).toBe('pending');

      // The same request with the right token and origin is decided: the refusals above were the checks.
      const ok = await raw({ origin: h.base, 'x-csrf-token': csrf });
      expect(ok.status).toBe(200);
      expect((await h.service.view(id, { issuer: idp.issuer, sub: 'dora', groups: ['dba'] })).state).toBe('approved');
    } finally {
      await context.browser()?.close();
      attacker.server.closeAllConnections();
      await new Promise<void>((resolve) => attacker.server.close(() => resolve()));
      await h.close();
    }
  });

  it('keeps the session in an HttpOnly, Secure, SameSite=Strict host cookie the page cannot read, and signs out for good', async () => {
    const h = await startHarness();
    const context = await freshContext();
    try {
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      const cookie = (await context.cookies()).find((c) => c.name === '__Host-airlock-console');
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/', domain: '127.0.0.1' });
      expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await page.evaluate('document.cookie')).toBe('');
      const header = await sessionCookie(context);
      expect((await fetch(`${h.base}/approvals`, { headers: { cookie: header } })).status).toBe(200);

      await page.click('#sign-out');
      await page.waitForSelector('#sign-in:not([hidden])');
      expect((await context.cookies()).find((c) => c.name === '__Host-airlock-console')).toBeUndefined();
      const after = await fetch(`${h.base}/approvals`, { headers: { cookie: header } });
      expect(after.status).toBe(401);
      expect(await after.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'Your console session has ended; sign in again.' } });
      expect(h.refusals).toHaveLength(1);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('signs in with a pasted bearer token verified like an agent token, and refuses a bad one with one audit record', async () => {
    const h = await startHarness({ oidc: false });
    const context = await freshContext();
    try {
      const page = await context.newPage();
      await page.goto(`${h.base}/console`);
      await page.waitForSelector('#token-form:not([hidden])');
      expect(await page.isHidden('#oidc-box')).toBe(true);
      expect(await page.isHidden('#dev-banner')).toBe(true);
      await page.fill('#token', await idp.sign({ sub: 'dan', aud: 'other-service', groups: ['dba'] }));
      await page.click('#token-form button');
      await page.waitForSelector('#error:not([hidden])');
      expect(await page.textContent('#error')).toBe('The token is invalid or expired.');
      expect(h.refusals).toMatchObject([{ method: 'POST', path: '/console/token', status: 401, message: 'The token is invalid or expired.' }]);
      await page.fill('#token', `Bearer ${await idp.sign({ sub: 'dan', aud: 'airlock', email: 'dan@example.com', email_verified: true, groups: ['dba'] })}`);
      await page.click('#token-form button');
      await page.waitForSelector('#board:not([hidden])');
      expect(await page.textContent('#who')).toBe('Signed in as dan@example.com (dba)');
      expect(h.refusals).toHaveLength(1);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('offers a marked dev sign-in only when dev approvers are configured, with a banner on every view', async () => {
    const h = await startHarness({ dev: true, oidc: false });
    const context = await freshContext();
    try {
      const id = await openRequest(h, UPDATE, ['x']);
      const page = await context.newPage();
      await page.goto(`${h.base}/console`);
      await page.waitForSelector('#dev-form:not([hidden])');
      expect(await page.textContent('#dev-banner')).toContain('DEV SIGN-IN ENABLED');
      await page.selectOption('#dev-sub', 'dev-dba');
      await page.click('#dev-form button');
      await page.waitForSelector('#board:not([hidden])');
      expect(await page.isVisible('#dev-banner')).toBe(true);
      expect(await page.textContent('#who')).toBe('Signed in as dev-dba@example.com (dba) — DEV SIGN-IN');
      // A dev approver is in the groups but not the requester's issuer: it may decide.
      await page.waitForSelector(`#list li[data-id="${id}"] button.approve`);
      const raw = await fetch(`${h.base}/console/dev`, { method: 'POST', headers: { 'content-type': 'application/json', origin: h.base }, body: JSON.stringify({ sub: 'root' }) });
      expect(raw.status).toBe(400);
      expect(h.refusals).toMatchObject([{ path: '/console/dev', status: 400, message: 'No such dev approver.' }]);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
    const plain = await startHarness();
    try {
      const res = await fetch(`${plain.base}/console/dev`, { method: 'POST', headers: { 'content-type': 'application/json', origin: plain.base }, body: JSON.stringify({ sub: 'dev-dba' }) });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('approves with the keyboard alone, with a visible focus ring', async () => {
    const h = await startHarness();
    const context = await freshContext();
    try {
      const id = await openRequest(h, UPDATE, ['x']);
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      await page.waitForSelector(`#list li[data-id="${id}"]`);
      await page.evaluate('document.activeElement && document.activeElement.blur()');
      const focused = (): Promise<string> => page.evaluate<string>('document.activeElement ? (document.activeElement.id || document.activeElement.getAttribute("aria-label") || document.activeElement.tagName) : ""');
      const order: string[] = [];
      for (let i = 0; i < 10 && (await focused()) !== `reason-${id}`; i++) {
        await page.keyboard.press('Tab');
        order.push(await focused());
      }
      expect(order).toEqual(['sign-out', 'tab-pending', 'tab-history', `reason-${id}`]);
      await page.keyboard.type('checked by keyboard');
      await page.keyboard.press('Tab');
      expect(await focused()).toBe(`Approve query_sql request ${id}`);
      expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
      await page.keyboard.press('Enter');
      await page.waitForSelector(`#list li[data-id="${id}"]`, { state: 'detached' });
      const decided = await h.service.view(id, { issuer: idp.issuer, sub: 'dora', groups: ['dba'] });
      expect(decided.decisions.map((d) => [d.verdict, d.reason])).toEqual([['approve', 'checked by keyboard']]);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('fits a 390 px wide phone screen without horizontal scrolling', async () => {
    const h = await startHarness();
    const context = await freshContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    try {
      const id = await openRequest(h, `UPDATE orders_with_a_very_long_table_name_that_does_not_wrap_naturally SET status = 'paid' WHERE id IN (${Array.from({ length: 40 }, (_, i) => i).join(',')})`, ['x'.repeat(120)]);
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      await page.waitForSelector(`#list li[data-id="${id}"] button.approve`);
      const { scrollWidth, innerWidth } = await page.evaluate<{ scrollWidth: number; innerWidth: number }>('({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })');
      expect(innerWidth).toBe(390);
      expect(scrollWidth).toBeLessThanOrEqual(390);
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });

  it('serves the page with a strict CSP, no inline script and no external asset', async () => {
    const h = await startHarness();
    try {
      const res = await fetch(`${h.base}/console`);
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=|https?:\/\//);
      expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])).toEqual(['/console/console.css', '/console/login', '/console/console.js']);
    } finally {
      await h.close();
    }
  });

  it('drops Secure only behind secureCookies: false, and then signs in on loopback only', async () => {
    const h = await startHarness({ secureCookies: false, oidc: false });
    try {
      const token = await idp.sign({ sub: 'dan', aud: 'airlock', groups: ['dba'] });
      const res = await fetch(`${h.base}/console/token`, { method: 'POST', headers: { 'content-type': 'application/json', origin: h.base }, body: JSON.stringify({ token }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toMatch(/^airlock-console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
      // A Host that is not loopback (fetch cannot set Host, so a raw request).
      const away = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const body = JSON.stringify({ token });
        const req = request(`${h.base}/console/token`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), host: 'console.example.com', origin: 'http://console.example.com' } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(away.status).toBe(403);
      expect(JSON.parse(away.body)).toEqual({ error: { code: 'FORBIDDEN', message: 'Sign-in over plain HTTP is allowed on loopback only.' } });
      expect(h.refusals).toHaveLength(1);
    } finally {
      await h.close();
    }
    expect(() =>
      createApprovalConsole({ service: createApprovalService({ store: createMemoryApprovalStore(), clock: { now: () => 0 }, key: randomBytes(32) }), verifier: new OidcVerifier(identityConfigSchema().parse({ issuers: [{ issuer: idp.issuer, audiences: ['airlock'] }] })), oidc: { issuer: idp.issuer, clientId: CLIENT, redirectUri: 'https://airlock.example.com/console/callback', scopes: ['openid'] }, secureCookies: false, onRefused: () => Promise.resolve() }),
    ).toThrow('createApprovalConsole: secureCookies: false is only for plain HTTP on loopback, and the console URL is not');
  });

  it.runIf(process.env.AIRLOCK_CONSOLE_SCREENSHOT === '1')('writes docs/console.png (npm run docs:screenshot)', async () => {
    const h = await startHarness();
    const context = await freshContext({ viewport: { width: 1000, height: 900 } });
    try {
      await openRequest(h, "UPDATE orders SET status = 'refunded', refunded_at = now() WHERE id = $1 AND status = 'paid'", [4211]);
      const page = await context.newPage();
      await signIn(page, h, users.dora);
      await page.waitForSelector('#list li button.approve');
      await page.fill('#list li textarea', 'matches ticket OPS-7');
      await page.screenshot({ path: 'docs/console.png', fullPage: true });
    } finally {
      await context.browser()?.close();
      await h.close();
    }
  });
});
