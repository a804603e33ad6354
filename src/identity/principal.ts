/**
 * The verified caller of a governed call. Policy matches on these fields; the audit keeps them.
 * The credential that proved the identity is never part of the principal.
 */
export interface Principal {
  readonly issuer: string;
  readonly sub: string;
  readonly email: string | undefined;
  readonly groups: readonly string[];
  readonly clientId: string | undefined;
  /** True when the identity came from `--dev-identity` and was not verified. Marked in every audit record. */
  readonly dev: boolean;
}

/**
 * What a transport hands the pipeline about the caller; the identity stage turns it into a Principal.
 * `bearer` still needs verifying (stdio); `verified` was verified by the HTTP gate for this request.
 * A bearer token is held only in memory for the call and is never logged, stored or audited.
 */
export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly detail: string }
  | { readonly kind: 'dev'; readonly principal: Principal }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'verified'; readonly principal: Principal; readonly expiresAt: number };

/** Issuer recorded for principals created by `--dev-identity`. */
export const DEV_ISSUER = 'airlock:dev-identity';

/**
 * The key that says "the same principal" (session owners, credential caches): issuer and sub as a JSON
 * array, so no choice of characters in either can make two different pairs produce the same key.
 */
export function principalKey(principal: Pick<Principal, 'issuer' | 'sub'>): string {
  return JSON.stringify([principal.issuer, principal.sub]);
}

/** The principal a credential already established (verified by the HTTP gate, or the dev identity). */
export function principalOf(credential: Credential): Principal | undefined {
  return credential.kind === 'verified' || credential.kind === 'dev' ? credential.principal : undefined;
}
