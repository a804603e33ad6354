import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '../../src/errors.js';
import { identityConfigSchema, type IdentityConfig } from '../../src/identity/config.js';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { principalKey } from '../../src/identity/principal.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

let idp: LocalIssuer;
let partner: LocalIssuer;
const AUD = 'https://airlock.test/mcp';
const now = (): number => Math.floor(Date.now() / 1000);

function config(issuer: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): IdentityConfig {
  return identityConfigSchema().parse({ issuers: [{ issuer: idp.issuer, audiences: [AUD], ...issuer }], jwksCooldownSeconds: 0, ...extra });
}

async function refusal(verifier: OidcVerifier, token: string): Promise<string> {
  const error = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  expect((error as UnauthenticatedError).publicMessage).toBe('No verified identity: this call carries no valid credential.');
  return (error as UnauthenticatedError).message;
}

beforeAll(async () => {
  idp = await startLocalIssuer();
  partner = await startLocalIssuer();
});
afterAll(async () => {
  await idp.close();
  await partner.close();
});

describe('OidcVerifier: email_verified must be the boolean true (issue 15)', () => {
  const groups = { dba: ['kate@corp.example'] };

  it('uses the email and its static groups only when email_verified is true (identity:verified-email)', async () => {
    const verifier = new OidcVerifier(config({ groups }));
    const ok = await verifier.verify(await idp.sign({ sub: 'k', aud: AUD, email: 'kate@corp.example', email_verified: true }));
    expect(ok.principal).toMatchObject({ email: 'kate@corp.example', groups: ['dba'] });
    for (const value of ['FALSE', 'false', 'true', 'True', 0, 1, null, {}, [true], undefined]) {
      const token = await idp.sign({ sub: 'k', aud: AUD, email: 'kate@corp.example', email_verified: value });
      const { principal } = await verifier.verify(token);
      expect(principal, JSON.stringify(value)).toMatchObject({ sub: 'k', email: undefined, groups: [] });
    }
  });

  it('counts a missing claim as verified only for an issuer configured with trustEmailWithoutVerifiedClaim', async () => {
    const verifier = new OidcVerifier(config({ groups, trustEmailWithoutVerifiedClaim: true }));
    const missing = await verifier.verify(await idp.sign({ sub: 'k', aud: AUD, email: 'kate@corp.example' }));
    expect(missing.principal).toMatchObject({ email: 'kate@corp.example', groups: ['dba'] });
    for (const value of ['true', 'FALSE', false, 0, 1, null]) {
      const { principal } = await verifier.verify(await idp.sign({ sub: 'k', aud: AUD, email: 'kate@corp.example', email_verified: value }));
      expect(principal, JSON.stringify(value)).toMatchObject({ email: undefined, groups: [] });
    }
  });
});

describe('OidcVerifier: emails that change under Unicode folding identify nobody (issue 15)', () => {
  const groups = { dba: ['kate@corp.example', 'sam@corp.example', 'tim@corp.example', 'kate@xn--bcher-kva.example'] };

  it('refuses look-alikes of a member (Kelvin sign, long s, dotless i, full-width, combining marks, ß)', async () => {
    const verifier = new OidcVerifier(config({ groups }));
    const lookAlikes = [
      '\u212Aate@corp.example',
      'kate@\u212Aorp.example',
      '\u017Fam@corp.example',
      't\u0131m@corp.example',
      '\uFF4Bate@corp.example',
      'kate@corp\uFF0Eexample',
      'ka\u0301te@corp.example',
      'kate@corp.exampl\u212A',
      'stra\u00DFe@corp.example',
    ];
    for (const email of lookAlikes) {
      const { principal } = await verifier.verify(await idp.sign({ sub: 'mallory', aud: AUD, email, email_verified: true }));
      expect(principal, email).toMatchObject({ sub: 'mallory', email: undefined, groups: [] });
    }
  });

  it('lowercases ASCII, keeps stable Unicode, and compares internationalised domains in their xn-- form', async () => {
    const verifier = new OidcVerifier(config({ groups }));
    const cases: [string, string, string[]][] = [
      ['KATE@Corp.Example', 'kate@corp.example', ['dba']],
      ['kate@b\u00FCcher.example', 'kate@xn--bcher-kva.example', ['dba']],
      ['j\u00FCrgen@corp.example', 'j\u00FCrgen@corp.example', []],
    ];
    for (const [email, canonical, expected] of cases) {
      const { principal } = await verifier.verify(await idp.sign({ sub: 's', aud: AUD, email, email_verified: true }));
      expect(principal, email).toMatchObject({ email: canonical, groups: expected });
    }
  });
});

