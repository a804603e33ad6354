/**
 * A local OpenID Connect issuer for tests, on loopback: discovery, JWKS (with key rotation and an
 * outage switch), a token endpoint (client credentials, and authorization code with PKCE S256 behind an
 * authorization endpoint that signs in whoever `signInAs` named), and `sign()` to mint any token a test needs.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

export interface LocalIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  /** Signs a token with the current key; claims override the defaults (iss, iat, exp in 5 min). */
  sign(claims: JWTPayload, options?: { kid?: string; alg?: 'RS256' | 'ES256'; header?: Record<string, unknown>; key?: 'current' | 'previous' }): Promise<string>;
  /** Adds a new signing key and drops the old one from the JWKS. */
  rotate(): Promise<void>;
  /**
   * Signs a payload given as raw JSON text (values jose's SignJWT refuses, such as `1e400`), with the
   * current RS256 key and `typ: JWT` unless the header says otherwise.
   */
  signRaw(payloadJson: string, header?: Record<string, unknown>): Promise<string>;
  /** Makes the discovery and JWKS endpoints answer 503 (true) or work again (false). */
  setDown(down: boolean): void;
  /** Replaces fields of the discovery document (e.g. a hostile `jwks_uri`); `{}` restores it. */
  setDiscovery(overrides: Record<string, unknown>): void;
  /** Serves this text as the JWKS body instead of the keys (undefined restores the keys). */
  setJwksBody(body: string | undefined): void;
  /** Requests to the discovery document so far. */
  discoveryRequests(): number;
  /** Registered clients for the token endpoint: id → { secret, claims }. */
  readonly clients: Map<string, { secret: string; claims: JWTPayload }>;
  jwksRequests(): number;
  readonly authorizationEndpoint: string;
  /**
   * The user the authorization endpoint signs in from now on (as if they had logged in at the issuer):
   * their claims go into the ID and access tokens. undefined: the endpoint answers `login_required`.
   */
  signInAs(claims: JWTPayload | undefined): void;
  /** The query of every request to the authorization endpoint so far. */
  authorizeRequests(): URLSearchParams[];
  /** Audience of access tokens issued for an authorization code (default "airlock"). */
  accessTokenAudience: string;
  close(): Promise<void>;
}

interface PendingCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string;
  readonly nonce: string | undefined;
  readonly claims: JWTPayload;
}

