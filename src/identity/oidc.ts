import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as z from 'zod';
import { UnauthenticatedError } from '../errors.js';
import { authorizationEmail, checkNumericDates, ClaimError, claimAt, domainMatches, identifierClaim, isSafeText, MAX_EMAIL_LENGTH, MAX_SUB_LENGTH } from './claims.js';
import { isHttpsOrLoopback, type IdentityConfig, type IssuerConfig } from './config.js';
import { trustFetch } from './fetch.js';
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

/** `typ` as RFC 8725 compares it: case-insensitive, "application/" optional. */
function normaliseTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

class IssuerVerifier {
  private jwks: Promise<JWTVerifyGetKey> | undefined;
  /** One guarded fetch per issuer: discovery and JWKS share its size cap and outage backoff. */
  private readonly fetch: typeof fetch;
  private readonly groupsPath: readonly string[];
  /** Static groups by canonical email, for this issuer only. */
  private readonly staticGroups: ReadonlyMap<string, readonly string[]>;
  /** Email domains this issuer speaks for; undefined: all (a single trusted issuer). */
  private readonly emailDomains: readonly string[] | undefined;

  constructor(
    readonly config: IssuerConfig,
    private readonly identity: IdentityConfig,
    private readonly options: OidcVerifierOptions,
  ) {
    this.fetch = trustFetch({ ...(options.fetch === undefined ? {} : { fetch: options.fetch }), ...(options.now === undefined ? {} : { now: () => options.now?.().getTime() ?? Date.now() }) });
    this.groupsPath = typeof config.groupsClaim === 'string' ? config.groupsClaim.split('.') : config.groupsClaim;
    this.emailDomains = config.emailDomains;
    // A single issuer may keep the top-level map (the schema refuses it when several issuers are trusted).
    const members = new Map<string, string[]>();
    for (const map of [identity.issuers.length === 1 ? identity.groups : {}, config.groups]) {
      for (const [group, emails] of Object.entries(map)) {
        for (const email of emails) {
          const key = authorizationEmail(email);
          if (key === undefined) throw new TypeError(`identity: static group "${group}" lists "${email}", which is not a comparable email address`);
          members.set(key, [...(members.get(key) ?? []), group]);
        }
      }
    }
    this.staticGroups = members;
  }

  private keys(): Promise<JWTVerifyGetKey> {
    this.jwks ??= this.discover().catch((error: unknown) => {
      // Do not cache a failed discovery: the next token tries again.
      this.jwks = undefined;
      throw error;
    });
    return this.jwks;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    let jwksUri = this.config.jwksUri;
    if (jwksUri === undefined) {
      const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await this.fetch(url, { signal: AbortSignal.timeout(this.identity.httpTimeoutMs) });
      const doc = Discovery.safeParse(await res.json());
      if (!doc.success) throw new Error(`discovery ${url}: not an OpenID configuration with issuer and jwks_uri`);
      if (doc.data.issuer !== this.config.issuer) throw new Error(`discovery issuer "${doc.data.issuer.slice(0, 200)}" does not match "${this.config.issuer}"`);
      // A discovered URL gets the same rule as a configured one: the discovery answer is not trusted more.
      if (!isHttpsOrLoopback(doc.data.jwks_uri)) throw new Error(`discovered jwks_uri "${doc.data.jwks_uri.slice(0, 200)}" is not an https URL (http only on loopback)`);
      jwksUri = doc.data.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.identity.httpTimeoutMs,
      cacheMaxAge: this.identity.jwksCacheSeconds * 1000,
      cooldownDuration: this.identity.jwksCooldownSeconds * 1000,
      [customFetch]: this.fetch,
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
    let typ: unknown;
    try {
      let protectedHeader: { typ?: unknown };
      ({ payload, protectedHeader } = await jwtVerify(token, keys, {
        issuer: this.config.issuer,
        audience: this.config.audiences,
        algorithms: [...this.config.algorithms],
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['iss', 'aud', 'exp', 'sub', ...this.config.requiredClaims],
        ...(this.config.maxTokenAgeSeconds === undefined ? {} : { maxTokenAge: this.config.maxTokenAgeSeconds }),
        ...(this.options.now === undefined ? {} : { currentDate: this.options.now() }),
      }));
      typ = protectedHeader.typ;
    } catch (error) {
      throw mapJoseError(error);
    }
    if (this.config.typ !== undefined) {
      const allowed = this.config.typ.map(normaliseTyp);
      if (typeof typ !== 'string' || !allowed.includes(normaliseTyp(typ))) {
        throw reject('claim_invalid', `typ: header typ ${typeof typ === 'string' ? `"${typ.slice(0, 50)}"` : 'absent'} is not one of ${this.config.typ.join(', ')}`);
      }
    }
    let principal: Principal;
    try {
      checkNumericDates(payload);
      principal = this.principal(payload);
    } catch (error) {
      if (error instanceof ClaimError) throw reject('claim_invalid', error.message, error);
      throw error;
    }
    const expiresAt = (payload.exp ?? 0) * 1000;
    // Clock tolerance is for nbf and iat; past exp a token is expired here exactly as everywhere else.
    if (expiresAt <= (this.options.now?.().getTime() ?? Date.now())) throw reject('expired', '"exp" claim timestamp check failed');
    return { principal, expiresAt };
  }

  /** The email usable for authorization: verified, in a domain this issuer speaks for, comparable. */
  private authorizationEmail(payload: JWTPayload): string | undefined {
    if (!Object.hasOwn(payload, 'email')) return undefined;
    const raw = identifierClaim('email', payload.email, MAX_EMAIL_LENGTH);
    const verified = payload.email_verified === true || (this.config.trustEmailWithoutVerifiedClaim && !Object.hasOwn(payload, 'email_verified'));
    if (!verified) return undefined;
    const email = authorizationEmail(raw);
    if (email === undefined) return undefined;
    if (this.emailDomains !== undefined && !domainMatches(email.slice(email.lastIndexOf('@') + 1), this.emailDomains)) return undefined;
    return email;
  }

  private principal(payload: JWTPayload): Principal {
    const sub = identifierClaim('sub', payload.sub, MAX_SUB_LENGTH);
    const email = this.authorizationEmail(payload);
    const claimed = claimAt(payload, this.groupsPath);
    const groups = new Set<string>();
    // Group names that could not be written in a policy (control characters, absurd lengths) match nothing anyway.
    const names = Array.isArray(claimed) ? (claimed as unknown[]) : typeof claimed === 'string' ? claimed.split(/[ ,]+/) : [];
    for (const g of names) if (isSafeText(g, 256)) groups.add(g);
    if (email !== undefined) for (const group of this.staticGroups.get(email) ?? []) groups.add(group);
    const clientId = isSafeText(payload.azp, 256) ? payload.azp : isSafeText(payload.client_id, 256) ? payload.client_id : undefined;
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