describe('OidcVerifier: emails and static groups are keyed by issuer (issue 15)', () => {
  function twoIssuers(partnerIssuer: Record<string, unknown> = {}): IdentityConfig {
    return identityConfigSchema().parse({
      issuers: [
        { issuer: idp.issuer, audiences: [AUD], emailDomains: ['corp.example'], groups: { dba: ['kate@corp.example'] } },
        { issuer: partner.issuer, audiences: [AUD], emailDomains: ['partner.example'], ...partnerIssuer },
      ],
      jwksCooldownSeconds: 0,
    });
  }

  it('gives kate her groups from her issuer and nothing when another trusted issuer asserts her email', async () => {
    const verifier = new OidcVerifier(twoIssuers());
    const own = await verifier.verify(await idp.sign({ sub: 'kate', aud: AUD, email: 'kate@corp.example', email_verified: true }));
    expect(own.principal).toMatchObject({ issuer: idp.issuer, email: 'kate@corp.example', groups: ['dba'] });
    for (const email of ['kate@corp.example', 'KATE@corp.example', 'kate@sub.corp.example']) {
      const other = await verifier.verify(await partner.sign({ sub: 'kate', aud: AUD, email, email_verified: true }));
      expect(other.principal, email).toMatchObject({ issuer: partner.issuer, sub: 'kate', email: undefined, groups: [] });
    }
    const partnerUser = await verifier.verify(await partner.sign({ sub: 'p', aud: AUD, email: 'pat@partner.example', email_verified: true }));
    expect(partnerUser.principal).toMatchObject({ email: 'pat@partner.example', groups: [] });
    // Different issuers, same sub: different principals.
    expect(principalKey(own.principal)).not.toBe(principalKey({ issuer: partner.issuer, sub: 'kate' }));
  });

  it('uses no email at all from an issuer with emailDomains []; "*." patterns cover subdomains only', async () => {
    const none = new OidcVerifier(twoIssuers({ emailDomains: [] }));
    expect((await none.verify(await partner.sign({ sub: 'p', aud: AUD, email: 'pat@partner.example', email_verified: true }))).principal.email).toBeUndefined();
    const wildcard = new OidcVerifier(twoIssuers({ emailDomains: ['*.partner.example'] }));
    expect((await wildcard.verify(await partner.sign({ sub: 'p', aud: AUD, email: 'pat@eu.partner.example', email_verified: true }))).principal.email).toBe('pat@eu.partner.example');
    expect((await wildcard.verify(await partner.sign({ sub: 'p', aud: AUD, email: 'pat@partner.example', email_verified: true }))).principal.email).toBeUndefined();
  });

  it('refuses a configuration whose static groups or email domains are not tied to an issuer', () => {
    const issues = (input: unknown): string[] => {
      const parsed = identityConfigSchema().safeParse(input);
      return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    const a = { issuer: 'https://a.example', audiences: ['x'], emailDomains: ['a.example'] };
    const b = { issuer: 'https://b.example', audiences: ['x'], emailDomains: ['b.example'] };
    expect(issues({ issuers: [a, b], groups: { dba: ['kate@a.example'] } })).toEqual([
      'groups: with several issuers, static groups must name their issuer: move them to issuers[].groups of the issuer that verifies those emails',
    ]);
    expect(issues({ issuers: [a, { issuer: 'https://b.example', audiences: ['x'] }] })).toEqual([
      'issuers.1.emailDomains: required when several issuers are trusted: list the email domains this issuer speaks for ([] for none), so that one issuer cannot assert the users of another',
    ]);
    expect(issues({ issuers: [{ ...a, emailDomains: ['Corp.Example'] }] })).toEqual(['issuers.0.emailDomains.0: must be a lowercase domain like "corp.example" or "*.corp.example"']);
    // One issuer keeps the top-level map.
    expect(issues({ issuers: [{ issuer: 'https://a.example', audiences: ['x'] }], groups: { dba: ['kate@a.example'] } })).toEqual([]);
  });
});

describe('OidcVerifier: claim types (issue 16)', () => {
  it('refuses a sub that is not a bounded string without control characters (identity:claim-types)', async () => {
    const verifier = new OidcVerifier(config());
    const subs: unknown[] = [null, '', 123, 0, true, { a: 1 }, ['x'], 'x'.repeat(256), 'a\u0000b', 'kate\nINFO forged', 'a\u001b[2Jb', '\u202Eevil', 'zero\u200Bwidth', 'line\u2028sep'];
    for (const sub of subs) {
      const message = await refusal(verifier, await idp.sign({ sub: sub as string, aud: AUD }));
      expect(message, JSON.stringify(sub)).toMatch(/\(claim_invalid\): sub/);
    }
    expect((await verifier.verify(await idp.sign({ sub: 'x'.repeat(255), aud: AUD }))).principal.sub).toHaveLength(255);
    expect((await verifier.verify(await idp.sign({ sub: '123', aud: AUD }))).principal.sub).toBe('123');
  });

  it('refuses an email claim that is present but not a bounded string without control characters', async () => {
    const verifier = new OidcVerifier(config());
    for (const email of [123, '', null, ['kate@corp.example'], { v: 1 }, 'kate@corp.example\r\nx', `${'a'.repeat(250)}@c.example`]) {
      const message = await refusal(verifier, await idp.sign({ sub: 's', aud: AUD, email: email, email_verified: true }));
      expect(message, JSON.stringify(email)).toMatch(/\(claim_invalid\): email/);
    }
  });

  it('refuses non-finite or non-numeric dates (exp 1e400 would never expire)', async () => {
    const verifier = new OidcVerifier(config());
    const base = (extra: string): string => `{"iss":${JSON.stringify(idp.issuer)},"aud":"${AUD}","sub":"s","iat":${now()},"exp":${now() + 300}${extra}}`;
    const cases: [string, RegExp][] = [
      [`{"iss":${JSON.stringify(idp.issuer)},"aud":"${AUD}","sub":"s","exp":1e400}`, /\(claim_invalid\): exp/],
      [`{"iss":${JSON.stringify(idp.issuer)},"aud":"${AUD}","sub":"s","exp":1e400,"iat":-1e400}`, /\(claim_invalid\)/],
      [base(',"nbf":-1e400'), /\(claim_invalid\): nbf/],
      [base(',"iat":-1e400').replace(`"iat":${now()},`, ''), /\(claim_invalid\): iat/],
      [`{"iss":${JSON.stringify(idp.issuer)},"aud":"${AUD}","sub":"s","exp":"${now() + 300}"}`, /\(claim_invalid\): exp/],
    ];
    for (const [payload, reason] of cases) expect(await refusal(verifier, await idp.signRaw(payload)), payload).toMatch(reason);
    // The raw signer itself is sound: the same payload with finite dates verifies.
    expect((await verifier.verify(await idp.signRaw(base('')))).principal.sub).toBe('s');
  });

  it('resolves a dotted groups path only through objects; a literal top-level key cannot override it', async () => {
    const verifier = new OidcVerifier(config({ groupsClaim: 'realm_access.roles' }));
    const cases: [Record<string, unknown>, string[]][] = [
      [{ realm_access: { roles: ['analysts'] }, 'realm_access.roles': ['dba'] }, ['analysts']],
      [{ 'realm_access.roles': ['dba'] }, []],
      [{ realm_access: ['roles'] }, []],
      [{ realm_access: { roles: 'analysts, sre' } }, ['analysts', 'sre']],
      [{ realm_access: { roles: ['ok', 'bad\u0000name', '', 7, 'x'.repeat(300)] } }, ['ok']],
    ];
    for (const [claims, expected] of cases) {
      expect((await verifier.verify(await idp.sign({ sub: 's', aud: AUD, ...claims }))).principal.groups, JSON.stringify(claims)).toEqual(expected);
    }
    const namespaced = new OidcVerifier(config({ groupsClaim: ['https://example.com/roles'] }));
    expect((await namespaced.verify(await idp.sign({ sub: 's', aud: AUD, 'https://example.com/roles': ['dba'] }))).principal.groups).toEqual(['dba']);
  });

  it('pins typ when the issuer says so', async () => {
    const verifier = new OidcVerifier(config({ typ: ['at+jwt'] }));
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt']) {
      expect((await verifier.verify(await idp.sign({ sub: 's', aud: AUD }, { header: { typ } }))).principal.sub, typ).toBe('s');
    }
    for (const typ of ['JWT', 'id_token', undefined]) {
      const message = await refusal(verifier, await idp.sign({ sub: 's', aud: AUD }, { header: { typ } }));
      expect(message, String(typ)).toMatch(/\(claim_invalid\): typ/);
    }
    // Without the setting, any typ verifies.
    expect((await new OidcVerifier(config()).verify(await idp.sign({ sub: 's', aud: AUD }, { header: { typ: 'whatever' } }))).principal.sub).toBe('s');
  });

  it('treats a token past exp as expired, also within the clock tolerance (which stays for nbf)', async () => {
    const verifier = new OidcVerifier(config({ clockToleranceSeconds: 60 }));
    for (const ago of [1, 10, 59]) {
      expect(await refusal(verifier, await idp.sign({ sub: 's', aud: AUD, iat: now() - 120, exp: now() - ago })), String(ago)).toMatch(/\(expired\)/);
    }
    expect((await verifier.verify(await idp.sign({ sub: 's', aud: AUD, nbf: now() + 30 }))).principal.sub).toBe('s');
  });

  it('builds principal keys structurally: no choice of issuer and sub collides', () => {
    expect(principalKey({ issuer: 'https://a.example x', sub: 'y' })).not.toBe(principalKey({ issuer: 'https://a.example', sub: 'x y' }));
    expect(principalKey({ issuer: 'a","b', sub: 'c' })).not.toBe(principalKey({ issuer: 'a', sub: 'b","c' }));
    expect(principalKey({ issuer: 'i', sub: '123' })).toBe('["i","123"]');
  });
});

