import * as z from 'zod';

/** Asymmetric signature algorithms only: never `none`, never HS* (a public key must not act as an HMAC secret). */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const HttpsOrLoopbackUrl = z.url().refine(
  (value) => {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  },
  { message: 'must be an https URL (http only on loopback, for tests)' },
);

/** One trusted token issuer. */
export const IssuerSchema = z.strictObject({
  /** Exactly as in the tokens' `iss` claim, e.g. "https://accounts.google.com". */
  issuer: HttpsOrLoopbackUrl,
  /** Accepted `aud` values; at least one must be in the token. */
  audiences: z.array(z.string().min(1)).min(1),
  /** Skip discovery and use this JWKS URL (otherwise `/.well-known/openid-configuration` → `jwks_uri`). */
  jwksUri: HttpsOrLoopbackUrl.optional(),
  algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'EdDSA']),
  /** Claim holding group names: a claim name or a dotted path such as "realm_access.roles". */
  groupsClaim: z.string().min(1).default('groups'),
  /** Claims every token must carry (besides iss, aud, exp, sub, which are always required). */
  requiredClaims: z.array(z.string().min(1)).default([]),
  clockToleranceSeconds: z.int().min(0).max(300).default(30),
  /** Longest accepted token lifetime (exp - iat), in seconds. */
  maxTokenAgeSeconds: z.int().min(60).max(86_400).optional(),
});

export const IdentityConfigSchema = z.strictObject({
  issuers: z.array(IssuerSchema).min(1),
  /**
   * This server's resource identifier (RFC 8707 / RFC 9728), e.g. "https://airlock.example.com/mcp".
   * Published in the protected-resource metadata; put it in each issuer's `audiences` to bind tokens to it.
   */
  resource: z.url().optional(),
  /** Static group membership by verified email, for IdPs without a groups claim. */
  groups: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
  /** How long a fetched JWKS is trusted before it is fetched again (seconds). */
  jwksCacheSeconds: z.int().min(10).max(86_400).default(600),
  /** After a JWKS fetch, how long an unknown `kid` waits before the JWKS is fetched again (seconds). */
  jwksCooldownSeconds: z.int().min(0).max(3600).default(30),
  /** Network timeout for discovery and JWKS requests (milliseconds). */
  httpTimeoutMs: z.int().min(100).max(30_000).default(5000),
});

export type IssuerConfig = z.output<typeof IssuerSchema>;
export type IdentityConfig = z.output<typeof IdentityConfigSchema>;
