import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityConfigSchema, type IdentityConfig } from '../../src/identity/config.js';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { UnauthenticatedError } from '../../src/errors.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { tokenAttacks } from '../support/token-attacks.js';

let idp: LocalIssuer;
let stranger: LocalIssuer;
const AUD = 'https://airlock.test/mcp';

function config(extra: Partial<IdentityConfig> = {}, issuer: Record<string, unknown> = {}): IdentityConfig {
  return identityConfigSchema().parse({ issuers: [{ issuer: idp.issuer, audiences: [AUD], ...issuer }], jwksCooldownSeconds: 0, ...extra });
}


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
  // Built lazily: the issuers start in beforeAll.
  let cases: ReturnType<typeof tokenAttacks> = [];
  beforeAll(() => {
    cases = tokenAttacks(idp, stranger, AUD);
  });
  it('rejects every attack token with the fixed public error and names the reason for the audit', async () => {
    expect(cases.length).toBe(14);
    for (const [label, make, reason] of cases) {
      const e = await rejection(new OidcVerifier(config()), await make());
      expect(e.message, label).toMatch(reason);
    }
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