describe('OidcVerifier: the trust bootstrap (issue 17)', () => {
  async function refusedWith(issuerConfig: Record<string, unknown>, reason: RegExp): Promise<void> {
    const message = await refusal(new OidcVerifier(config(issuerConfig)), await idp.sign({ sub: 's', aud: AUD }));
    expect(message).toMatch(/\(jwks_unavailable\)/);
    expect(message).toMatch(reason);
  }

  it('applies the https-or-loopback rule to the discovered jwks_uri (identity:trust-bootstrap)', async () => {
    try {
      for (const uri of ['http://example.invalid/jwks', 'http://10.0.0.1/jwks', 'data:application/json,{"keys":[]}', 'file:///etc/passwd', 'ftp://127.0.0.1/jwks', 'https://user:pw@example.invalid/jwks']) {
        idp.setDiscovery({ jwks_uri: uri });
        await refusedWith({}, /discovered jwks_uri .* is not an https URL/);
      }
      idp.setDiscovery({ jwks_uri: 42 });
      await refusedWith({}, /not an OpenID configuration/);
    } finally {
      idp.setDiscovery({});
    }
  });

  it('does not follow a redirect from the JWKS URL', async () => {
    await refusedWith({ jwksUri: `${idp.issuer}/redirect-jwks` }, /redirect|fetch failed/i);
  });

  it('caps discovery and JWKS bodies at 1 MiB', async () => {
    try {
      idp.setDiscovery({ padding: 'x'.repeat(1024 * 1024) });
      await refusedWith({}, /exceeds the 1048576-byte limit/);
      idp.setDiscovery({});
      idp.setJwksBody(JSON.stringify({ keys: [], padding: 'x'.repeat(2 * 1024 * 1024) }));
      await refusedWith({}, /exceeds the 1048576-byte limit/);
      idp.setJwksBody('not json');
      await refusedWith({}, /did not answer with JSON/);
    } finally {
      idp.setDiscovery({});
      idp.setJwksBody(undefined);
    }
  });

  it('rate-limits fetches during an outage: refused tokens do not each make an outbound request (identity:trust-bootstrap)', async () => {
    const verifier = new OidcVerifier(config());
    const token = await idp.sign({ sub: 's', aud: AUD });
    const discovery = idp.discoveryRequests();
    idp.setDown(true);
    try {
      for (let i = 0; i < 20; i++) expect(await refusal(verifier, token)).toMatch(/\(jwks_unavailable\)/);
      expect(idp.discoveryRequests() - discovery).toBe(1);
      expect(await refusal(verifier, token)).toMatch(/next attempt in \d+ s/);
    } finally {
      idp.setDown(false);
    }
    // After the backoff the issuer is asked again and the token verifies.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await verifier.verify(token)).principal.sub).toBe('s');
  });

  it('rate-limits JWKS refetches once the cached keys have expired and the IdP is down', async () => {
    const verifier = new OidcVerifier(config({ jwksUri: idp.jwksUri }));
    const token = await idp.sign({ sub: 's', aud: AUD });
    idp.setDown(true);
    const before = idp.jwksRequests();
    try {
      for (let i = 0; i < 20; i++) await refusal(verifier, await idp.sign({ sub: 's', aud: AUD }, { kid: `unknown-${i}` }));
      expect(idp.jwksRequests() - before).toBe(1);
    } finally {
      idp.setDown(false);
    }
    await new Promise((r) => setTimeout(r, 1100));
    expect((await verifier.verify(token)).principal.sub).toBe('s');
  });
});