async function newKey(alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export async function startLocalIssuer(): Promise<LocalIssuer> {
  let current = await newKey('RS256');
  let previous: SigningKey | undefined;
  const ec = await newKey('ES256');
  let down = false;
  let jwksHits = 0;
  let discoveryHits = 0;
  let discoveryOverrides: Record<string, unknown> = {};
  let jwksBody: string | undefined;
  const clients = new Map<string, { secret: string; claims: JWTPayload }>();
  let base = '';
  let user: JWTPayload | undefined;
  const authorizeLog: URLSearchParams[] = [];
  const codes = new Map<string, PendingCode>();
  const state = { accessTokenAudience: 'airlock' };

  const sign: LocalIssuer['sign'] = async (claims, options = {}) => {
    const key = options.alg === 'ES256' ? ec : options.key === 'previous' && previous !== undefined ? previous : current;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: base, iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT', ...options.header })
      .sign(key.privateKey);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') discoveryHits++;
    if (url.pathname === '/jwks') jwksHits++;
    if (down && req.method === 'GET') return json(503, { error: 'unavailable' });
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: base,
        jwks_uri: `${base}/jwks`,
        token_endpoint: `${base}/token`,
        authorization_endpoint: `${base}/authorize`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
        ...discoveryOverrides,
      });
    }
    if (url.pathname === '/jwks') {
      if (jwksBody !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(jwksBody);
      }
      return json(200, { keys: [current.jwk, ec.jwk] });
    }
    if (url.pathname === '/redirect-jwks') {
      res.writeHead(302, { location: `${base}/jwks` });
      return res.end();
    }
    if (url.pathname === '/authorize' && req.method === 'GET') {
      const q = url.searchParams;
      authorizeLog.push(new URLSearchParams(q));
      const client = clients.get(q.get('client_id') ?? '');
      const redirect = q.get('redirect_uri') ?? '';
      if (client === undefined || !/^https?:\/\//.test(redirect)) return json(400, { error: 'invalid_request' });
      const back = new URL(redirect);
      if (q.get('state') !== null) back.searchParams.set('state', q.get('state') ?? '');
      const challenge = q.get('code_challenge') ?? '';
      if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
        back.searchParams.set('error', 'invalid_request');
      } else if (user === undefined) {
        back.searchParams.set('error', 'login_required');
      } else {
        const code = randomBytes(16).toString('base64url');
        codes.set(code, { clientId: q.get('client_id') ?? '', redirectUri: redirect, challenge, nonce: q.get('nonce') ?? undefined, claims: user });
        back.searchParams.set('code', code);
      }
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        if (form.get('grant_type') === 'authorization_code') {
          const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
          const [id, secret] = basic === null ? [form.get('client_id') ?? '', form.get('client_secret') ?? ''] : Buffer.from(basic[1] ?? '', 'base64').toString().split(':').map(decodeURIComponent);
          const client = clients.get(id ?? '');
          const code = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          if (client === undefined || client.secret !== secret) return json(401, { error: 'invalid_client' });
          const verifier = form.get('code_verifier') ?? '';
          if (code === undefined || code.clientId !== id || code.redirectUri !== form.get('redirect_uri') || createHash('sha256').update(verifier).digest('base64url') !== code.challenge) {
            return json(400, { error: 'invalid_grant' });
          }
          void Promise.all([
            sign({ aud: id, azp: id, ...(code.nonce === undefined ? {} : { nonce: code.nonce }), ...code.claims }),
            sign({ aud: state.accessTokenAudience, azp: id, ...code.claims }),
          ]).then(([idToken, accessToken]) => json(200, { id_token: idToken, access_token: accessToken, token_type: 'Bearer', expires_in: 300 }));
          return;
        }
        const client = clients.get(form.get('client_id') ?? '');
        if (form.get('grant_type') !== 'client_credentials' || client === undefined || client.secret !== form.get('client_secret')) {
          return json(401, { error: 'invalid_client' });
        }
        void sign({ sub: form.get('client_id') ?? '', aud: form.get('resource') ?? form.get('audience') ?? 'airlock', azp: form.get('client_id') ?? '', ...client.claims }).then((token) =>
          json(200, { access_token: token, token_type: 'Bearer', expires_in: 300 }),
        );
      });
      return;
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer: base,
    jwksUri: `${base}/jwks`,
    tokenEndpoint: `${base}/token`,
    authorizationEndpoint: `${base}/authorize`,
    signInAs(claims) {
      user = claims;
    },
    authorizeRequests: () => [...authorizeLog],
    get accessTokenAudience() {
      return state.accessTokenAudience;
    },
    set accessTokenAudience(value: string) {
      state.accessTokenAudience = value;
    },
    sign,
    async rotate() {
      previous = current;
      current = await newKey('RS256');
    },
    signRaw: (payloadJson, header = {}) =>
      new CompactSign(new TextEncoder().encode(payloadJson)).setProtectedHeader({ alg: 'RS256', kid: current.kid, typ: 'JWT', ...header }).sign(current.privateKey),
    setDown(value) {
      down = value;
    },
    setDiscovery(overrides) {
      discoveryOverrides = overrides;
    },
    setJwksBody(body) {
      jwksBody = body;
    },
    discoveryRequests: () => discoveryHits,
    clients,
    jwksRequests: () => jwksHits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Gets a token from the issuer's token endpoint with the client-credentials grant. */
export async function clientCredentialsToken(issuer: LocalIssuer, clientId: string, secret: string, resource: string): Promise<string> {
  const res = await fetch(issuer.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, resource }).toString(),
  });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
