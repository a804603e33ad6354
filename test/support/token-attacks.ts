import { createHmac } from 'node:crypto';
import { exportSPKI, importJWK, type CryptoKey, type JWK } from 'jose';
import type { LocalIssuer } from './oidc-issuer.js';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);

/** The token attack suite (issue 3): each case, and the reason the audit must give for refusing it. */
export function tokenAttacks(idp: LocalIssuer, stranger: LocalIssuer, aud: string): [string, () => Promise<string>, RegExp][] {
  return [
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: 'x', aud, exp: now() + 300 })}.`, /\(malformed\)|\(algorithm_not_allowed\)/],
    [
      'HS256 signed with the RSA public key',
      async () => {
        const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: JWK[] };
        const pem = await exportSPKI((await importJWK(jwks.keys[0] as JWK, 'RS256', { extractable: true })) as CryptoKey);
        const head = `${b64({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0]?.kid })}.${b64({ iss: idp.issuer, sub: 'x', aud, exp: now() + 300 })}`;
        return `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
      },
      /\(algorithm_not_allowed\)/,
    ],
    ['an issuer that is not trusted', () => stranger.sign({ sub: 'x', aud }), /\(untrusted_issuer\)/],
    ['a wrong issuer claim on a key we trust', () => idp.sign({ sub: 'x', aud, iss: 'https://evil.example' }), /\(untrusted_issuer\)/],
    ['a wrong audience', () => idp.sign({ sub: 'x', aud: 'https://other.example/mcp' }), /\(claim_invalid\): aud/],
    ['an expired token', () => idp.sign({ sub: 'x', aud, iat: now() - 7200, exp: now() - 3600 }), /\(expired\)/],
    ['nbf in the future', () => idp.sign({ sub: 'x', aud, nbf: now() + 3600 }), /\(not_yet_valid\)/],
    ['an unknown kid', () => idp.sign({ sub: 'x', aud }, { kid: 'no-such-key' }), /\(unknown_key\)/],
    ['a kid that is a URL', () => idp.sign({ sub: 'x', aud }, { kid: 'https://attacker.example/jwks.json' }), /\(unknown_key\)/],
    ['a jku header pointing elsewhere', () => idp.sign({ sub: 'x', aud }, { kid: 'x', header: { jku: 'https://attacker.example/jwks.json' } }), /\(unknown_key\)/],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await idp.sign({ sub: 'x', aud, groups: ['analysts'] })).split('.');
        return `${h}.${b64({ iss: idp.issuer, sub: 'x', aud, exp: now() + 300, groups: ['dba'] })}.${s}`;
      },
      /\(bad_signature\)/,
    ],
    ['a token without exp', () => idp.sign({ sub: 'x', aud, exp: undefined }), /\(claim_invalid\): exp|\(malformed\)/],
    ['a token without sub', () => idp.sign({ aud }), /\(claim_invalid\): sub/],
    ['garbage', async () => 'not-a-jwt', /\(malformed\)/],
  ];
}
