import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import { isHttpsOrLoopback } from '../identity/config.js';
import { trustFetch } from '../identity/fetch.js';

/** The console's OIDC client registration. */
export interface OidcClientOptions {
  readonly issuer: string;
  readonly clientId: string;
  /** Resolved secret of a confidential client; absent for a public client (PKCE only). */
  readonly clientSecret?: string;
  readonly redirectUri: string;
  readonly scopes: readonly string[];
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

/** One sign-in in flight: what the callback must see again. */
export interface LoginAttempt {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  /** Where to send the browser. */
  readonly url: string;
}

/** The tokens of a completed sign-in; the ID token's signature, issuer, audience and nonce are checked. */
export interface LoginTokens {
  readonly idToken: string;
  readonly accessToken?: string;
  readonly subject: string;
}

/** A sign-in that did not complete; `message` is for the user, `detail` for the audit. */
export class LoginError extends Error {
  constructor(
    readonly publicMessage: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'LoginError';
  }
}

const Discovery = z.object({ issuer: z.string(), authorization_endpoint: z.url(), token_endpoint: z.url(), jwks_uri: z.url() });
const TokenAnswer = z.object({ id_token: z.string().min(1).max(16_384), access_token: z.string().max(16_384).optional() });
const random = (): string => randomBytes(32).toString('base64url');

/**
 * The console's side of the OpenID Connect authorization code flow with PKCE (S256), `state` and
 * `nonce`. Discovery is fetched once (a failure is retried on the next sign-in), under the same rules as
 * the token verifier: https only (http on loopback), a size cap, and an issuer that must match.
 */
export function createOidcLogin(options: OidcClientOptions): { start(): Promise<LoginAttempt>; finish(code: string, attempt: Pick<LoginAttempt, 'nonce' | 'verifier'>): Promise<LoginTokens> } {
  for (const [name, value] of [['issuer', options.issuer], ['redirectUri', options.redirectUri]] as const) {
    if (!isHttpsOrLoopback(value)) throw new TypeError(`console oidc: ${name} must be an https URL (http only on loopback)`);
  }
  if (!options.scopes.includes('openid')) throw new TypeError('console oidc: scopes must include "openid"');
  const fetcher = trustFetch(options.fetch === undefined ? {} : { fetch: options.fetch });
  const timeout = options.timeoutMs ?? 10_000;
  let discovered: Promise<{ doc: z.infer<typeof Discovery>; keys: JWTVerifyGetKey }> | undefined;

  const discover = (): Promise<{ doc: z.infer<typeof Discovery>; keys: JWTVerifyGetKey }> => {
    discovered ??= (async () => {
      const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetcher(url, { signal: AbortSignal.timeout(timeout) });
      const doc = Discovery.safeParse(await res.json());
      if (!doc.success) throw new Error(`discovery ${url}: no authorization_endpoint, token_endpoint and jwks_uri`);
      if (doc.data.issuer !== options.issuer) throw new Error(`discovery issuer "${doc.data.issuer.slice(0, 200)}" does not match "${options.issuer}"`);
      for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
        if (!isHttpsOrLoopback(doc.data[key])) throw new Error(`discovered ${key} is not an https URL (http only on loopback)`);
      }
      return { doc: doc.data, keys: createRemoteJWKSet(new URL(doc.data.jwks_uri), { timeoutDuration: timeout, [customFetch]: fetcher }) };
    })().catch((error: unknown) => {
      discovered = undefined;
      throw error;
    });
    return discovered;
  };

  return {
    async start() {
      const { doc } = await discover().catch((error: unknown) => {
        throw new LoginError('The sign-in service is unavailable; try again, or paste a token.', `discovery failed: ${String(error)}`);
      });
      const state = random();
      const nonce = random();
      const verifier = random();
      const url = new URL(doc.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('redirect_uri', options.redirectUri);
      url.searchParams.set('scope', options.scopes.join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('nonce', nonce);
      url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
      url.searchParams.set('code_challenge_method', 'S256');
      return { state, nonce, verifier, url: url.toString() };
    },

    async finish(code, attempt) {
      const { doc, keys } = await discover().catch((error: unknown) => {
        throw new LoginError('The sign-in service is unavailable; try again.', `discovery failed: ${String(error)}`);
      });
      const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: options.redirectUri, code_verifier: attempt.verifier });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
      if (options.clientSecret === undefined) form.set('client_id', options.clientId);
      else headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`;
      let answer: unknown;
      try {
        // The trust fetch is GET-only (discovery, JWKS); the code exchange is a plain POST that follows no redirect.
        const res = await (options.fetch ?? fetch)(doc.token_endpoint, { method: 'POST', headers, body: form.toString(), redirect: 'error', signal: AbortSignal.timeout(timeout) });
        const text = await res.text();
        if (text.length > 64 * 1024) throw new Error('token answer larger than 64 KiB');
        answer = JSON.parse(text) as unknown;
        if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(answer).slice(0, 200)}`);
      } catch (error) {
        throw new LoginError('Sign-in failed: the issuer did not accept the sign-in.', `code exchange failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      const tokens = TokenAnswer.safeParse(answer);
      if (!tokens.success) throw new LoginError('Sign-in failed: the issuer sent no ID token.', 'token answer without id_token');
      let subject: string;
      try {
        const { payload } = await jwtVerify(tokens.data.id_token, keys, {
          issuer: options.issuer,
          audience: options.clientId,
          algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
          requiredClaims: ['sub', 'exp', 'nonce'],
        });
        if (payload.nonce !== attempt.nonce) throw new Error('nonce does not match this sign-in');
        subject = String(payload.sub);
      } catch (error) {
        throw new LoginError('Sign-in failed: the ID token is not valid.', `id token rejected: ${error instanceof Error ? error.message : String(error)}`);
      }
      return { idToken: tokens.data.id_token, ...(tokens.data.access_token === undefined ? {} : { accessToken: tokens.data.access_token }), subject };
    },
  };
}
