import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { APPROVALS_UNAVAILABLE_MESSAGE, type ApiRefusal, type ApproverAuth, type ApproverAuthResult } from '../approval/api.js';
import { ApprovalsUnavailableError, fromApprovalStore } from '../approval/errors.js';
import type { Approver } from '../approval/model.js';
import type { ApprovalService } from '../approval/service.js';
import type { TokenVerifier } from '../identity/oidc.js';
import type { Logger } from '../log.js';
import { DEV_ISSUER } from '../identity/principal.js';
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_JS } from './console-page.js';
import { cookie, createSessionStore, readCookie, sameSecret, type ConsoleSession, type SessionStore, type SignInMethod } from './console-session.js';
import { createLoginSeal } from './login-seal.js';
import { createOidcLogin, LoginError, type LoginAttempt } from './oidc-login.js';

export { consoleConfigSchema, type ConsoleConfig } from './console-config.js';

export interface ApprovalConsoleOptions {
  readonly service: ApprovalService;
  /** Verifies pasted tokens and tokens from the OIDC sign-in, exactly as agents' tokens. */
  readonly verifier?: TokenVerifier;
  /** Sign-in with the issuer (authorization code + PKCE); needs `verifier`. `clientSecret` is the resolved secret. */
  readonly oidc?: { readonly issuer: string; readonly clientId: string; readonly clientSecret?: string; readonly redirectUri: string; readonly scopes: readonly string[] };
  /** Demo only: identities to sign in as without a token (the page says so on every view). Their issuer is the dev issuer. */
  readonly devApprovers?: readonly { readonly sub: string; readonly email?: string; readonly groups: readonly string[] }[];
  /** `false`: session cookie without `Secure`, for plain HTTP on loopback only (sign-in elsewhere is refused). */
  readonly secureCookies: boolean;
  /** Records a refused console request (failed sign-in, no session); resolves once durable. */
  readonly onRefused: (refusal: ApiRefusal) => Promise<void>;
  /**
   * The console's public URL (`approvals.publicUrl`); its origin is the only one decisions are accepted
   * from. Default: the origin of `oidc.redirectUri`, else the request's own Host.
   */
  readonly publicUrl?: string;
  readonly sessionIdleMinutes?: number;
  readonly sessionMaxHours?: number;
  /**
   * Where sessions and the states of finished sign-ins are kept (default: this process's memory). Several
   * replicas behind one balancer share one store, so a sign-in on one holds on all. The console does not close it.
   */
  readonly sessions?: (options: { now: () => number; idleMs: number; maxMs: number; loginMs: number }) => SessionStore;
  /**
   * The secret (32 bytes or more) a sign-in in flight is sealed with in the browser's login cookie. Replicas
   * behind one balancer need the same one: the issuer may send the browser back to another. Default: random,
   * for this process only.
   */
  readonly loginSecret?: Uint8Array;
  readonly clock?: { now(): number };
  readonly fetch?: typeof fetch;
  /** Where the cause of a session store failure goes (the answer says only that the store is unavailable). */
  readonly log?: Logger;
}

