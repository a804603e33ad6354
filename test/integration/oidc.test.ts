import { createHmac } from 'node:crypto';
import { exportSPKI, importJWK, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityConfigSchema, type IdentityConfig } from '../../src/identity/config.js';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { UnauthenticatedError } from '../../src/errors.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

let idp: LocalIssuer;
let stranger: LocalIssuer;
const AUD = 'https://airlock.test/mcp';
const now = () => Math.floor(Date.now() / 1000);

function config(extra: Partial<IdentityConfig> = {}, issuer: Record<string, unknown> = {}): IdentityConfig {
  return IdentityConfigSchema.parse({ issuers: [{ issuer: idp.issuer, audiences: [AUD], ...issuer }], jwksCooldownSeconds: 0, ...extra });
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

async function rejection(verifier: OidcVerifier, token: string): Promise<UnauthenticatedError> {
  const error = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  const e = error as UnauthenticatedError;
  expect(e.code).toBe('UNAUTHENTICATED');
  expect(e.publicMessage).toBe('No verified identity: this call carries no valid credential.');
  return e;
}

beforeAll(async () => {
  idp = await startLocalIssuer();
  stranger = await startLocalIssuer();
});
afterAll(async () => {
  await idp.close();
  await stranger.close();
});

describe('OidcVerifier', () => {
  it('verifies a token through discovery and maps claims to a principal', async () => {
    const verifier = new OidcVerifier(config());
    const token = await idp.sign({ sub: 'u-1', aud: AUD, email: 'Ana@Example.com', email_verified: true, groups: ['analysts', 'dba'], azp: 'cursor' });
    const { principal, expiresAt } = await verifier.verify(token);
    expect(principal).toEqual({ issuer: idp.issuer, sub: 'u-1', email: 'ana@example.com', groups: ['analysts', 'dba'], clientId: 'cursor', dev: false });
    expect(expiresAt).toBeGreaterThan(Date.now());
  });

  it('accepts ES256 and reads groups from a nested claim path (Keycloak realm roles)', async () => {
    const verifier = new OidcVerifier(config({}, { groupsClaim: 'realm_access.roles' }));
    const token = await idp.sign({ sub: 'u-2', aud: AUD, realm_access: { roles: ['analysts'] } }, { alg: 'ES256' });
    expect((await verifier.verify(token)).principal.groups).toEqual(['analysts']);
  });

  it('adds static groups by verified email, and ignores an email the IdP marks unverified', async () => {
    const verifier = new OidcVerifier(config({ groups: { dba: ['alice@corp.example'] } }));
    const verified = await idp.sign({ sub: 'a', aud: AUD, email: 'alice@corp.example', email_verified: true });
    expect((await verifier.verify(verified)).principal.groups).toEqual(['dba']);
    const unverified = await idp.sign({ sub: 'a', aud: AUD, email: 'alice@corp.example', email_verified: false });
    expect((await verifier.verify(unverified)).principal).toMatchObject({ email: undefined, groups: [] });
  });

  it('verifies a Google-style service-account ID token (email, email_verified, sub, azp)', async () => {
    const verifier = new OidcVerifier(config());
    const token = await idp.sign({ sub: '1122334455', aud: AUD, email: 'devin-agent@proj.iam.gserviceaccount.com', email_verified: true, azp: '1122334455' });
    expect((await verifier.verify(token)).principal).toMatchObject({ sub: '1122334455', email: 'devin-agent@proj.iam.gserviceaccount.com', clientId: '1122334455' });
  });

  it('gets tokens from the client-credentials endpoint that verify', async () => {
    const { clientCredentialsToken } = await import('../support/oidc-issuer.js');
    idp.clients.set('ci-agent', { secret: 's3cret', claims: { groups: ['analysts'] } });
    const token = await clientCredentialsToken(idp, 'ci-agent', 's3cret', AUD);
    expect((await new OidcVerifier(config()).verify(token)).principal).toMatchObject({ sub: 'ci-agent', groups: ['analysts'], clientId: 'ci-agent' });
  });
});

describe('OidcVerifier token attack suite (issue 3)', () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: 'x', aud: AUD, exp: now() + 300 })}.`, /\(malformed\)|\(algorithm_not_allowed\)/],
    [
      'HS256 signed with the RSA public key',
      async () => {
        const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: JWK[] };
        const pem = await exportSPKI((await importJWK(jwks.keys[0] as JWK, 'RS256', { extractable: true })) as CryptoKey);
        const head = `${b64({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0]?.kid })}.${b64({ iss: idp.issuer, sub: 'x', aud: AUD, exp: now() + 300 })}`;
        return `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
      },
      /\(algorithm_not_allowed\)/,
    ],
    ['an issuer that is not trusted', () => stranger.sign({ sub: 'x', aud: AUD }), /\(untrusted_issuer\)/],
    ['a wrong issuer claim on a key we trust', () => idp.sign({ sub: 'x', aud: AUD, iss: 'https://evil.example' }), /\(untrusted_issuer\)/],
    ['a wrong audience', () => idp.sign({ sub: 'x', aud: 'https://other.example/mcp' }), /\(claim_invalid\): aud/],
    ['an expired token', () => idp.sign({ sub: 'x', aud: AUD, iat: now() - 7200, exp: now() - 3600 }), /\(expired\)/],
    ['nbf in the future', () => idp.sign({ sub: 'x', aud: AUD, nbf: now() + 3600 }), /\(not_yet_valid\)/],
    ['an unknown kid', () => idp.sign({ sub: 'x', aud: AUD }, { kid: 'no-such-key' }), /\(unknown_key\)/],
    ['a kid that is a URL', () => idp.sign({ sub: 'x', aud: AUD }, { kid: 'https://attacker.example/jwks.json' }), /\(unknown_key\)/],
    ['a jku header pointing elsewhere', () => idp.sign({ sub: 'x', aud: AUD }, { kid: 'x', header: { jku: 'https://attacker.example/jwks.json' } }), /\(unknown_key\)/],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await idp.sign({ sub: 'x', aud: AUD, groups: ['analysts'] })).split('.');
        return `${h}.${b64({ iss: idp.issuer, sub: 'x', aud: AUD, exp: now() + 300, groups: ['dba'] })}.${s}`;
      },
      /\(bad_signature\)/,
    ],
    ['a token without exp', () => idp.sign({ sub: 'x', aud: AUD, exp: undefined }), /\(claim_invalid\): exp|\(malformed\)/],
    ['a token without sub', () => idp.sign({ aud: AUD }), /\(claim_invalid\): sub/],
    ['garbage', async () => 'not-a-jwt', /\(malformed\)/],
  ];

  it.each(cases)('rejects %s with the fixed public error', async (_label, make, reason) => {
    const e = await rejection(new OidcVerifier(config()), await make());
    expect(e.message).toMatch(reason);
  });

  it('fails closed when the JWKS endpoint is down and nothing is cached', async () => {
    idp.setDown(true);
    try {
      const e = await rejection(new OidcVerifier(config()), await idp.sign({ sub: 'x', aud: AUD }));
      expect(e.message).toMatch(/\(jwks_unavailable\)/);
    } finally {
      idp.setDown(false);
    }
  });

  it('does not accept an unknown key while the JWKS endpoint is down, even with keys cached', async () => {
    const verifier = new OidcVerifier(config());
    await verifier.verify(await idp.sign({ sub: 'x', aud: AUD }));
    idp.setDown(true);
    try {
      const e = await rejection(verifier, await idp.sign({ sub: 'x', aud: AUD }, { kid: 'new-key-we-never-saw' }));
      expect(e.message).toMatch(/\(jwks_unavailable\)|\(unknown_key\)/);
    } finally {
      idp.setDown(false);
    }
  });

  it('accepts a rotated-in key after a JWKS refresh and rejects the removed key', async () => {
    const verifier = new OidcVerifier(config());
    const before = await idp.sign({ sub: 'x', aud: AUD });
    await verifier.verify(before);
    await idp.rotate();
    const after = await idp.sign({ sub: 'x', aud: AUD });
    expect((await verifier.verify(after)).principal.sub).toBe('x');
    const stale = await idp.sign({ sub: 'x', aud: AUD }, { key: 'previous' });
    expect((await rejection(verifier, stale)).message).toMatch(/\(unknown_key\)/);
  });
});
