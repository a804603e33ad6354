import * as z from 'zod';
import { once } from '../once.js';

/** Asymmetric signature algorithms only: never `none`, never HS* (a public key must not act as an HMAC secret). */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/**
 * The rule for every URL airlock fetches keys or metadata from, configured or discovered: https, or
 * http on a loopback address (tests). Never `data:`, `file:` or plain http to another host.
 */
export function isHttpsOrLoopback(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
}

/** One trusted token issuer (the schema is built on first use: a server without `--config` never needs it). */
export const issuerSchema = once(() => {
  const HttpsOrLoopbackUrl = z.url().refine(isHttpsOrLoopback, { message: 'must be an https URL (http only on loopback, for tests)' });
  return z.strictObject({
    /** Exactly as in the tokens' `iss` claim, e.g. "https://accounts.google.com". */
    issuer: HttpsOrLoopbackUrl,
    /** Accepted `aud` values; at least one must be in the token. */
    audiences: z.array(z.string().min(1)).min(1),
    /** Skip discovery and use this JWKS URL (otherwise `/.well-known/openid-configuration` → `jwks_uri`). */
    jwksUri: HttpsOrLoopbackUrl.optional(),
    algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'EdDSA']),
    /**
     * Claim holding group names: a dotted path through nested objects ("realm_access.roles"), or the
     * path's keys as an array when a key itself contains dots (["https://example.com/roles"]). A path is
     * never read as one literal top-level key.
     */
    groupsClaim: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('groups'),
    /**
     * Accepted JOSE `typ` header values (e.g. ["at+jwt"] for RFC 9068 access tokens, ["JWT"]); compared
     * case-insensitively without an "application/" prefix. Absent: any `typ`.
     */
    typ: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Email domains this issuer speaks for ("corp.example", "*.iam.gserviceaccount.com"): an email from
     * another domain identifies nobody (no static groups, no policy `emails` match). Required when several
     * issuers are trusted, so that one issuer cannot assert another's users; [] uses no emails from it.
     * Absent with a single issuer: every domain.
     */
    emailDomains: z.array(z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, { message: 'must be a lowercase domain like "corp.example" or "*.corp.example"' })).optional(),
    /**
     * An email counts only with `email_verified: true` (the JSON boolean). IdPs that never send the claim
     * but only issue verified addresses (Entra ID, some Okta authorization servers) need this set to true;
     * then a missing claim counts as verified, while any value other than `true` still does not.
     */
    trustEmailWithoutVerifiedClaim: z.boolean().default(false),
    /** Static group membership by verified email (an email from this issuer only), for IdPs without a groups claim. */
    groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
    /** Claims every token must carry (besides iss, aud, exp, sub, which are always required). */
    requiredClaims: z.array(z.string().min(1)).default([]),
    /** Clock skew accepted for `nbf` and `iat`. A token past its `exp` is expired, without tolerance. */
    clockToleranceSeconds: z.int().min(0).max(300).default(30),
    /** Longest accepted token lifetime (exp - iat), in seconds. */
    maxTokenAgeSeconds: z.int().min(60).max(86_400).optional(),
  });
});

/** `identity` of the runtime file (built on first use). */
export const identityConfigSchema = once(() =>
  z
    .strictObject({
      issuers: z.array(issuerSchema()).min(1),
      /**
       * This server's resource identifier (RFC 8707 / RFC 9728), e.g. "https://airlock.example.com/mcp".
       * Published in the protected-resource metadata; put it in each issuer's `audiences` to bind tokens to it.
       */
      resource: z.url().optional(),
      /** Static group membership by verified email, with a single issuer only (several: `issuers[].groups`). */
      groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
      /** How long a fetched JWKS is trusted before it is fetched again (seconds). */
      jwksCacheSeconds: z.int().min(10).max(86_400).default(600),
      /** After a JWKS fetch, how long an unknown `kid` waits before the JWKS is fetched again (seconds). */
      jwksCooldownSeconds: z.int().min(0).max(3600).default(30),
      /** Network timeout for discovery and JWKS requests (milliseconds). */
      httpTimeoutMs: z.int().min(100).max(30_000).default(5000),
    })
    .superRefine((config, ctx) => {
      if (config.issuers.length < 2) return;
      if (Object.keys(config.groups).length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups'],
          message: 'with several issuers, static groups must name their issuer: move them to issuers[].groups of the issuer that verifies those emails',
        });
      }
      config.issuers.forEach((issuer, i) => {
        if (issuer.emailDomains === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['issuers', i, 'emailDomains'],
            message: 'required when several issuers are trusted: list the email domains this issuer speaks for ([] for none), so that one issuer cannot assert the users of another',
          });
        }
      });
    }),
);

export type IssuerConfig = z.output<ReturnType<typeof issuerSchema>>;
export type IdentityConfig = z.output<ReturnType<typeof identityConfigSchema>>;