export interface ApprovalConsole {
  /** Serves `/console` and everything under it; false for any other path. */
  readonly routes: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /** The session authenticator for the approval API (CSRF token and same origin required to decide). */
  readonly authenticator: ApproverAuth;
  /** Ends the live update streams. */
  close(): void;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const LOGIN_TTL_S = 600;
const MAX_BODY = 32 * 1024;
const HEARTBEAT_MS = 20_000;

/**
 * The approvers' web console: a static page (strict CSP, no inline script, no external asset), sign-in
 * (OIDC code + PKCE, a pasted bearer token, or a marked dev sign-in), server-side sessions in an
 * `HttpOnly; Secure; SameSite=Strict` cookie, and live updates over SSE. Decisions go through the approval
 * API with the returned `authenticator`, which wants the session's CSRF token and a same-origin request.
 */
export function createApprovalConsole(options: ApprovalConsoleOptions): ApprovalConsole {
  const now = (): number => options.clock?.now() ?? Date.now();
  if (options.oidc !== undefined && options.verifier === undefined) throw new TypeError('createApprovalConsole: oidc sign-in needs a verifier');
  const origin = options.publicUrl !== undefined ? new URL(options.publicUrl).origin : options.oidc === undefined ? undefined : new URL(options.oidc.redirectUri).origin;
  if (!options.secureCookies && origin !== undefined && !(origin.startsWith('http://') && LOOPBACK.has(new URL(origin).hostname))) {
    throw new TypeError('createApprovalConsole: secureCookies: false is only for plain HTTP on loopback, and the console URL is not');
  }
  const devApprovers = new Map((options.devApprovers ?? []).map((d) => [d.sub, { issuer: DEV_ISSUER, sub: d.sub, ...(d.email === undefined ? {} : { email: d.email }), groups: [...d.groups] } satisfies Approver]));
  const login = options.oidc === undefined ? undefined : createOidcLogin({ ...options.oidc, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });
  const lifetimes = { now, idleMs: (options.sessionIdleMinutes ?? 30) * 60_000, maxMs: (options.sessionMaxHours ?? 12) * 3_600_000, loginMs: LOGIN_TTL_S * 1000 };
  const sessions = (options.sessions ?? createSessionStore)(lifetimes);
  const secure = options.secureCookies;
  // `__Host-` makes the browser refuse the cookie unless it is Secure, host-only and Path=/.
  const SESSION = secure ? '__Host-airlock-console' : 'airlock-console';
  const LOGIN = secure ? '__Host-airlock-login' : 'airlock-login';
  const seal = createLoginSeal(options.loginSecret ?? randomBytes(32), LOGIN);
  const streams = new Set<{ res: ServerResponse; session: ConsoleSession }>();

  // A stream ends once its session has (signed out on any replica, or expired); a store that cannot tell ends it
  // too. One look at the store for all open streams per change, and changes that come during a look share the
  // next one: a burst of decisions costs the store a query or two, not one per stream per change.
  let looking = false;
  let again = false;
  const notifyStreams = (): void => {
    if (streams.size === 0) return;
    if (looking) return void (again = true);
    looking = true;
    const open = [...streams];
    const end = (stream: (typeof open)[number]): void => {
      stream.res.end();
      streams.delete(stream);
    };
    void sessions
      .alive(open.map((s) => s.session))
      .then(
        (alive) => {
          for (const stream of open) {
            if (!streams.has(stream)) continue;
            if (alive.has(stream.session.id)) stream.res.write('event: change\ndata: {}\n\n');
            else end(stream);
          }
        },
        () => open.forEach(end),
      )
      .finally(() => {
        looking = false;
        if (again) {
          again = false;
          notifyStreams();
        }
      });
  };
  const unsubscribe = options.service.subscribe(notifyStreams);
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.res.write(': ping\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const sessionOf = async (req: IncomingMessage): Promise<ConsoleSession | undefined> => {
    const id = readCookie(req.headers.cookie, SESSION);
    return id === undefined ? undefined : fromApprovalStore(sessions.get(id));
  };

  /** Same origin as the console: the Origin header (or, without one, Sec-Fetch-Site) says so. */
  const sameOrigin = (req: IncomingMessage): string | undefined => {
    const given = req.headers.origin;
    if (given !== undefined) {
      if (origin !== undefined) return given === origin ? undefined : `Origin ${given.slice(0, 100)} is not ${origin}`;
      // No configured origin: the page's own host is the one the browser asked (the Host header).
      let host: string | undefined;
      try {
        host = new URL(given).host;
      } catch {
        host = undefined;
      }
      return host !== undefined && host === req.headers.host ? undefined : `Origin ${given.slice(0, 100)} is not this host (${(req.headers.host ?? '').slice(0, 100)})`;
    }
    return req.headers['sec-fetch-site'] === 'same-origin' ? undefined : 'neither Origin nor Sec-Fetch-Site: same-origin';
  };

  const plainHttpRefused = (req: IncomingMessage): boolean => {
    if (secure) return false;
    const host = (req.headers.host ?? '').toLowerCase();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] ?? '';
    return !LOOPBACK.has(name);
  };

