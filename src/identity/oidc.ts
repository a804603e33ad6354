import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import { UnauthenticatedError } from '../errors.js';
import type { IdentityConfig, IssuerConfig } from './config.js';
import type { Principal } from './principal.js';

/** A verified principal and when its token stops being valid (ms since epoch). */
export interface VerifiedIdentity {
  readonly principal: Principal;
  readonly expiresAt: number;
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedIdentity>;
}

export interface OidcVerifierOptions {
  readonly now?: () => Date;
  readonly fetch?: typeof fetch;
}

const Discovery = z.object({ issuer: z.string(), jwks_uri: z.url() });

/** Reasons kept for the audit log and operators; the agent only ever sees the fixed public text. */
export type RejectReason =
  | 'malformed'
  | 'untrusted_issuer'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'unknown_key'
  | 'expired'
  | 'not_yet_valid'
  | 'claim_invalid'
  | 'jwks_unavailable';

function reject(reason: RejectReason, detail: string, cause?: unknown): UnauthenticatedError {
  return new UnauthenticatedError({ detail: `token rejected (${reason}): ${detail}`, cause, data: {} });
}

/**
 * Reads the `iss` of a token only to choose which configured issuer verifies it. The value is trusted
 * for nothing else: `jwtVerify` then pins the issuer, audience, algorithms and signature.
 */
function peekIssuer(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as unknown;
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

class IssuerVerifier {
  private jwks: Promise<JWTVerifyGetKey> | undefined;

  constructor(
    readonly config: IssuerConfig,
    private readonly identity: IdentityConfig,
    private readonly options: OidcVerifierOptions,
  ) {}

  private keys(): Promise<JWTVerifyGetKey> {
    this.jwks ??= this.discover().catch((error: unknown) => {
      // Do not cache a failed discovery: the next token tries again.
      this.jwks = undefined;
      throw error;
    });
    return this.jwks;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const fetchImpl = this.options.fetch ?? fetch;
    let jwksUri = this.config.jwksUri;
    if (jwksUri === undefined) {
      const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetchImpl(url, { signal: AbortSignal.timeout(this.identity.httpTimeoutMs), redirect: 'error' });
      if (!res.ok) throw new Error(`discovery ${url} answered ${res.status}`);
      const doc = Discovery.parse(await res.json());
      if (doc.issuer !== this.config.issuer) throw new Error(`discovery issuer "${doc.issuer}" does not match "${this.config.issuer}"`);
      jwksUri = doc.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.identity.httpTimeoutMs,
      cacheMaxAge: this.identity.jwksCacheSeconds * 1000,
      cooldownDuration: this.identity.jwksCooldownSeconds * 1000,
      ...(this.options.fetch === undefined ? {} : { [customFetch]: this.options.fetch }),
    });
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.keys();
    } catch (error) {
      throw reject('jwks_unavailable', `cannot load signing keys for ${this.config.issuer}: ${String(error)}`, error);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.config.issuer,
        audience: this.config.audiences,
        algorithms: [...this.config.algorithms],
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['iss', 'aud', 'exp', 'sub', ...this.config.requiredClaims],
        ...(this.config.maxTokenAgeSeconds === undefined ? {} : { maxTokenAge: this.config.maxTokenAgeSeconds }),
        ...(this.options.now === undefined ? {} : { currentDate: this.options.now() }),
      }));
    } catch (error) {
      throw mapJoseError(error);
    }
    return { principal: this.principal(payload), expiresAt: (payload.exp ?? 0) * 1000 };
  }

  private principal(payload: JWTPayload): Principal {
    const sub = payload.sub ?? '';
    const rawEmail = typeof payload.email === 'string' ? payload.email.toLowerCase() : undefined;
    // An email the IdP says is unverified is not an identity.
    const email = rawEmail !== undefined && payload.email_verified !== false && payload.email_verified !== 'false' ? rawEmail : undefined;
    const claimed = claimAt(payload, this.config.groupsClaim);
    const groups = new Set<string>();
    if (Array.isArray(claimed)) for (const g of claimed) if (typeof g === 'string' && g !== '') groups.add(g);
    if (typeof claimed === 'string' && claimed !== '') for (const g of claimed.split(/[ ,]+/)) if (g !== '') groups.add(g);
    if (email !== undefined) {
      for (const [group, members] of Object.entries(this.identity.groups)) {
        if (members.some((m) => m.toLowerCase() === email)) groups.add(group);
      }
    }
    const clientId = typeof payload.azp === 'string' ? payload.azp : typeof payload.client_id === 'string' ? payload.client_id : undefined;
    return Object.freeze({ issuer: this.config.issuer, sub, email, groups: Object.freeze([...groups].sort()), clientId, dev: false });
  }
}

function mapJoseError(error: unknown): UnauthenticatedError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof errors.JWTExpired) return reject('expired', message, error);
  if (error instanceof errors.JWTClaimValidationFailed) {
    return reject(error.claim === 'nbf' ? 'not_yet_valid' : 'claim_invalid', `${error.claim}: ${message}`, error);
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return reject('algorithm_not_allowed', message, error);
  if (error instanceof errors.JWSSignatureVerificationFailed) return reject('bad_signature', message, error);
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return reject('unknown_key', message, error);
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return reject('jwks_unavailable', message, error);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return reject('malformed', message, error);
  // Network failures while fetching the JWKS surface as plain errors: fail closed.
  return reject('jwks_unavailable', message, error);
}

/** Verifies OIDC/JWT bearer tokens against the configured trusted issuers. */
export class OidcVerifier implements TokenVerifier {
  private readonly byIssuer = new Map<string, IssuerVerifier>();

  constructor(config: IdentityConfig, options: OidcVerifierOptions = {}) {
    for (const issuer of config.issuers) {
      if (this.byIssuer.has(issuer.issuer)) throw new TypeError(`identity: issuer "${issuer.issuer}" is configured twice`);
      this.byIssuer.set(issuer.issuer, new IssuerVerifier(issuer, config, options));
    }
  }

  /** The trusted issuers (published as authorization servers in the protected-resource metadata). */
  issuers(): string[] {
    return [...this.byIssuer.keys()];
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    if (token.length > 16_384) throw reject('malformed', 'token longer than 16 KiB');
    const iss = peekIssuer(token);
    if (iss === undefined) throw reject('malformed', 'not a signed JWT with an iss claim');
    const verifier = this.byIssuer.get(iss);
    if (verifier === undefined) throw reject('untrusted_issuer', `issuer "${iss.slice(0, 200)}" is not trusted`);
    return verifier.verify(token);
  }
}
