/**
 * Console sign-ins across replicas (issue 21): two `airlock serve --http` processes on one PostgreSQL approval
 * store, as a balancer would reach them. An approver starts the OIDC sign-in on one replica, the issuer sends
 * the browser back to the other, and the session cookie it gets then lists and decides requests on either;
 * signing out on one ends the session on both. Before sessions were kept beside the approvals (and sign-ins in
 * flight sealed in the browser's cookie under a key every replica derives), each lived in the memory of the
 * replica that made it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/connectors/embedded.js';
import { EXAMPLE_POLICY, tempDir } from '../support/airlock.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { connectAgent, RESOURCE, serveHttp, tokenFor, until, type Person, type Served } from '../support/served.js';

const CLIENT = 'airlock-console';
const SECRET = 'console-secret';
const ANA: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const DANA: Person = { sub: 'dana', email: 'dana@example.com', groups: ['dba'] };

let idp: LocalIssuer | undefined;
const replicas: Served[] = [];
let table = '';

beforeAll(async () => {
  idp = await startLocalIssuer();
  idp.clients.set(CLIENT, { secret: SECRET, claims: {} });
  // The console verifies the access token like an agent's: issue it for airlock's resource.
  idp.accessTokenAudience = RESOURCE;
  idp.signInAs({ sub: DANA.sub, email: DANA.email, groups: [...DANA.groups] });
  const dir = tempDir('airlock-replicas-console-');
  table = `console_approvals_${randomBytes(4).toString('hex')}`;
  const ports = [await freePort(), await freePort()];
  const first = `http://127.0.0.1:${ports[0]}`;
  const configPath = join(dir, 'airlock.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      identity: { issuers: [{ issuer: idp.issuer, audiences: [RESOURCE], groupsClaim: 'groups' }], resource: RESOURCE, jwksCooldownSeconds: 0 },
      approvals: {
        postgres: { url: 'env:STORE_URL', table },
        key: 'env:APPROVALS_KEY',
        publicUrl: first,
        console: { oidc: { issuer: idp.issuer, clientId: CLIENT, clientSecret: 'env:CONSOLE_SECRET', redirectUri: `${first}/console/callback`, scopes: ['openid', 'email'] }, secureCookies: false },
      },
    }),
  );
  const env = { STORE_URL: inject('adminUrl'), APPROVALS_KEY: randomBytes(32).toString('base64'), CONSOLE_SECRET: SECRET };
  for (const [i, port] of ports.entries()) {
    // Behind a balancer every replica serves the console's one public origin: here the first replica's.
    replicas.push(await serveHttp({ configPath, policyPath: EXAMPLE_POLICY, auditDir: join(dir, `audit-${i}`), env, args: ['--port', String(port), '--allowed-origin', first] }));
  }
}, 90_000);

afterAll(async () => {
  for (const r of replicas) await r.stop();
  await idp?.close();
}, 60_000);

const cookieOf = (res: Response, name: string): string | undefined =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1);

/** The OIDC sign-in as a browser runs it: started on `start`, called back on the redirect URI (the first replica). */
async function signIn(start: string): Promise<string> {
  const login = await fetch(`${start}/console/login`, { redirect: 'manual' });
  expect(login.status).toBe(302);
  const loginCookie = cookieOf(login, 'airlock-login');
  const atIssuer = await fetch(login.headers.get('location') ?? '', { redirect: 'manual' });
  const back = atIssuer.headers.get('location') ?? '';
  expect(back.startsWith(`${replicas[0]?.url ?? ''}/console/callback?`)).toBe(true);
  const callback = await fetch(back, { headers: { cookie: loginCookie ?? '' }, redirect: 'manual' });
  expect(callback.status).toBe(200);
  const session = cookieOf(callback, 'airlock-console');
  if (session === undefined) throw new Error(`no session cookie: ${await callback.text()}`);
  return session;
}

describe('console sessions on the PostgreSQL store (issue 21)', () => {
  it('keeps a sign-in started on one replica, finished on another, and valid for listing and deciding on either', async () => {
    const [a, b] = replicas;
    if (a === undefined || b === undefined || idp === undefined) throw new Error('two replicas expected');
    // Started on b; the issuer sends the browser back to a, which must know b's state, nonce and verifier.
    const cookie = await signIn(b.url);

    const agent = await connectAgent('Streamable HTTP 2026-07-28 (stateless)', a.url, await tokenFor(idp, ANA));
    try {
      const call = agent.call('query_sql', { connection: 'shop', sql: `UPDATE orders SET status = status WHERE id = $1 /* console ${table} */`, params: [7] });
      // Awaited below; a failure before then must not surface as an unhandled rejection when the agent closes.
      call.catch(() => undefined);
      // The session made on a works on b: its CSRF token, the list, the decision.
      const who = (await (await fetch(`${b.url}/console/session`, { headers: { cookie } })).json()) as { signedIn: boolean; csrf?: string; approver?: { sub: string; groups: string[] } };
      expect(who).toMatchObject({ signedIn: true, approver: { sub: 'dana', groups: ['dba'] } });
      const id = await until(async () => {
        const res = await fetch(`${b.url}/approvals?state=pending`, { headers: { cookie } });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { requests: { id: string }[] };
        return body.requests.find((r) => JSON.stringify(r).includes(table))?.id;
      }, 'the request to be listed on b');
      const decided = await fetch(`${b.url}/approvals/${id}/decision`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', origin: a.url, 'x-csrf-token': who.csrf ?? '' },
        body: JSON.stringify({ verdict: 'approve', reason: 'signed in on the other replica' }),
      });
      expect(decided.status).toBe(200);
      const result = await call;
      expect(result.isError).not.toBe(true);
      expect(result.structuredContent?.rowsAffected).toBe(1);
    } finally {
      await agent.close();
    }

    // Signing out on b ends the session on a too.
    const csrf = ((await (await fetch(`${a.url}/console/session`, { headers: { cookie } })).json()) as { csrf: string }).csrf;
    const out = await fetch(`${b.url}/console/logout`, { method: 'POST', headers: { cookie, origin: a.url, 'x-csrf-token': csrf } });
    expect(out.status).toBe(200);
    const after = await fetch(`${a.url}/approvals?state=pending`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(((await (await fetch(`${a.url}/console/session`, { headers: { cookie } })).json()) as { signedIn: boolean }).signedIn).toBe(false);
  }, 90_000);

  it('refuses a callback replayed on either replica, and one without its sealed login cookie', async () => {
    const [a, b] = replicas;
    if (a === undefined || b === undefined) throw new Error('two replicas expected');
    const login = await fetch(`${a.url}/console/login`, { redirect: 'manual' });
    const loginCookie = cookieOf(login, 'airlock-login') ?? '';
    const back = (await fetch(login.headers.get('location') ?? '', { redirect: 'manual' })).headers.get('location') ?? '';
    expect((await fetch(back, { headers: { cookie: loginCookie }, redirect: 'manual' })).status).toBe(200);
    // The same callback replayed on the other replica (same path and query, other host, the same login cookie)
    // opens no session: the issuer takes its code once, and the state is marked used on every replica.
    const replay = await fetch(back.replace(a.url, b.url), { headers: { cookie: loginCookie }, redirect: 'manual' });
    expect(replay.status).toBe(401);
    expect(cookieOf(replay, 'airlock-console')).toBeUndefined();
    // A callback with the state but without its sealed cookie (another browser) is refused before the issuer is asked.
    expect((await fetch(back.replace(a.url, b.url), { redirect: 'manual' })).status).toBe(400);
  }, 30_000);
});