  const check = async (req: IncomingMessage, intent: 'read' | 'decide'): Promise<ApproverAuthResult> => {
    const id = readCookie(req.headers.cookie, SESSION);
    if (id === undefined) return { kind: 'absent' };
    const session = await fromApprovalStore(sessions.get(id));
    if (session === undefined) return { kind: 'refused', status: 401, message: 'Your console session has ended; sign in again.', detail: 'unknown or expired console session' };
    if (intent === 'decide') {
      const cross = sameOrigin(req);
      if (cross !== undefined) return { kind: 'refused', status: 403, message: 'Cross-site request refused.', detail: `console decision not same-origin: ${cross}` };
      const csrf = req.headers['x-csrf-token'];
      if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf)) {
        return { kind: 'refused', status: 403, message: 'Missing or wrong CSRF token; reload the console.', detail: csrf === undefined ? 'console decision without x-csrf-token' : 'console decision with a wrong x-csrf-token' };
      }
    }
    return { kind: 'approver', approver: session.approver, via: `console:${session.via}` };
  };
  const authenticator: ApproverAuth = function consoleSession(req, intent) {
    return check(req, intent);
  };

  const send = (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string | string[]> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void => send(res, status, 'application/json', JSON.stringify(body), headers);
  const refuse = async (res: ServerResponse, refusal: Omit<ApiRefusal, 'code'> & { code?: string }, asPage = false, headers: Record<string, string> = {}): Promise<void> => {
    const code = refusal.code ?? (refusal.status === 401 ? 'UNAUTHENTICATED' : refusal.status === 403 ? 'FORBIDDEN' : 'INVALID_INPUT');
    await options.onRefused({ ...refusal, code });
    if (asPage) send(res, refusal.status, 'text/html', messagePage(refusal.message), headers);
    else json(res, refusal.status, { error: { code, message: refusal.message } }, headers);
  };

  const sessionCookie = (session: ConsoleSession): string => cookie(SESSION, session.id, { secure, sameSite: 'Strict' });
  const sessionBody = (session: ConsoleSession | undefined): unknown => ({
    signedIn: session !== undefined,
    ...(session === undefined ? {} : { approver: { issuer: session.approver.issuer, sub: session.approver.sub, email: session.approver.email ?? null, groups: session.approver.groups }, via: session.via, csrf: session.csrf }),
    methods: { oidc: login !== undefined, token: options.verifier !== undefined, dev: [...devApprovers.values()].map((d) => ({ sub: d.sub, email: d.email ?? null, groups: d.groups })) },
    insecureCookies: !secure,
  });

  /** Verifies a token like an agent's and turns it into an approver. */
  const approverOf = async (token: string): Promise<Approver> => {
    if (options.verifier === undefined) throw new Error('no verifier');
    const { principal } = await options.verifier.verify(token);
    return { issuer: principal.issuer, sub: principal.sub, ...(principal.email === undefined ? {} : { email: principal.email }), groups: principal.groups };
  };

  const open = (approver: Approver, via: SignInMethod): Promise<ConsoleSession> => fromApprovalStore(sessions.open(approver, via));

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const base = { method, path: path.slice(0, 200) };
    if (method === 'GET' || method === 'HEAD') {
      if (path === '/console' || path === '/console/') return send(res, 200, 'text/html', CONSOLE_HTML);
      if (path === '/console/console.js') return send(res, 200, 'text/javascript', CONSOLE_JS);
      if (path === '/console/console.css') return send(res, 200, 'text/css', CONSOLE_CSS);
      if (path === '/console/session') return json(res, 200, sessionBody(await sessionOf(req)));
      if (path === '/console/login') {
        if (login === undefined) return send(res, 404, 'text/html', messagePage('Sign-in with an issuer is not configured.'));
        if (plainHttpRefused(req)) return refuse(res, { ...base, status: 403, message: 'Sign-in over plain HTTP is allowed on loopback only.', detail: 'secureCookies: false off loopback' }, true);
        let attempt: LoginAttempt;
        try {
          attempt = await login.start();
        } catch (error) {
          return refuse(res, { ...base, status: 503, code: 'UNAVAILABLE', message: error instanceof LoginError ? error.publicMessage : 'Sign-in is unavailable.', detail: error instanceof Error ? error.message : String(error) }, true);
        }
        // The sign-in in flight travels sealed in the browser's cookie, not in the store: anyone may start one
        // without signing in, and that must cost the shared database nothing and push out no one else's.
        // Lax, not Strict: the browser must send it on the issuer's redirect back, which is a cross-site navigation.
        const sealed = seal.seal({ state: attempt.state, nonce: attempt.nonce, verifier: attempt.verifier, at: now() });
        res.writeHead(302, { ...SECURITY_HEADERS, location: attempt.url, 'set-cookie': cookie(LOGIN, sealed, { secure, sameSite: 'Lax', maxAge: LOGIN_TTL_S }) });
        return void res.end();
      }
      if (path === '/console/callback') return callback(req, res, url, base);
      if (path === '/console/events') {
        const session = await sessionOf(req);
        if (session === undefined) return refuse(res, { ...base, status: 401, message: 'Sign in to the console first.', detail: 'live updates without a console session' });
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
        res.write('retry: 3000\n\n');
        const stream = { res, session };
        streams.add(stream);
        res.on('close', () => streams.delete(stream));
        return;
      }
      return send(res, 404, 'text/plain', 'not found');
    }
    if (method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed', { allow: 'GET, POST' });
    if (path === '/console/logout') {
      const session = await sessionOf(req);
      const who = await authenticator(req, 'decide');
      if (who.kind === 'refused' && session !== undefined) return refuse(res, { ...base, approver: session.approver, status: who.status, message: who.message, detail: who.detail });
      if (session !== undefined) await fromApprovalStore(sessions.end(session.id));
      return json(res, 200, { signedIn: false }, { 'set-cookie': cookie(SESSION, '', { secure, sameSite: 'Strict', maxAge: 0 }) });
    }
    if (path !== '/console/token' && path !== '/console/dev') return send(res, 404, 'text/plain', 'not found');
    // Sign-in by POST: same-origin only, so another site cannot sign a visitor in as someone else.
    const cross = sameOrigin(req);
    if (cross !== undefined) return refuse(res, { ...base, status: 403, message: 'Cross-site request refused.', detail: `console sign-in not same-origin: ${cross}` });
    if (plainHttpRefused(req)) return refuse(res, { ...base, status: 403, message: 'Sign-in over plain HTTP is allowed on loopback only.', detail: 'secureCookies: false off loopback' });
    const body = await readJson(req);
    if (body === undefined) return refuse(res, { ...base, status: 400, message: 'Send a JSON body.', detail: 'console sign-in body is not JSON' });
    if (path === '/console/token') {
      const token = typeof body.token === 'string' ? body.token.trim().replace(/^Bearer\s+/i, '') : '';
      if (options.verifier === undefined) return send(res, 404, 'text/plain', 'not found');
      let approver: Approver;
      try {
        approver = await approverOf(token);
      } catch (error) {
        return refuse(res, { ...base, status: 401, message: 'The token is invalid or expired.', detail: `console token sign-in: ${error instanceof Error ? error.message : String(error)}` });
      }
      const session = await open(approver, 'token');
      return json(res, 200, sessionBody(session), { 'set-cookie': sessionCookie(session) });
    }
    const dev = devApprovers.get(typeof body.sub === 'string' ? body.sub : '');
    if (devApprovers.size === 0) return send(res, 404, 'text/plain', 'not found');
    if (dev === undefined) return refuse(res, { ...base, status: 400, message: 'No such dev approver.', detail: 'dev sign-in with an unknown sub' });
    const session = await open(dev, 'dev');
    return json(res, 200, sessionBody(session), { 'set-cookie': sessionCookie(session) });
  }

  async function callback(req: IncomingMessage, res: ServerResponse, url: URL, base: { method: string; path: string }): Promise<void> {
    const clearLogin = cookie(LOGIN, '', { secure, sameSite: 'Lax', maxAge: 0 });
    const state = url.searchParams.get('state') ?? '';
    const sealed = readCookie(req.headers.cookie, LOGIN);
    // The state must be one we sealed (on any replica sharing the secret) into this browser's login cookie, and
    // not too old. The cookie is this browser's alone, so a stranger can neither spoil nor finish its sign-in.
    const opened = sealed === undefined ? undefined : seal.open(sealed);
    const attempt = login === undefined || opened === undefined || !sameSecret(opened.state, state) || now() - opened.at > LOGIN_TTL_S * 1000 || opened.at > now() + 60_000 ? undefined : opened;
    if (login === undefined || attempt === undefined) {
      return refuse(res, { ...base, status: 400, message: 'This sign-in link is not valid here; start again from the console.', detail: 'callback with an unknown, expired or foreign state' }, true);
    }
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    if (error !== null || code === null) {
      return refuse(res, { ...base, status: 401, message: 'The issuer did not sign you in.', detail: `authorization error: ${(error ?? 'no code').slice(0, 100)}` }, true);
    }
    let approver: Approver;
    try {
      const tokens = await login.finish(code, attempt);
      // The verifier decides the identity as for agents: the ID token when its audience is accepted, else the access token.
      approver = await approverOf(tokens.idToken).catch(async (first: unknown) => {
        if (tokens.accessToken === undefined) throw first;
        return approverOf(tokens.accessToken);
      });
      if (approver.sub !== tokens.subject) throw new LoginError('Sign-in failed.', 'access token subject differs from the ID token');
    } catch (error) {
      const message = error instanceof LoginError ? error.publicMessage : 'Sign-in failed: your token was not accepted.';
      return refuse(res, { ...base, status: 401, message, detail: error instanceof Error ? error.message : String(error) }, true);
    }
    // Each sign-in is used once, on every replica: a callback replayed (the same state and code) opens nothing,
    // even from an issuer that let the code be redeemed twice. Marked only now, after the issuer vouched for it,
    // so a stranger's made-up callbacks write nothing.
    // Its age is checked again: the issuer may have taken long, and a used state is remembered only a margin
    // past the time a sign-in may last.
    if (now() - attempt.at > LOGIN_TTL_S * 1000) {
      return refuse(res, { ...base, approver, status: 400, message: 'This sign-in took too long; start again from the console.', detail: 'callback past the sign-in time after the token exchange' }, true);
    }
    if (!(await fromApprovalStore(sessions.claimLogin(attempt.state, attempt.at)))) {
      return refuse(res, { ...base, approver, status: 400, message: 'This sign-in link is not valid here; start again from the console.', detail: 'callback with a state already used' }, true);
    }
    const session = await open(approver, 'oidc');
    // A page, not a redirect: a Strict cookie set at the end of a cross-site redirect chain would not be sent yet.
    send(res, 200, 'text/html', messagePage('Signed in.', true), { 'set-cookie': [sessionCookie(session), clearLogin] });
  }

  return {
    async routes(req, res, url) {
      if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return false;
      try {
        await handle(req, res, url);
      } catch (error) {
        // Sessions live beside the approvals: while that store is down, the console says so (and records it)
        // as the approval API does, rather than failing as an internal error with no audit record.
        if (!(error instanceof ApprovalsUnavailableError) || res.headersSent) throw error;
        req.resume();
        const method = req.method ?? 'GET';
        const path = url.pathname.slice(0, 200);
        options.log?.('error', `console: ${method} ${path}: the approval store is unavailable: ${error.message}`);
        const refusal = { method, path, status: 503, code: 'APPROVALS_UNAVAILABLE', message: APPROVALS_UNAVAILABLE_MESSAGE, detail: error.message };
        // The sign-in steps are browser navigations: they get a page, the rest JSON.
        await refuse(res, refusal, path === '/console/login' || path === '/console/callback', { 'retry-after': '5' });
      }
      return true;
    },
    authenticator,
    close() {
      unsubscribe();
      clearInterval(heartbeat);
      for (const stream of streams) stream.res.end();
      streams.clear();
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small page for sign-in outcomes; `onward` sends the browser on to the console (meta refresh, no script). */
function messagePage(message: string, onward = false): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">${onward ? '<meta http-equiv="refresh" content="0;url=/console">' : ''}<meta name="viewport" content="width=device-width, initial-scale=1"><title>airlock approvals</title><link rel="stylesheet" href="/console/console.css"></head><body><main class="message"><p>${escapeHtml(message)}</p><p><a href="/console">Back to the console</a></p></main></body></html>`;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  if ((req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
